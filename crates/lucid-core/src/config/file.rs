//! The user's config file: model profiles and MCP servers shared by every session, and
//! the TUI's theme name.
//!
//! `[models.NAME]` and `[mcp_servers.NAME]` tables use the same keys as a session file's;
//! a session's own entry of the same name wins. `theme = "NAME"` picks the TUI's theme
//! (`--theme` beats it). Other keys belong to no one yet and are left alone. Where the
//! file is, and whether a missing one is an error, is `paths`'s business.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::spec::{line_column, ModelProfile, SpecError};
use crate::tool::mcp::McpServerEntry;

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    models: BTreeMap<Spanned<String>, ModelProfile>,
    #[serde(default)]
    mcp_servers: BTreeMap<Spanned<String>, McpServerEntry>,
    #[serde(default)]
    theme: Option<Spanned<toml::Value>>,
}

/// What the user's config file gives every session.
#[derive(Debug, Clone, Default)]
pub struct UserConfig {
    pub models: BTreeMap<String, ModelProfile>,
    /// Entries checked when a session uses them (with the session's positions).
    pub mcp_servers: BTreeMap<String, McpServerEntry>,
    /// The TUI's theme (`theme = "NAME"`).
    pub theme: Option<String>,
}

/// Parses config-file text; `path` is used in error messages.
pub fn parse_config(path: &Path, source: &str) -> Result<UserConfig, SpecError> {
    let file: ConfigFile = toml::from_str(source).map_err(|err| SpecError {
        path: path.to_path_buf(),
        position: err.span().map(|span| line_column(source, span.start)),
        message: err.message().trim().to_string(),
    })?;
    let mut models = BTreeMap::new();
    for (name, profile) in file.models {
        if let Some(message) = profile.key_problem(name.get_ref()) {
            return Err(SpecError {
                path: path.to_path_buf(),
                position: Some(line_column(source, name.span().start)),
                message,
            });
        }
        models.insert(name.into_inner(), profile);
    }
    let mut mcp_servers = BTreeMap::new();
    for (name, entry) in file.mcp_servers {
        if let Err(err) = entry.resolve(name.get_ref()) {
            return Err(SpecError {
                path: path.to_path_buf(),
                position: Some(line_column(source, name.span().start)),
                message: err.to_string(),
            });
        }
        mcp_servers.insert(name.into_inner(), entry);
    }
    let theme = match file.theme {
        None => None,
        Some(theme) => match theme.get_ref() {
            toml::Value::String(name) => Some(name.clone()),
            _ => {
                return Err(SpecError {
                    path: path.to_path_buf(),
                    position: Some(line_column(source, theme.span().start)),
                    message: "`theme` must be a theme name".into(),
                })
            }
        },
    };
    Ok(UserConfig {
        models,
        mcp_servers,
        theme,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_errors_have_positions() {
        let path = Path::new("config.toml");
        let config = parse_config(
            path,
            "theme = \"light\"\n\n[models.claude]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\ninput_price_per_mtok = 3.0\n\n[elsewhere]\nname = \"left alone\"\n",
        )
        .unwrap();
        assert_eq!(config.models["claude"].input_price_per_mtok, Some(3.0));
        assert_eq!(config.theme.as_deref(), Some("light"));
        let err = parse_config(
            path,
            "[models.x]\nprovider = \"openai\"\nmodel = \"m\"\nmax_token = 3\n",
        )
        .unwrap_err();
        assert_eq!(err.position, Some((4, 1)));
        assert!(err.to_string().starts_with("config.toml:4:1:"), "{err}");
        let err = parse_config(path, "[models.x]\nprovider = \"openai\"\n").unwrap_err();
        assert!(err.message.contains("names no `model`"), "{err}");
        let err = parse_config(path, "\n[models.rec]\nprovider = \"replay\"\n").unwrap_err();
        assert_eq!(err.position, Some((2, 9)));
        assert!(err.message.contains("names no `session`"), "{err}");
        let models = parse_config(
            path,
            "[models.rec]\nprovider = \"replay\"\nsession = \"01J\"\n",
        )
        .unwrap()
        .models;
        assert_eq!(models["rec"].session.as_deref(), Some("01J"));
    }

    #[test]
    fn a_theme_that_is_not_a_name_is_an_error_at_its_position() {
        let err = parse_config(Path::new("config.toml"), "\ntheme = 3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.toml:2:9: `theme` must be a theme name"
        );
        let none = parse_config(Path::new("config.toml"), "").unwrap();
        assert_eq!(none.theme, None);
    }
}
