//! `--model test` runs every bundled session file to the end, offline: each agent calls
//! every tool it is offered once, the grader judges every criterion, and the run ends with
//! a verdict (exit 0 or 1), never a crash or a runtime failure.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn every_bundled_session_completes_a_dry_run() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(repo.join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let sandboxed =
        lucid_core::sandbox::Sandbox::new(lucid_core::sandbox::SandboxPolicy::new("/tmp", "/tmp"))
            .is_ok();
    let npx = Command::new("npx").arg("--version").output().is_ok();
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains("kind = \"project\"") && !(sandboxed && npx) {
            eprintln!("SKIPPED: {} needs a sandbox and npx", file.display());
            continue;
        }
        let output = Command::new(env!("CARGO_BIN_EXE_lucid"))
            .current_dir(repo)
            .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
            .env_remove("LUCID_CONFIG")
            .arg("--db")
            .arg(dir.path().join("store"))
            .args(["run", file.to_str().unwrap(), "--json", "--model", "test"])
            .output()
            .unwrap();
        let shown = format!(
            "{}: exit {:?}\n{}",
            file.display(),
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(matches!(output.status.code(), Some(0 | 1)), "{shown}");
        let report: Value = serde_json::from_slice(&output.stdout).expect(&shown);
        let iterations = report["outcome"]["iterations"].as_array().unwrap();
        assert!(!iterations.is_empty(), "{shown}");
        let agents = report["agents"].as_array().unwrap();
        let lead = &agents[0];
        assert!(lead["parent"].is_null(), "{shown}");
        // The lead's first turn called every tool it was offered: at least one.
        assert!(
            lead["tool_calls"].as_u64().unwrap() >= 1,
            "{shown}\n{lead:#}"
        );
        assert!(agents.iter().all(|a| a["status"] != "running"), "{shown}");
    }
}
