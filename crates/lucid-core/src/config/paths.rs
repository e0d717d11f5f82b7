//! Where lucid's files are: the user's base folders (from `etcetera`), lucid's own
//! variables over them, and every default path derived from the two.
//!
//! Resolution is split so it can be checked without touching the process environment:
//! [`BaseDirs::from_env`] and [`Overrides::from_env`] read it, [`Paths::resolve`] is a
//! pure function of what they found.

use std::ffi::OsString;
use std::path::PathBuf;

use etcetera::BaseStrategy;

use super::file::{parse_config, UserConfig};
use crate::spec::SpecError;

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "LUCID_CONFIG";

/// The environment variable naming the config folder (`config.toml`, `keymap.toml`,
/// `themes/`).
pub const CONFIG_DIR_ENV: &str = "LUCID_CONFIG_DIR";

/// The environment variable naming the store; the command line reads it as `--db`'s
/// default, and it beats [`Paths::default_store`].
pub const DB_ENV: &str = "LUCID_DB";

/// The folder lucid keeps its files in, inside the user's config and data folders.
const APP_DIR: &str = "lucid";

/// The user's config and data folders, before lucid's own folder is added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseDirs {
    /// `$XDG_CONFIG_HOME` when absolute, else `$HOME/.config`; `None` without either.
    pub config: Option<PathBuf>,
    /// `$XDG_DATA_HOME` when absolute, else `$HOME/.local/share`; `None` without either.
    pub data: Option<PathBuf>,
}

impl BaseDirs {
    /// This process's, by the platform's convention (`etcetera`: XDG on Linux and macOS).
    ///
    /// On Unix an unset or empty `$HOME` means no home: only an absolute XDG variable
    /// gives a folder then (lucid does not fall back to the password database's home, as
    /// `etcetera` would, so a store never lands somewhere `$HOME` did not point).
    pub fn from_env() -> BaseDirs {
        let home_set = std::env::var_os("HOME").is_some_and(|home| !home.is_empty());
        if home_set || !cfg!(unix) {
            if let Ok(strategy) = etcetera::choose_base_strategy() {
                return BaseDirs {
                    config: Some(strategy.config_dir()),
                    data: Some(strategy.data_dir()),
                };
            }
        }
        BaseDirs {
            config: absolute(std::env::var_os("XDG_CONFIG_HOME")),
            data: absolute(std::env::var_os("XDG_DATA_HOME")),
        }
    }
}

/// An XDG variable's value counts only when it is an absolute path (the XDG spec).
fn absolute(value: Option<OsString>) -> Option<PathBuf> {
    value.map(PathBuf::from).filter(|path| path.is_absolute())
}

/// lucid's own variables, which beat the base folders. Empty values count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `$LUCID_CONFIG`: the config file.
    pub config_file: Option<PathBuf>,
    /// `$LUCID_CONFIG_DIR`: the config folder.
    pub config_dir: Option<PathBuf>,
}

impl Overrides {
    /// This process's.
    pub fn from_env() -> Overrides {
        let var = |name| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        Overrides {
            config_file: var(CONFIG_ENV),
            config_dir: var(CONFIG_DIR_ENV),
        }
    }
}

/// The config file and whether the user named it (`$LUCID_CONFIG`): a named file must
/// exist, the default one may be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub named: bool,
}

/// Every default location lucid uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// lucid's config folder; `None` without a home, an XDG variable or `$LUCID_CONFIG_DIR`.
    pub config_dir: Option<PathBuf>,
    /// The config file; `None` when there is no config folder and `$LUCID_CONFIG` is unset.
    pub config_file: Option<ConfigFile>,
    /// The TUI's key overrides, `keymap.toml` in the config folder.
    pub keymap_file: Option<PathBuf>,
    /// Where the TUI looks for `NAME.toml` themes, in order: `themes/` in the working
    /// directory, then in the config folder (before the shipped ones).
    pub theme_dirs: Vec<PathBuf>,
    /// The store when neither `--db` nor `$LUCID_DB` names one: `lucid/store` in the data
    /// folder, else `.lucid/store` in the working directory.
    pub default_store: PathBuf,
}

