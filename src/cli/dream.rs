//! `lucid dream`: review a team's history and propose memories, once or on a schedule
//! (where the dream runs, in the store or through its owner, is [`super::dream_schedule`]'s).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::dream_schedule::{self, Dreaming};
use super::exit;
use lucid_core::dream::{
    dream_with, dreamer_for, known_team, teams_to_dream, teams_with_sessions, DreamOptions,
    DreamReport, Dreamer,
};
use lucid_core::event::one_line;
use lucid_core::spec::HistoryWindow;
use lucid_core::store::Store;

#[derive(Debug, Args)]
pub struct DreamArgs {
    /// The team to dream for (default: every team with sessions no dream has read).
    #[arg(long)]
    pub team: Option<String>,
    /// A session file: its team, its `[dreaming] model` as the dreamer and its
    /// `[dreaming] history` as the window.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// How much of the team's history to mine: `all` (the default), the latest N
    /// sessions (e.g. 24), or the sessions of a recent span (e.g. 30d, 12h). Overrides the
    /// session file's `[dreaming] history`. Repeated runs of a mission count once.
    #[arg(long, value_name = "WINDOW", value_parser = parse_history)]
    pub history: Option<HistoryWindow>,
    /// Digest every session again (ignoring cached digests) and mine the whole history
    /// window, even when no session is new since the last dream.
    #[arg(long)]
    pub rescan: bool,
    /// Print one JSON document describing the dream(s) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Keep dreaming every DURATION (e.g. 30s, 10m, 2h) until stopped with Ctrl-C; the
    /// store is held only while a dream runs, so other commands go on between ticks.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "json")]
    pub every: Option<Duration>,
}

const NOTHING_TO_DREAM: &str =
    "No team has sessions that no dream has read; nothing to dream about (`lucid dream --rescan` mines the history again).";

/// `90s`, `10m`, `2h`, `1d`, `2w`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    lucid_core::spec::parse_duration(text).map_err(|err| err.to_string())
}

/// `all`, a number of sessions, or a duration.
fn parse_history(text: &str) -> Result<HistoryWindow, String> {
    text.parse()
        .map_err(|err: lucid_core::spec::HistoryError| err.to_string())
}

pub async fn run(db: Option<PathBuf>, args: DreamArgs) -> u8 {
    let (team_from_spec, dreamer, mut options) = match &args.spec {
        Some(path) => {
            match lucid_core::session::load(lucid_envs::worlds().as_ref(), path, None, None, None)
                .map_err(|e| e.to_string())
            {
                Ok(spec) => match dreamer_for(&spec) {
                    Ok(dreamer) => (
                        Some(spec.team.clone()),
                        dreamer,
                        DreamOptions::for_spec(&spec),
                    ),
                    Err(message) => {
                        say!("lucid: {message}");
                        return exit::USAGE;
                    }
                },
                Err(message) => {
                    say!("lucid: {message}");
                    return exit::USAGE;
                }
            }
        }
        None => (None, Dreamer::Offline, DreamOptions::default()),
    };
    options.rescan = args.rescan;
    if let Some(history) = args.history {
        options.history = history;
    }
    let dreaming = Dreaming {
        team: args.team.clone().or(team_from_spec),
        spec: args
            .spec
            .as_ref()
            .map(|spec| std::path::absolute(spec).unwrap_or_else(|_| spec.clone())),
        dreamer,
        options,
        history_flag: args.history,
        json: args.json,
    };
    let path = db.unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    match args.every {
        None => dream_schedule::once(&path, &dreaming).await,
        Some(every) => dream_schedule::every(&path, &dreaming, every).await,
    }
}

