//! `lucid serve --dream-every`: the owner dreams on a schedule while clients run sessions
//! through it; no command fails for the store being in use, and the dream is on record.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

mod owner;

use owner::Serving;

fn lucid(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn scheduled_dreams_and_client_runs_coexist() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let _owner = Serving::start(&db, &["--dream-every", "1s"]);
    for seed in ["1", "2", "3"] {
        let run = lucid(
            &db,
            &[
                "run",
                "sessions/lumara.toml",
                "--headless",
                "--quiet",
                "--seed",
                seed,
            ],
        );
        assert!(
            matches!(run.status.code(), Some(0 | 1)),
            "seed {seed}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    // Within a few ticks the owner has dreamed over them; the dream is a session of its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = lucid(&db, &["sessions", "list", "--json"]);
        assert_eq!(
            listed.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap();
        let dreams = sessions
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["environment"] == "dream")
            .count();
        if dreams >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no dream after the runs: {sessions:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
