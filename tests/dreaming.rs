//! Dreaming and memory: proposals from recorded sessions, the approval gate, versions,
//! curation, retirement, the model dreamer's validation, and measured learning.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use lucid_core::dream::{dream, Dreamer};
use lucid_core::event::{EventBus, EventKind, EventSink, MemoryId, SessionId};
use lucid_core::memory::{Author, Change, Memory, MemoryBook, MemoryKind, MemoryStatus};
use lucid_core::model::scripted::ResponseBuilder;
use lucid_core::model::{ModelRequest, ModelResponse, Policy, ScriptedProvider};
use lucid_core::outcome::{run_session, SessionOrigin, SessionResult};
use lucid_core::run::report::SessionReport;
use lucid_core::run::{CancelToken, Playbook, TeamRun};
use lucid_core::spec::SessionSpec;
use lucid_core::store::Store;
use lucid_core::world::rules::Rule;

fn lumara() -> SessionSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml");
    lucid_core::spec::load(&path, &lucid_envs::catalog()).unwrap()
}

/// Runs one recorded Lumara session on `seed` with the team's approved playbooks.
async fn run_recorded(
    store: &Store,
    spec: &SessionSpec,
    seed: u64,
) -> (SessionResult, SessionReport) {
    let mut spec = spec.clone();
    spec.environment.seed = seed;
    let env = lucid_envs::build(&spec.environment, seed, spec.environment.world).unwrap();
    let playbooks = MemoryBook::new(store.clone())
        .active_playbooks(&spec.team)
        .unwrap();
    let sink: Arc<dyn EventSink> = Arc::new(store.clone());
    let bus = Arc::new(EventBus::new(SessionId::generate(), sink));
    let team = TeamRun::new(
        Arc::new(spec),
        env,
        Arc::clone(&bus),
        &playbooks,
        CancelToken::new(),
    )
    .unwrap();
    let origin = SessionOrigin {
        spec_path: "sessions/lumara.toml".into(),
        seed,
        world: 1,
    };
    let result = run_session(team, origin).await.unwrap();
    let report = SessionReport::fold(&store.events(result.session).unwrap(), false);
    (result, report)
}

fn comparable(mut report: SessionReport) -> String {
    report.session_id = None;
    report.short_id = None;
    report.duration_ms = 0;
    serde_json::to_string(&report).unwrap()
}

fn proposed(book: &MemoryBook) -> Vec<Memory> {
    book.list()
        .unwrap()
        .into_iter()
        .filter(|m| m.status == MemoryStatus::Proposed)
        .collect()
}

