//! `lucid memory edit` holds nothing while `$EDITOR` is open: a run and a review can
//! take the store meanwhile, and an edit of a version that moved on is refused (exit 2)
//! rather than undoing the change made meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lucid(db: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(db);
    command
}

fn ok(output: Output) -> Output {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn run(db: &Path, args: &[&str]) -> Output {
    ok(lucid(db).args(args).output().unwrap())
}

#[test]
fn the_store_is_free_while_the_editor_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    for seed in 1..=10 {
        let seed = seed.to_string();
        run(
            &db,
            &[
                "run",
                "sessions/lumara.toml",
                "--headless",
                "--quiet",
                "--seed",
                &seed,
            ],
        );
    }
    let dreams: Value = serde_json::from_slice(&run(&db, &["dream", "--json"]).stdout).unwrap();
    let id = dreams[0]["proposals"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The editor says it has opened the file, then takes its time.
    let opened = dir.path().join("opened");
    let editor = format!(
        "touch '{}'; sleep 3; sed -i 's/^# /# Later: /'",
        opened.display()
    );
    let editing = lucid(&db)
        .args(["memory", "edit", &id])
        .env("EDITOR", &editor)
        .env("VISUAL", "")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !opened.exists() {
        assert!(Instant::now() < deadline, "the editor never started");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Meanwhile a run takes the store, and someone approves the memory being edited.
    run(
        &db,
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--quiet",
            "--seed",
            "11",
        ],
    );
    run(&db, &["memory", "approve", &id]);

    let edited = editing.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&edited.stderr);
    assert_eq!(edited.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("changed while it was edited"), "{stderr}");
    let shown: Value =
        serde_json::from_slice(&run(&db, &["memory", "show", &id, "--json"]).stdout).unwrap();
    assert_eq!(shown["memory"]["status"], "approved");
    assert!(!shown["memory"]["title"]
        .as_str()
        .unwrap()
        .starts_with("Later: "));
}
