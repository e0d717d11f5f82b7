//! Keys: which key does what in which view. The built-in bindings can be overridden by a
//! keymap file (`keymap.toml` in the config directory), a partial override:
//!
//! ```toml
//! [global]
//! quit = "ctrl-q"
//! [run]
//! cancel_thread = ["c", "delete"]
//! ```
//!
//! Each section is a context (`global`, `run`, `sessions`, `memory`); a key bound twice
//! in one context, or bound in a view and also globally, is a conflict reported with the
//! file and the key. This module maps keys to [`KeyAction`]s; it does not act on them.

use std::fmt;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    Run,
    Sessions,
    Memory,
}

impl Context {
    pub const ALL: [Context; 4] = [
        Context::Global,
        Context::Run,
        Context::Sessions,
        Context::Memory,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Run => "run",
            Context::Sessions => "sessions",
            Context::Memory => "memory",
        }
    }
}

macro_rules! actions {
    ($($variant:ident $name:literal $ctx:ident [$($key:literal),*] $help:literal;)*) => {
        /// Everything a key can do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum KeyAction { $($variant),* }

        impl KeyAction {
            pub const ALL: &'static [KeyAction] = &[$(KeyAction::$variant),*];

            /// The name used in keymap files.
            pub fn name(self) -> &'static str {
                match self { $(KeyAction::$variant => $name),* }
            }

            pub fn context(self) -> Context {
                match self { $(KeyAction::$variant => Context::$ctx),* }
            }

            pub fn help(self) -> &'static str {
                match self { $(KeyAction::$variant => $help),* }
            }

            fn default_keys(self) -> &'static [&'static str] {
                match self { $(KeyAction::$variant => &[$($key),*]),* }
            }
        }
    };
}

actions! {
    Quit "quit" Global ["q", "ctrl-c"] "quit (asks first while a run is live)";
    Help "help" Global ["?"] "show or hide this help";
    ViewRun "view_run" Global ["1"] "Run view";
    ViewSessions "view_sessions" Global ["2"] "Sessions view";
    ViewMemory "view_memory" Global ["3"] "Memory view";
    FocusNext "focus_next" Global ["tab"] "move focus to the next pane";
    FocusPrev "focus_prev" Global ["backtab"] "move focus to the previous pane";
    Down "down" Global ["down", "j"] "move down";
    Up "up" Global ["up", "k"] "move up";
    PageDown "page_down" Global ["pagedown", "ctrl-d"] "page down";
    PageUp "page_up" Global ["pageup", "ctrl-u"] "page up";
    Top "top" Global ["home", "g"] "go to the top";
    Bottom "bottom" Global ["end", "G"] "go to the bottom (the transcript then follows new text)";
    Open "open" Global ["enter"] "open / expand / collapse the item under the cursor";
    CancelThread "cancel_thread" Run ["c"] "cancel the selected thread and its children";
    ExpandAll "expand_all" Run ["e"] "expand or fold every tool call of the transcript";
    PrevIteration "prev_iteration" Run ["["] "grader: show the previous iteration";
    NextIteration "next_iteration" Run ["]"] "grader: show the next iteration";
    Pause "pause" Run ["space"] "replay: pause or resume";
    Step "step" Run ["."] "replay: apply the next event (pauses)";
    Faster "faster" Run ["+", "="] "replay: double the speed";
    Slower "slower" Run ["-"] "replay: halve the speed";
    ShowDiff "show_diff" Run ["d"] "show the files the session changed and their diff";
    ToggleWrap "toggle_wrap" Run ["w"] "transcript: wrap long lines, or one row per entry cut with …";
    Pager "pager" Run ["v", "o"] "read the selected transcript entry whole in a pager";
    Back "back" Run ["b", "backspace"] "back to where Enter on a delegation jumped from";
    NewRun "new_run" Sessions ["n"] "start a new run from a session file";
    Refresh "refresh" Sessions ["r"] "reload the session list";
    FilterSessions "filter_sessions" Sessions ["f"] "list runs, dreams, or both";
    Approve "approve" Memory ["a"] "approve the selected proposal (or a rejected or retired memory again)";
    Reject "reject" Memory ["r"] "reject the selected proposal (asks first)";
    Retire "retire" Memory ["R"] "retire the selected approved memory: it no longer steers runs (asks first)";
    Edit "edit" Memory ["e"] "edit title, body and rules (tab: next field; ctrl-s saves a new version; Esc asks first)";
    Export "export" Memory ["x"] "export as a skill";
    DreamNow "dream_now" Memory ["D"] "dream now";
    Search "search" Memory ["/"] "search";
    FilterStatus "filter_status" Memory ["s"] "cycle the status filter";
    FilterScope "filter_scope" Memory ["S"] "cycle the scope filter";
    FilterKind "filter_kind" Memory ["K"] "cycle the kind filter";
    Versions "versions" Memory ["v"] "show the history (who did what, when) and the diff against the previous version";
}