/// Dreams in the open `store` for `team` (or every team with sessions no dream has
/// read; with a rescan, every team with sessions), printing each report as it comes.
pub(super) async fn dream_once(
    store: &Store,
    team: Option<&str>,
    dreamer: &Dreamer,
    options: DreamOptions,
    json: bool,
) -> u8 {
    let teams = match team {
        Some(team) => {
            if let Err(err) = known_team(store, team) {
                say!("lucid: {}", lucid_core::event::sanitize(&err.to_string()));
                return match err {
                    lucid_core::dream::DreamError::UnknownTeam { .. } => exit::USAGE,
                    _ => exit::RUNTIME,
                };
            }
            vec![team.to_string()]
        }
        None if options.rescan => match teams_with_sessions(store) {
            Ok(teams) => teams,
            Err(err) => {
                say!("lucid: {err}");
                return exit::RUNTIME;
            }
        },
        None => match teams_to_dream(store) {
            Ok(teams) => teams,
            Err(err) => {
                say!("lucid: {err}");
                return exit::RUNTIME;
            }
        },
    };
    if teams.is_empty() && !json {
        outln!("{NOTHING_TO_DREAM}");
        return exit::OK;
    }
    let mut reports = Vec::new();
    for team in &teams {
        match dream_with(store, team, dreamer, &lucid_envs::catalog(), options).await {
            Ok(report) => {
                if !json {
                    print_report(&report);
                }
                reports.push(report);
            }
            Err(err) => {
                say!("lucid: dreaming for team {team} failed: {err}");
                return exit::RUNTIME;
            }
        }
    }
    if json {
        match reports_json(&reports) {
            Ok(text) => outln!("{text}"),
            Err(err) => {
                say!("lucid: cannot encode the report: {err}");
                return exit::RUNTIME;
            }
        }
    }
    exit::OK
}

/// The reports as `--json` prints them: each with the dream's `short_id`.
fn reports_json(reports: &[DreamReport]) -> serde_json::Result<String> {
    super::output::json_with_short_ids(reports, |report| report.run.id.short_id())
}

/// Prints the reports of a dream made elsewhere (by the store's owner) as
/// [`dream_once`] prints its own.
pub(super) fn print_reports(reports: &[DreamReport], json: bool) -> u8 {
    if json {
        return match reports_json(reports) {
            Ok(text) => {
                outln!("{text}");
                exit::OK
            }
            Err(err) => {
                say!("lucid: cannot encode the report: {err}");
                exit::RUNTIME
            }
        };
    }
    if reports.is_empty() {
        outln!("{NOTHING_TO_DREAM}");
    }
    reports.iter().for_each(print_report);
    exit::OK
}

fn print_report(report: &DreamReport) {
    let run = &report.run;
    outln!(
        "dream {} · team {} · {} new session(s) · {} mission(s) mined · {} pattern(s) · recorded as session {}",
        run.id.short_id(),
        lucid_core::event::sanitize(&run.team),
        run.considered.len(),
        run.mined.len(),
        run.patterns,
        run.session.short_id()
    );
    outln!(
        "  history {}{}: {} digested now, {} from the cache; {} repeat run(s) of a mission set aside",
        run.history,
        if run.rescan { " (rescanned)" } else { "" },
        run.sessions.len(),
        run.cached,
        run.repeats
    );
    for id in &run.withdrawn {
        outln!(
            "  withdrew {}: a proposal of an earlier dream the history no longer supports",
            id.short_id()
        );
    }
    if report.patterns.tests > 0 {
        outln!(
            "  {} failure condition(s) tested on each mission's first attempt; {} could reach significance, and those kept hold at a false-discovery rate of {}% over them",
            report.patterns.tests,
            report.patterns.testable,
            report.patterns.fdr * 100.0
        );
    }
    if report.proposals.is_empty() {
        outln!("  nothing new to propose");
        for line in &report.why_nothing {
            outln!("  - {}", lucid_core::event::sanitize(line));
        }
        return;
    }
    for memory in &report.proposals {
        outln!(
            "  proposed {} {} v{} [{}] {}",
            memory.kind.as_str(),
            memory.id.short_id(),
            memory.version,
            one_line(&memory.scope(), 40),
            one_line(&memory.title, 90)
        );
    }
    outln!("Review with `lucid memory list --status proposed`, then `lucid memory approve ID…`.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
