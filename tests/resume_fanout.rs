//! Resume after a kill in the middle of a fan-out reuses every finished sub-agent's
//! answer and redoes only unfinished work.
//!
//! The build-triage commander delegates one triager per log in one turn. The real binary
//! is SIGKILLed at several points of that fan-out, then resumed. For each kill:
//!
//!   turns before the kill + turns on resume ≤ uninterrupted turns + turns in flight,
//!
//! where turns in flight are bounded by the agents that were running at the kill (each
//! has at most one model call out, or one step not yet on disk). The report after resume
//! is complete and consistent: the commander is listed, every parent is listed, no agent
//! is `running` in a finished session, every log was triaged once, and the outcome is
//! the uninterrupted run's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use lucid_core::event::{AgentId, Event, EventKind};
use lucid_core::store::Store;

const LOGS: usize = 40;
/// Specialists that work at once; with the lead, the most model calls in flight.
const PARALLEL: usize = 6;
/// The lead's thread.
const LEAD: AgentId = AgentId(1);

/// build-triage with fewer logs, fewer slots and a model that takes a moment, so a kill
/// can land anywhere in the fan-out; `iterations` 2 sends every log back once.
fn spec(dir: &Path, iterations: u32) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/build-triage.toml"),
    )
    .unwrap()
    .replace("logs = 200", &format!("logs = {LOGS}"))
    .replace("max_parallel = 32", &format!("max_parallel = {PARALLEL}"))
    .replace(
        "max_iterations = 1",
        &format!("max_iterations = {iterations}"),
    )
    .replace(
        "[models.offline]\nprovider = \"scripted\"",
        "[models.offline]\nprovider = \"scripted\"\nlatency_ms = 3",
    );
    assert!(text.contains("latency_ms = 3") && text.contains("max_parallel = 6"));
    assert!(text.contains(&format!("max_iterations = {iterations}")));
    let path = dir.join(format!("triage-{iterations}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn lucid(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn events(db: &Path) -> Vec<Event> {
    let store = Store::open(db).unwrap();
    let session = store.sessions().unwrap()[0].id;
    store.events(session).unwrap()
}

fn turns(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ModelTurn { .. }))
        .count()
}

/// Turns that can have been in flight at the kill: each agent at work may have had a
/// model call out (or a turn not yet on disk). Those are the specialists spawned and not
/// finished, at most `PARALLEL` at once, and the lead while it works: it is spawned once
/// and finishes each iteration, and a revision sets it to work again.
fn in_flight(events: &[Event]) -> usize {
    let mut specialists = BTreeSet::<AgentId>::new();
    let mut lead_at_work = false;
    for event in events {
        match (&event.kind, event.agent) {
            (EventKind::AgentSpawned { .. }, Some(LEAD))
            | (EventKind::RevisionStarted { .. }, _) => {
                lead_at_work = true;
            }
            (EventKind::AgentFinished { .. }, Some(LEAD)) => lead_at_work = false,
            (EventKind::AgentSpawned { .. }, Some(agent)) => {
                specialists.insert(agent);
            }
            (EventKind::AgentFinished { .. }, Some(agent)) => {
                specialists.remove(&agent);
            }
            _ => {}
        }
    }
    specialists.len().min(PARALLEL) + usize::from(lead_at_work)
}

