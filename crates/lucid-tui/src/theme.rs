//! Themes: named styles for every part of the screen. The built-in default is the dark
//! theme; a theme file is a partial override of it, yazi-style:
//!
//! ```toml
//! [status]
//! failed = { fg = "lightred", bold = true }
//! ```
//!
//! Themes are looked up by name in `./themes/NAME.toml`, then in the config directory's
//! `themes/`, then among the shipped ones (dark, light, high-contrast, compiled in). An
//! unknown name or key is a clear error naming the file. This module only builds styles.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};

/// The themes shipped with lucid, compiled in so they work from any directory.
const SHIPPED: &[(&str, &str)] = &[
    ("dark", include_str!("../../../themes/dark.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
];

macro_rules! theme {
    ($($section:ident . $key:ident as $field:ident = $default:expr;)*) => {
        /// Every style the views use, by section.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Theme { $(pub $field: Style,)* }

        impl Default for Theme {
            fn default() -> Self {
                Theme { $($field: $default,)* }
            }
        }

        impl Theme {
            /// The style named `section.key` in theme files.
            fn slot(&mut self, section: &str, key: &str) -> Option<&mut Style> {
                match (section, key) {
                    $((stringify!($section), stringify!($key)) => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            /// Every `section.key` a theme file may set.
            pub fn keys() -> &'static [(&'static str, &'static str)] {
                &[$((stringify!($section), stringify!($key)),)*]
            }
        }
    };
}

fn fg(color: Color) -> Style {
    Style::new().fg(color)
}

theme! {
    base.background as background = Style::new();
    base.text as text = Style::new();
    base.dim as dim = fg(Color::DarkGray);
    base.border as border = fg(Color::DarkGray);
    base.border_focus as border_focus = fg(Color::Cyan);
    base.title as title = fg(Color::Cyan).add_modifier(Modifier::BOLD);
    base.selected as selected = Style::new().bg(Color::Rgb(40, 50, 70)).add_modifier(Modifier::BOLD);
    base.tab as tab = fg(Color::Gray);
    base.tab_active as tab_active = fg(Color::Black).bg(Color::Cyan).add_modifier(Modifier::BOLD);
    base.header as header = fg(Color::White).add_modifier(Modifier::BOLD);
    base.key as key = fg(Color::Yellow).add_modifier(Modifier::BOLD);
    base.hint as hint = fg(Color::Gray);
    base.warning as warning = fg(Color::Yellow);
    status.pending as pending = fg(Color::DarkGray);
    status.thinking as thinking = fg(Color::Cyan);
    status.tool as tool = fg(Color::Magenta);
    status.waiting as waiting = fg(Color::Blue);
    status.done as done = fg(Color::Green);
    status.failed as failed = fg(Color::Red).add_modifier(Modifier::BOLD);
    status.cancelled as cancelled = fg(Color::Yellow);
    transcript.text as transcript_text = Style::new();
    transcript.tool as transcript_tool = fg(Color::Magenta);
    transcript.tool_error as tool_error = fg(Color::Red);
    transcript.output as output = fg(Color::Gray);
    transcript.turn as turn = fg(Color::DarkGray);
    transcript.delegate as delegate = fg(Color::Blue);
    transcript.advisor as advisor = fg(Color::LightMagenta);
    transcript.retry as retry = fg(Color::Yellow);
    transcript.error as error = fg(Color::Red).add_modifier(Modifier::BOLD);
    grader.pass as pass = fg(Color::Green).add_modifier(Modifier::BOLD);
    grader.fail as fail = fg(Color::Red).add_modifier(Modifier::BOLD);
    grader.reason as reason = Style::new();
    grader.fix as fix = fg(Color::Yellow);
    memory.proposed as proposed = fg(Color::Yellow);
    memory.approved as approved = fg(Color::Green);
    memory.rejected as rejected = fg(Color::Red);
    memory.retired as retired = fg(Color::DarkGray);
    memory.added as added = fg(Color::Green);
    memory.removed as removed = fg(Color::Red);
    diff.file as diff_file = fg(Color::White).add_modifier(Modifier::BOLD);
    diff.hunk as diff_hunk = fg(Color::Cyan);
    diff.added as diff_added = fg(Color::Green);
    diff.removed as diff_removed = fg(Color::Red);
    diff.context as diff_context = Style::new();
    diff.note as diff_note = fg(Color::DarkGray);
}

/// Why a theme could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThemeError {
    #[error("unknown theme `{name}` (available: {available})")]
    Unknown { name: String, available: String },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl Theme {
    /// The theme called `name`, looked up in `dirs` (in order) and then among the shipped.
    pub fn named(name: &str, dirs: &[PathBuf]) -> Result<Theme, ThemeError> {
        for dir in dirs {
            let path = dir.join(format!("{name}.toml"));
            if let Ok(text) = std::fs::read_to_string(&path) {
                return Theme::from_toml(&text, &path.display().to_string());
            }
        }
        if let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == name) {
            return Theme::from_toml(text, &format!("themes/{name}.toml"));
        }
        let mut available: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        for dir in dirs {
            available.extend(theme_names(dir));
        }
        available.sort();
        available.dedup();
        Err(ThemeError::Unknown {
            name: name.to_string(),
            available: available.join(", "),
        })
    }

    /// The default theme with a theme file's overrides; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Theme, ThemeError> {
        let invalid = |message: String| ThemeError::Invalid {
            file: file.to_string(),
            message,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        let mut theme = Theme::default();
        for (section, keys) in &table {
            let keys = keys
                .as_table()
                .ok_or_else(|| invalid(format!("[{section}] must be a table")))?;
            for (key, value) in keys {
                let slot = theme
                    .slot(section, key)
                    .ok_or_else(|| invalid(format!("unknown style `{section}.{key}`")))?;
                *slot = parse_style(value)
                    .map_err(|message| invalid(format!("{section}.{key}: {message}")))?;
            }
        }
        Ok(theme)
    }
}

fn theme_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect()
}

/// `{ fg = "cyan", bg = "#102030", bold = true, … }` as a style (replacing the default).
fn parse_style(value: &toml::Value) -> Result<Style, String> {
    let table = value
        .as_table()
        .ok_or("expected a table like { fg = \"cyan\", bold = true }")?;
    let mut style = Style::new();
    for (key, value) in table {
        match key.as_str() {
            "fg" | "bg" => {
                let name = value
                    .as_str()
                    .ok_or(format!("`{key}` must be a colour name"))?;
                let color = parse_color(name).ok_or(format!("unknown colour `{name}`"))?;
                style = if key == "fg" {
                    style.fg(color)
                } else {
                    style.bg(color)
                };
            }
            flag => {
                let modifier = match flag {
                    "bold" => Modifier::BOLD,
                    "dim" => Modifier::DIM,
                    "italic" => Modifier::ITALIC,
                    "underline" => Modifier::UNDERLINED,
                    "reversed" => Modifier::REVERSED,
                    "crossed" => Modifier::CROSSED_OUT,
                    other => return Err(format!("unknown attribute `{other}`")),
                };
                if value
                    .as_bool()
                    .ok_or(format!("`{flag}` must be true or false"))?
                {
                    style = style.add_modifier(modifier);
                }
            }
        }
    }
    Ok(style)
}

fn parse_color(name: &str) -> Option<Color> {
    if let Some(hex) = name.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some(Color::Rgb(byte(0)?, byte(2)?, byte(4)?));
    }
    Some(
        match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "reset" | "default" => Color::Reset,
            "black" => Color::Black,
            "red" => Color::Red,
            "green" => Color::Green,
            "yellow" => Color::Yellow,
            "blue" => Color::Blue,
            "magenta" => Color::Magenta,
            "cyan" => Color::Cyan,
            "gray" | "grey" => Color::Gray,
            "darkgray" | "darkgrey" => Color::DarkGray,
            "lightred" => Color::LightRed,
            "lightgreen" => Color::LightGreen,
            "lightyellow" => Color::LightYellow,
            "lightblue" => Color::LightBlue,
            "lightmagenta" => Color::LightMagenta,
            "lightcyan" => Color::LightCyan,
            "white" => Color::White,
            _ => return None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_themes_parse_and_dark_is_the_default() {
        for (name, _) in SHIPPED {
            Theme::named(name, &[]).unwrap();
        }
        assert_eq!(Theme::named("dark", &[]).unwrap(), Theme::default());
        assert_ne!(Theme::named("light", &[]).unwrap(), Theme::default());
    }

    /// High contrast paints its own black background under everything; light keeps the
    /// terminal's and draws borders and dim text dark enough to read on white.
    #[test]
    fn high_contrast_sets_a_background_and_light_greys_are_readable_on_white() {
        let contrast = Theme::named("high-contrast", &[]).unwrap();
        assert_eq!(contrast.background.bg, Some(Color::Black));
        assert_eq!(contrast.background.fg, Some(Color::White));
        let light = Theme::named("light", &[]).unwrap();
        assert_eq!(light.background, Style::new());
        for style in [light.border, light.dim, light.pending, light.turn] {
            // No ANSI grey (pale on white terminals), and dark as RGB.
            match style.fg {
                Some(Color::Rgb(r, g, b)) => assert!(r.max(g).max(b) <= 0x60, "{style:?}"),
                other => panic!("light greys are RGB, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let theme = Theme::from_toml(
            "[status]\nfailed = { fg = \"#ff0000\", underline = true }\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            theme.failed,
            Style::new()
                .fg(Color::Rgb(255, 0, 0))
                .add_modifier(Modifier::UNDERLINED)
        );
        assert_eq!(theme.done, Theme::default().done);
    }

    #[test]
    fn errors_name_the_theme_or_the_file_and_key() {
        let err = Theme::named("neon", &[]).unwrap_err().to_string();
        assert!(
            err.contains("neon") && err.contains("high-contrast"),
            "{err}"
        );
        let err = Theme::from_toml("[status]\nfailed = { fg = \"mauve\" }\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.toml") && err.contains("status.failed") && err.contains("mauve"),
            "{err}"
        );
        let err = Theme::from_toml("[status]\nexploded = { bold = true }\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("status.exploded"), "{err}");
    }
}
