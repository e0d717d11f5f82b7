//! Starting a live run for the TUI: the same steps as `lucid run` (recordings for
//! `replay` profiles, environment, bus with the store as recorder, team, the revise loop
//! on its own task), with the bus's events
//! handed to the TUI instead of the headless printer.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::event::{Event, EventBus, EventSink, SessionId};
use crate::outcome::{run_session, SessionOrigin, SessionResult};
use crate::run::{CancelToken, RunError, TeamRun};
use crate::spec::SessionSpec;
use crate::store::Store;

/// A run in progress.
pub struct LiveRun {
    pub session: SessionId,
    pub spec_path: String,
    pub team: Arc<TeamRun>,
    pub events: UnboundedReceiver<Event>,
    pub task: JoinHandle<Result<SessionResult, RunError>>,
}

/// Starts `spec` (already loaded, overrides applied), recording into `store`.
pub fn start(mut spec: SessionSpec, spec_path: &Path, store: &Store) -> Result<LiveRun, String> {
    crate::run::load_recordings(store, &mut spec).map_err(|err| err.to_string())?;
    let session = SessionId::generate();
    spec.environment.work_dir = Some(store.work_dir(session));
    let env = crate::env::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    )
    .map_err(|err| format!("{}: {err}", spec_path.display()))?;
    let sink: Arc<dyn EventSink> = Arc::new(store.clone());
    let bus = Arc::new(EventBus::new(session, sink));
    let events = bus.subscribe();
    let origin = SessionOrigin {
        spec_path: spec_path.display().to_string(),
        seed: spec.environment.seed,
        world: spec.environment.world,
    };
    // Approved playbooks steer the run, as they do headless.
    let playbooks = crate::memory::MemoryBook::new(store.clone())
        .active_playbooks(&spec.team)
        .map_err(|err| format!("cannot read the team's playbooks: {err}"))?;
    let team = TeamRun::new(Arc::new(spec), env, bus, &playbooks, CancelToken::new())
        .map_err(|err| err.to_string())?;
    let task = tokio::spawn(run_session(Arc::clone(&team), origin));
    Ok(LiveRun {
        session,
        spec_path: spec_path.display().to_string(),
        team,
        events,
        task,
    })
}

/// Loads a session file and starts it.
pub fn start_file(path: &Path, store: &Store) -> Result<LiveRun, String> {
    let spec = crate::spec::load(path, &crate::env::catalog()).map_err(|err| err.to_string())?;
    start(spec, path, store)
}
