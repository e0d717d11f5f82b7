//! End to end: the real binary in a pseudo-terminal runs the offline Lumara session in the
//! TUI; the test reads the screen through a vt100 parser until the commander, detector
//! and navigator threads and the grader's criteria show, visits the Memory and Sessions
//! views, quits with `q`, and checks the session was stored.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const BIN: &str = env!("CARGO_BIN_EXE_lucid");

struct Screen(Arc<Mutex<vt100::Parser>>);

impl Screen {
    fn text(&self) -> String {
        self.0.lock().unwrap().screen().contents()
    }

    /// Waits until every needle is on screen; fails with the screen if time runs out.
    fn wait_for(&self, needles: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let text = self.text();
            if needles.iter().all(|n| text.contains(n)) {
                return;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {needles:?}; the screen:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn the_tui_shows_a_live_lumara_run_and_quits_cleanly() {
    let db = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: 40,
            cols: 150,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(BIN);
    cmd.args([
        "--db",
        db.path().to_str().unwrap(),
        "run",
        "sessions/lumara.toml",
    ]);
    cmd.cwd(env!("CARGO_MANIFEST_DIR"));
    cmd.env("TERM", "xterm-256color");
    cmd.env("LUCID_CONFIG_DIR", config.path());
    cmd.env_remove("LUCID_DB");
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);

    let parser = Arc::new(Mutex::new(vt100::Parser::new(40, 150, 0)));
    let mut reader = pair.master.try_clone_reader().unwrap();
    let feed = Arc::clone(&parser);
    let raw = Arc::new(Mutex::new(Vec::new()));
    let raw_feed = Arc::clone(&raw);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            feed.lock().unwrap().process(&buf[..n]);
            raw_feed.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut keys = pair.master.take_writer().unwrap();
    let screen = Screen(parser);

    screen.wait_for(&[
        "commander #1",
        "detector #2",
        "navigator #",
        "soft_landing",
        "clear_ground",
        "fuel_reserve",
    ]);
    screen.wait_for(&["rubric met", "passed after"]);

    keys.write_all(b"3").unwrap();
    screen.wait_for(&["Memory ("]);
    keys.write_all(b"2").unwrap();
    screen.wait_for(&["Sessions (1)", "lumara-landing", "passed"]);
    keys.write_all(b"q").unwrap();
    keys.flush().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "lucid did not quit on q:\n{}",
            screen.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "exit status {status:?} (the rubric is met for seed 2)"
    );
    std::thread::sleep(Duration::from_millis(200));
    let raw = String::from_utf8_lossy(&raw.lock().unwrap()).to_string();
    assert!(
        raw.contains("\u{1b}[?1049h"),
        "entered the alternate screen"
    );
    assert!(
        raw.contains("\u{1b}[?1049l"),
        "left the alternate screen on exit"
    );

    let out = std::process::Command::new(BIN)
        .args([
            "--db",
            db.path().to_str().unwrap(),
            "sessions",
            "list",
            "--json",
        ])
        .env_remove("LUCID_DB")
        .output()
        .unwrap();
    assert!(out.status.success());
    let sessions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["status"], "passed");
    assert_eq!(sessions[0]["team"], "lumara-landing");
}
