//! `[dreaming] history`: how much of a team's recorded history a dream mines — all of
//! it, the latest N sessions, or the sessions of a recent span of time — and the
//! durations (`30s`, `10m`, `2h`, `7d`, `2w`) that span and `lucid dream --every` are
//! written in. This module only parses and names the window; the dream applies it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a duration does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration like 30s, 10m, 2h or 7d")]
    NotADuration(String),
    #[error("`{0}`: use s, m, h, d or w")]
    Unit(String),
    #[error("the duration must be more than zero")]
    Zero,
    #[error("`{0}` is too long a duration")]
    TooLong(String),
}

/// `90s`, `10m`, `2h`, `1d`, `2w`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| DurationError::NotADuration(text.to_string()))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(DurationError::Unit(text.to_string())),
    };
    let seconds = n
        .checked_mul(scale)
        .ok_or_else(|| DurationError::TooLong(text.to_string()))?;
    if seconds == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_secs(seconds))
}

/// A duration as [`parse_duration`] reads it back, in its largest whole unit.
fn show_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, scale) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= scale && seconds % scale == 0 {
            return format!("{}{unit}", seconds / scale);
        }
    }
    format!("{seconds}s")
}

/// Which of a team's recorded sessions a dream mines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum HistoryWindow {
    /// Every session the team has recorded.
    #[default]
    All,
    /// The latest N sessions (N ≥ 1).
    Sessions(u32),
    /// The sessions started within this span before the dream.
    Within(Duration),
}

/// Why a history window does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("a history of 0 sessions would mine nothing; use 1 or more, or \"all\"")]
    NoSessions,
    #[error(
        "`{0}` is not a history: use \"all\", a number of sessions (e.g. 24) or a duration (e.g. \"30d\")"
    )]
    Invalid(String),
    #[error("history {0}")]
    Duration(#[from] DurationError),
}

impl HistoryWindow {
    /// A window from a number of sessions.
    pub fn sessions(n: i64) -> Result<HistoryWindow, HistoryError> {
        match u32::try_from(n) {
            Ok(0) => Err(HistoryError::NoSessions),
            Ok(n) => Ok(HistoryWindow::Sessions(n)),
            Err(_) if n < 0 => Err(HistoryError::Invalid(n.to_string())),
            Err(_) => Ok(HistoryWindow::Sessions(u32::MAX)),
        }
    }
}

impl FromStr for HistoryWindow {
    type Err = HistoryError;

    /// `all`, a number of sessions (`24`), or a duration with a unit (`30d`).
    fn from_str(text: &str) -> Result<HistoryWindow, HistoryError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(HistoryWindow::All);
        }
        if let Ok(n) = text.parse::<i64>() {
            return HistoryWindow::sessions(n);
        }
        if !text.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(HistoryError::Invalid(text.to_string()));
        }
        Ok(HistoryWindow::Within(parse_duration(text)?))
    }
}

impl fmt::Display for HistoryWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryWindow::All => f.write_str("all"),
            HistoryWindow::Sessions(n) => write!(f, "{n}"),
            HistoryWindow::Within(span) => f.write_str(&show_duration(*span)),
        }
    }
}

impl From<HistoryWindow> for String {
    fn from(window: HistoryWindow) -> String {
        window.to_string()
    }
}

impl TryFrom<String> for HistoryWindow {
    type Error = HistoryError;

    fn try_from(text: String) -> Result<HistoryWindow, HistoryError> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(parse_duration("0s"), Err(DurationError::Zero));
        assert!(matches!(
            parse_duration("soon"),
            Err(DurationError::NotADuration(_))
        ));
        assert!(matches!(parse_duration("5y"), Err(DurationError::Unit(_))));
        assert!(matches!(
            parse_duration("99999999999999999w"),
            Err(DurationError::TooLong(_))
        ));
    }

    #[test]
    fn windows_parse_and_read_back() {
        for (text, window) in [
            ("all", HistoryWindow::All),
            ("ALL", HistoryWindow::All),
            ("24", HistoryWindow::Sessions(24)),
            (
                "30d",
                HistoryWindow::Within(Duration::from_secs(30 * 86_400)),
            ),
            ("90m", HistoryWindow::Within(Duration::from_secs(90 * 60))),
        ] {
            assert_eq!(text.parse::<HistoryWindow>().unwrap(), window, "{text}");
            assert_eq!(window.to_string().parse::<HistoryWindow>().unwrap(), window);
        }
        assert_eq!(
            HistoryWindow::Within(Duration::from_secs(90)).to_string(),
            "90s"
        );
        assert_eq!("0".parse::<HistoryWindow>(), Err(HistoryError::NoSessions));
        assert!(matches!(
            "-3".parse::<HistoryWindow>(),
            Err(HistoryError::Invalid(_))
        ));
        assert!(matches!(
            "everything".parse::<HistoryWindow>(),
            Err(HistoryError::Invalid(_))
        ));
        assert!(matches!(
            "3y".parse::<HistoryWindow>(),
            Err(HistoryError::Duration(DurationError::Unit(_)))
        ));
        let json = serde_json::to_string(&HistoryWindow::Sessions(12)).unwrap();
        assert_eq!(json, "\"12\"");
        assert_eq!(
            serde_json::from_str::<HistoryWindow>("\"2w\"").unwrap(),
            HistoryWindow::Within(Duration::from_secs(14 * 86_400))
        );
        assert!(serde_json::from_str::<HistoryWindow>("\"never\"").is_err());
    }
}
