//! The child's environment: the parent's variables minus anything that looks like a
//! secret, plus the private scratch dir as `TMPDIR`/`TMP`/`TEMP` and the caller's extras.
//!
//! Owns the rule for "looks like a secret". It does not decide which secrets lucid itself
//! reads (`api_key_env` in the session file does); it only keeps them out of commands.

use std::ffi::OsString;
use std::path::Path;

/// Name fragments that mark a variable as secret (compared case-insensitively).
pub const SECRET_MARKERS: &[&str] = &[
    "API_KEY",
    "APIKEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "ACCESS_KEY",
];

/// True when a variable name looks like it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|marker| upper.contains(marker))
}

/// The complete environment for a child, built from `parent` (usually `std::env::vars_os()`).
///
/// Variables that look secret and those named in `strip` are dropped; `TMPDIR`, `TMP` and
/// `TEMP` point at `tmp`; `extra` is applied last (the caller's own configuration, trusted,
/// so it may set any name).
pub fn child_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    strip: &[String],
    tmp: &Path,
    extra: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    let stripped = |name: &OsString| {
        let name = name.to_string_lossy();
        looks_secret(&name)
            || strip.iter().any(|s| s.as_str() == name)
            || matches!(name.as_ref(), "TMPDIR" | "TMP" | "TEMP")
    };
    let mut env: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(name, _)| !stripped(name))
        .collect();
    for name in ["TMPDIR", "TMP", "TEMP"] {
        env.push((name.into(), tmp.as_os_str().to_owned()));
    }
    for (name, value) in extra {
        env.retain(|(n, _)| n.as_os_str() != name.as_str());
        env.push((name.into(), value.into()));
    }
    env
}
