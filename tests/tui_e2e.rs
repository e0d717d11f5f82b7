//! End to end: the real binary in a pseudo-terminal runs an offline Lumara session in the
//! TUI (at its default pace, answers streaming in); the test reads the screen through a
//! vt100 parser until an answer is seen streaming, the commander, detector
//! and navigator threads and the grader's criteria show, switches to the Memory view,
//! dreams, approves a proposal, quits with `q`, and checks the store changed; then it
//! replays the session and opens the home screen. Another test opens the home screen,
//! runs `lucid run --headless` on the same store from "another terminal" (it becomes a
//! client: the run executes in the TUI's process) and watches the TUI show it live.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const BIN: &str = env!("CARGO_BIN_EXE_lucid");
const ROWS: u16 = 40;
const COLS: u16 = 150;

struct Tui {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    keys: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Tui {
    fn spawn(db: &Path, config: &Path, args: &[&str]) -> Tui {
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
        cmd.cwd(env!("CARGO_MANIFEST_DIR"));
        cmd.env("TERM", "xterm-256color");
        cmd.env("LUCID_CONFIG_DIR", config);
        cmd.env_remove("LUCID_DB");
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let (feed, raw_feed) = (Arc::clone(&parser), Arc::clone(&raw));
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
        let keys = pair.master.take_writer().unwrap();
        Tui {
            parser,
            raw,
            keys,
            child,
            _master: pair.master,
        }
    }

    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until every needle is on screen; fails with the screen if time runs out.
    fn wait_for(&self, needles: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let text = self.text();
            if needles.iter().all(|n| text.contains(n)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needles:?}; the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.lock().unwrap().set_size(rows, cols);
        self.parser.lock().unwrap().process(b"\x1b[2J");
        self._master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
    }

    fn press(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).unwrap();
        self.keys.flush().unwrap();
    }

