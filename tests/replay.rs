//! `[models.X] provider = "replay"`, `session = "ID"`: a recorded session answers every
//! agent's turns (and the grader's verdicts) again, offline, so the replayed run makes the
//! same tool calls, reaches the same facts and gets the same verdicts per iteration.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use lucid_core::event::{EventKind, SessionId};

fn lucid(dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .env_remove("LUCID_CONFIG")
        .env_remove("LUCID_DB")
        .arg("--db")
        .arg(dir.join("store"))
        .args(args);
    if let Some(config) = config {
        command.env("LUCID_CONFIG", config);
    }
    command.output().unwrap()
}

fn shown(output: &Output) -> String {
    format!(
        "exit {:?}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes a config file with `[models.rec]` replaying `session`.
fn replay_config(dir: &Path, session: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!("[models.rec]\nprovider = \"replay\"\nsession = \"{session}\"\n"),
    )
    .unwrap();
    path
}

/// Each agent thread of a stored session: its name, model profile and tool calls.
type Threads = BTreeMap<u32, (String, String, Vec<(String, Value)>)>;

fn threads(dir: &Path, session: &str) -> Threads {
    let store = lucid_core::store::Store::open(&dir.join("store")).unwrap();
    let id: SessionId = session.parse().unwrap();
    let mut threads = Threads::new();
    for event in store.events(id).unwrap() {
        let Some(agent) = event.agent else { continue };
        match event.kind {
            EventKind::AgentSpawned { name, model, .. } => {
                threads.insert(agent.0, (name, model, Vec::new()));
            }
            EventKind::ToolCalled { tool, input, .. } => {
                threads.get_mut(&agent.0).unwrap().2.push((tool, input));
            }
            _ => {}
        }
    }
    threads
}

/// Records `spec` with its own profiles, replays it on `rec`, and checks the replay
/// against the recording. Returns the recorded report.
fn record_and_replay(dir: &Path, spec: &str, extra: &[&str]) -> Value {
    let mut args = vec!["run", spec, "--headless", "--json"];
    args.extend_from_slice(extra);
    let recorded = lucid(dir, None, &args);
    assert!(
        matches!(recorded.status.code(), Some(0 | 1)),
        "{}",
        shown(&recorded)
    );
    let original: Value = serde_json::from_slice(&recorded.stdout).unwrap();
    let id = original["session_id"].as_str().unwrap().to_string();

    // A unique prefix of the id is enough.
    let config = replay_config(dir, &id[..12]);
    args.extend_from_slice(&["--model", "rec"]);
    let replayed = lucid(dir, Some(&config), &args);
    assert_eq!(
        replayed.status.code(),
        recorded.status.code(),
        "{}",
        shown(&replayed)
    );
    let replay: Value = serde_json::from_slice(&replayed.stdout).unwrap();
    let replay_id = replay["session_id"].as_str().unwrap().to_string();
    assert_ne!(replay_id, id);

    // The same verdicts, iteration by iteration, and the same facts.
    let iterations = original["outcome"]["iterations"].as_array().unwrap();
    assert!(!iterations.is_empty());
    assert_eq!(replay["outcome"], original["outcome"]);
    assert_eq!(replay["facts"], original["facts"]);

    // Every agent thread made the same tool calls, on the replay profile.
    let before = threads(dir, &id);
    let after = threads(dir, &replay_id);
    assert!(before.len() >= 3, "{before:?}");
    assert_eq!(before.len(), after.len());
    for ((n, (name, model, calls)), (m, (name2, model2, calls2))) in before.iter().zip(&after) {
        assert_eq!((n, name), (m, name2));
        assert_ne!(model, "rec");
        assert_eq!(model2, "rec");
        assert_eq!(calls, calls2, "agent {name}#{n}");
    }
    assert!(after.values().any(|(_, _, calls)| !calls.is_empty()));
    original
}

#[test]
fn a_replayed_lumara_session_reproduces_its_calls_facts_and_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let original = record_and_replay(dir.path(), "sessions/lumara.toml", &["--seed", "3"]);
    // Seed 3 fails its first landing and revises: more than one iteration is replayed,
    // with parallel detectors of one name in the first.
    assert!(original["outcome"]["iterations"].as_array().unwrap().len() >= 2);
    let detectors = original["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "detector")
        .count();
    assert!(detectors >= 2, "{original:#}");
}

#[test]
fn a_replayed_grader_gives_the_recorded_verdicts() {
    // doc-review has criteria without a check: its grader model judges them, and on the
    // replay profile the recorded verdicts come back through `submit_verdicts`.
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions");
    let copy = dir.path().join("sessions");
    std::fs::create_dir_all(copy.join("docs")).unwrap();
    std::fs::copy(repo.join("doc-review.toml"), copy.join("doc-review.toml")).unwrap();
    for entry in std::fs::read_dir(repo.join("docs")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.join("docs").join(entry.file_name())).unwrap();
        }
    }
    let spec = copy.join("doc-review.toml");
    let original = record_and_replay(dir.path(), spec.to_str().unwrap(), &[]);
    // The model-judged criteria are among those compared (equal, not just present).
    let judged: Vec<&Value> = original["outcome"]["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["criteria"].as_array().unwrap())
        .filter(|c| {
            ["grounded", "actionable", "cross_document"].contains(&c["id"].as_str().unwrap())
        })
        .collect();
    assert!(!judged.is_empty(), "{original:#}");
    assert!(judged
        .iter()
        .all(|c| !c["reason"].as_str().unwrap().is_empty()));
}

#[test]
fn a_replay_of_an_unknown_session_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = "01ZZZZZZZZZZZZZZZZZZZZZZZZ";
    let config = replay_config(dir.path(), missing);
    let output = lucid(
        dir.path(),
        Some(&config),
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--model",
            "rec",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "model profile `rec` replays session `{missing}`, which is not in the store"
        )),
        "{stderr}"
    );
}
