//! Starting a live run for the TUI through the front door ([`lucid_core::session::launch`]):
//! the same session as `lucid run` (the user's config, the store's playbooks, recordings,
//! work folders, scheduled dreams), with its events handed to the TUI instead of the
//! headless printer. When the TUI serves its store, its runs are tracked in the server's
//! [`Registry`] too and announced, so other windows can watch and cancel them.

use std::path::Path;

use tokio::sync::mpsc::UnboundedReceiver;

use lucid_core::event::{Event, SessionId};
use lucid_core::session::{self, LaunchOptions, Recorder, SessionHandle};
use lucid_core::spec::SessionSpec;
use lucid_core::store::Store;
use lucid_server::{Registry, Tracked};

/// A run in progress.
pub struct LiveRun {
    pub session: SessionId,
    pub spec_path: String,
    pub events: UnboundedReceiver<Event>,
    pub handle: SessionHandle,
    /// Its entry in the server's registry; finish it with how the run ended.
    pub tracked: Option<Tracked>,
}

/// Starts `spec` (already loaded, overrides applied), recording into `store`.
pub fn start(spec: SessionSpec, spec_path: &Path, store: &Store) -> Result<LiveRun, String> {
    start_tracked(spec, spec_path, store, None, None)
}

/// [`start`], tracking the run in `registry` when there is one, its offline models at
/// `pace_ms` per answer (see [`LaunchOptions::pace_ms`]).
pub fn start_tracked(
    spec: SessionSpec,
    spec_path: &Path,
    store: &Store,
    registry: Option<&Registry>,
    pace_ms: Option<u64>,
) -> Result<LiveRun, String> {
    let options = LaunchOptions {
        spec_path: spec_path.display().to_string(),
        pace_ms,
        ..LaunchOptions::default()
    };
    let mut handle = session::launch(
        lucid_envs::worlds(),
        spec,
        Recorder::Store(store.clone()),
        options,
    )
    .map_err(|err| err.to_string())?;
    let (events, tracked) = match registry {
        Some(registry) => {
            let (events, tracked) = registry.track(&mut handle);
            registry.announce(handle.session(), spec_path.display().to_string());
            (events, Some(tracked))
        }
        None => (
            handle
                .events()
                .ok_or_else(|| "the run's events are already taken".to_string())?,
            None,
        ),
    };
    Ok(LiveRun {
        session: handle.session(),
        spec_path: spec_path.display().to_string(),
        events,
        handle,
        tracked,
    })
}

/// Loads a session file (with the user's config, as `lucid run` does) and starts it.
pub fn start_file(path: &Path, store: &Store) -> Result<LiveRun, String> {
    start_file_tracked(path, store, None)
}

/// [`start_file`], tracking the run in `registry` when there is one.
pub fn start_file_tracked(
    path: &Path,
    store: &Store,
    registry: Option<&Registry>,
) -> Result<LiveRun, String> {
    let spec = session::load(lucid_envs::worlds().as_ref(), path, None, None, None)
        .map_err(|err| err.to_string())?;
    start_tracked(spec, path, store, registry, None)
}
