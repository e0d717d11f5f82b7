//! `lucid serve` in the background for tests that need another process to own a store:
//! started with its socket answering, killed when dropped (also when a test fails).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `lucid serve` in the background, killed when dropped (also when a test fails).
pub struct Serving {
    pub child: Child,
    pub socket: PathBuf,
}

impl Serving {
    /// `lucid --db DB serve EXTRA…`, once its socket answers.
    pub fn start(db: &Path, extra: &[&str]) -> Serving {
        let child = Command::new(env!("CARGO_BIN_EXE_lucid"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("--db")
            .arg(db)
            .arg("serve")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let serving = Serving {
            child,
            socket: db.join("lucid.sock"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&serving.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "lucid serve never answered on its socket"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        serving
    }

    /// SIGTERM, then waits for it to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "lucid serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