#[tokio::test]
async fn a_dream_proposes_from_data_and_only_approval_changes_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let spec = lumara();
    // Every recorded fact is a candidate condition and the false-discovery rate is held
    // over every test that can reach significance: a dozen missions are enough.
    for seed in 1..=12 {
        run_recorded(&store, &spec, seed).await;
    }
    // Before any dream: a reference run of a held-out seed.
    let (_, before) = run_recorded(&store, &spec, 105).await;

    let report = dream(
        &store,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    assert!(
        !report.proposals.is_empty(),
        "the dream found something in 13 sessions"
    );
    assert_eq!(report.run.sessions.len(), 13);
    for memory in &report.proposals {
        assert_eq!(memory.status, MemoryStatus::Proposed);
        assert!(
            !memory.provenance.is_empty(),
            "every claim cites sessions: {}",
            memory.title
        );
        for citation in &memory.provenance {
            assert!(
                store.session(citation.session).unwrap().is_some(),
                "cited sessions exist"
            );
        }
    }
    let rules: Vec<&Rule> = report
        .proposals
        .iter()
        .flat_map(|m| m.rules.iter())
        .collect();
    assert!(
        !rules.is_empty(),
        "some proposal carries a rule for scripted policies"
    );

    // The dream is itself a recorded session with a dreamer thread.
    let dream_events = store.events(report.run.session).unwrap();
    assert!(dream_events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::AgentSpawned { name, .. } if name == "dreamer")));
    assert!(dream_events
        .iter()
        .any(|e| matches!(e.kind, EventKind::MemoryProposed { .. })));

    // Proposed memories have no effect at all.
    let (_, unapproved) = run_recorded(&store, &spec, 105).await;
    assert_eq!(comparable(unapproved), comparable(before.clone()));

    // Curating the same sessions' drafts again against what the dream wrote: nothing new.
    let facts: Vec<String> = lucid_envs::catalog()
        .values()
        .flat_map(|c| c.facts.clone())
        .collect();
    let digests: Vec<lucid_core::dream::digest::SessionDigest> = report
        .run
        .sessions
        .iter()
        .filter_map(|id| {
            lucid_core::dream::digest::SessionDigest::from_events(
                &store.events(*id).unwrap(),
                &facts,
            )
        })
        .collect();
    let refs: Vec<&lucid_core::dream::digest::SessionDigest> = digests.iter().collect();
    let capabilities = lucid_envs::catalog()["lumara"].clone();
    let patterns = lucid_core::dream::mine::mine_environment(
        "lumara",
        &refs,
        lucid_core::dream::mine::Vocabulary::of(&capabilities, &refs),
        &lucid_core::dream::mine::MiningLimits::default(),
    );
    let again = lucid_core::dream::synth::drafts(&patterns, &refs);
    let memories = MemoryBook::new(store.clone()).list().unwrap();
    assert!(lucid_core::dream::curate::curate(again, &memories, &refs).is_empty());

    // Dreaming again proposes nothing new.
    let count = MemoryBook::new(store.clone()).list().unwrap().len();
    let second = dream(
        &store,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    // The unapproved run above is new, but one session brings no new claim.
    assert!(
        second.proposals.is_empty(),
        "{:?}",
        second
            .proposals
            .iter()
            .map(|m| &m.title)
            .collect::<Vec<_>>()
    );
    assert_eq!(MemoryBook::new(store.clone()).list().unwrap().len(), count);
    let third = dream(
        &store,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    assert!(third.run.sessions.is_empty() && third.proposals.is_empty());

    // Approval: the playbooks reach the prompts and the report.
    let book = MemoryBook::new(store.clone());
    for memory in proposed(&book) {
        book.approve(
            memory.id,
            Author::Person {
                name: "test".into(),
            },
        )
        .unwrap();
    }
    let active = book.active_playbooks(&spec.team).unwrap();
    assert_eq!(active.len(), report.proposals.len());
    let (_, after) = run_recorded(&store, &spec, 105).await;
    let applied: Vec<&str> = after
        .playbooks_applied
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(applied.len(), active.len());
    assert_ne!(
        comparable(after),
        comparable(before),
        "approved playbooks change what the team does"
    );
}

#[tokio::test]
async fn approved_playbooks_render_into_their_scope_and_are_recorded() {
    let spec = support::spec(&support::workshop_toml(
        "[[outcome.criteria]]\nid = \"any\"\ndescription = \"Anything.\"\ncheck = \"notes >= 0\"\n",
        1,
        0,
    ));
    let recorder = support::Recorder::default();
    let env = Arc::new(support::Workshop {
        recorder: recorder.clone(),
    });
    let playbook = Playbook {
        id: "M1".into(),
        version: 2,
        title: "Write short notes".into(),
        body: "Short notes read better.".into(),
        rules: vec![],
        agent: Some("worker".into()),
        explore: false,
    };
    let sink = Arc::new(lucid_core::event::NullSink);
    let bus = Arc::new(EventBus::new(SessionId::generate(), sink));
    let mut events = bus.subscribe();
    let team = TeamRun::new(
        Arc::new(spec),
        env,
        Arc::clone(&bus),
        &[playbook],
        CancelToken::new(),
    )
    .unwrap();
    run_session(
        team,
        SessionOrigin {
            spec_path: "w".into(),
            seed: 1,
            world: 1,
        },
    )
    .await
    .unwrap();
    let worker = recorder.requests("worker");
    assert!(worker.iter().all(|r| r
        .system
        .contains("### Write short notes\nShort notes read better.")));
    let lead = recorder.requests("lead");
    assert!(
        lead.iter().all(|r| !r.system.contains("Write short notes")),
        "scoped to the worker only"
    );
    let mut applied = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EventKind::PlaybookApplied {
            memory_id,
            version,
            agent_name,
            ..
        } = event.kind
        {
            applied.push((memory_id, version, agent_name));
        }
    }
    assert_eq!(applied, vec![("M1".to_string(), 2, "worker".to_string())]);
}

