//! The real `lucid` binary in a pseudo-terminal, its screen read through a vt100 parser:
//! spawn it, wait for text on screen, press keys, wait for it to exit.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const BIN: &str = env!("CARGO_BIN_EXE_lucid");
pub const ROWS: u16 = 40;
pub const COLS: u16 = 150;

/// `lucid` in a pseudo-terminal, killed when dropped (also when a test fails).
pub struct Tui {
    parser: Arc<Mutex<vt100::Parser>>,
    keys: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Tui {
    /// `lucid --db DB ARGS…` in `cwd`, with its user config in `config`.
    pub fn spawn(cwd: &Path, db: &Path, config: &Path, args: &[&str]) -> Tui {
        Tui::spawn_with_env(cwd, db, config, args, &[])
    }

    /// [`Tui::spawn`] with these environment variables set too.
    pub fn spawn_with_env(
        cwd: &Path,
        db: &Path,
        config: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Tui {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(["--db", db.to_str().unwrap()]);
        cmd.args(args);
        cmd.cwd(cwd);
        cmd.env("TERM", "xterm-256color");
        cmd.env("LUCID_CONFIG_DIR", config);
        cmd.env_remove("LUCID_DB");
        for (name, value) in env {
            cmd.env(name, value);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let feed = Arc::clone(&parser);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().unwrap().process(&buf[..n]);
            }
        });
        let keys = pair.master.take_writer().unwrap();
        Tui {
            parser,
            keys,
            child,
            _master: pair.master,
        }
    }

    pub fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until every needle is on screen; fails with the screen if time runs out.
    pub fn wait_for(&mut self, needles: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let text = self.text();
            if needles.iter().all(|n| text.contains(n)) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "lucid exited ({status:?}) while waiting for {needles:?}; the screen:\n{text}"
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needles:?}; the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn press(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).unwrap();
        self.keys.flush().unwrap();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to exit; true when it succeeded.
    pub fn wait(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "lucid did not quit:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
