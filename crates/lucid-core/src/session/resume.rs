//! Finding a recorded session to continue: it must exist, have been interrupted (or ended
//! on an error) and belong to the same team; it fixes the mission (seed, world) and the
//! playbooks the session started with.

use super::LaunchError;
use crate::event::{Event, Projection, SessionId};
use crate::memory::MemoryBook;
use crate::run::Playbook;
use crate::spec::SessionSpec;
use crate::store::{SessionStatus, Store, StoreError};

/// A recorded session to continue.
pub(super) struct Resume {
    pub session: SessionId,
    pub events: Vec<Event>,
    pub next_seq: u64,
    pub playbooks: Vec<Playbook>,
}

fn store_error(err: StoreError) -> LaunchError {
    match err {
        StoreError::Ambiguous { .. } => LaunchError::Usage(err.to_string()),
        other => LaunchError::Runtime(other.to_string()),
    }
}

/// Finds the session `id` and what it needs to continue; points `spec` at its mission.
pub(super) fn load(store: &Store, id: &str, spec: &mut SessionSpec) -> Result<Resume, LaunchError> {
    let summary = store
        .find_session(id)
        .map_err(store_error)?
        .ok_or_else(|| {
            LaunchError::Usage(format!("no session `{id}`; see `lucid sessions list`"))
        })?;
    if !matches!(
        summary.status,
        SessionStatus::Interrupted | SessionStatus::Error | SessionStatus::Cancelled
    ) {
        return Err(LaunchError::Usage(format!(
            "session {} is {}; only interrupted sessions (or ones that ended on an error) can be resumed",
            summary.id.short_id(),
            summary.status.as_str()
        )));
    }
    if summary.team != spec.team {
        return Err(LaunchError::Usage(format!(
            "session {} belongs to team `{}`, but {} describes team `{}`",
            summary.id.short_id(),
            summary.team,
            spec.path.display(),
            spec.team
        )));
    }
    spec.environment.seed = summary.seed;
    spec.environment.world = summary.world;
    let events = store.events(summary.id).map_err(store_error)?;
    let next_seq = store.next_seq(summary.id).map_err(store_error)?;
    let book = MemoryBook::new(store.clone());
    let mut playbooks: Vec<Playbook> = Vec::new();
    for applied in Projection::of(&events).distinct_playbooks() {
        let (memory_id, version) = (&applied.memory_id, applied.version);
        let playbook = memory_id
            .parse()
            .ok()
            .and_then(|id| book.playbook_version(id, version).transpose())
            .transpose()
            .map_err(|err| LaunchError::Runtime(err.to_string()))?
            .ok_or_else(|| {
                LaunchError::Usage(format!(
                    "playbook {memory_id} v{version}, which the session applied, is gone"
                ))
            })?;
        playbooks.push(Playbook {
            explore: applied.explore,
            ..playbook
        });
    }
    Ok(Resume {
        session: summary.id,
        events,
        next_seq,
        playbooks,
    })
}
