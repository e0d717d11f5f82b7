//! Reviewing and applying a project session while another lucid owns the store: `lucid
//! sessions diff` and `lucid apply` read the record through the owner, and apply writes
//! the project from the working copy itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod owner;

use owner::Serving;

fn lucid(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(dir.join("store"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn diff_and_apply_go_through_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("p")).unwrap();
    std::fs::write(dir.path().join("p/README"), "hello\n").unwrap();
    // The dry-run profile calls write_file once: `test` with the content `test`.
    std::fs::write(
        dir.path().join("s.toml"),
        r#"name = "t"
task = "Write a file."
[environment]
kind = "project"
root = "p"
sandbox = "off"
[agents.lead]
lead = true
model = "test"
tools = ["write_file"]
[outcome]
max_iterations = 1
[[outcome.criteria]]
id = "changed"
description = "A file changed."
check = "files_changed == 1"
"#,
    )
    .unwrap();
    let run = lucid(dir.path(), &["run", "s.toml", "--json"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let session = report["session_id"].as_str().unwrap().to_string();

    let owner = Serving::start(&dir.path().join("store"), &[]);
    let diff = lucid(dir.path(), &["sessions", "diff", &session]);
    let applied = lucid(dir.path(), &["apply", &session]);
    drop(owner);
    let diff_text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(
        diff_text.contains("--- /dev/null\n+++ b/test\n"),
        "{diff_text}"
    );
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("p/test")).unwrap(),
        "test"
    );
}
