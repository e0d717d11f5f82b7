//! The TUI's settings: the config directory (`$LUCID_CONFIG_DIR`, else
//! `$XDG_CONFIG_HOME/lucid`, else `~/.config/lucid`) holds `config.toml` (`theme =
//! "NAME"`) and `keymap.toml` (key overrides, see `keymap`). `--theme NAME` beats the
//! config file. Errors are one sentence naming the file.

use std::path::PathBuf;

use super::keymap::Keymap;
use super::theme::Theme;

/// Where lucid's config files live (see [`lucid_core::spec::config::config_dir`]).
pub fn config_dir() -> PathBuf {
    lucid_core::spec::config::config_dir().unwrap_or_else(|| PathBuf::from(".config").join("lucid"))
}

/// The theme and keymap to use: `theme` from the command line, else `config.toml`'s,
/// else the default (dark).
pub fn load(theme: Option<&str>) -> Result<(Theme, Keymap), String> {
    let dir = config_dir();
    let config_file = dir.join("config.toml");
    let configured = match std::fs::read_to_string(&config_file) {
        Ok(text) => {
            let table: toml::Table = text
                .parse()
                .map_err(|err| format!("{}: {err}", config_file.display()))?;
            match table.get("theme") {
                None => None,
                Some(toml::Value::String(name)) => Some(name.clone()),
                Some(_) => {
                    return Err(format!(
                        "{}: `theme` must be a theme name",
                        config_file.display()
                    ))
                }
            }
        }
        Err(_) => None,
    };
    let name = theme
        .map(str::to_string)
        .or(configured)
        .unwrap_or_else(|| "dark".into());
    let dirs = [PathBuf::from("themes"), dir.join("themes")];
    let theme = Theme::named(&name, &dirs).map_err(|err| err.to_string())?;
    let keymap = Keymap::load(&dir.join("keymap.toml")).map_err(|err| err.to_string())?;
    Ok((theme, keymap))
}
