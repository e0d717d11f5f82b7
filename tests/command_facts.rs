//! Facts from commands in a whole session: the offline doc-review team works on a copy of
//! the bundled documents while `[environment.facts]` commands run in the workspace root,
//! in the sandbox, after each attempt. A `number` fact and a `json` fact read by field
//! pass their checks; a failing `exit_ok` fact fails its criterion, and what must change
//! quotes the end of the command's output.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn facts_from_commands_are_checked_and_a_failing_command_is_quoted() {
    if lucid_core::sandbox::Sandbox::new(lucid_core::sandbox::SandboxPolicy::new("/tmp", "/tmp"))
        .is_err()
    {
        eprintln!("SKIPPED: no sandbox on this machine (neither Landlock nor bubblewrap)");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for entry in std::fs::read_dir(repo.join("sessions/docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, docs.join(path.file_name().unwrap())).unwrap();
        }
    }
    let base = std::fs::read_to_string(repo.join("sessions/doc-review.toml")).unwrap();
    let facts = r#"
[environment.facts.doc_count]
command = "ls *.md | wc -l"
kind = "number"

[environment.facts.stats]
command = ["python3", "-c", "import json, os; print(json.dumps({'files': len(os.listdir('.')), 'tmp_private': os.environ['TMPDIR'] != '/tmp'}))"]
kind = "json"

[environment.facts.spelling_ok]
command = "echo checking; echo 'misspelt: recieve (guide.md:3)' >&2; exit 4"
kind = "exit_ok"

[[outcome.criteria]]
id = "has_docs"
description = "The workspace holds documents."
check = "doc_count >= 1 and stats.files >= 1 and stats.tmp_private"

[[outcome.criteria]]
id = "spelling"
description = "The spell checker passes."
check = "spelling_ok"
"#;
    let text = base
        .replace(
            "[environment.options]\nroot = \"docs\"\noutput = \"review-out\"",
            &format!("[environment.options]\nroot = \"docs\"\noutput = \"out\"\n{facts}"),
        )
        .replace("max_iterations = 3", "max_iterations = 1");
    assert!(text.contains("doc_count"), "the template moved");
    // The facts table must follow [environment]: move the criteria after the rubric.
    let (head, criteria) = text
        .split_once("\n[[outcome.criteria]]\nid = \"has_docs\"")
        .unwrap();
    let (criteria, rest) = criteria.split_once("\n[models.offline]").unwrap();
    let text = format!(
        "{head}\n[models.offline]{rest}\n[[outcome.criteria]]\nid = \"has_docs\"{criteria}"
    );
    let spec = dir.path().join("review.toml");
    std::fs::write(&spec, text).unwrap();
    // A temporary folder of this test's own, to see that the commands' one is removed.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(dir.path().join("store"))
        .args(["run", spec.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the spelling check fails: {stderr}"
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let documents = std::fs::read_dir(&docs).unwrap().count();
    assert_eq!(
        report["facts"]["doc_count"],
        Value::from(documents as f64),
        "{report:#}"
    );
    assert_eq!(
        report["facts"]["stats.tmp_private"],
        Value::Bool(true),
        "{report:#}"
    );
    assert_eq!(report["facts"]["spelling_ok"], Value::Bool(false));
    let criteria = report["outcome"]["iterations"][0]["criteria"]
        .as_array()
        .unwrap();
    let by_id = |id: &str| criteria.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(by_id("has_docs")["passed"], true, "{report:#}");
    let spelling = by_id("spelling");
    assert_eq!(spelling["passed"], false);
    let fix = spelling["fix"].as_str().unwrap();
    assert!(fix.contains("exit 4"), "{fix}");
    assert!(
        fix.contains("misspelt: recieve (guide.md:3)"),
        "the output's end is quoted: {fix}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with("lucid-workspace-"))
        .collect();
    assert!(
        left.is_empty(),
        "the commands' temporary folder is removed: {left:?}"
    );
}

#[test]
fn commands_cannot_read_lucids_environment_through_proc() {
    if lucid_core::sandbox::Sandbox::new(lucid_core::sandbox::SandboxPolicy::new("/tmp", "/tmp"))
        .is_err()
    {
        eprintln!("SKIPPED: no sandbox on this machine (neither Landlock nor bubblewrap)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("p")).unwrap();
    for sandbox in ["landlock", "bubblewrap"] {
        if sandbox == "bubblewrap" && Command::new("bwrap").arg("--version").output().is_err() {
            eprintln!("SKIPPED: bwrap not installed");
            continue;
        }
        let spec = dir.path().join(format!("{sandbox}.toml"));
        std::fs::write(
            &spec,
            format!(
                r#"name = "t"
task = "Nothing to do."
[environment]
kind = "project"
root = "p"
sandbox = "{sandbox}"
[environment.facts.parent_env]
command = "for p in $PPID 1 $(ls /proc | grep -E '^[0-9]+$'); do cat /proc/$p/environ 2>/dev/null | tr '\\000' '\\n'; done; echo read-attempted"
kind = "text"
[agents.lead]
lead = true
model = "test"
[outcome]
max_iterations = 1
[[outcome.criteria]]
id = "c"
description = "d"
check = "files_changed == 0"
"#
            ),
        )
        .unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_lucid"))
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
            .env_remove("LUCID_CONFIG")
            .env("OPENAI_API_KEY", "sk-parent-secret-4242")
            .arg("--db")
            .arg(dir.path().join(format!("store-{sandbox}")))
            .args(["run", spec.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{sandbox}: {stderr}");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let seen = report["facts"]["parent_env"].as_str().unwrap_or_default();
        assert!(seen.ends_with("read-attempted"), "{sandbox}: {seen}");
        assert!(
            !seen.contains("sk-parent-secret-4242"),
            "{sandbox}: the key leaked through /proc"
        );
    }
}
