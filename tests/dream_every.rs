//! `lucid dream --every` on a store nobody serves holds the store only while it dreams:
//! headless runs and memory commands go on beside it for several ticks and none is
//! refused, while the dreams over their sessions land on record.

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

fn ok(output: Output, what: &str) -> Output {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn run_seed(db: &Path, seed: u32) {
    let seed = seed.to_string();
    let output = lucid(db)
        .args([
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--quiet",
            "--seed",
            &seed,
        ])
        .output()
        .unwrap();
    ok(output, &format!("run --seed {seed}"));
}

fn dreams_on_record(db: &Path) -> usize {
    let listed = ok(
        lucid(db)
            .args(["sessions", "list", "--json"])
            .output()
            .unwrap(),
        "sessions list",
    );
    let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap();
    sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["environment"] == "dream")
        .count()
}

#[test]
fn dreaming_every_second_never_refuses_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    for seed in 1..=3 {
        run_seed(&db, seed);
    }
    let mut dreaming = lucid(&db)
        .args(["dream", "--every", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Several ticks' worth of runs and memory commands, back to back.
    let until = Instant::now() + Duration::from_secs(4);
    let mut seed = 4;
    while Instant::now() < until {
        run_seed(&db, seed);
        ok(
            lucid(&db)
                .args(["memory", "list", "--json"])
                .output()
                .unwrap(),
            "memory list",
        );
        seed += 1;
    }
    // A dream over the first sessions, and one over sessions run beside the schedule.
    let deadline = Instant::now() + Duration::from_secs(30);
    while dreams_on_record(&db) < 2 {
        let ended = dreaming.try_wait().unwrap();
        if ended.is_some() || Instant::now() >= deadline {
            // What the schedule said is the only account of why.
            let _ = dreaming.kill();
            let output = dreaming.wait_with_output().unwrap();
            panic!(
                "fewer than two dreams after {} runs; the schedule {}:\n{}{}",
                seed - 1,
                ended.map_or("was still running".to_string(), |s| format!("ended ({s})")),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // Ctrl-C stops the schedule cleanly.
    // SAFETY: signalling our own child by its pid.
    assert_eq!(
        unsafe { libc::kill(dreaming.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let stopped = dreaming.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&stopped.stdout);
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(0), "{stderr}");
    assert!(stderr.ends_with("stopped\n"), "{stderr}");
    assert!(
        stdout.matches("· team lumara-landing ·").count() >= 2,
        "{stdout}"
    );
}
