//! The one front door: a run started from the TUI's picker goes through the same
//! `session::launch` as `lucid run`, so it uses the user's config-file profiles and
//! dreams when `[dreaming] every_sessions` says so (both diverged before). The handle's
//! ops reach the run.
//!
//! This file sets `LUCID_CONFIG` for its own process only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use lucid_core::event::EventKind;
use lucid_core::session::{self, LaunchOptions, Op, Recorder};
use lucid_core::store::Store;

/// Lumara with every agent on profile `cfg`, which only the user's config file defines,
/// and a dream after every session.
fn session_on_config_profile(dir: &Path) -> std::path::PathBuf {
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"))
            .unwrap();
    let text = base
        .replace("[models.offline]\nprovider = \"scripted\"\n", "")
        .replace("\"offline\"", "\"cfg\"")
        .replace("[dreaming]\n", "[dreaming]\nevery_sessions = 1\n");
    assert!(!text.contains("offline\""), "the template moved");
    let spec = dir.join("lumara-cfg.toml");
    std::fs::write(&spec, text).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[models.cfg]\nprovider = \"scripted\"\n",
    )
    .unwrap();
    std::env::set_var("LUCID_CONFIG", dir.join("config.toml"));
    spec
}

#[tokio::test]
async fn the_tuis_picker_uses_config_profiles_and_dreams_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let spec = session_on_config_profile(dir.path());
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut run = lucid_tui::live::start_file(&spec, &store).unwrap();
    let mut models = Vec::new();
    while let Some(event) = run.events.recv().await {
        if let EventKind::AgentSpawned { model, .. } = event.kind {
            models.push(model);
        }
    }
    let finished = run.handle.join().await;
    let result = finished.result.unwrap();
    assert!(!result.verdicts.is_empty());
    assert!(
        !models.is_empty() && models.iter().all(|m| m == "cfg"),
        "{models:?}"
    );
    let note = finished.dream.expect("a dream was due after one session");
    assert!(note.starts_with("dreamed over 1 new session(s)"), "{note}");
    let dreams: Vec<serde_json::Value> = store.dreams().unwrap();
    assert_eq!(dreams.len(), 1, "the dream is on record");
}

#[tokio::test]
async fn cancelling_through_the_handle_ends_the_run_as_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let spec = session::load(
        lucid_envs::worlds().as_ref(),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"),
        None,
        None,
        None,
    )
    .unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut spec = spec;
    // Slow the model down so the cancel lands mid-run.
    for profile in spec.models.values_mut() {
        profile.latency_ms = 200;
    }
    let mut handle = session::launch(
        lucid_envs::worlds(),
        spec,
        Recorder::Store(store.clone()),
        LaunchOptions {
            spec_path: "sessions/lumara.toml".into(),
            ..LaunchOptions::default()
        },
    )
    .unwrap();
    let mut events = handle.events().unwrap();
    // Wait for the lead to start, then cancel.
    while let Some(event) = events.recv().await {
        if matches!(event.kind, EventKind::AgentSpawned { .. }) {
            break;
        }
    }
    assert!(handle.submit(Op::Cancel));
    assert!(!handle.submit(Op::CancelThread(lucid_core::event::AgentId(999))));
    let finished = handle.join().await;
    assert_eq!(
        finished.result.unwrap_err(),
        lucid_core::run::RunError::Cancelled
    );
    assert!(finished.dream.is_none());
}
