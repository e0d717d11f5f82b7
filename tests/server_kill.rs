//! The owner dies while a client's run goes: `lucid serve` is SIGKILLed mid-run. The
//! client says what happened and how to resume (exit 3); the session reads back as
//! interrupted; `--resume` continues it to a verdict once nobody owns the store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod owner;

use owner::Serving;

fn lucid(db: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(db);
    command
}

#[test]
fn a_client_run_survives_its_owner_being_killed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    // A slow offline model, so the kill lands mid-run.
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"))
            .unwrap();
    let text = base.replace(
        "[models.offline]\nprovider = \"scripted\"\n",
        "[models.offline]\nprovider = \"scripted\"\nlatency_ms = 300\n",
    );
    assert!(text.contains("latency_ms = 300"), "the template moved");
    let spec = dir.path().join("slow.toml");
    std::fs::write(&spec, text).unwrap();

    let mut owner = Serving::start(&db, &[]);
    let client = lucid(&db)
        .args(["run", spec.to_str().unwrap(), "--headless"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let a few steps complete, then kill the owner outright.
    std::thread::sleep(Duration::from_millis(1500));
    owner.child.kill().unwrap();
    owner.child.wait().unwrap();
    let output = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("stopped before session"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");

    // Nobody owns the store now: the session reads back as interrupted, and resumes.
    let listed = lucid(&db)
        .args(["sessions", "list", "--json"])
        .output()
        .unwrap();
    let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let session = &sessions.as_array().unwrap()[0];
    assert_eq!(session["status"], "interrupted", "{sessions:#}");
    let id = session["id"].as_str().unwrap();
    let resumed = lucid(&db)
        .args(["run", spec.to_str().unwrap(), "--resume", id, "--headless"])
        .output()
        .unwrap();
    assert!(
        matches!(resumed.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
}
