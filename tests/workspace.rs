//! The doc-review session on the workspace environment, through the real binary and the
//! library: the team's shape, model-graded criteria with reasons, revision on feedback,
//! playbook rules, determinism, exit codes, and paths relative to the session file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use lucid_core::event::{Event, EventBus, EventSink, SessionId, SinkError};
use lucid_core::model::ScriptedProvider;
use lucid_core::outcome::{run_session, Grader, SessionOrigin};
use lucid_core::run::{CancelToken, Playbook, TeamRun};

const MODEL_GRADED: [&str; 3] = ["grounded", "actionable", "cross_document"];

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn lucid(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(manifest())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn report(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON document ({err}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn redacted(mut report: Value) -> Value {
    report["session_id"] = Value::String("[id]".into());
    report["short_id"] = Value::String("[short id]".into());
    report["duration_ms"] = Value::from(0);
    report
}

/// A copy of the session file and its documents in a fresh folder, with `edit` applied
/// to the session text.
fn copied_session(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("team");
    std::fs::create_dir_all(folder.join("docs")).unwrap();
    for entry in std::fs::read_dir(manifest().join("sessions/docs")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), folder.join("docs").join(entry.file_name())).unwrap();
    }
    let source = std::fs::read_to_string(manifest().join("sessions/doc-review.toml")).unwrap();
    let spec = folder.join("doc-review.toml");
    std::fs::write(&spec, edit(source)).unwrap();
    (dir, spec)
}

#[test]
fn the_doc_review_session_runs_offline_revises_and_repeats_exactly() {
    let db = tempfile::tempdir().unwrap();
    let args = ["run", "sessions/doc-review.toml", "--headless", "--json"];
    let output = lucid(db.path(), &args);
    let report = report(&output);
    let passed = report["outcome"]["passed"].as_bool().unwrap();
    assert_eq!(output.status.code(), Some(if passed { 0 } else { 1 }));
    assert!(passed, "the offline team meets the rubric: {report:#}");
    assert_eq!(report["team"], "doc-review");

    // The commander is the root; at least two reviewers are its children, with purposes.
    let agents = report["agents"].as_array().unwrap();
    assert!(agents.len() >= 3, "{agents:?}");
    assert_eq!(agents[0]["name"], "commander");
    assert_eq!(agents[0]["parent"], Value::Null);
    for child in &agents[1..] {
        assert_eq!(child["name"], "reviewer");
        assert_eq!(child["parent"], agents[0]["id"]);
        assert!(child["purpose"].as_str().unwrap().starts_with("Review "));
        assert!(child["tool_calls"].as_u64().unwrap() >= 3);
    }

    // Model-graded criteria are judged with reasons in every iteration; the first pass
    // misses the comparison across documents and the revision on feedback adds it.
    let iterations = report["outcome"]["iterations"].as_array().unwrap();
    assert_eq!(iterations.len(), 2, "{iterations:#?}");
    for iteration in iterations {
        for id in MODEL_GRADED {
            let criterion = iteration["criteria"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id)
                .unwrap_or_else(|| panic!("{id} judged"));
            assert!(!criterion["reason"].as_str().unwrap().is_empty());
        }
    }
    let verdict = |i: usize, id: &str| {
        iterations[i]["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(verdict(0, "cross_document")["passed"], false);
    assert!(verdict(0, "cross_document")["fix"]
        .as_str()
        .unwrap()
        .contains("Cross-document consistency"));
    assert_eq!(verdict(1, "cross_document")["passed"], true);
    assert_eq!(verdict(0, "grounded")["passed"], true);

    // The facts say every document was read and the findings cite real lines.
    let facts = &report["facts"];
    assert_eq!(facts["files_total"], json!(6));
    assert_eq!(facts["files_unread"], json!(0));
    assert_eq!(facts["bad_citations"], json!(0));
    assert_eq!(facts["escapes_refused"], json!(0));
    assert_eq!(facts["tool_errors"], json!(0));
    assert!(facts["searches"].as_u64().unwrap() >= 1);

    // The reviews are on disk, one folder per attempt; the merged review found the
    // planted problems by reading.
    let out = manifest().join("sessions/review-out");
    let review = std::fs::read_to_string(out.join("attempt-2/review.md")).unwrap();
    for expected in [
        "README.md:15 — broken link",
        "operations.md:21 — broken link",
        "unfinished text (TODO)",
        "`WAL` is used but defined nowhere",
        "`RPO` is used but defined nowhere",
        "`listen_port` is given different values",
        "`retention_days` is given different values",
    ] {
        assert!(review.contains(expected), "{expected} in:\n{review}");
    }
    assert!(
        !review.contains("`RTO` is used"),
        "RTO is defined in the glossary"
    );
    assert!(
        !review.contains("`KMS` is used"),
        "KMS is defined in install.md"
    );
    assert!(out.join("attempt-1/reviews/part-1.md").exists());
    assert!(out.join("attempt-1/reviews/part-2.md").exists());

    // Same session, same report, and the stale folders were replaced.
    let again = lucid(db.path(), &args);
    assert_eq!(redacted(report.clone()), redacted(self::report(&again)));
    assert_eq!(
        std::fs::read_to_string(out.join("attempt-2/review.md")).unwrap(),
        review
    );
}

#[test]
fn paths_resolve_against_the_session_file_and_a_failed_rubric_exits_1() {
    let (dir, spec) = copied_session(|s| s.replace("max_iterations = 3", "max_iterations = 1"));
    let db = tempfile::tempdir().unwrap();
    let output = lucid(
        db.path(),
        &["run", spec.to_str().unwrap(), "--headless", "--json"],
    );
    let report = report(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "one pass misses the comparison"
    );
    let criteria = report["outcome"]["iterations"][0]["criteria"]
        .as_array()
        .unwrap()
        .clone();
    let failed: Vec<&str> = criteria
        .iter()
        .filter(|c| c["passed"] == false)
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(failed, ["cross_document"]);
    // The output folder sits next to the copied session file, not in the repository.
    assert!(dir
        .path()
        .join("team/review-out/attempt-1/review.md")
        .exists());

    // A root that does not exist is a usage error naming the option.
    let (_bad_dir, bad) = copied_session(|s| s.replace("root = \"docs\"", "root = \"nowhere\""));
    let output = lucid(db.path(), &["run", bad.to_str().unwrap(), "--headless"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("environment option `root`"), "{stderr}");
}

#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn append(&self, event: &Event) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_playbook_rule_makes_the_first_pass_compare_documents() {
    let (_dir, path) = copied_session(|s| s);
    let spec = lucid_core::spec::load(&path, &lucid_envs::catalog()).unwrap();
    let env = lucid_envs::build(&spec.environment, 1, 1).unwrap();
    let team_env = Arc::clone(&env);
    let rule = serde_json::from_value(json!({"when": {}, "then": {"cross_check": true}})).unwrap();
    let playbook = Playbook {
        id: "m1".into(),
        version: 1,
        title: "Compare settings across documents".into(),
        body: "Reviews that only look at one document at a time miss contradictions.".into(),
        rules: vec![rule],
        agent: Some("commander".into()),
        explore: false,
    };
    let bus = Arc::new(EventBus::new(
        SessionId::generate(),
        Arc::new(Collect::default()),
    ));
    let team = TeamRun::new(
        Arc::new(spec),
        team_env,
        bus,
        &[playbook],
        CancelToken::new(),
    )
    .unwrap();
    let origin = SessionOrigin {
        spec_path: path.display().to_string(),
        seed: 1,
        world: 1,
    };
    let result = run_session(team, origin).await.unwrap();
    assert!(result.passed);
    assert_eq!(result.verdicts.len(), 1, "{:?}", result.verdicts);
    assert!(result.output.contains("## Cross-document consistency"));

    // The grader's verdicts follow the output: regrade edited versions of the passing
    // review against the same facts, through the real grader.
    let spec = lucid_core::spec::load(&path, &lucid_envs::catalog()).unwrap();
    let policy = env.policy("grader").unwrap();
    let grader = Grader::new(
        spec.task.clone(),
        spec.rubric.clone(),
        Some(Arc::new(ScriptedProvider::new("grader", policy))),
        Arc::new(EventBus::new(
            SessionId::generate(),
            Arc::new(Collect::default()),
        )),
    );
    let failed = |verdict: &lucid_core::outcome::Verdict| -> Vec<String> {
        verdict
            .criteria
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.id.clone())
            .collect()
    };
    let same = grader
        .judge(1, &result.output, &result.facts, &[])
        .await
        .unwrap();
    assert!(same.passed(), "{same:?}");
    let past_the_end = result.output.replace("README.md:15", "README.md:95");
    let verdict = grader
        .judge(1, &past_the_end, &result.facts, &[])
        .await
        .unwrap();
    assert_eq!(
        failed(&verdict),
        ["grounded", "actionable", "cross_document"]
    );
    assert!(verdict.criteria[2]
        .reason
        .contains("README.md:95 is past the end"));
    let per_document = result.output.split("## Cross-document").next().unwrap();
    let verdict = grader
        .judge(1, per_document, &result.facts, &[])
        .await
        .unwrap();
    assert_eq!(failed(&verdict), ["cross_document"]);
    let verdict = grader
        .judge(1, "Looks fine to me.", &result.facts, &[])
        .await
        .unwrap();
    assert_eq!(failed(&verdict), MODEL_GRADED);
}

#[test]
fn the_team_finds_the_problems_of_any_folder_by_reading_it() {
    // Other documents, other problems: nothing about the bundled ones is built in.
    let (dir, spec) = copied_session(|s| s);
    let docs = dir.path().join("team/docs");
    std::fs::remove_dir_all(&docs).unwrap();
    std::fs::create_dir_all(docs.join("guides")).unwrap();
    std::fs::write(
        docs.join("index.md"),
        "# Pantry\n\nStart with [the guide](guides/start.md) or [recipes](recipes.md).\n\
         Requests time out after 10 seconds (`timeout_s`).\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("guides/start.md"),
        "# Start\n\nBack to [the index](../index.md).\nThe QPS limit is enforced per tenant.\n\
         A Content Delivery Network (CDN) serves images.\nXXX: explain tenants\n\n\
         ```toml\ntimeout_s = 30\n```\n",
    )
    .unwrap();
    let db = tempfile::tempdir().unwrap();
    let output = lucid(
        db.path(),
        &["run", spec.to_str().unwrap(), "--headless", "--json"],
    );
    let report = report(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let review =
        std::fs::read_to_string(dir.path().join("team/review-out/attempt-2/review.md")).unwrap();
    for expected in [
        "index.md:3 — broken link: [recipes](recipes.md)",
        "guides/start.md:4 — undefined term: `QPS`",
        "guides/start.md:6 — unfinished text (XXX)",
        "`timeout_s` is given different values: 10 at index.md:4; 30 at guides/start.md:9.",
    ] {
        assert!(review.contains(expected), "{expected} in:\n{review}");
    }
    assert!(
        !review.contains("[the guide]") && !review.contains("[the index]"),
        "{review}"
    );
    assert!(!review.contains("`CDN`"), "CDN is spelled out: {review}");
    assert_eq!(report["facts"]["files_total"], json!(2));
}