/// Starts a run and SIGKILLs it once `lines` progress lines have appeared.
fn run_and_kill(db: &Path, spec: &str, lines: usize) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(["run", spec, "--headless"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = 0;
    for line in BufReader::new(stderr).lines() {
        if line.is_err() {
            break;
        }
        seen += 1;
        if seen >= lines {
            break;
        }
    }
    let killed = child.kill().is_ok();
    let status = child.wait().unwrap();
    killed && !status.success()
}

/// What must match the uninterrupted run.
fn outcome(report: &Value) -> Value {
    serde_json::json!({
        "outcome": report["outcome"],
        "facts": report["facts"],
        "status": report["status"],
    })
}

/// The report is complete and consistent: one commander, every parent listed, nobody
/// running, and every log triaged once in each of `iterations`.
fn assert_consistent(report: &Value, iterations: usize, label: &str) {
    let agents = report["agents"].as_array().unwrap();
    let ids: BTreeSet<u64> = agents.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    let commanders: Vec<&Value> = agents.iter().filter(|a| a["parent"].is_null()).collect();
    assert_eq!(commanders.len(), 1, "{label}: one commander is listed");
    assert_eq!(commanders[0]["name"], "commander", "{label}");
    for agent in agents {
        assert_ne!(agent["status"], "running", "{label}: {agent}");
        if let Some(parent) = agent["parent"].as_u64() {
            assert!(
                ids.contains(&parent),
                "{label}: the parent of {agent} is listed"
            );
        }
    }
    let done: Vec<&str> = agents
        .iter()
        .filter(|a| a["name"] == "triager" && a["status"] == "done")
        .map(|a| a["purpose"].as_str().unwrap())
        .collect();
    let logs: BTreeSet<&str> = done.iter().copied().collect();
    assert_eq!(logs.len(), LOGS, "{label}: every log triaged");
    assert_eq!(done.len(), LOGS * iterations, "{label}: once per iteration");
}

/// Kills a run of `spec` after each of `points` progress lines, resumes it, checks the
/// measure and the report; returns the figures.
fn kill_and_resume_at(dir: &Path, spec: &str, iterations: usize, points: &[usize]) -> Vec<String> {
    let clean_db = dir.join("clean");
    let clean = lucid(&clean_db, &["run", spec, "--headless", "--json"]);
    let clean_report: Value = serde_json::from_slice(&clean.stdout).unwrap();
    let uninterrupted = turns(&events(&clean_db));
    assert_consistent(&clean_report, iterations, "uninterrupted");

    let mut figures = Vec::new();
    for (i, &lines) in points.iter().enumerate() {
        let db = dir.join(format!("killed-{i}"));
        if !run_and_kill(&db, spec, lines) {
            continue; // finished before the kill landed
        }
        let before = events(&db);
        let (before_turns, in_flight) = (turns(&before), in_flight(&before));
        let id = before[0].session.to_string();
        let resumed = lucid(&db, &["run", spec, "--headless", "--json", "--resume", &id]);
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        let report: Value = serde_json::from_slice(&resumed.stdout)
            .unwrap_or_else(|err| panic!("kill after {lines} lines: {err}\n{stderr}"));
        let after = events(&db);
        let resumed_turns = turns(&after) - before_turns;
        let label = format!(
            "kill after {lines} lines: {before_turns} turns before + {resumed_turns} on resume \
             = {} (uninterrupted {uninterrupted}, at most {in_flight} in flight)",
            before_turns + resumed_turns
        );
        figures.push(label.clone());
        assert!(
            before_turns + resumed_turns <= uninterrupted + in_flight,
            "{label}\n{stderr}"
        );
        assert_eq!(outcome(&report), outcome(&clean_report), "{label}");
        assert_consistent(&report, iterations, &label);
        // The stored session reads back the same.
        let shown = lucid(&db, &["sessions", "show", &id, "--json"]);
        let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_consistent(&shown, iterations, &label);
    }
    let _ = writeln!(std::io::stderr(), "{}", figures.join("\n"));
    figures
}

#[test]
fn a_fan_out_cut_by_a_kill_resumes_without_redoing_finished_work() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1);
    // The run prints about 475 lines: the fan-out, the commander's summary, grading.
    let points = [12, 60, 120, 200, 280, 360, 440, 468];
    let figures = kill_and_resume_at(dir.path(), &spec, 1, &points);
    assert!(
        figures.len() >= 6,
        "only {} kills landed mid-run",
        figures.len()
    );
}

#[test]
fn a_revision_cut_by_a_kill_resumes_without_redoing_finished_work() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 2);
    // The second fan-out (every log sent back after the grader's feedback) starts after
    // about 476 of 950 lines.
    let points = [470, 520, 700, 900];
    let figures = kill_and_resume_at(dir.path(), &spec, 2, &points);
    assert!(
        figures.len() >= 3,
        "only {} kills landed mid-run",
        figures.len()
    );
}
