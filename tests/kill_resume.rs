//! A run killed with SIGKILL at any moment leaves a store that opens, with the session
//! interrupted and its completed steps present; `run --resume` continues it to the same
//! outcome an uninterrupted run reaches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn lucid(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

/// The demo session with a model that takes a while to answer, so a kill lands mid-run.
fn slow_spec(dir: &Path) -> String {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"))
            .unwrap()
            .replace(
                "[models.offline]\nprovider = \"scripted\"",
                "[models.offline]\nprovider = \"scripted\"\nlatency_ms = 25",
            );
    assert!(source.contains("latency_ms = 25"));
    let path = dir.join("slow-lumara.toml");
    std::fs::write(&path, source).unwrap();
    path.to_str().unwrap().to_string()
}

/// What must match between a resumed and an uninterrupted run.
fn outcome(report: &Value) -> Value {
    serde_json::json!({
        "iterations": report["outcome"]["iterations"],
        "passed": report["outcome"]["passed"],
        "facts": report["facts"],
        "status": report["status"],
    })
}

/// Starts a run and SIGKILLs it once `lines` progress lines have appeared.
fn run_and_kill(db: &Path, spec: &str, lines: usize) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(["run", spec, "--headless", "--seed", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = 0;
    for line in BufReader::new(stderr).lines() {
        if line.is_err() {
            break;
        }
        seen += 1;
        if seen >= lines {
            break;
        }
    }
    // SIGKILL: no destructor, no flush, no goodbye.
    let killed = child.kill().is_ok();
    let status = child.wait().unwrap();
    killed && !status.success()
}

#[test]
fn killed_runs_resume_to_the_same_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let spec = slow_spec(dir.path());
    let clean_db = dir.path().join("clean");
    let clean = lucid(
        &clean_db,
        &[
            "run",
            &spec,
            "--headless",
            "--json",
            "--quiet",
            "--seed",
            "1",
        ],
    );
    let clean: Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert!(
        clean["outcome"]["iterations"].as_array().unwrap().len() >= 2,
        "seed 1 revises once"
    );

    let mut resumed_runs = 0;
    for (i, lines) in [4usize, 12, 25, 40, 60].into_iter().enumerate() {
        let db = dir.path().join(format!("killed-{i}"));
        if !run_and_kill(&db, &spec, lines) {
            continue; // The run finished before the kill landed; nothing to resume.
        }
        resumed_runs += 1;
        let listed = lucid(&db, &["sessions", "list", "--json"]);
        assert_eq!(
            listed.status.code(),
            Some(0),
            "the store opens after SIGKILL: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap();
        let session = &sessions[0];
        assert_eq!(session["status"], "interrupted", "kill after {lines} lines");
        let id = session["id"].as_str().unwrap();
        let before: Value =
            serde_json::from_slice(&lucid(&db, &["sessions", "show", id, "--json"]).stdout)
                .unwrap();
        let agents_before = before["agents"].as_array().unwrap().len();

        let resumed = lucid(&db, &["run", &spec, "--headless", "--json", "--resume", id]);
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        let report: Value =
            serde_json::from_slice(&resumed.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        assert_eq!(
            report["session_id"], session["id"],
            "the same session continues"
        );
        assert_eq!(
            outcome(&report),
            outcome(&clean),
            "kill after {lines} lines:\n{stderr}"
        );
        assert_eq!(
            resumed.status.code(),
            Some(if report["outcome"]["passed"] == true {
                0
            } else {
                1
            })
        );
        assert!(
            report["agents"].as_array().unwrap().len() >= agents_before,
            "recorded agents are kept"
        );
        assert!(stderr.contains("resuming at iteration"), "{stderr}");

        // A finished session cannot be resumed again.
        let again = lucid(&db, &["run", &spec, "--headless", "--resume", id]);
        assert_eq!(again.status.code(), Some(2));
    }
    assert!(
        resumed_runs >= 3,
        "only {resumed_runs} kills landed mid-run"
    );
}
