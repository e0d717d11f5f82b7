//! The one place that knows where lucid's files are and what the user's config file says.
//!
//! [`Paths`] resolves every location lucid reads or writes by default: the config folder
//! (`$LUCID_CONFIG_DIR`, else `lucid` in the user's config folder), the config file
//! (`$LUCID_CONFIG`, else `config.toml` there), the TUI's `keymap.toml` and theme folders,
//! and the default store (`lucid/store` in the user's data folder). The user's folders
//! come from the platform's convention through `etcetera` (XDG on Linux:
//! `$XDG_CONFIG_HOME`/`$XDG_DATA_HOME` when absolute, else under `$HOME`).
//!
//! [`user_config`] reads the config file: model profiles and MCP servers shared by every
//! session, and the TUI's theme name. This module does not parse theme colours or key
//! bindings (the TUI does, from the files named here), open the store, or read `--db` /
//! `$LUCID_DB` (the command line does; they beat [`Paths::default_store`]).

mod file;
mod paths;

pub use file::{parse_config, UserConfig};
pub use paths::{BaseDirs, ConfigFile, Overrides, Paths, CONFIG_DIR_ENV, CONFIG_ENV, DB_ENV};

use crate::spec::SpecError;

/// The user's config file as this process's environment locates it (see [`Paths`]);
/// empty when there is none.
pub fn user_config() -> Result<UserConfig, SpecError> {
    Paths::from_env().user_config()
}