fn memory(team: &str, title: &str, rules: Vec<Rule>, key: &str) -> Memory {
    Memory {
        id: MemoryId(0),
        version: 1,
        kind: MemoryKind::Playbook,
        team: team.into(),
        agent: None,
        title: title.into(),
        body: "A person wrote this.".into(),
        rules,
        status: MemoryStatus::Proposed,
        provenance: vec![],
        author: Author::Person {
            name: "test".into(),
        },
        change: Change::New,
        key: Some(key.into()),
        created_at_ms: 0,
        updated_at_ms: 0,
        reason: String::new(),
    }
}

#[test]
fn every_change_is_a_version_and_versions_diff() {
    let dir = tempfile::tempdir().unwrap();
    let book = MemoryBook::new(Store::open(&dir.path().join("store")).unwrap());
    let created = book
        .create(memory("t", "Check twice", vec![], "k"))
        .unwrap();
    book.revise(
        created.id,
        Author::Person { name: "ana".into() },
        "edited",
        |m| {
            m.body = "A person rewrote this.".into();
        },
    )
    .unwrap();
    let approved = book
        .approve(created.id, Author::Person { name: "ana".into() })
        .unwrap();
    assert_eq!(approved[0].version, 3);
    assert_eq!(approved[0].status, MemoryStatus::Approved);
    let versions = book.versions(created.id).unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        versions[0].body, "A person wrote this.",
        "old versions stay readable"
    );
    let diff: Vec<String> = book
        .diff(created.id, Some(1), Some(2))
        .unwrap()
        .iter()
        .map(|l| l.render())
        .collect();
    assert!(
        diff.contains(&"- A person wrote this.".to_string()),
        "{diff:?}"
    );
    assert!(
        diff.contains(&"+ A person rewrote this.".to_string()),
        "{diff:?}"
    );
    let status_diff: Vec<String> = book
        .diff(created.id, None, None)
        .unwrap()
        .iter()
        .map(|l| l.render())
        .collect();
    assert!(
        status_diff
            .iter()
            .any(|l| l.starts_with("+ ") && l.contains("status: approved")),
        "{status_diff:?}"
    );
    assert!(
        book.reject(created.id, Author::Person { name: "ana".into() })
            .is_err(),
        "only proposals are rejected"
    );
}

#[tokio::test]
async fn an_approved_rule_the_sessions_contradict_is_proposed_for_retirement() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let spec = lumara();
    let book = MemoryBook::new(store.clone());
    // A person's hunch, approved without evidence: "never brake early on mare".
    let rule: Rule = serde_json::from_value(
        json!({"when": {"terrain": "mare"}, "then": {"burn_margin_m": {"max": 40}}}),
    )
    .unwrap();
    let hunch = book
        .create(memory(
            &spec.team,
            "Keep the burn margin small on mare",
            vec![rule],
            "person|soft_landing|mare",
        ))
        .unwrap();
    book.approve(
        hunch.id,
        Author::Person {
            name: "test".into(),
        },
    )
    .unwrap();
    for seed in 1..=20 {
        run_recorded(&store, &spec, seed).await;
    }
    dream(
        &store,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    let retirement = proposed(&book)
        .into_iter()
        .find(|m| m.change == Change::Retire { target: hunch.id })
        .expect("the contradicted hunch is proposed for retirement");
    assert!(
        retirement.body.contains("still failed `soft_landing`"),
        "{}",
        retirement.body
    );
    assert!(!retirement.provenance.is_empty());
    // Approving the retirement retires the hunch; it no longer steers runs.
    book.approve(
        retirement.id,
        Author::Person {
            name: "test".into(),
        },
    )
    .unwrap();
    assert_eq!(
        book.get(hunch.id).unwrap().unwrap().status,
        MemoryStatus::Retired
    );
    assert!(book
        .active_playbooks(&spec.team)
        .unwrap()
        .iter()
        .all(|p| p.id != hunch.id.to_string()));
}

