//! Fixtures shared by the sandbox tests: a root, a scratch dir and an "outside" dir per
//! backend, with visible skips when a backend is missing here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lucid_core::sandbox::{
    CommandOutput, CommandSpec, Sandbox, SandboxError, SandboxMode, SandboxPolicy,
};
use tempfile::TempDir;

/// The confining backends every confinement test runs against.
pub const CONFINED: [SandboxMode; 2] = [SandboxMode::Landlock, SandboxMode::Bubblewrap];

pub struct Fixture {
    pub _root: TempDir,
    pub outside: TempDir,
    pub _tmp: TempDir,
    pub sandbox: Sandbox,
}

impl Fixture {
    /// The canonical root.
    pub fn root(&self) -> PathBuf {
        self.sandbox.policy().root.clone()
    }

    /// The canonical outside dir (writable by the test, not by the sandbox).
    pub fn outside(&self) -> PathBuf {
        self.outside.path().canonicalize().unwrap()
    }

    /// Runs a shell command with a 20 s limit.
    pub async fn sh(&self, command: &str) -> CommandOutput {
        let mut spec = CommandSpec::shell(command);
        spec.timeout = Duration::from_secs(20);
        self.sandbox
            .run(spec, std::future::pending())
            .await
            .unwrap()
    }
}

pub fn bwrap_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("bwrap").is_file()))
}

/// A fixture for `mode`, or `None` (with a visible SKIPPED line) when the backend is not
/// available on this machine.
pub fn fixture(mode: SandboxMode, network: bool) -> Option<Fixture> {
    if mode == SandboxMode::Bubblewrap && !bwrap_on_path() {
        eprintln!("SKIPPED: bwrap not installed");
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim.txt"), "original").unwrap();
    let mut policy = SandboxPolicy::new(root.path(), tmp.path());
    policy.mode = mode;
    policy.network = network;
    match Sandbox::new(policy) {
        Ok(sandbox) => Some(Fixture {
            _root: root,
            outside,
            _tmp: tmp,
            sandbox,
        }),
        Err(SandboxError::Unavailable { reason, .. }) if mode != SandboxMode::Off => {
            eprintln!("SKIPPED: {mode}: {reason}");
            None
        }
        Err(e) => panic!("{mode}: {e}"),
    }
}

/// Every entry under `dir` with its content (files), target (symlinks) or `/` (dirs).
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let body = if meta.is_symlink() {
                std::fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if meta.is_dir() {
                stack.push(p.clone());
                b"/".to_vec()
            } else if meta.is_file() {
                std::fs::read(&p).unwrap_or_default()
            } else {
                b"special".to_vec()
            };
            out.push((p, body));
        }
    }
    out.sort();
    out
}
