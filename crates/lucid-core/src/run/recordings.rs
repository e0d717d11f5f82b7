//! The recorded sessions a session's `replay` profiles answer from.
//!
//! [`load_recordings`] reads, through the store handle the run already holds, the events
//! of the session each `replay` profile in use names, and puts them in
//! [`SessionSpec::recorded`], where [`super::ProviderSet::for_session`] finds them. It is
//! called by whoever starts a run (the CLI, the TUI), before the team is built.

use std::sync::Arc;

use crate::spec::{ProviderKind, SessionSpec};
use crate::store::{Store, StoreError};

/// Why a `replay` profile's recording could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("model profile `{profile}` replays session `{session}`, which is not in the store; see `lucid sessions list`")]
    NotFound { profile: String, session: String },
    #[error("model profile `{profile}` replays session `{session}`: {source}")]
    Store {
        profile: String,
        session: String,
        #[source]
        source: StoreError,
    },
}

/// Loads the recorded events of every `replay` profile the session runs on (profiles
/// only defined, e.g. in the user's config, are left alone).
pub fn load_recordings(store: &Store, spec: &mut SessionSpec) -> Result<(), RecordingError> {
    let wanted: Vec<(String, String)> = spec
        .profiles_in_use()
        .into_iter()
        .filter_map(|name| {
            let profile = spec.models.get(name)?;
            (profile.provider == ProviderKind::Replay).then(|| {
                (
                    name.to_string(),
                    profile.session.clone().unwrap_or_default(),
                )
            })
        })
        .collect();
    for (profile, session) in wanted {
        let failed = |source| RecordingError::Store {
            profile: profile.clone(),
            session: session.clone(),
            source,
        };
        let summary = store
            .find_session(&session)
            .map_err(failed)?
            .ok_or_else(|| RecordingError::NotFound {
                profile: profile.clone(),
                session: session.clone(),
            })?;
        let events = store.events(summary.id).map_err(failed)?;
        spec.recorded.insert(profile, Arc::new(events));
    }
    Ok(())
}