struct InventiveDreamer(SessionId);

impl Policy for InventiveDreamer {
    fn respond(&self, _request: &ModelRequest) -> ModelResponse {
        let real = self.0.to_string();
        let invented = SessionId::at(1).to_string();
        ResponseBuilder::new("t1")
            .tool(
                "propose_memories",
                json!({"proposals": [
                    {"kind": "playbook", "title": "Real and invented", "body": "Mixed evidence.",
                     "citations": [{"session": real, "summary": "real"}, {"session": invented, "summary": "invented"},
                                   {"session": "not-an-id", "summary": "garbage"}]},
                    {"kind": "playbook", "title": "Only invented", "body": "No evidence.",
                     "citations": [{"session": invented, "summary": "invented"}]},
                    {"kind": "theory", "title": "Bad kind", "body": "x", "citations": [{"session": real, "summary": "real"}]}
                ]}),
            )
            .build()
    }
}

#[tokio::test]
async fn the_model_dreamer_drops_invented_citations() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let spec = lumara();
    let (result, _) = run_recorded(&store, &spec, 2).await;
    let provider = Arc::new(ScriptedProvider::new(
        "dreamer",
        Arc::new(InventiveDreamer(result.session)),
    ));
    let report = dream(
        &store,
        &spec.team,
        &Dreamer::model(provider),
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    assert_eq!(report.proposals.len(), 1, "{:?}", report.proposals);
    let kept = &report.proposals[0];
    assert_eq!(kept.title, "Real and invented");
    assert_eq!(kept.provenance.len(), 1);
    assert_eq!(kept.provenance[0].session, result.session);
}

#[tokio::test]
async fn learning_on_a_small_set_improves_held_out_missions() {
    let spec = lumara();
    let figures = lucid::cli::learning::learning(
        &spec,
        1,
        &(1..=24).collect::<Vec<_>>(),
        &(101..=112).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let (before, after) = (&figures.held_out_baseline, &figures.held_out_with_playbooks);
    assert!(figures.proposals >= 2, "{figures:?}");
    assert!(
        after.first_attempt_pass_rate >= (2.0 * before.first_attempt_pass_rate).min(1.0)
            || after.first_attempt_pass_rate - before.first_attempt_pass_rate >= 0.3,
        "first attempt {:.2} → {:.2}",
        before.first_attempt_pass_rate,
        after.first_attempt_pass_rate
    );
    assert!(after.mean_iterations < before.mean_iterations);
}

#[test]
fn approving_an_update_rewrites_its_target_and_refuses_a_retired_one() {
    let dir = tempfile::tempdir().unwrap();
    let book = MemoryBook::new(Store::open(&dir.path().join("store")).unwrap());
    let person = || Author::Person { name: "ana".into() };
    let base = book.create(memory("t", "Margin 120", vec![], "k")).unwrap();
    book.approve(base.id, person()).unwrap();
    let mut update = memory("t", "Margin 150", vec![], "k");
    update.change = Change::Update { target: base.id };
    let update = book.create(update).unwrap();
    let changed = book.approve(update.id, person()).unwrap();
    assert_eq!(changed.len(), 2);
    let target = book.get(base.id).unwrap().unwrap();
    assert_eq!(
        (target.title.as_str(), target.version, target.status),
        ("Margin 150", 3, MemoryStatus::Approved)
    );
    assert_eq!(
        book.active_playbooks("t").unwrap().len(),
        1,
        "the update acts through its target"
    );

    let mut retire = memory("t", "Retire it", vec![], "k");
    retire.change = Change::Retire { target: base.id };
    let retire = book.create(retire).unwrap();
    book.approve(retire.id, person()).unwrap();
    assert_eq!(
        book.get(base.id).unwrap().unwrap().status,
        MemoryStatus::Retired
    );
    assert!(book.active_playbooks("t").unwrap().is_empty());

    let mut late = memory("t", "Margin 180", vec![], "k");
    late.change = Change::Update { target: base.id };
    let late = book.create(late).unwrap();
    let err = book.approve(late.id, person()).unwrap_err().to_string();
    assert!(err.contains("retired"), "{err}");
    assert_eq!(
        book.get(late.id).unwrap().unwrap().status,
        MemoryStatus::Proposed,
        "nothing half-applied"
    );
}

/// World 0 has no hidden regularity: its failures are bad luck tied to no feature (a
/// hazard orbital surveys missed). Ten dreams, each after twelve more missions and each
/// mining the whole history, propose no rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dreams_on_the_null_world_propose_no_rules() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut spec = lumara();
    spec.environment.world = 0;
    let mut failed_first = 0;
    let mut tested = 0;
    for round in 0..10u64 {
        for seed in round * 12 + 1..=round * 12 + 12 {
            let (_, report) = run_recorded(&store, &spec, seed).await;
            let first = &report.outcome.iterations[0];
            failed_first += u32::from(!first.passed);
        }
        let report = dream(
            &store,
            &spec.team,
            &Dreamer::Offline,
            &lucid_envs::catalog(),
        )
        .await
        .unwrap();
        tested = tested.max(report.patterns.tests);
        let rules: Vec<&String> = report
            .proposals
            .iter()
            .filter(|m| !m.rules.is_empty())
            .map(|m| &m.title)
            .collect();
        assert!(rules.is_empty(), "dream {round} proposed rules: {rules:?}");
        assert!(report.patterns.failures.is_empty(), "dream {round}");
    }
    // The control is not empty: attempts did fail, and the dreams tested conditions.
    assert!(failed_first >= 3, "{failed_first} first attempts failed");
    assert!(tested >= 20, "{tested} conditions tested");
}

