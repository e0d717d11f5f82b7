//! Bubblewrap: finding a working `bwrap` and the argument list that confines a command.
//!
//! Owns the mount layout: the whole file system read-only, a fresh `/dev` and `/proc`,
//! the root and the scratch dir bound read-write at their own paths, a new PID namespace
//! (so killing bwrap ends every process of the command), a new session (no terminal
//! injection), no capabilities even for a root caller (no mounts, no device nodes), and `--unshare-net` unless the policy allows network. It does not spawn or
//! supervise the process (`spawn` does).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The first executable `bwrap` on `PATH`, if any.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The bwrap arguments (everything before the command) for a policy.
pub fn args(root: &Path, tmp: &Path, cwd: &Path, network: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&std::ffi::OsStr]| args.extend(items.iter().map(|s| s.into()));
    push(&["--ro-bind".as_ref(), "/".as_ref(), "/".as_ref()]);
    push(&["--dev".as_ref(), "/dev".as_ref()]);
    push(&["--proc".as_ref(), "/proc".as_ref()]);
    push(&["--bind".as_ref(), root.as_os_str(), root.as_os_str()]);
    if !tmp.starts_with(root) {
        push(&["--bind".as_ref(), tmp.as_os_str(), tmp.as_os_str()]);
    }
    if !network {
        push(&["--unshare-net".as_ref()]);
    }
    push(&[
        "--cap-drop".as_ref(),
        "ALL".as_ref(),
        "--unshare-pid".as_ref(),
        "--unshare-ipc".as_ref(),
        "--die-with-parent".as_ref(),
        "--new-session".as_ref(),
        "--chdir".as_ref(),
        cwd.as_os_str(),
        "--".as_ref(),
    ]);
    args
}

/// Why `bwrap` does not work here.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot run {}: {source}", .bwrap.display())]
    Spawn {
        bwrap: PathBuf,
        source: std::io::Error,
    },
    /// bwrap ran and failed; its complaint, on one line.
    #[error("{complaint}")]
    Refused { complaint: String },
}

/// Checks that `bwrap` really works here (it needs user namespaces or privileges) by
/// running `/bin/sh -c :` under the same flags. Returns bwrap's complaint when it fails.
pub fn probe(bwrap: &Path, root: &Path, tmp: &Path, network: bool) -> Result<(), ProbeError> {
    let output = Command::new(bwrap)
        .args(args(root, tmp, root, network))
        .args(["/bin/sh", "-c", ":"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| ProbeError::Spawn {
            bwrap: bwrap.to_path_buf(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(ProbeError::Refused {
            complaint: crate::event::one_line(&stderr, 200),
        })
    }
}