/// A key with its modifiers, as written in keymap files: `q`, `G`, `ctrl-c`, `enter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn from_event(event: &KeyEvent) -> Key {
        Key {
            code: match event.code {
                // Shift+Tab arrives as BackTab on most terminals.
                KeyCode::Tab if event.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
                code => code,
            },
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
        }
    }

    pub fn parse(text: &str) -> Option<Key> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            s if s.chars().count() == 1 => KeyCode::Char(s.chars().next()?),
            s => {
                let n: u8 = s.strip_prefix('f')?.parse().ok()?;
                KeyCode::F(n)
            }
        };
        Some(Key { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::F(n) => write!(f, "f{n}"),
            _ => f.write_str("?"),
        }
    }
}

/// Why a keymap file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeymapError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: key `{key}` is bound to both `{first}` and `{second}` in [{context}]")]
    Conflict {
        file: String,
        key: String,
        first: String,
        second: String,
        context: String,
    },
}

/// The bindings in force.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Key, KeyAction)>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut bindings = Vec::new();
        for &action in KeyAction::ALL {
            for key in action.default_keys() {
                if let Some(key) = Key::parse(key) {
                    bindings.push((key, action));
                }
            }
        }
        Keymap { bindings }
    }
}

impl Keymap {
    /// The built-in bindings with the file's overrides, if the file exists.
    pub fn load(path: &Path) -> Result<Keymap, KeymapError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Keymap::from_toml(&text, &path.display().to_string()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Keymap::default()),
            Err(err) => Err(KeymapError::Invalid {
                file: path.display().to_string(),
                message: err.to_string(),
            }),
        }
    }

    /// Parses a keymap file's text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Keymap, KeymapError> {
        let invalid = |message: String| KeymapError::Invalid {
            file: file.to_string(),
            message,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        let mut keymap = Keymap::default();
        for (section, value) in &table {
            let context = Context::ALL
                .into_iter()
                .find(|c| c.name() == section)
                .ok_or_else(|| {
                    invalid(format!(
                        "unknown section [{section}] (expected global, run, sessions or memory)"
                    ))
                })?;
            let entries = value
                .as_table()
                .ok_or_else(|| invalid(format!("[{section}] must be a table")))?;
            for (name, keys) in entries {
                let action = KeyAction::ALL
                    .iter()
                    .copied()
                    .find(|a| a.name() == name && a.context() == context)
                    .ok_or_else(|| invalid(format!("[{section}] has no action `{name}`")))?;
                let keys: Vec<&str> = match keys {
                    toml::Value::String(key) => vec![key.as_str()],
                    toml::Value::Array(list) => list.iter().filter_map(|v| v.as_str()).collect(),
                    _ => {
                        return Err(invalid(format!(
                            "[{section}] {name}: expected a key or a list of keys"
                        )))
                    }
                };
                let mut parsed = Vec::new();
                for key in keys {
                    parsed.push(Key::parse(key).ok_or_else(|| {
                        invalid(format!("[{section}] {name}: unknown key `{key}`"))
                    })?);
                }
                keymap.bindings.retain(|(_, a)| *a != action);
                keymap
                    .bindings
                    .extend(parsed.into_iter().map(|k| (k, action)));
            }
        }
        keymap.check(file)?;
        Ok(keymap)
    }

    /// Refuses a key bound to two actions where both could apply.
    fn check(&self, file: &str) -> Result<(), KeymapError> {
        for (i, (key, first)) in self.bindings.iter().enumerate() {
            for (other, second) in &self.bindings[i + 1..] {
                let overlap = first.context() == second.context()
                    || first.context() == Context::Global
                    || second.context() == Context::Global;
                if key == other && first != second && overlap {
                    let context = if first.context() == Context::Global {
                        second.context()
                    } else {
                        first.context()
                    };
                    return Err(KeymapError::Conflict {
                        file: file.to_string(),
                        key: key.to_string(),
                        first: first.name().to_string(),
                        second: second.name().to_string(),
                        context: context.name().to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// What a key does in a view: the view's own binding first, then the global one.
    pub fn action(&self, context: Context, key: &KeyEvent) -> Option<KeyAction> {
        let key = Key::from_event(key);
        let find = |ctx: Context| {
            self.bindings
                .iter()
                .find(|(k, a)| *k == key && a.context() == ctx)
                .map(|(_, a)| *a)
        };
        find(context).or_else(|| find(Context::Global))
    }

    /// The keys bound to an action, for help and hints.
    pub fn keys(&self, action: KeyAction) -> Vec<Key> {
        self.bindings
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(k, _)| *k)
            .collect()
    }

    /// `k1/k2` for an action, or `-` if unbound.
    pub fn label(&self, action: KeyAction) -> String {
        let keys = self.keys(action);
        if keys.is_empty() {
            return "-".into();
        }
        keys.iter()
            .map(Key::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Every action of a view (global ones first), for the help screen.
    pub fn help(&self, context: Context) -> Vec<(String, &'static str)> {
        KeyAction::ALL
            .iter()
            .filter(|a| a.context() == Context::Global || a.context() == context)
            .map(|&a| (self.label(a), a.help()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn defaults_have_no_conflicts_and_views_shadow_nothing_global() {
        Keymap::default().check("built-in").unwrap();
        let keymap = Keymap::default();
        assert_eq!(
            keymap.action(Context::Run, &press(KeyCode::Char('c'))),
            Some(KeyAction::CancelThread)
        );
        assert_eq!(
            keymap.action(Context::Sessions, &press(KeyCode::Char('c'))),
            None
        );
        assert_eq!(
            keymap.action(Context::Memory, &press(KeyCode::Char('j'))),
            Some(KeyAction::Down)
        );
    }

    #[test]
    fn a_file_overrides_one_action_and_keeps_the_rest() {
        let keymap =
            Keymap::from_toml("[run]\ncancel_thread = [\"x\", \"delete\"]\n", "k.toml").unwrap();
        assert_eq!(
            keymap.action(Context::Run, &press(KeyCode::Char('x'))),
            Some(KeyAction::CancelThread)
        );
        assert_eq!(
            keymap.action(Context::Run, &press(KeyCode::Char('c'))),
            None
        );
        assert_eq!(
            keymap.action(Context::Run, &press(KeyCode::Char('q'))),
            Some(KeyAction::Quit)
        );
    }

    #[test]
    fn conflicts_name_the_file_and_the_key() {
        let err = Keymap::from_toml(
            "[run]\nexpand_all = \"c\"\n",
            "/home/me/.config/lucid/keymap.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/home/me/.config/lucid/keymap.toml"), "{err}");
        assert!(err.contains("key `c`"), "{err}");
        let err = Keymap::from_toml("[memory]\napprove = \"q\"\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`q`") && err.contains("quit") && err.contains("approve"),
            "{err}"
        );
        let err = Keymap::from_toml("[run]\nfly = \"f\"\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k.toml") && err.contains("fly"), "{err}");
    }
}