/// A person approves a harmful rule (`throttle = 0.3`: every descent at it crashes).
/// The navigator checks it in simulation, departs from it with a `rule_overridden`
/// event citing what it saw, the final pass rate is no worse than without playbooks, and
/// the next dream proposes retiring the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_harmful_rule_is_overridden_and_proposed_for_retirement() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let spec = lumara();
    let book = MemoryBook::new(store.clone());
    let rule: Rule =
        serde_json::from_value(json!({"when": {}, "then": {"throttle": 0.3}})).unwrap();
    let harmful = book
        .create(memory(
            &spec.team,
            "Fly gently",
            vec![rule],
            "lumara|soft_landing|x",
        ))
        .unwrap();
    book.approve(harmful.id, Author::Person { name: "ana".into() })
        .unwrap();

    let seeds = 1..=8u64;
    let mut passed_with = 0;
    let mut overridden_sessions = 0;
    for seed in seeds.clone() {
        let (result, report) = run_recorded(&store, &spec, seed).await;
        passed_with += u32::from(report.outcome.passed);
        let overrides: Vec<(String, String)> = store
            .events(result.session)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::RuleOverridden {
                    memory_id,
                    evidence,
                } => Some((memory_id, evidence)),
                _ => None,
            })
            .collect();
        assert!(!overrides.is_empty(), "seed {seed}: no departure recorded");
        for (memory_id, evidence) in &overrides {
            assert_eq!(memory_id, &harmful.id.to_string());
            assert!(
                evidence.contains("simulations at throttle 0.30"),
                "{evidence}"
            );
        }
        overridden_sessions += 1;
    }
    assert_eq!(overridden_sessions, 8);

    // Without playbooks, on the same missions (in a store of its own).
    let bare_dir = tempfile::tempdir().unwrap();
    let bare = Store::open(&bare_dir.path().join("store")).unwrap();
    let mut passed_without = 0;
    for seed in seeds {
        let (_, report) = run_recorded(&bare, &spec, seed).await;
        passed_without += u32::from(report.outcome.passed);
    }
    assert!(
        passed_with >= passed_without,
        "final passes {passed_with} with the harmful rule vs {passed_without} without"
    );

    let report = dream(
        &store,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    let retirement = report
        .proposals
        .iter()
        .find(|m| m.change == Change::Retire { target: harmful.id })
        .unwrap_or_else(|| {
            panic!(
                "no retirement proposed: {:?}",
                report
                    .proposals
                    .iter()
                    .map(|m| &m.title)
                    .collect::<Vec<_>>()
            )
        });
    assert!(retirement.body.contains("departed"), "{}", retirement.body);
    assert!(retirement.provenance.len() >= 2);
}