impl Paths {
    /// This process's (see [`BaseDirs::from_env`] and [`Overrides::from_env`]).
    pub fn from_env() -> Paths {
        Paths::resolve(&BaseDirs::from_env(), &Overrides::from_env())
    }

    /// The paths that given base folders and overrides lead to.
    pub fn resolve(base: &BaseDirs, overrides: &Overrides) -> Paths {
        let config_dir = overrides
            .config_dir
            .clone()
            .or_else(|| base.config.as_ref().map(|dir| dir.join(APP_DIR)));
        let config_file = match &overrides.config_file {
            Some(path) => Some(ConfigFile {
                path: path.clone(),
                named: true,
            }),
            None => config_dir.as_ref().map(|dir| ConfigFile {
                path: dir.join("config.toml"),
                named: false,
            }),
        };
        let keymap_file = config_dir.as_ref().map(|dir| dir.join("keymap.toml"));
        let theme_dirs = std::iter::once(PathBuf::from("themes"))
            .chain(config_dir.as_ref().map(|dir| dir.join("themes")))
            .collect();
        let default_store = base
            .data
            .as_ref()
            .map_or_else(|| PathBuf::from(".lucid"), |dir| dir.join(APP_DIR))
            .join("store");
        Paths {
            config_dir,
            config_file,
            keymap_file,
            theme_dirs,
            default_store,
        }
    }

    /// The config file's model profiles, MCP servers and theme name (empty when there is
    /// no file).
    pub fn user_config(&self) -> Result<UserConfig, SpecError> {
        self.config_file
            .as_ref()
            .map_or_else(|| Ok(UserConfig::default()), ConfigFile::read)
    }
}

