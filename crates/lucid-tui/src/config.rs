//! The TUI's settings: the theme named by `--theme`, else by the user's config file
//! (`theme = "NAME"`), else dark; and the key overrides of `keymap.toml`. Where those
//! files are is `lucid_core::config`'s answer; this module only parses theme colours and
//! key bindings from them. Errors are one sentence naming the file.

use lucid_core::config::Paths;

use super::keymap::Keymap;
use super::theme::Theme;

/// The theme and keymap to use: `theme` from the command line, else the config file's,
/// else the default (dark).
pub fn load(theme: Option<&str>) -> Result<(Theme, Keymap), String> {
    load_from(&Paths::from_env(), theme)
}

/// [`load`] with the files `paths` names.
pub fn load_from(paths: &Paths, theme: Option<&str>) -> Result<(Theme, Keymap), String> {
    // Read even when `--theme` is given: a broken config file fails here, before the
    // terminal is taken over, not when a run starts.
    let configured = paths.user_config().map_err(|err| err.to_string())?.theme;
    let name = theme
        .map(str::to_string)
        .or(configured)
        .unwrap_or_else(|| "dark".into());
    let theme = Theme::named(&name, &paths.theme_dirs).map_err(|err| err.to_string())?;
    let keymap = match &paths.keymap_file {
        Some(file) => Keymap::load(file).map_err(|err| err.to_string())?,
        None => Keymap::default(),
    };
    Ok((theme, keymap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::KeyAction;
    use lucid_core::config::{BaseDirs, Overrides};

    fn paths_in(config_dir: &std::path::Path) -> Paths {
        Paths::resolve(
            &BaseDirs::default(),
            &Overrides {
                config_file: None,
                config_dir: Some(config_dir.to_path_buf()),
            },
        )
    }

    #[test]
    fn the_theme_and_keys_come_from_the_files_config_names() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_in(dir.path());
        std::fs::write(dir.path().join("config.toml"), "theme = \"light\"\n").unwrap();
        std::fs::write(
            dir.path().join("keymap.toml"),
            "[run]\nexpand_all = \"x\"\n",
        )
        .unwrap();
        let (theme, keymap) = load_from(&paths, None).unwrap();
        assert_eq!(theme, Theme::named("light", &[]).unwrap());
        assert_eq!(keymap.label(KeyAction::ExpandAll), "x");
        // `--theme` beats the config file.
        let (theme, _) = load_from(&paths, Some("high-contrast")).unwrap();
        assert_eq!(theme, Theme::named("high-contrast", &[]).unwrap());
        // A theme file in the config folder's `themes/` is found by name.
        std::fs::create_dir(dir.path().join("themes")).unwrap();
        std::fs::write(dir.path().join("themes/mine.toml"), "").unwrap();
        std::fs::write(dir.path().join("config.toml"), "theme = \"mine\"\n").unwrap();
        load_from(&paths, None).unwrap();
    }

    #[test]
    fn a_broken_config_file_is_one_sentence_naming_it_even_with_a_theme_given() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "theme = [\"dark\"]\n").unwrap();
        let err = load_from(&paths_in(dir.path()), Some("dark")).unwrap_err();
        assert_eq!(
            err,
            format!("{}:1:9: `theme` must be a theme name", file.display())
        );
    }

    #[test]
    fn without_a_config_folder_the_defaults_apply() {
        let paths = Paths::resolve(&BaseDirs::default(), &Overrides::default());
        let (theme, keymap) = load_from(&paths, None).unwrap();
        assert_eq!(theme, Theme::named("dark", &[]).unwrap());
        assert_eq!(keymap.label(KeyAction::ExpandAll), "e");
    }
}
