//! Stdio servers as processes: spawning one in its own process group, keeping the last
//! few KB of its stderr for error messages, and killing the whole group.
//!
//! The group matters because servers are often launched through wrappers (`npx` starts
//! `node`, which may start more): killing only the direct child would orphan the rest.
//! Stderr is never shown on the terminal; it only feeds error messages, sanitised.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::watch;

use crate::event::sanitize;

/// How much of a server's stderr is kept.
pub const STDERR_TAIL_BYTES: usize = 4096;

/// The last [`STDERR_TAIL_BYTES`] of a process's stderr, filled by a background task.
#[derive(Clone)]
pub struct StderrTail {
    bytes: Arc<Mutex<VecDeque<u8>>>,
    closed: watch::Receiver<bool>,
}

impl StderrTail {
    /// Starts copying `stderr` into a ring buffer until it closes.
    fn capture(mut stderr: ChildStderr) -> StderrTail {
        let bytes = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_BYTES)));
        let (closed_tx, closed) = watch::channel(false);
        let ring = Arc::clone(&bytes);
        tokio::spawn(async move {
            let mut chunk = [0u8; 1024];
            loop {
                match stderr.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => push_bounded(&ring, &chunk[..n]),
                }
            }
            let _ = closed_tx.send(true);
        });
        StderrTail { bytes, closed }
    }

    /// A tail that never receives anything (for servers without stderr).
    pub fn empty() -> StderrTail {
        let (_tx, closed) = watch::channel(true);
        StderrTail {
            bytes: Arc::default(),
            closed,
        }
    }

    /// The kept text, sanitised and trimmed; lossy at a cut UTF-8 sequence.
    pub fn text(&self) -> String {
        let bytes: Vec<u8> = match self.bytes.lock() {
            Ok(ring) => ring.iter().copied().collect(),
            Err(poisoned) => poisoned.into_inner().iter().copied().collect(),
        };
        sanitize(String::from_utf8_lossy(&bytes).trim())
            .trim()
            .to_string()
    }

    /// Waits until the process closed its stderr (it exited), at most `limit`, so that
    /// what it wrote last is in the tail.
    pub async fn settle(&self, limit: Duration) {
        let mut closed = self.closed.clone();
        let _ = tokio::time::timeout(limit, closed.wait_for(|closed| *closed)).await;
    }
}

fn push_bounded(ring: &Mutex<VecDeque<u8>>, chunk: &[u8]) {
    let mut ring = match ring.lock() {
        Ok(ring) => ring,
        Err(poisoned) => poisoned.into_inner(),
    };
    ring.extend(chunk);
    let excess = ring.len().saturating_sub(STDERR_TAIL_BYTES);
    ring.drain(..excess);
}

/// A spawned stdio server: its stdout and stdin (rmcp's transport runs over them), its
/// process group, its stderr tail and a watch on its exit.
///
/// lucid owns the process rather than rmcp so that a server's death is seen even when a
/// child it left behind still holds the pipes open.
pub struct StdioChild {
    pub stdout: ChildStdout,
    pub stdin: ChildStdin,
    /// The process group (the child's pid: it leads its own group).
    pub group: Option<ProcessGroup>,
    pub stderr: StderrTail,
    pub exit: ExitWatch,
}

/// Spawns `command` in a new process group with lucid's environment less every variable
/// that looks secret or is named in `hidden` (except those named in `pass`), plus `env`.
pub fn spawn(
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    pass: &[String],
    hidden: &[String],
    cwd: Option<&Path>,
) -> std::io::Result<StdioChild> {
    let mut cmd = tokio::process::Command::new(command);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let secret =
            crate::sandbox::looks_secret(&name) || hidden.iter().any(|h| h.as_str() == name);
        if secret && !pass.iter().any(|p| p.as_str() == name) {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd.args(args)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other(
            "the server's stdio pipes are missing",
        ));
    };
    let stderr = child
        .stderr
        .take()
        .map_or_else(StderrTail::empty, StderrTail::capture);
    let group = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(|pid| ProcessGroup(pid).track());
    Ok(StdioChild {
        stdout,
        stdin,
        group,
        stderr,
        exit: ExitWatch::reap(child),
    })
}

/// Whether (and how) a server process exited; a background task waits for it.
#[derive(Clone)]
pub struct ExitWatch(watch::Receiver<Option<String>>);

impl ExitWatch {
    fn reap(mut child: Child) -> ExitWatch {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(status) => status.to_string(),
                Err(err) => format!("lost: {err}"),
            };
            let _ = tx.send(Some(how));
        });
        ExitWatch(rx)
    }

    /// Waits for the exit and says how it ended (`exit status: 7`, `signal: 9 …`).
    pub async fn exited(&self) -> String {
        let mut rx = self.0.clone();
        let how = match rx.wait_for(Option::is_some).await {
            Ok(how) => how.clone().unwrap_or_default(),
            Err(_) => "gone".into(),
        };
        how
    }
}

/// A process group led by a server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessGroup(pub i32);

/// Every server process group started and not yet killed, so a process that must quit at
/// once (a second Ctrl-C) can still take its servers with it.
static LIVE_GROUPS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

fn live_groups() -> std::sync::MutexGuard<'static, Vec<i32>> {
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kills every server process group still running (before the process exits in a hurry).
pub fn kill_every_group() {
    let groups = std::mem::take(&mut *live_groups());
    for group in groups {
        ProcessGroup(group).kill();
    }
}

impl ProcessGroup {
    /// Remembers a new group for [`kill_every_group`].
    pub fn track(self) -> Self {
        live_groups().push(self.0);
        self
    }

    /// Asks every process of the group to stop (SIGTERM).
    pub fn terminate(self) {
        #[cfg(unix)]
        self.signal(libc::SIGTERM);
    }

    /// Kills every process of the group (SIGKILL). Harmless if they are gone.
    pub fn kill(self) {
        live_groups().retain(|g| *g != self.0);
        #[cfg(unix)]
        self.signal(libc::SIGKILL);
    }

    #[cfg(unix)]
    fn signal(self, signal: libc::c_int) {
        if self.0 <= 1 {
            return; // never signal "every process" or init's group
        }
        // SAFETY: killpg only sends a signal; it touches no memory of ours.
        unsafe {
            libc::killpg(self.0, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_only_the_last_bytes() {
        let ring = Mutex::new(VecDeque::new());
        push_bounded(&ring, &[b'a'; STDERR_TAIL_BYTES]);
        push_bounded(&ring, b"the end");
        let ring = ring.into_inner().unwrap();
        assert_eq!(ring.len(), STDERR_TAIL_BYTES);
        let text: Vec<u8> = ring.into_iter().collect();
        assert!(text.ends_with(b"aaathe end"));
    }

    #[tokio::test]
    async fn stderr_is_captured_sanitised_and_the_group_is_killed() {
        let child = spawn(
            "sh",
            &[
                "-c".into(),
                "printf 'boom \\033[31mred\\033[0m' >&2; sleep 30 & wait".into(),
            ],
            &BTreeMap::new(),
            &[],
            &[],
            None,
        )
        .unwrap();
        let group = child.group.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        group.kill();
        child.stderr.settle(Duration::from_secs(5)).await;
        assert_eq!(child.stderr.text(), "boom red");
        assert!(child.exit.exited().await.contains("signal: 9"));
        // the backgrounded `sleep` was in the group too: nothing of the group is left
        assert!(reaped_soon(group).await, "group still alive");
    }

    async fn reaped_soon(group: ProcessGroup) -> bool {
        for _ in 0..50 {
            if unsafe { libc::killpg(group.0, 0) } != 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}
