//! The TUI as the client of another lucid (`lucid serve`, a headless run, another TUI)
//! that holds the store and serves it: the history, replays and live runs come through
//! that owner's local API, and runs started here (`n`, or `lucid run SPEC`) execute there
//! with its config. Failures the user can fix (an unknown session, a refused session
//! file) are reported before the terminal is taken over.
//!
//! The Memory view reads and changes memories through the owner too (approve, reject,
//! edit are applied there); exported skill folders are written here.

use std::path::Path;
use std::sync::Arc;

use super::exit;
use super::tui::{in_terminal, Start};
use lucid_core::event::sanitize;
use lucid_server::client::{Client, ClientError};
use lucid_tui::app::{AppState, Command, View};
use lucid_tui::backend::RemoteSessions;
use lucid_tui::runtime::Services;

/// The exit code and sentence of a failed request to the owner.
fn failure(err: &ClientError) -> u8 {
    say!("lucid: {}", sanitize(&err.to_string()));
    if err.is_usage() {
        exit::USAGE
    } else {
        exit::RUNTIME
    }
}

pub(super) async fn open(
    store_dir: &Path,
    mut app: AppState,
    pace_ms: Option<u64>,
    start: Start,
) -> u8 {
    let client = Client::new(store_dir);
    let sessions = RemoteSessions::new(client.clone());
    let mut initial = vec![Command::LoadSessions];
    let mut live = None;
    match start {
        Start::Home => app.view = View::Sessions,
        Start::Live { request, .. } => match sessions.start_run(request).await {
            Ok(feed) => live = Some(feed),
            Err(err) => return failure(&err),
        },
        Start::Replay(id) => match sessions.find(&id).await {
            Ok(record) => initial.push(Command::LoadReplay(record.summary.id)),
            Err(err) => return failure(&err),
        },
    }
    app.client = Some(Default::default());
    app.notice = Some(format!(
        "another lucid holds this store ({}): sessions and runs go through it",
        sanitize(&store_dir.display().to_string())
    ));
    let services = Services {
        sessions: Arc::new(sessions),
        // Dreams (`D`) run where the store is held.
        store: None,
        owner: Some(client.clone()),
        sessions_dir: Path::new("sessions").to_path_buf(),
        memory: Some(Arc::new(lucid_tui::memory_remote::RemoteMemory::new(
            client,
            Path::new("skills").to_path_buf(),
        ))),
        pace_ms,
    };
    in_terminal(app, services, live, initial).await
}
