//! Spawning and supervising one child: its own process group, pipes read concurrently
//! into bounded captures, the time limit and the cancel future, and the group kill.
//!
//! Owns the process lifecycle from `spawn` to the reaped exit status. When the main
//! process ends (or is killed), the rest of its process group is killed too, so no
//! background job outlives a command; output still buffered in the pipes is drained for
//! a short grace period. It does not decide confinement (the caller hands it a prepared
//! `std::process::Command`).

use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use super::{Capture, CommandOutput, CommandSpec, SandboxError};

/// How long to keep draining pipes after the process group is gone (a process that left
/// the group may still hold them open).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Kills a process group with SIGKILL when dropped (e.g. when the `run` future is dropped).
struct GroupKill {
    pgid: libc::pid_t,
    armed: bool,
}

impl GroupKill {
    fn kill(&mut self) {
        if self.armed && self.pgid > 0 {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory.
            unsafe {
                libc::kill(-self.pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

enum End {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
}

/// Spawns `command` in its own process group with piped output and supervises it.
pub async fn supervise(
    mut command: std::process::Command,
    label: String,
    spec: &CommandSpec,
    cancel: impl Future<Output = ()> + Send,
) -> Result<CommandOutput, SandboxError> {
    use std::os::unix::process::CommandExt;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);

    let start = Instant::now();
    let mut child = command.spawn().map_err(|e| SandboxError::Spawn {
        program: label.clone(),
        message: e.to_string(),
    })?;
    let pgid = child.id().map(|id| id as libc::pid_t).unwrap_or(0);
    let mut group = GroupKill { pgid, armed: true };

    let stdout = Arc::new(Mutex::new(Capture::new(spec.max_output_bytes)));
    let stderr = Arc::new(Mutex::new(Capture::new(spec.max_output_bytes)));
    let readers = [
        child.stdout.take().map(|pipe| drain(pipe, stdout.clone())),
        child.stderr.take().map(|pipe| drain(pipe, stderr.clone())),
    ];

    let end = {
        tokio::pin!(cancel);
        tokio::select! {
            status = child.wait() => End::Exited(status.map_err(|source| SandboxError::Io {
                context: format!("waiting for {label}"),
                source,
            })?),
            _ = tokio::time::sleep(spec.timeout) => End::TimedOut,
            _ = &mut cancel => End::Cancelled,
        }
    };
    // Kill the group before reaping a stopped leader, so its id cannot be reused meanwhile.
    group.kill();
    group.armed = false;
    let status = match end {
        End::Exited(status) => Some(status),
        End::TimedOut | End::Cancelled => child.wait().await.ok(),
    };
    let duration_ms = start.elapsed().as_millis() as u64;

    for reader in readers.into_iter().flatten() {
        let abort = reader.abort_handle();
        if tokio::time::timeout(DRAIN_GRACE, reader).await.is_err() {
            abort.abort();
        }
    }
    let (stdout, stderr) = (take(&stdout), take(&stderr));
    Ok(CommandOutput {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out: matches!(end, End::TimedOut),
        cancelled: matches!(end, End::Cancelled),
        stdout: stdout.text(),
        stderr: stderr.text(),
        stdout_bytes: stdout.total(),
        stderr_bytes: stderr.total(),
        duration_ms,
        timeout: spec.timeout,
    })
}

/// Reads a pipe to its end into a shared capture, in chunks.
fn drain<R>(mut pipe: R, capture: Arc<Mutex<Capture>>) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            lock(&capture).push(&buf[..n]);
        }
    })
}

fn lock(capture: &Mutex<Capture>) -> std::sync::MutexGuard<'_, Capture> {
    capture
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn take(capture: &Arc<Mutex<Capture>>) -> Capture {
    std::mem::replace(&mut *lock(capture), Capture::new(0))
}
