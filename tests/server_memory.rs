//! `lucid memory` and `lucid dream` while `lucid serve` holds the store: both become
//! clients of the owner (the real binary), with the same output and exit codes as when
//! they hold the store themselves, while a client's run goes on beside them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output, Stdio};

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

fn run(db: &Path, args: &[&str]) -> Output {
    lucid(db).args(args).output().unwrap()
}

/// Stdout as one JSON document, the command having exited 0.
fn json(output: &Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn stdout(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The lumara session with a slow offline model: a run that is still going while the
/// memory commands run.
fn slow_spec(dir: &Path) -> std::path::PathBuf {
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"))
            .unwrap();
    let text = base.replace(
        "[models.offline]\nprovider = \"scripted\"\n",
        "[models.offline]\nprovider = \"scripted\"\nlatency_ms = 300\n",
    );
    assert!(text.contains("latency_ms = 300"), "the template moved");
    let spec = dir.join("slow.toml");
    std::fs::write(&spec, text).unwrap();
    spec
}

/// The shortest prefix of `id` that no id of `others` starts with.
fn unique_prefix<'a>(id: &'a str, others: &[String]) -> &'a str {
    let len = (1..=id.len())
        .find(|&n| others.iter().all(|other| !other.starts_with(&id[..n])))
        .unwrap();
    &id[..len]
}

#[test]
fn memory_review_and_dreams_go_through_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let owner = Serving::start(&db, &[]);
    for seed in 1..=10 {
        let seed = seed.to_string();
        let client_run = run(
            &db,
            &[
                "run",
                "sessions/lumara.toml",
                "--headless",
                "--quiet",
                "--seed",
                &seed,
            ],
        );
        assert_eq!(
            client_run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&client_run.stderr)
        );
    }

    // The owner dreams for the client; the report is the one `lucid dream --json` prints.
    let dreams = json(&run(&db, &["dream", "--json"]));
    let report = &dreams.as_array().unwrap()[0];
    assert_eq!(report["run"]["team"], "lumara-landing");
    assert_eq!(report["run"]["sessions"].as_array().unwrap().len(), 10);
    let proposals = report["proposals"].as_array().unwrap();
    assert!(proposals.len() >= 2, "{dreams:#}");
    let again = stdout(&run(&db, &["dream"]));
    assert!(again.contains("nothing to dream about"), "{again}");

    // A client's run goes on while the memories are reviewed.
    let mut going = lucid(&db)
        .args([
            "run",
            slow_spec(dir.path()).to_str().unwrap(),
            "--headless",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let listed = json(&run(
        &db,
        &["memory", "list", "--status", "proposed", "--json"],
    ));
    let ids: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), proposals.len());
    // Lists and messages name memories by their short ids.
    let shorts: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["short_id"].as_str().unwrap().to_string())
        .collect();
    let table = stdout(&run(&db, &["memory", "list", "--team", "lumara-landing"]));
    assert!(
        table.contains(&shorts[0]) && table.contains("proposed"),
        "{table}"
    );

    // Approve one (by the shortest prefix no other id has), and it shows approved with a second version.
    let prefix = unique_prefix(&ids[0], &ids[1..]);
    let approved = stdout(&run(&db, &["memory", "approve", prefix]));
    assert!(
        going.try_wait().unwrap().is_none(),
        "the client's run ended before the review; slow it down"
    );
    assert!(
        approved.contains(&format!("approved {} v2", shorts[0])),
        "{approved}"
    );
    let shown_approved = json(&run(&db, &["memory", "show", &ids[0], "--json"]));
    assert_eq!(shown_approved["memory"]["status"], "approved");
    assert_eq!(shown_approved["versions"].as_array().unwrap().len(), 2);
    let diff = stdout(&run(&db, &["memory", "show", &ids[0], "--diff"]));
    assert!(
        diff.contains("+ kind:") && diff.contains("status: approved"),
        "{diff}"
    );

    // Edit the other in $EDITOR (a script here): the owner saves it as a new version.
    let edited = lucid(&db)
        .args(["memory", "edit", &ids[1]])
        .env("EDITOR", "sed -i 's/^# /# Reviewed: /'")
        .env("VISUAL", "")
        .output()
        .unwrap();
    let said = stdout(&edited);
    assert!(
        said.contains(&format!("saved {} as version 2", shorts[1])),
        "{said}"
    );
    let shown = json(&run(&db, &["memory", "show", &ids[1], "--json"]));
    assert!(shown["memory"]["title"]
        .as_str()
        .unwrap()
        .starts_with("Reviewed: "));
    assert_eq!(
        shown["memory"]["rules"], listed[1]["rules"],
        "the rules survive"
    );
    let unchanged = lucid(&db)
        .args(["memory", "edit", &ids[1]])
        .env("EDITOR", "true")
        .output()
        .unwrap();
    assert!(stdout(&unchanged).contains("No changes."));

    // Reject it; the owner's refusals are usage errors, as in-process.
    assert!(stdout(&run(&db, &["memory", "reject", &ids[1]])).contains("rejected"));
    let refused = run(&db, &["memory", "reject", &ids[1]]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is rejected; nothing to reject"));
    assert_eq!(run(&db, &["memory", "show", "ZZZZ"]).status.code(), Some(2));
    assert_eq!(
        run(&db, &["memory", "list", "--status", "maybe"])
            .status
            .code(),
        Some(2)
    );

    // Export writes the skill folders here; importing them back skips what the team has.
    let out = dir.path().join("skills");
    let exported = stdout(&run(
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
    ));
    assert_eq!(exported.lines().count(), 1, "{exported}");
    assert!(
        Path::new(exported.trim()).join("SKILL.md").exists(),
        "{exported}"
    );
    let to_team = |team: &str| {
        stdout(&run(
            &db,
            &["memory", "import", out.to_str().unwrap(), "--team", team],
        ))
    };
    let imported = to_team("crew-b");
    assert!(imported.starts_with("proposed "), "{imported}");
    let theirs = json(&run(&db, &["memory", "list", "--team", "crew-b", "--json"]));
    assert_eq!(theirs[0]["status"], "proposed");
    assert_eq!(theirs[0]["rules"], shown_approved["memory"]["rules"]);
    let again = to_team("crew-b");
    assert!(again.starts_with("skipped "), "{again}");

    let going = going.wait_with_output().unwrap();
    assert!(
        matches!(going.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&going.stderr)
    );

    // The approval steers the next run.
    let next = json(&run(
        &db,
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--json",
            "--quiet",
            "--seed",
            "11",
        ],
    ));
    let applied: Vec<&str> = next["playbooks_applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default())
        .collect();
    assert!(applied.contains(&ids[0].as_str()), "{next:#}");
    assert_eq!(owner.terminate().code(), Some(0));
}
