//! A person governs memory through the real binary, on a store it opens and through
//! `lucid serve` holding the store, with the same output and exit codes: retire (a
//! retired playbook no longer reaches a run), approve again (retired or rejected),
//! revert to an earlier version, diff any two versions, an edit of an approved memory
//! proposed again unless `--approve`, and the history of who did what.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod owner;

use owner::Serving;

fn lucid(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LUCID_CONFIG")
        .env("USER", "tess")
        .env("VISUAL", "")
        .arg("--db")
        .arg(db)
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// Stdout of a command that exited 0.
fn ok(db: &Path, args: &[&str]) -> String {
    ok_with(db, args, &[])
}

fn ok_with(db: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = lucid(db, args, env);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of a command that exited 2 (bad usage), having printed nothing on stdout.
fn refused(db: &Path, args: &[&str]) -> String {
    refused_with(db, args, &[])
}

fn refused_with(db: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = lucid(db, args, env);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "{args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The ids of the playbooks a lumara run applied.
fn applied(db: &Path) -> Vec<String> {
    let output = lucid(
        db,
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--json",
            "--quiet",
            "--seed",
            "3",
        ],
        &[],
    );
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&String::from_utf8_lossy(&output.stdout));
    report["playbooks_applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// Two skill folders to import as proposals of the lumara team.
fn skills(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("skills");
    for (name, title, body) in [
        (
            "burn-early",
            "Burn early over dunes",
            "Start the descent burn early over dune terrain.",
        ),
        (
            "survey-twice",
            "Survey twice",
            "Survey the site twice before committing.",
        ),
    ] {
        let folder = root.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("SKILL.md"),
            format!(
                "---\nname: {name}\ndescription: {title}.\nmetadata:\n  team: lumara-landing\n---\n# {title}\n\n{body}\n"
            ),
        )
        .unwrap();
    }
    root
}

/// The whole review, the same on a store this process opens and through an owner.
fn govern(dir: &Path, db: &Path) {
    let imported = ok(db, &["memory", "import", skills(dir).to_str().unwrap()]);
    assert_eq!(imported.lines().count(), 2, "{imported}");
    let listed = json(&ok(db, &["memory", "list", "--json"]));
    let field_of = |title: &str, field: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["title"] == title)
            .unwrap()[field]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b) = (
        field_of("Burn early over dunes", "id"),
        field_of("Survey twice", "id"),
    );
    // Messages name memories by their short ids, which commands take as well as ids.
    let (sa, sb) = (
        field_of("Burn early over dunes", "short_id"),
        field_of("Survey twice", "short_id"),
    );

    // Approve: the playbook reaches the next run.
    assert_eq!(
        ok(db, &["memory", "approve", &sa]),
        format!("approved {sa} v2: Burn early over dunes\n")
    );
    assert!(applied(db).contains(&a));

    // Retire: still listed and shown, it no longer reaches a run.
    let err = refused(db, &["memory", "reject", &a]);
    assert!(err.contains("is approved; retire it instead"), "{err}");
    assert_eq!(
        ok(db, &["memory", "retire", &sa.to_uppercase()]),
        format!("retired {sa} v3: Burn early over dunes; it no longer steers runs\n")
    );
    let retired = json(&ok(
        db,
        &["memory", "list", "--status", "retired", "--json"],
    ));
    assert_eq!(retired[0]["id"], a.as_str());
    assert!(ok(db, &["memory", "show", &a]).contains("retired · playbook"));
    assert!(
        !applied(db).contains(&a),
        "a retired playbook steers no run"
    );
    let err = refused(db, &["memory", "retire", &a]);
    assert!(err.contains("is retired; nothing to retire"), "{err}");
    let err = refused(db, &["memory", "retire", &b]);
    assert!(err.contains("reject a proposal instead"), "{err}");

    // Approve again: a retired and a rejected memory come back, and it is said so.
    assert_eq!(
        ok(db, &["memory", "approve", &a]),
        format!("re-approved {sa} v4 (was retired): Burn early over dunes\n")
    );
    ok(db, &["memory", "reject", &b]);
    assert_eq!(
        ok(db, &["memory", "approve", &b]),
        format!("re-approved {sb} v3 (was rejected): Survey twice\n")
    );
    assert!(applied(db).contains(&a));

    // An edit of an approved memory is proposed again unless approved with it.
    let sed = |from: &str, to: &str| format!("sed -i 's/{from}/{to}/'");
    let edited = ok_with(
        db,
        &["memory", "edit", &a],
        &[("EDITOR", &sed("burn early", "burn at 2 km"))],
    );
    assert!(
        edited.starts_with(&format!(
            "saved {sa} as version 5; it was approved, so it is proposed again and steers no run until approved"
        )),
        "{edited}"
    );
    let shown = ok(db, &["memory", "show", &a]);
    assert!(shown.contains("proposed · playbook"), "{shown}");
    assert!(shown.contains("edited after it was approved"), "{shown}");
    assert!(
        !applied(db).contains(&a),
        "an unreviewed edit steers no run"
    );
    ok(db, &["memory", "approve", &a]);
    let approved_edit = ok_with(
        db,
        &["memory", "edit", &a, "--approve"],
        &[("EDITOR", &sed("^# Burn early", "# Burn at 2 km"))],
    );
    assert_eq!(
        approved_edit,
        format!("saved {sa} as version 7; approved with the change\n")
    );
    // A garbled rule is refused with its line; nothing is saved.
    let garble = "printf '\\n```lucid-rules\\n{bad\\n```\\n' >>";
    let err = refused_with(db, &["memory", "edit", &a], &[("EDITOR", garble)]);
    assert!(err.contains("rules line 6: not a rule"), "{err}");

    // Revert: a new version with an earlier content.
    let reverted = ok(db, &["memory", "revert", &a, "--to", "4"]);
    assert!(
        reverted.starts_with(&format!(
            "reverted {sa} to v4 as version 8; it was approved, so it is proposed again"
        )),
        "{reverted}"
    );
    let record = json(&ok(db, &["memory", "show", &a, "--json"]));
    assert_eq!(record["memory"]["title"], "Burn early over dunes");
    assert_eq!(
        record["memory"]["body"],
        "Start the descent burn early over dune terrain."
    );
    let err = refused(db, &["memory", "revert", &a, "--to", "99"]);
    assert!(
        err.contains("has no version 99 (it has versions 1 to 8)"),
        "{err}"
    );
    let err = refused(db, &["memory", "revert", &a, "--to", "2"]);
    assert!(
        err.contains("already reads as version 2; nothing changed"),
        "{err}"
    );
    assert_eq!(
        ok(db, &["memory", "revert", &a, "--to", "7", "--approve"]),
        format!("reverted {sa} to v7 as version 9; approved with the change\n")
    );

    // Diff any two versions; --diff alone is the previous version against the current.
    let diff = ok(db, &["memory", "show", &a, "--diff", "4..7"]);
    let from = diff.find("diff v4 → v7:").expect("the range is named");
    let diff = &diff[from..];
    assert!(diff.contains("- # Burn early over dunes"), "{diff}");
    assert!(diff.contains("+ # Burn at 2 km over dunes"), "{diff}");
    assert!(
        diff.contains("+ Start the descent burn at 2 km over dune terrain."),
        "{diff}"
    );
    let last = ok(db, &["memory", "show", &a, "--diff"]);
    assert!(last.contains("diff v8 → v9:"), "{last}");
    assert!(refused(db, &["memory", "show", &a, "--diff", "2-3"]).contains("use A..B"));
    assert!(refused(db, &["memory", "show", &a, "--diff", "1..12"]).contains("no version 12"));

    // The history: who, when, what, in the text and in the JSON document.
    let record = json(&ok(db, &["memory", "show", &a, "--json"]));
    let history = record["history"].as_array().unwrap();
    let summaries: Vec<&str> = history
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    let proposed_again =
        "it was approved, so it is proposed again and steers no run until approved";
    assert_eq!(
        summaries,
        [
            "created as proposed (imported)",
            "approved",
            "retired",
            "re-approved (was retired)",
            &format!("edited; {proposed_again}"),
            "approved",
            "edited and approved",
            &format!("reverted to v4; {proposed_again}"),
            "reverted to v7 and approved",
        ]
    );
    assert!(history[1..]
        .iter()
        .all(|e| e["by"] == serde_json::json!({"type": "person", "name": "tess"})));
    assert_eq!(history[2]["action"], serde_json::json!({"type": "retired"}));
    assert_eq!(
        history[7]["action"],
        serde_json::json!({"type": "reverted", "to": 4, "approved": false})
    );
    assert!(history.iter().all(|e| e["at_ms"].as_u64().unwrap() > 0));
    let shown = ok(db, &["memory", "show", &a]);
    assert!(shown.contains("\nhistory:\n  v1 "), "{shown}");
    assert!(
        shown.contains(" by tess — re-approved (was retired)"),
        "{shown}"
    );
    assert!(
        shown.contains(" by tess — reverted to v7 and approved"),
        "{shown}"
    );
}

#[test]
fn memory_is_governed_on_an_open_store() {
    let dir = tempfile::tempdir().unwrap();
    govern(dir.path(), &dir.path().join("store"));
}

#[test]
fn memory_is_governed_through_the_owner_with_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let owner = Serving::start(&db, &[]);
    govern(dir.path(), &db);
    assert_eq!(owner.terminate().code(), Some(0));
}
