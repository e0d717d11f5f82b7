//! Opening the TUI from the command line: `lucid` (home: the session history), `lucid run
//! SPEC` (watch the run live) and `lucid replay ID`. Everything that can fail with a
//! clear message (theme, keymap, store, session file, unknown id) fails before the
//! terminal is taken over.
//!
//! While open, the TUI owns its store and serves it (`<store>/lucid.sock`): other
//! commands become its clients, and a run they ask for executes here and shows live.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use futures::StreamExt;

use super::{exit, open_store};
use lucid_core::run::RunError;
use lucid_core::spec::SessionSpec;
use lucid_tui::app::{AppState, Command, View};
use lucid_tui::memory_backend::StoreMemory;
use lucid_tui::runtime::{run_app, Services};
use lucid_tui::terminal::TerminalGuard;

/// What the TUI opens on.
pub enum Start {
    Home,
    Live {
        spec: Box<SessionSpec>,
        path: PathBuf,
    },
    Replay(String),
}

pub async fn open(db: Option<PathBuf>, theme: Option<&str>, start: Start) -> u8 {
    let (theme, keymap) = match lucid_tui::config::load(theme) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("lucid: {message}");
            return exit::USAGE;
        }
    };
    let store = match open_store(db) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let mut app = AppState::new(keymap, theme);
    // Serving the store is a convenience for other windows; without it the TUI still works.
    let server = match lucid_server::start(store.clone(), lucid_envs::worlds()) {
        Ok(server) => Some(server),
        Err(err) => {
            app.notice = Some(format!(
                "{}; other lucid commands cannot use the store while this window is open",
                lucid_core::event::sanitize(&err.to_string())
            ));
            None
        }
    };
    let registry = server.as_ref().map(|server| server.registry().clone());
    let mut initial = vec![Command::LoadSessions];
    let mut live = None;
    match start {
        Start::Home => app.view = View::Sessions,
        Start::Live { spec, path } => {
            match lucid_tui::live::start_tracked(*spec, &path, &store, registry.as_ref()) {
                Ok(run) => live = Some(run),
                Err(message) => {
                    eprintln!("lucid: {message}");
                    return exit::USAGE;
                }
            }
        }
        Start::Replay(id) => match store.find_session(&id) {
            Ok(Some(summary)) => initial.push(Command::LoadReplay(summary.id)),
            Ok(None) => {
                eprintln!("lucid: no session `{id}` (see lucid sessions list)");
                return exit::USAGE;
            }
            Err(err) => {
                eprintln!("lucid: {err}");
                return exit::RUNTIME;
            }
        },
    }
    let watching_live = live.is_some();
    let memory = StoreMemory::new(store.clone(), Path::new("skills").to_path_buf());
    let services = Services {
        store: Some(store),
        sessions_dir: Path::new("sessions").to_path_buf(),
        memory: Some(Arc::new(memory)),
        registry,
    };
    let mut guard = match TerminalGuard::enter() {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("lucid: cannot open the terminal UI: {err}");
            return exit::RUNTIME;
        }
    };
    let input = crossterm::event::EventStream::new().fuse();
    let result = run_app(&mut guard.terminal, app, services, live, input, initial).await;
    drop(guard);
    if let Some(server) = server {
        stop_serving(server).await;
    }
    match result {
        Err(err) => {
            eprintln!("lucid: the terminal UI failed: {err}");
            exit::RUNTIME
        }
        Ok(outcome) if watching_live => match outcome.run {
            Some(Ok(result)) => {
                // The front door dreamed if `[dreaming] every_sessions` said so.
                if let Some(note) = &outcome.dream {
                    eprintln!("{}", lucid_core::event::sanitize(note));
                }
                if result.passed {
                    exit::OK
                } else {
                    exit::RUBRIC_NOT_MET
                }
            }
            Some(Err(RunError::Cancelled)) => {
                eprintln!("lucid: the run was cancelled");
                exit::RUNTIME
            }
            Some(Err(err)) => {
                eprintln!("lucid: the run failed: {err}");
                exit::RUNTIME
            }
            None => exit::RUNTIME,
        },
        Ok(_) => exit::OK,
    }
}

/// How long quitting waits for runs started for other windows to record their end.
const CLIENT_RUNS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stops serving the store: runs started for other windows are cancelled (each ends after
/// the step in hand and records it) before the socket goes.
async fn stop_serving(mut server: lucid_server::ServerHandle) {
    server.stop_accepting();
    let registry = server.registry().clone();
    if !registry.is_empty() {
        eprintln!("lucid: cancelling the runs started from other windows");
        registry.cancel_all();
        // Past the grace the process ends; the runs resume with --resume.
        let _ = tokio::time::timeout(CLIENT_RUNS_GRACE, registry.wait_idle()).await;
    }
    server.stop().await;
}