    /// Waits for the process to exit; true when it succeeded.
    fn wait(&mut self) -> bool {
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

fn lucid(db: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LUCID_DB")
        .output()
        .unwrap()
}

#[test]
fn the_tui_shows_a_live_lumara_run_dreams_approves_and_replays() {
    let db = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    // A history to dream over: the baseline team on world 2, headless.
    for seed in 1..=6 {
        let seed = seed.to_string();
        let args = [
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--quiet",
            "--world",
            "2",
            "--seed",
            &seed,
        ];
        let out = lucid(db.path(), &args);
        assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    }
    let args = ["run", "sessions/lumara.toml", "--world", "2", "--seed", "7"];
    let mut tui = Tui::spawn(db.path(), config.path(), &args);
    // Paced by default: a thread's answer is seen streaming in, its text growing at the
    // end of the transcript.
    tui.wait_for(&["streaming · ", "▍"]);
    tui.wait_for(&[
        "commander #1",
        "detector #2",
        "navigator #",
        "soft_landing",
        "clear_ground",
        "fuel_reserve",
    ]);
    tui.wait_for(&["rubric met", "passed after"]);
    // Resize: the next frame fills the new size.
    tui.resize(30, 110);
    tui.wait_for(&["Threads (", "soft_landing"]);
    assert!(tui.text().lines().all(|l| l.chars().count() <= 110));
    tui.press("3");
    tui.wait_for(&["Memory (0/0)"]);
    tui.press("D");
    tui.wait_for(&[
        "Dream · team lumara-landing",
        "dreamer #1",
        "proposal(s) wait for review",
    ]);
    tui.wait_for(&["proposed "]);
    tui.press("a");
    tui.wait_for(&["approved “"]);
    tui.press("2");
    // Runs are listed apart from the dream; `f` shows the dream.
    tui.wait_for(&["Sessions: runs (7 of 8)", "lumara-landing", "passed"]);
    tui.press("f");
    tui.wait_for(&["Sessions: dreams (1 of 8)", "dream "]);
    tui.press("q");
    assert!(tui.wait(), "the rubric is met, so lucid exits 0");
    std::thread::sleep(Duration::from_millis(200));
    let raw = String::from_utf8_lossy(&tui.raw.lock().unwrap()).to_string();
    assert!(
        raw.contains("\u{1b}[?1049h"),
        "entered the alternate screen"
    );
    assert!(
        raw.contains("\u{1b}[?1049l"),
        "left the alternate screen on exit"
    );

    // The store changed: a memory approved by a person, the TUI's session and the dream.
    let out = lucid(db.path(), &["memory", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let memories: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let approved = memories
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "approved")
        .count();
    assert_eq!(approved, 1, "{memories:#}");
    let out = lucid(db.path(), &["sessions", "list", "--json"]);
    assert!(out.status.success());
    let sessions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(
        sessions.len(),
        8,
        "six headless, one in the TUI, one dream: {sessions:#?}"
    );
    // Newest first: the dream, then the TUI's session.
    assert_eq!(sessions[0]["environment"], "dream");
    let ours = &sessions[1];
    assert_eq!(ours["status"], "passed");
    assert_eq!(ours["seed"], 7);

    // The stored session replays through the same view; the home screen lists it.
    // Both name it by its short id.
    let short = ours["short_id"].as_str().unwrap().to_string();
    let mut replay = Tui::spawn(db.path(), config.path(), &["replay", &short]);
    replay.wait_for(&["replay ", "commander #1"]);
    replay.press(" ");
    replay.wait_for(&["paused"]);
    replay.press("+.");
    replay.wait_for(&["2×"]);
    replay.press("q");
    assert!(replay.wait());

    let mut home = Tui::spawn(db.path(), config.path(), &[]);
    home.wait_for(&["Sessions: runs (7 of 8)", &short]);
    home.press("?");
    home.wait_for(&["Keys: Sessions", "start a new run"]);
    home.press("x");
    home.press("q");
    assert!(home.wait());
}

#[test]
fn a_run_from_another_terminal_executes_in_the_tui_and_shows_live() {
    let db = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let mut tui = Tui::spawn(db.path(), config.path(), &[]);
    tui.wait_for(&["Sessions: runs (0 of 0)"]);
    // The TUI serves its store once its screen is up.
    let socket = db.path().join("lucid.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "the TUI does not serve its store"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = lucid(
        db.path(),
        &["run", "sessions/lumara.toml", "--headless", "--quiet"],
    );
    assert!(out.status.success(), "{out:?}");
    // The client's run went to the TUI's process, whose Run view shows it.
    tui.wait_for(&["commander #1", "detector #2", "soft_landing"]);
    tui.wait_for(&["rubric met", "passed after"]);
    tui.press("2");
    tui.wait_for(&["Sessions: runs (1 of 1)", "lumara-landing", "passed"]);
    tui.press("q");
    assert!(tui.wait(), "quitting the home screen exits 0");
    assert!(!socket.exists(), "the socket goes when the TUI quits");
    let out = lucid(db.path(), &["sessions", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let sessions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0]["status"], "passed");
}

#[test]
fn an_unknown_theme_is_a_clear_error_before_the_screen_changes() {
    let db = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--db", db.path().to_str().unwrap(), "--theme", "neon"])
        .env("LUCID_CONFIG_DIR", db.path())
        .env_remove("LUCID_DB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown theme `neon`") && err.contains("high-contrast"),
        "{err}"
    );
}

#[test]
fn a_keymap_conflict_names_the_file_and_the_key() {
    let db = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let keymap = config.path().join("keymap.toml");
    std::fs::write(&keymap, "[run]\nexpand_all = \"c\"\n").unwrap();
    let out = std::process::Command::new(BIN)
        .arg("--db")
        .arg(db.path())
        .env("LUCID_CONFIG_DIR", config.path())
        .env_remove("LUCID_DB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&keymap.display().to_string()) && err.contains("key `c`"),
        "{err}"
    );
}
