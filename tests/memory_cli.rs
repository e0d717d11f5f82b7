//! The dream → review → apply loop through the real binary: `lucid dream`, then
//! `lucid memory approve --all-proposed` changes the next run; edit, reject, export as
//! Agent Skills (checked by the reference validator when it is installed) and import.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn lucid_with(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn lucid(db: &Path, args: &[&str]) -> Output {
    lucid_with(db, args, &[])
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success() || output.status.code() == Some(1),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn run_seed(db: &Path, seed: u64) -> Value {
    json(&lucid(
        db,
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--json",
            "--quiet",
            "--seed",
            &seed.to_string(),
        ],
    ))
}

fn first_attempt_passed(report: &Value) -> bool {
    report["outcome"]["iterations"][0]["passed"]
        .as_bool()
        .unwrap()
}

#[test]
fn dream_then_approve_changes_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let mut failed_first = Vec::new();
    for seed in 1..=24 {
        if !first_attempt_passed(&run_seed(&db, seed)) {
            failed_first.push(seed);
        }
    }
    assert!(!failed_first.is_empty());

    let dreams = json(&lucid(&db, &["dream", "--json"]));
    let proposals = dreams[0]["proposals"].as_array().unwrap();
    assert!(!proposals.is_empty(), "{dreams}");
    let listed = json(&lucid(
        &db,
        &["memory", "list", "--status", "proposed", "--json"],
    ));
    assert_eq!(listed.as_array().unwrap().len(), proposals.len());

    // Proposals change nothing until approved.
    let seed = failed_first[0];
    let unapproved = run_seed(&db, seed);
    assert!(!first_attempt_passed(&unapproved));
    assert_eq!(unapproved["playbooks_applied"], Value::Array(vec![]));

    let approved = lucid(&db, &["memory", "approve", "--all-proposed"]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let improved: Vec<u64> = failed_first
        .iter()
        .copied()
        .filter(|&seed| {
            let report = run_seed(&db, seed);
            assert!(!report["playbooks_applied"].as_array().unwrap().is_empty());
            first_attempt_passed(&report)
        })
        .collect();
    assert!(
        improved.len() * 2 >= failed_first.len(),
        "playbooks fixed the first attempt of only {improved:?} of {failed_first:?}"
    );

    // Export every approved playbook as an Agent Skill, validate, import back.
    let out = dir.path().join("skills");
    let exported = lucid(
        &db,
        &[
            "memory",
            "export",
            "--all",
            "--format",
            "skill",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let folders: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), proposals.len());
    match Command::new("agentskills").arg("--version").output() {
        Ok(_) => {
            for folder in &folders {
                let check = Command::new("agentskills")
                    .arg("validate")
                    .arg(folder)
                    .output()
                    .unwrap();
                assert!(
                    check.status.success(),
                    "{}: {}{}",
                    folder.display(),
                    String::from_utf8_lossy(&check.stdout),
                    String::from_utf8_lossy(&check.stderr)
                );
            }
        }
        Err(_) => eprintln!(
            "SKIPPED: `agentskills` (PyPI skills-ref) is not installed; .ci/run installs it"
        ),
    }
    let other = dir.path().join("other-store");
    let imported = lucid(&other, &["memory", "import", out.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let round_trip = json(&lucid(&other, &["memory", "list", "--json"]));
    let original = json(&lucid(
        &db,
        &["memory", "list", "--status", "approved", "--json"],
    ));
    let titles = |v: &Value| {
        let mut t: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    assert_eq!(titles(&round_trip), titles(&original));
    let rules = |v: &Value| {
        let mut r: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["rules"].to_string())
            .collect();
        r.sort();
        r
    };
    assert_eq!(rules(&round_trip), rules(&original));
    assert!(round_trip
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["status"] == "proposed"));
}

#[test]
fn edit_and_reject_write_new_versions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    for seed in 1..=24 {
        run_seed(&db, seed);
    }
    json(&lucid(&db, &["dream", "--json"]));
    let listed = json(&lucid(&db, &["memory", "list", "--json"]));
    let memories = listed.as_array().unwrap();
    assert!(memories.len() >= 2, "{listed}");
    let playbook = memories
        .iter()
        .find(|m| {
            m["body"]
                .as_str()
                .unwrap()
                .contains("failed at the first attempt in")
        })
        .expect("a failure playbook says where the criterion failed");
    let edit_id = playbook["id"].as_str().unwrap().to_string();
    let other_id = memories
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .find(|id| *id != edit_id)
        .unwrap();
    let ids = [edit_id, other_id];
    let short_of = |id: &str| {
        memories.iter().find(|m| m["id"] == id).unwrap()["short_id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // The editor is a script that rewrites the body.
    let edited = lucid_with(
        &db,
        &["memory", "edit", &ids[0]],
        &[
            (
                "EDITOR",
                "sed -i 's/failed at the first attempt in/went wrong in/'",
            ),
            ("VISUAL", ""),
        ],
    );
    assert!(
        String::from_utf8_lossy(&edited.stdout).contains("saved"),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    let shown = json(&lucid(&db, &["memory", "show", &ids[0], "--json"]));
    assert_eq!(shown["memory"]["version"], 2);
    assert!(shown["memory"]["body"]
        .as_str()
        .unwrap()
        .contains("went wrong in"));
    assert_eq!(
        shown["memory"]["rules"], playbook["rules"],
        "the rules block survives the edit"
    );
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
    // The evidence the body lists is not printed a second time as provenance.
    let human = lucid(&db, &["memory", "show", &ids[1]]);
    let human = String::from_utf8_lossy(&human.stdout);
    let unrelated = json(&lucid(&db, &["memory", "show", &ids[1], "--json"]));
    for citation in unrelated["memory"]["provenance"].as_array().unwrap() {
        let session = citation["session"].as_str().unwrap();
        assert_eq!(human.matches(session).count(), 1, "{session} in:\n{human}");
    }
    let diff = lucid(&db, &["memory", "show", &ids[0], "--diff"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("+ ") && text.contains("went wrong in"),
        "{text}"
    );
    // An editor that changes nothing writes no version.
    let unchanged = lucid_with(&db, &["memory", "edit", &ids[0]], &[("EDITOR", "true")]);
    assert!(String::from_utf8_lossy(&unchanged.stdout).contains("No changes"));

    let rejected = lucid(&db, &["memory", "reject", &ids[1]]);
    assert!(
        rejected.status.success(),
        "{}",
        String::from_utf8_lossy(&rejected.stderr)
    );
    let shown = json(&lucid(&db, &["memory", "show", &ids[1], "--json"]));
    assert_eq!(shown["memory"]["status"], "rejected");
    let again = lucid(&db, &["memory", "reject", &ids[1]]);
    assert_eq!(again.status.code(), Some(2), "nothing to reject");
    // A rejected memory can be approved again, and the output says so.
    let back = lucid(&db, &["memory", "approve", &ids[1]]);
    assert!(
        String::from_utf8_lossy(&back.stdout).starts_with(&format!(
            "re-approved {} v3 (was rejected)",
            short_of(&ids[1])
        )),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    let unknown = lucid(&db, &["memory", "show", "ZZZZ"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn memories_are_listed_and_found_by_short_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let skills = dir.path().join("skills");
    for (name, title) in [
        ("burn-early", "Burn early"),
        ("survey-twice", "Survey twice"),
    ] {
        let folder = skills.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("SKILL.md"),
            format!("---\nname: {name}\ndescription: {title}.\nmetadata:\n  team: lumara-landing\n---\n# {title}\n\nDo it.\n"),
        )
        .unwrap();
    }
    let imported = lucid(&db, &["memory", "import", skills.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let listed = json(&lucid(&db, &["memory", "list", "--json"]));
    let burn = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["title"] == "Burn early")
        .unwrap();
    let (id, short) = (
        burn["id"].as_str().unwrap(),
        burn["short_id"].as_str().unwrap(),
    );
    assert_eq!(short.len(), 8);
    // Import and list name memories by their short ids.
    assert!(String::from_utf8_lossy(&imported.stdout).contains(&format!("proposed {short} ")));
    let table = lucid(&db, &["memory", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains(&format!("\n{short}  proposed")), "{text}");
    assert!(!text.contains(id), "{text}");

    let shown = lucid(&db, &["memory", "show", &short.to_uppercase()]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.starts_with(&format!("{short}  Burn early\nid {id} · proposed")),
        "{text}"
    );
    let record = json(&lucid(&db, &["memory", "show", short, "--json"]));
    assert_eq!(record["memory"]["id"], id);
    assert_eq!(record["short_id"], short);
    let rejected = lucid(&db, &["memory", "reject", short]);
    assert_eq!(
        String::from_utf8_lossy(&rejected.stdout),
        format!("rejected {short} v2: Burn early\n")
    );
}