impl ConfigFile {
    /// Reads and checks the file; a missing default file reads as empty, a missing named
    /// one is an error.
    pub fn read(&self) -> Result<UserConfig, SpecError> {
        match std::fs::read_to_string(&self.path) {
            Ok(source) => parse_config(&self.path, &source),
            Err(err) if !self.named && err.kind() == std::io::ErrorKind::NotFound => {
                Ok(UserConfig::default())
            }
            Err(err) => Err(SpecError {
                path: self.path.clone(),
                position: None,
                message: format!("cannot read the config file: {err}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// Set only in a child process started by [`from_env_in`]: where its probe writes.
    const PROBE_ENV: &str = "LUCID_TEST_PATHS_PROBE";
    const PROBE_TEST: &str = "config::paths::tests::probe_writes_the_paths_of_its_environment";

    /// One line per path, `-` for none, ` (named)` after a config file the user named.
    fn summary(paths: &Paths) -> Vec<String> {
        let shown = |path: Option<&PathBuf>| path.map_or("-".into(), |p| p.display().to_string());
        vec![
            shown(paths.config_dir.as_ref()),
            paths.config_file.as_ref().map_or("-".into(), |file| {
                let named = if file.named { " (named)" } else { "" };
                format!("{}{named}", file.path.display())
            }),
            shown(paths.keymap_file.as_ref()),
            paths
                .theme_dirs
                .iter()
                .map(|dir| dir.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            paths.default_store.display().to_string(),
        ]
    }

    /// Not a check of its own: when [`from_env_in`] runs this test binary with
    /// `PROBE_ENV` set, this writes what `Paths::from_env` found there.
    #[test]
    fn probe_writes_the_paths_of_its_environment() {
        if let Some(out) = std::env::var_os(PROBE_ENV) {
            std::fs::write(out, summary(&Paths::from_env()).join("\n")).unwrap();
        }
    }

    /// `Paths::from_env()` in a child process whose whole environment is `vars`, so the
    /// real resolution (etcetera included) runs without changing this process's.
    fn from_env_in(vars: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("paths");
        let status = Command::new(std::env::current_exe().unwrap())
            .args([PROBE_TEST, "--exact", "--test-threads=1"])
            .env_clear()
            .envs(vars.iter().copied())
            .env(PROBE_ENV, &out)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "the probe failed under {vars:?}");
        let written = std::fs::read_to_string(&out).unwrap();
        written.lines().map(str::to_string).collect()
    }

    #[test]
    fn home_alone_gives_the_xdg_defaults_under_it() {
        assert_eq!(
            from_env_in(&[("HOME", "/home/u")]),
            [
                "/home/u/.config/lucid",
                "/home/u/.config/lucid/config.toml",
                "/home/u/.config/lucid/keymap.toml",
                "themes /home/u/.config/lucid/themes",
                "/home/u/.local/share/lucid/store",
            ]
        );
    }

    #[test]
    fn absolute_xdg_variables_beat_home_and_relative_ones_are_ignored() {
        let absolute = from_env_in(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("XDG_DATA_HOME", "/data"),
        ]);
        assert_eq!(absolute[1], "/cfg/lucid/config.toml");
        assert_eq!(absolute[4], "/data/lucid/store");
        let relative = from_env_in(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", "cfg"),
            ("XDG_DATA_HOME", "data"),
        ]);
        assert_eq!(relative, from_env_in(&[("HOME", "/home/u")]));
    }

    #[test]
    fn without_home_only_absolute_xdg_variables_give_folders() {
        let nothing = ["-", "-", "-", "themes", ".lucid/store"];
        assert_eq!(from_env_in(&[]), nothing);
        assert_eq!(from_env_in(&[("HOME", "")]), nothing);
        assert_eq!(
            from_env_in(&[
                ("XDG_CONFIG_HOME", "relative"),
                ("XDG_DATA_HOME", "relative")
            ]),
            nothing
        );
        let xdg = from_env_in(&[("XDG_CONFIG_HOME", "/cfg"), ("XDG_DATA_HOME", "/data")]);
        assert_eq!(xdg[1], "/cfg/lucid/config.toml");
        assert_eq!(xdg[4], "/data/lucid/store");
    }

    #[test]
    fn lucid_variables_beat_the_base_folders_and_empty_ones_count_as_unset() {
        let both = from_env_in(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("LUCID_CONFIG_DIR", "/etc/lucid"),
            ("LUCID_CONFIG", "/tmp/mine.toml"),
        ]);
        assert_eq!(
            both[..4],
            [
                "/etc/lucid",
                "/tmp/mine.toml (named)",
                "/etc/lucid/keymap.toml",
                "themes /etc/lucid/themes",
            ]
        );
        // The config folder's `config.toml` unless the file is named.
        let dir_only = from_env_in(&[("LUCID_CONFIG_DIR", "/etc/lucid")]);
        assert_eq!(dir_only[1], "/etc/lucid/config.toml");
        let empty = from_env_in(&[
            ("HOME", "/home/u"),
            ("LUCID_CONFIG_DIR", ""),
            ("LUCID_CONFIG", ""),
        ]);
        assert_eq!(empty, from_env_in(&[("HOME", "/home/u")]));
    }

    #[test]
    fn resolve_joins_lucid_folders_onto_the_base_folders() {
        let base = BaseDirs {
            config: Some("/c".into()),
            data: Some("/d".into()),
        };
        let paths = Paths::resolve(&base, &Overrides::default());
        assert_eq!(
            paths.config_file,
            Some(ConfigFile {
                path: "/c/lucid/config.toml".into(),
                named: false
            })
        );
        assert_eq!(paths.default_store, PathBuf::from("/d/lucid/store"));
        let named = Paths::resolve(
            &BaseDirs::default(),
            &Overrides {
                config_file: Some("x.toml".into()),
                config_dir: None,
            },
        );
        assert_eq!(named.config_dir, None);
        assert_eq!(
            named.config_file,
            Some(ConfigFile {
                path: "x.toml".into(),
                named: true
            })
        );
        assert_eq!(named.default_store, PathBuf::from(".lucid/store"));
    }

    #[test]
    fn a_missing_default_file_is_empty_and_a_missing_named_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let default = ConfigFile {
            path: path.clone(),
            named: false,
        };
        assert!(default.read().unwrap().models.is_empty());
        let named = ConfigFile { path, named: true };
        let err = named.read().unwrap_err();
        assert!(
            err.to_string().contains("cannot read the config file"),
            "{err}"
        );
        assert!(Paths::resolve(&BaseDirs::default(), &Overrides::default())
            .user_config()
            .unwrap()
            .mcp_servers
            .is_empty());
    }
}
