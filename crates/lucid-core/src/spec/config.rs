//! The user's config file: model profiles and MCP servers shared by every session.
//!
//! `[models.NAME]` and `[mcp_servers.NAME]` tables in `$LUCID_CONFIG`, else
//! `$XDG_CONFIG_HOME/lucid/config.toml`, else `~/.config/lucid/config.toml`, use the same
//! keys as a session file's. A session's own entry of the same name wins. Other top-level tables belong to
//! other parts of lucid (themes, keys) and are left alone here. A missing default file
//! is no error; a missing `$LUCID_CONFIG` file is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::types::ModelProfile;
use super::{line_column, SpecError};
use crate::tool::mcp::McpServerEntry;

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "LUCID_CONFIG";

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    models: BTreeMap<Spanned<String>, ModelProfile>,
    #[serde(default)]
    mcp_servers: BTreeMap<Spanned<String>, McpServerEntry>,
}

/// What the user's config file gives every session.
#[derive(Debug, Clone, Default)]
pub struct UserConfig {
    pub models: BTreeMap<String, ModelProfile>,
    /// Entries checked when a session uses them (with the session's positions).
    pub mcp_servers: BTreeMap<String, McpServerEntry>,
}

/// The environment variable naming the config folder (themes' `config.toml`, `keymap.toml`).
pub const CONFIG_DIR_ENV: &str = "LUCID_CONFIG_DIR";

/// An XDG base folder: `$VAR` when it is an absolute path (the XDG spec ignores relative
/// ones), else `$HOME` joined with `home_suffix`; `None` without either. The one place
/// lucid works out where its config and data live.
pub fn xdg_base(var: &str, home_suffix: &[&str]) -> Option<PathBuf> {
    xdg_base_from(std::env::var_os(var), std::env::var_os("HOME"), home_suffix)
}

/// [`xdg_base`] over given values of the variable and `$HOME`.
pub fn xdg_base_from(
    value: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
    home_suffix: &[&str],
) -> Option<PathBuf> {
    if let Some(dir) = value.map(PathBuf::from) {
        if dir.is_absolute() {
            return Some(dir);
        }
    }
    let home = home.filter(|h| !h.is_empty())?;
    Some(
        home_suffix
            .iter()
            .fold(PathBuf::from(home), |path, part| path.join(part)),
    )
}

/// lucid's config folder: `$LUCID_CONFIG_DIR`, else `$XDG_CONFIG_HOME/lucid`, else
/// `~/.config/lucid`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    xdg_base("XDG_CONFIG_HOME", &[".config"]).map(|base| base.join("lucid"))
}

/// Where the config file is, and whether the user named it explicitly (`$LUCID_CONFIG`),
/// else `config.toml` in [`config_dir`].
pub fn config_path() -> Option<(PathBuf, bool)> {
    if let Some(path) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(path), true));
    }
    config_dir().map(|dir| (dir.join("config.toml"), false))
}

/// The model profiles and MCP servers of the user's config file (none when there is no
/// file).
pub fn user_config() -> Result<UserConfig, SpecError> {
    match config_path() {
        None => Ok(UserConfig::default()),
        Some((path, explicit)) => match std::fs::read_to_string(&path) {
            Ok(source) => parse_config(&path, &source),
            Err(err) if !explicit && err.kind() == std::io::ErrorKind::NotFound => {
                Ok(UserConfig::default())
            }
            Err(err) => Err(SpecError {
                path,
                position: None,
                message: format!("cannot read the config file: {err}"),
            }),
        },
    }
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
        if let Err(message) = entry.resolve(name.get_ref()) {
            return Err(SpecError {
                path: path.to_path_buf(),
                position: Some(line_column(source, name.span().start)),
                message,
            });
        }
        mcp_servers.insert(name.into_inner(), entry);
    }
    Ok(UserConfig {
        models,
        mcp_servers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_errors_have_positions() {
        let path = Path::new("config.toml");
        let models = parse_config(
            path,
            "[models.claude]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\ninput_price_per_mtok = 3.0\n\n[theme]\nname = \"dark\"\n",
        )
        .unwrap()
        .models;
        assert_eq!(models["claude"].input_price_per_mtok, Some(3.0));
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
}
