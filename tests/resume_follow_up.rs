//! A session killed during or right after a follow-up resumes without repeating
//! finished work, and a replay of a session with a follow-up gives the same answers.
//!
//! Lumara seed 7 lands too fast in its first attempt; in its revision the commander
//! sends the grader's feedback to the navigator thread that flew it (a follow-up). The
//! real binary is SIGKILLed at several points from the follow-up's start to the
//! commander's next turn, then resumed. For each kill:
//!
//!   turns before the kill + turns on resume ≤ uninterrupted turns + 1,
//!
//! (one model call can be out at a kill: only the navigator works while the commander
//! waits on it), the outcome is the uninterrupted run's, and the report lists the same
//! threads: the followed-up navigator once, with its follow-up, not a new navigator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use lucid_core::event::{AgentId, Event, EventKind, SessionId};
use lucid_core::store::Store;

const SEED: &str = "7";

fn slow_spec(dir: &Path) -> String {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"))
            .unwrap()
            .replace(
                "[models.offline]\nprovider = \"scripted\"",
                "[models.offline]\nprovider = \"scripted\"\nlatency_ms = 25",
            );
    assert!(source.contains("latency_ms = 25"));
    let path = dir.join("slow-lumara.toml");
    std::fs::write(&path, source).unwrap();
    path.display().to_string()
}

fn lucid(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CONFIG_HOME", db.with_extension("no-config"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn events(db: &Path, session: Option<SessionId>) -> Vec<Event> {
    let store = Store::open(db).unwrap();
    let session = session.unwrap_or_else(|| store.sessions().unwrap()[0].id);
    store.events(session).unwrap()
}

fn turns(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ModelTurn { .. }))
        .count()
}

/// The delegations on record: (child, follow-up?).
fn delegations(events: &[Event]) -> Vec<(AgentId, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Delegated {
                child, follow_up, ..
            } => Some((*child, *follow_up)),
            _ => None,
        })
        .collect()
}

/// Who worked, and how much: each agent's name, status, follow-ups.
fn threads(report: &Value) -> Vec<Value> {
    report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| serde_json::json!([a["id"], a["name"], a["status"], a["follow_ups"]]))
        .collect()
}

fn outcome(report: &Value) -> Value {
    serde_json::json!({
        "outcome": report["outcome"],
        "facts": report["facts"],
        "status": report["status"],
    })
}

/// Starts a run and SIGKILLs it `after` progress lines past the follow-up's start.
fn run_and_kill(db: &Path, spec: &str, after: usize) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CONFIG_HOME", db.with_extension("no-config"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(db)
        .args(["run", spec, "--headless", "--seed", SEED])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut past: Option<usize> = None;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        match past.as_mut() {
            Some(n) => *n += 1,
            None if line.contains(" followed up: ") => past = Some(0),
            None => {}
        }
        if past.is_some_and(|n| n >= after) {
            break;
        }
    }
    let killed = child.kill().is_ok();
    let status = child.wait().unwrap();
    killed && !status.success()
}

