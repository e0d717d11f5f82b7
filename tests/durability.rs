//! A run that is dropped mid-way leaves its completed steps in the store, and the
//! session reads back as interrupted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use lucid_core::event::{EventBus, EventKind, EventSink, SessionId};
use lucid_core::outcome::{run_session, SessionOrigin};
use lucid_core::run::{CancelToken, TeamRun};
use lucid_core::store::{SessionStatus, Store};
use support::{workshop_toml, Recorder, Workshop};

const CRITERIA: &str = r#"
[[outcome.criteria]]
id = "two_notes"
description = "Two notes."
check = "notes >= 2"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_dropped_runner_and_the_session_reads_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let session = SessionId::generate();
    {
        let store = Store::open(&path).unwrap();
        let sink: Arc<dyn EventSink> = Arc::new(store.clone());
        let bus = Arc::new(EventBus::new(session, sink));
        // Workers take a second per turn: the run is dropped while they work.
        let spec = support::spec(&workshop_toml(CRITERIA, 1, 1_000));
        let env = Arc::new(Workshop {
            recorder: Recorder::default(),
        });
        let cancel = CancelToken::new();
        let team = TeamRun::new(Arc::new(spec), env, bus, &[], cancel.clone()).unwrap();
        let origin = SessionOrigin {
            spec_path: "workshop.toml".into(),
            seed: 1,
            world: 1,
        };
        let dropped =
            tokio::time::timeout(Duration::from_millis(300), run_session(team, origin)).await;
        assert!(
            dropped.is_err(),
            "the run was still going when it was dropped"
        );
        // Stop the orphaned worker tasks so they release the store.
        cancel.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A new process (here: a new handle) opens the store.
    let store = reopen(&path).await;
    let summary = store
        .session(session)
        .unwrap()
        .expect("the session was recorded");
    assert_eq!(summary.status, SessionStatus::Interrupted);
    let events = store.events(session).unwrap();
    // The lead's first step (its turn and both delegations) completed and was kept.
    assert!(matches!(events[0].kind, EventKind::SessionStarted { .. }));
    let delegated = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Delegated { .. }))
        .count();
    assert_eq!(delegated, 2, "{events:#?}");
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, EventKind::SessionFinished { .. })));
}

/// Opens the store, waiting for the dropped run's last handles to let go.
async fn reopen(path: &std::path::Path) -> Store {
    for _ in 0..50 {
        match Store::open(path) {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Store::open(path).unwrap()
}
