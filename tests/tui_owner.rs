//! The TUI owns its store: runs its server starts for other windows are announced by the
//! registry, a late watcher gets every event once, and an idle TUI (driven here through
//! `run_app` on a `TestBackend`) switches its Run view to such a run and shows it live.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use lucid_core::store::Store;
use lucid_server::client::Client;
use lucid_server::{CreateRun, Created};
use lucid_tui::app::{AppState, View};
use lucid_tui::backend::{Ending, LocalSessions, News, SessionsBackend};
use lucid_tui::runtime::{run_app, Services};

fn lumara() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml")
}

fn create_run() -> CreateRun {
    CreateRun {
        spec: lumara(),
        model: None,
        seed: None,
        world: None,
        resume: None,
        pace_ms: None,
    }
}

#[tokio::test]
async fn a_client_run_is_announced_and_a_late_watcher_gets_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let server = lucid_server::start(store.clone(), lucid_envs::worlds()).unwrap();
    let registry = server.registry().clone();
    let mut started = registry.started();
    let client = Client::new(store.path());
    let created: Created = client
        .post_json("/v1/sessions", &create_run())
        .await
        .unwrap();
    let news = started.recv().await.unwrap();
    assert_eq!(news.session, created.session_id);
    assert_eq!(news.spec, lumara().display().to_string());
    // Later than the run's first events: they come from the store, the rest live.
    let sessions = LocalSessions::new(store.clone(), Some(registry.clone()));
    let Some(mut feed) = sessions.follow(&news) else {
        panic!("the run ended before it could be watched; nothing to check");
    };
    let mut seen = Vec::new();
    let end = loop {
        match feed.next().await {
            // Text streaming in is for live views only; the record has the whole turns.
            News::Event(event) if event.kind.is_live_only() => {}
            News::Event(event) => seen.push(event),
            News::Ended(end) => break end,
        }
    };
    assert!(
        matches!(end, Ending::There(ref end) if end.passed),
        "{end:?}"
    );
    registry.wait_idle().await;
    let recorded = store.events(news.session).unwrap();
    assert_eq!(seen, recorded, "every event once, in order");
    server.stop().await;
}

fn key(c: char) -> std::io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

#[tokio::test]
async fn an_idle_tui_shows_a_run_started_for_another_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let server = lucid_server::start(store.clone(), lucid_envs::worlds()).unwrap();
    let registry = server.registry().clone();
    let (keys, input) = futures::channel::mpsc::unbounded();
    let mut app = AppState::new(Default::default(), Default::default());
    app.view = View::Sessions;
    let services = Services {
        sessions: Arc::new(LocalSessions::new(store.clone(), Some(registry.clone()))),
        store: Some(store.clone()),
        owner: None,
        sessions_dir: dir.path().to_path_buf(),
        memory: None,
        pace_ms: None,
    };
    let tui = tokio::spawn(async move {
        let mut terminal = Terminal::new(TestBackend::new(150, 40)).unwrap();
        run_app(&mut terminal, app, services, None, input, Vec::new())
            .await
            .unwrap();
        terminal
    });
    // Let the loop subscribe before the run is announced.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = Client::new(store.path());
    let created: Created = client
        .post_json("/v1/sessions", &create_run())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    registry.wait_idle().await;
    // The run's end reaches the loop, then a frame shows it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    keys.unbounded_send(key('q')).unwrap();
    let terminal = tokio::time::timeout(Duration::from_secs(10), tui)
        .await
        .expect("the TUI quits on q once the run is over")
        .unwrap();
    let buffer = terminal.backend().buffer();
    let text: String = (0..buffer.area.height)
        .map(|y| {
            let mut line: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect();
            line.push('\n');
            line
        })
        .collect();
    for needle in ["commander #1", "detector #2", "rubric met", "passed after"] {
        assert!(text.contains(needle), "no {needle:?} on screen:\n{text}");
    }
    let summary = store
        .find_session(&created.session_id.to_string())
        .unwrap()
        .unwrap();
    assert_eq!(summary.id, created.session_id);
    server.stop().await;
}
