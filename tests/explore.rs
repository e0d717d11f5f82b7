//! Exploring avoided choices (`[dreaming] explore`): an avoid-rule keeps its evidence
//! from coming back (the team never flies what it avoids), so a team may let a bounded
//! share of its sessions test the avoided choice on purpose. Each such test is recorded
//! (the playbook applied with `explore`, the departure with its evidence), and when the
//! tests mostly pass the next dream proposes retiring the rule. Off by default: a team
//! that does not ask never flies what its rules avoid while anything else is open.
//!
//! Sessions are offline Lumara runs on world 0, which has no hidden regularity, so a
//! rule to avoid one of its terrains is unfounded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use lucid_core::dream::{dream, Dreamer};
use lucid_core::event::{EventKind, MemoryId, SessionId};
use lucid_core::memory::{Author, Change, Memory, MemoryBook, MemoryKind, MemoryStatus};
use lucid_core::session::{self, LaunchOptions, Recorder};
use lucid_core::spec::SessionSpec;
use lucid_core::store::Store;
use lucid_core::world::rules::Rule;

const MISSIONS: std::ops::RangeInclusive<u64> = 1..=12;

fn lumara(explore: f64) -> SessionSpec {
    let mut spec = session::load(
        lucid_envs::worlds().as_ref(),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"),
        None,
        None,
        None,
    )
    .unwrap();
    spec.environment.world = 0;
    spec.dreaming.explore = explore;
    spec
}

/// The terrain the team lands on most often without playbooks (in a store of its own),
/// so a rule avoiding it bites.
async fn usual_terrain() -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut landings: BTreeMap<String, usize> = BTreeMap::new();
    for session in run_missions(&store, &lumara(0.0)).await {
        for event in store.events(session).unwrap() {
            if let EventKind::GradingFinished { facts, .. } = event.kind {
                if let Some(terrain) = facts.get("terrain").and_then(|t| t.as_str()) {
                    *landings.entry(terrain.to_string()).or_default() += 1;
                }
            }
        }
    }
    landings
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(terrain, _)| terrain)
        .unwrap()
}

/// An approved rule to avoid `terrain`, written by a person.
fn approve_avoid(store: &Store, team: &str, terrain: &str) -> MemoryId {
    let book = MemoryBook::new(store.clone());
    let rule: Rule =
        serde_json::from_value(json!({"when": {"terrain": terrain}, "then": {"avoid": true}}))
            .unwrap();
    let memory = book
        .create(Memory {
            id: MemoryId(0),
            version: 1,
            kind: MemoryKind::Playbook,
            team: team.into(),
            agent: None,
            title: format!("Stay off {terrain}"),
            body: "A person wrote this.".into(),
            rules: vec![rule],
            status: MemoryStatus::Proposed,
            provenance: vec![],
            author: Author::Person { name: "ana".into() },
            change: Change::New,
            key: Some(format!("lumara|soft_landing|terrain={terrain}")),
            created_at_ms: 0,
            updated_at_ms: 0,
            reason: String::new(),
        })
        .unwrap();
    book.approve(memory.id, Author::Person { name: "ana".into() })
        .unwrap();
    memory.id
}

/// What one session recorded about the rule: whether it was applied with `explore`,
/// and the evidence of each departure from it.
struct Recorded {
    explored: bool,
    departures: Vec<String>,
}

/// Runs the missions into the store, one session each.
async fn run_missions(store: &Store, spec: &SessionSpec) -> Vec<SessionId> {
    let mut sessions = Vec::new();
    for seed in MISSIONS {
        let mut spec = spec.clone();
        spec.environment.seed = seed;
        let handle = session::launch(
            lucid_envs::worlds(),
            spec,
            Recorder::Store(store.clone()),
            LaunchOptions {
                spec_path: "sessions/lumara.toml".into(),
                ..LaunchOptions::default()
            },
        )
        .unwrap();
        let finished = handle.join().await;
        finished.result.unwrap();
        sessions.push(finished.session);
    }
    sessions
}

/// What each session recorded about the rule.
fn recorded(store: &Store, sessions: &[SessionId], rule: MemoryId) -> Vec<Recorded> {
    let mut recorded = Vec::new();
    for &session in sessions {
        let (mut explored, mut departures) = (false, Vec::new());
        for event in store.events(session).unwrap() {
            match event.kind {
                EventKind::PlaybookApplied {
                    memory_id, explore, ..
                } if memory_id == rule.to_string() => explored |= explore,
                EventKind::RuleOverridden {
                    memory_id,
                    evidence,
                } if memory_id == rule.to_string() => departures.push(evidence),
                _ => {}
            }
        }
        recorded.push(Recorded {
            explored,
            departures,
        });
    }
    recorded
}

fn retirement_of(report: &lucid_core::dream::DreamReport, rule: MemoryId) -> Option<&Memory> {
    report
        .proposals
        .iter()
        .find(|m| m.change == Change::Retire { target: rule })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explored_avoid_rule_that_does_not_hold_is_proposed_for_retirement() {
    let terrain = usual_terrain().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let spec = lumara(0.5);
    let rule = approve_avoid(&store, &spec.team, &terrain);

    let sessions = run_missions(&store, &spec).await;
    let recorded = recorded(&store, &sessions, rule);
    // Every second session explores (the cap), and only those test the avoided terrain
    // on purpose.
    let exploring: Vec<usize> = (0..recorded.len())
        .filter(|&i| recorded[i].explored)
        .collect();
    assert_eq!(exploring, vec![1, 3, 5, 7, 9, 11]);
    let explorations = recorded
        .iter()
        .filter(|r| r.departures.iter().any(|e| e.starts_with("exploration")))
        .count();
    assert!(
        recorded
            .iter()
            .filter(|r| !r.explored)
            .all(|r| r.departures.iter().all(|e| !e.starts_with("exploration"))),
        "a session that does not explore tested the rule"
    );
    assert!(
        explorations >= 3,
        "only {explorations} of 6 exploring sessions flew {terrain}"
    );

    let report = dream(
        &store,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    let retirement = retirement_of(&report, rule).unwrap_or_else(|| {
        panic!(
            "no retirement proposed: {:?}",
            report
                .proposals
                .iter()
                .map(|m| &m.title)
                .collect::<Vec<_>>()
        )
    });
    assert!(
        retirement
            .provenance
            .iter()
            .any(|c| c.summary.contains("exploration")),
        "{:?}",
        retirement.provenance
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_no_session_explores_and_the_rule_stands() {
    let terrain = usual_terrain().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let spec = lumara(0.0);
    let rule = approve_avoid(&store, &spec.team, &terrain);

    let sessions = run_missions(&store, &spec).await;
    let recorded = recorded(&store, &sessions, rule);
    assert!(recorded.iter().all(|r| !r.explored));
    assert!(recorded
        .iter()
        .flat_map(|r| &r.departures)
        .all(|e| !e.starts_with("exploration")));
    let report = dream(
        &store,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    assert!(retirement_of(&report, rule).is_none());
}
