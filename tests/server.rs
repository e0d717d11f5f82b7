//! The store's owner serves it on `<store>/lucid.sock`: `lucid serve` in the background,
//! and other `lucid` commands on the same store as its clients (the real binary).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod owner;

use owner::Serving;

fn lucid(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON document ({err}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Each iteration's criteria as (id, passed), and whether the run passed.
fn verdicts(report: &Value) -> (bool, Vec<Vec<(String, bool)>>) {
    let outcome = &report["outcome"];
    let iterations = outcome["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|iteration| {
            iteration["criteria"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap().to_string(),
                        c["passed"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .collect();
    (outcome["passed"].as_bool().unwrap(), iterations)
}

#[test]
fn commands_on_a_served_store_go_through_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("served");
    let serving = Serving::start(&db, &[]);
    let mode = std::fs::metadata(&serving.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is private to its user");

    let run = lucid(
        &db,
        &["run", "sessions/lumara.toml", "--headless", "--json"],
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("rubric met"),
        "progress lines stream back:\n{stderr}"
    );
    let served = stdout_json(&run);

    // The same run in-process on a store of its own.
    let alone = lucid(
        &dir.path().join("alone"),
        &["run", "sessions/lumara.toml", "--headless", "--json"],
    );
    assert_eq!(alone.status.code(), Some(0));
    assert_eq!(verdicts(&served), verdicts(&stdout_json(&alone)));

    let list = lucid(&db, &["sessions", "list"]);
    assert_eq!(
        list.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let short = served["short_id"].as_str().unwrap().to_string();
    assert!(String::from_utf8_lossy(&list.stdout).contains(&short));
    // Through the owner too, a short id names the session.
    let show = lucid(&db, &["sessions", "show", &short, "--json"]);
    assert_eq!(show.status.code(), Some(0));
    assert_eq!(verdicts(&stdout_json(&show)), verdicts(&served));

    // A second owner is refused, naming the socket.
    let second = lucid(&db, &["serve"]);
    assert_eq!(second.status.code(), Some(3));
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains(&serving.socket.display().to_string()),
        "{message}"
    );

    let socket = serving.socket.clone();
    let status = serving.terminate();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );
    assert!(!socket.exists(), "the socket is removed when serve stops");
    // With the owner gone, the store opens in-process again.
    let after = lucid(&db, &["sessions", "list"]);
    assert_eq!(after.status.code(), Some(0));
}