#[test]
fn a_follow_up_cut_by_a_kill_resumes_without_redoing_finished_work() {
    let dir = tempfile::tempdir().unwrap();
    let spec = slow_spec(dir.path());
    let clean_db = dir.path().join("clean");
    let clean = lucid(
        &clean_db,
        &["run", &spec, "--headless", "--json", "--seed", SEED],
    );
    let clean_report: Value = serde_json::from_slice(&clean.stdout).unwrap();
    let clean_events = events(&clean_db, None);
    let uninterrupted = turns(&clean_events);
    // The uninterrupted run follows up its navigator once.
    let followed: Vec<AgentId> = delegations(&clean_events)
        .into_iter()
        .filter(|(_, follow_up)| *follow_up)
        .map(|(child, _)| child)
        .collect();
    assert_eq!(followed.len(), 1, "seed {SEED} follows up once");
    assert!(delegations(&clean_events).contains(&(followed[0], false)));
    // The report lists the navigator once, with its follow-up and every turn of it.
    let navigators: Vec<&Value> = clean_report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "navigator")
        .collect();
    assert_eq!(navigators.len(), 1, "{clean_report:#}");
    assert_eq!(navigators[0]["id"], followed[0].0);
    assert_eq!(navigators[0]["follow_ups"], 1);
    let navigator_turns = clean_events
        .iter()
        .filter(|e| e.agent == Some(followed[0]) && matches!(e.kind, EventKind::ModelTurn { .. }))
        .count();
    assert_eq!(navigators[0]["turns"], navigator_turns);

    let mut figures = Vec::new();
    // The follow-up prints about 8 lines until the commander reports.
    for (i, after) in [0usize, 1, 2, 3, 4, 6, 8].into_iter().enumerate() {
        let db = dir.path().join(format!("killed-{i}"));
        if !run_and_kill(&db, &spec, after) {
            continue; // finished before the kill landed
        }
        let before = events(&db, None);
        let before_turns = turns(&before);
        let id = before[0].session.to_string();
        let resumed = lucid(
            &db,
            &["run", &spec, "--headless", "--json", "--resume", &id],
        );
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        let report: Value = serde_json::from_slice(&resumed.stdout)
            .unwrap_or_else(|err| panic!("kill {after} lines into the follow-up: {err}\n{stderr}"));
        let after_events = events(&db, None);
        let resumed_turns = turns(&after_events) - before_turns;
        let label = format!(
            "kill {after} lines into the follow-up: {before_turns} turns before + {resumed_turns} \
             on resume = {} (uninterrupted {uninterrupted})",
            before_turns + resumed_turns
        );
        assert!(
            before_turns + resumed_turns <= uninterrupted + 1,
            "{label}\n{stderr}"
        );
        assert_eq!(outcome(&report), outcome(&clean_report), "{label}");
        // The same threads: the navigator was followed up, not replaced.
        assert_eq!(threads(&report), threads(&clean_report), "{label}");
        // The follow-up is on record once (a resumed one continues it, not again).
        let follow_ups = after_events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::FollowUp { .. }))
            .count();
        assert_eq!(follow_ups, 1, "{label}");
        figures.push(label);
    }
    let _ = writeln!(std::io::stderr(), "{}", figures.join("\n"));
    assert!(
        figures.len() >= 4,
        "only {} kills landed mid-follow-up",
        figures.len()
    );
}

#[test]
fn a_replayed_session_with_a_follow_up_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let recorded = lucid(
        &db,
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--json",
            "--seed",
            SEED,
        ],
    );
    let original: Value = serde_json::from_slice(&recorded.stdout).unwrap();
    let id = original["session_id"].as_str().unwrap().to_string();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[models.rec]\nprovider = \"replay\"\nsession = \"{id}\"\n"),
    )
    .unwrap();
    let replayed = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("LUCID_CONFIG", &config)
        .arg("--db")
        .arg(&db)
        .args([
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--json",
            "--seed",
            SEED,
            "--model",
            "rec",
        ])
        .output()
        .unwrap();
    let replay: Value = serde_json::from_slice(&replayed.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&replayed.stderr)));
    assert_eq!(replay["outcome"], original["outcome"]);
    assert_eq!(replay["facts"], original["facts"]);
    assert_eq!(replay["answer"], original["answer"]);
    assert_eq!(threads(&replay), threads(&original));
    // Every thread gave the same answers, the follow-up's included.
    // Parallel detectors finish in either order: compare thread by thread.
    let answers = |session: &str| -> Vec<(AgentId, String)> {
        let mut answers: Vec<(AgentId, String)> = events(&db, Some(session.parse().unwrap()))
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::AgentFinished {
                    answer: Some(answer),
                    ..
                } => Some((e.agent?, answer)),
                _ => None,
            })
            .collect();
        answers.sort();
        answers
    };
    let replay_id = replay["session_id"].as_str().unwrap();
    let original_answers = answers(&id);
    assert_eq!(answers(replay_id), original_answers);
    let followed = delegations(&events(&db, Some(replay_id.parse().unwrap())))
        .into_iter()
        .filter(|(_, follow_up)| *follow_up)
        .count();
    assert_eq!(followed, 1, "the replay follows up the navigator too");
}
