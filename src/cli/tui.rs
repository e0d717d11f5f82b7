//! Opening the TUI from the command line: `lucid` (home: the session history), `lucid run
//! SPEC` (watch the run live) and `lucid replay ID`. Everything that can fail with a
//! clear message (theme, keymap, store, session file, unknown id) fails before the
//! terminal is taken over.
//!
//! While open, the TUI owns its store and serves it (`<store>/lucid.sock`): other
//! commands become its clients, and a run they ask for executes here and shows live.
//! When another lucid already serves the store, the TUI is its client instead
//! ([`super::tui_client`]).

use std::path::{Path, PathBuf};

use std::sync::Arc;

use futures::StreamExt;

use super::{exit, open_store};
use lucid_core::run::RunError;
use lucid_core::spec::SessionSpec;
use lucid_tui::app::{AppState, Command, View};
use lucid_tui::backend::{Ending, Feed, LocalSessions, StartRequest};
use lucid_tui::memory_backend::StoreMemory;
use lucid_tui::runtime::{run_app, Outcome, Services};
use lucid_tui::terminal::TerminalGuard;

/// What the TUI opens on.
pub enum Start {
    Home,
    Live {
        /// The session file, loaded with the user's config and the overrides applied.
        spec: Box<SessionSpec>,
        /// The same run as a request, for the lucid that holds the store if another does.
        request: StartRequest,
    },
    Replay(String),
}

/// The pace of offline models when `--pace` does not say (milliseconds per answer):
/// the offline demo at a pace a person can follow.
pub const DEFAULT_PACE_MS: u64 = 350;

/// The pace of offline models in the TUI's runs, from `--pace` (`0`: full speed).
pub fn pace_ms(flag: Option<u64>) -> Option<u64> {
    Some(flag.unwrap_or(DEFAULT_PACE_MS)).filter(|&ms| ms > 0)
}

pub async fn open(db: Option<PathBuf>, theme: Option<&str>, pace: Option<u64>, start: Start) -> u8 {
    let (theme, keymap) = match lucid_tui::config::load(theme) {
        Ok(settings) => settings,
        Err(message) => {
            say!("lucid: {message}");
            return exit::USAGE;
        }
    };
    let app = AppState::new(keymap, theme);
    let path = db.unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    if lucid_server::is_served(&path) {
        return super::tui_client::open(&path, app, pace_ms(pace), start).await;
    }
    open_here(path, app, pace_ms(pace), start).await
}

/// The TUI holding the store: it serves it while open.
async fn open_here(path: PathBuf, mut app: AppState, pace_ms: Option<u64>, start: Start) -> u8 {
    let store = match open_store(Some(path)) {
        Ok(store) => store,
        Err(code) => return code,
    };
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
    // The run this window was opened on, for traces once the window closes.
    let mut traced = None;
    match start {
        Start::Home => app.view = View::Sessions,
        Start::Live { spec, request } => {
            let models = super::otel::Models::of(&spec.models);
            match lucid_tui::live::start_tracked(
                *spec,
                &request.spec,
                &store,
                registry.as_ref(),
                request.pace_ms,
            ) {
                Ok(run) => {
                    traced = Some((run.session, models));
                    live = Some(LocalSessions::adopt(run));
                }
                Err(message) => {
                    say!("lucid: {message}");
                    return exit::USAGE;
                }
            }
        }
        Start::Replay(id) => match store.find_session(&id) {
            Ok(Some(summary)) => initial.push(Command::LoadReplay(summary.id)),
            Ok(None) => {
                say!("lucid: no session `{id}` (see lucid sessions list)");
                return exit::USAGE;
            }
            Err(err) => {
                say!("lucid: {err}");
                return exit::RUNTIME;
            }
        },
    }
    let traces_store = store.clone();
    let memory = StoreMemory::new(store.clone(), Path::new("skills").to_path_buf());
    let services = Services {
        sessions: Arc::new(LocalSessions::new(store.clone(), registry)),
        store: Some(store),
        owner: None,
        sessions_dir: Path::new("sessions").to_path_buf(),
        memory: Some(Arc::new(memory)),
        pace_ms,
    };
    let code = in_terminal(app, services, live, initial).await;
    if let Some(server) = server {
        stop_serving(server).await;
    }
    if let Some((session, models)) = traced.filter(|_| super::otel::configured()) {
        match traces_store.events(session) {
            Ok(events) => super::otel::after_run(&events, &models, false).await,
            Err(err) => say!("lucid: the session's traces were not exported: {err}"),
        }
    }
    code
}

/// Runs the TUI in the terminal until it quits; the exit code is the run's when it was
/// opened on one (`live`), else 0.
pub(super) async fn in_terminal(
    app: AppState,
    services: Services,
    live: Option<Feed>,
    initial: Vec<Command>,
) -> u8 {
    let watching_live = live.is_some();
    let mut guard = match TerminalGuard::enter() {
        Ok(guard) => guard,
        Err(err) => {
            say!("lucid: cannot open the terminal UI: {err}");
            return exit::RUNTIME;
        }
    };
    let input = crossterm::event::EventStream::new().fuse();
    let result = run_app(&mut guard.terminal, app, services, live, input, initial).await;
    drop(guard);
    match result {
        Err(err) => {
            say!("lucid: the terminal UI failed: {err}");
            exit::RUNTIME
        }
        Ok(outcome) if watching_live => run_exit_code(outcome),
        Ok(_) => exit::OK,
    }
}

/// The exit code of `lucid run SPEC` in the TUI, with a sentence on stderr for anything
/// but a met rubric.
fn run_exit_code(outcome: Outcome) -> u8 {
    let Some(ending) = outcome.run else {
        // Only a client's window closes before its run ends: the run goes on there.
        say!(
            "lucid: the window closed before the run ended; it goes on in the lucid serving the store (lucid sessions list)"
        );
        return exit::RUNTIME;
    };
    // The front door dreamed if `[dreaming] every_sessions` said so.
    if let Some(note) = ending.dream() {
        say!("{}", lucid_core::event::sanitize(note));
    }
    match ending {
        Ending::Here(finished) => match finished.result {
            Ok(result) if result.passed => exit::OK,
            Ok(_) => exit::RUBRIC_NOT_MET,
            Err(RunError::Cancelled) => {
                say!("lucid: the run was cancelled");
                exit::RUNTIME
            }
            Err(err) => {
                say!("lucid: the run failed: {err}");
                exit::RUNTIME
            }
        },
        Ending::There(end) => match (&end.error, end.passed) {
            (Some(error), _) => {
                say!(
                    "lucid: the run failed: {}",
                    lucid_core::event::sanitize(error)
                );
                exit::RUNTIME
            }
            (None, true) => exit::OK,
            (None, false) => exit::RUBRIC_NOT_MET,
        },
        Ending::Lost(message) => {
            say!("lucid: {message}");
            exit::RUNTIME
        }
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
        say!("lucid: cancelling the runs started from other windows");
        registry.cancel_all();
        // Past the grace the process ends; the runs resume with --resume.
        let _ = tokio::time::timeout(CLIENT_RUNS_GRACE, registry.wait_idle()).await;
    }
    server.stop().await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tui_paces_offline_models_unless_told_zero() {
        assert_eq!(super::pace_ms(None), Some(super::DEFAULT_PACE_MS));
        assert_eq!(super::pace_ms(Some(120)), Some(120));
        assert_eq!(super::pace_ms(Some(0)), None);
    }
}
