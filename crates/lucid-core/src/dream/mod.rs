//! Dreaming: a pass over a team's recorded sessions that finds recurring mistakes and
//! workflows that worked, and proposes memories a person reviews.
//!
//! A dream is due when the team has sessions no dream has read, but it mines the team's
//! whole [`history`] (or the window `[dreaming] history` sets), one run per distinct
//! mission, so evidence accumulates across dreams: dreaming every few sessions reaches the
//! claims one dream over the same sessions reaches. Each session is [`digest`]ed once and
//! the digest kept in the store ([`cache`]), with what its tools reported before the
//! team's first declared choice ([`observe`]); a rescan digests and mines everything again.
//! The [`pass`] then [`mine`]s patterns across the digests with support counts (and,
//! where an environment reports per-case records, labelling signatures with [`cases`]),
//! turns them into drafts (offline by [`synth`], or by a model in [`model`]), [`curate`]s
//! the drafts against the memories the team already has, [`withdraw`]s its own pending
//! proposals the history no longer supports, and writes the surviving proposals. A proposal does nothing until a person approves it. The dream is itself
//! recorded as a session with one `dreamer` thread, so it can be watched and replayed
//! like any run. This module never changes an approved memory by itself.

pub mod cache;
pub mod cases;
pub mod conditions;
pub mod curate;
pub mod digest;
mod failure_draft;
mod habits;
pub mod history;
pub mod mechanism;
pub mod mine;
pub mod model;
pub mod near;
pub mod observe;
mod pass;
mod remedy;
pub mod stats;
pub mod synth;
pub mod withdraw;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::{
    now_ms, AgentId, AgentStatus, DreamId, EventBus, EventKind, EventSink, MemoryId, SessionId,
};
use crate::memory::{Memory, MemoryError};
use crate::model::Provider;
use crate::spec::{EnvironmentCatalog, HistoryWindow};
use crate::store::Store;
use crate::store::StoreError;
pub use history::{known_team, teams_to_dream, teams_with_sessions, undreamt_sessions};
use mine::Patterns;

/// The environment name dream sessions are recorded under.
pub const DREAM_ENVIRONMENT: &str = "dream";

/// Why a dream failed.
#[derive(Debug, thiserror::Error)]
pub enum DreamError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("the dreamer model failed: {0}")]
    Model(String),
    #[error("cannot record the dream: {0}")]
    Record(String),
    #[error("no session of team `{team}` is in this store (teams with sessions: {known})")]
    UnknownTeam { team: String, known: String },
}

/// Why a session file's `[dreaming] model` gives no dreamer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DreamerError {
    #[error("no model profile `{profile}`")]
    UnknownProfile { profile: String },
    /// The profile's model client cannot be made (a missing API key, …).
    #[error(transparent)]
    Provider(#[from] crate::run::RunError),
}

/// Who writes the drafts.
#[derive(Clone)]
pub enum Dreamer {
    /// Drafts straight from the mined patterns.
    Offline,
    /// A language model reads digests and patterns and answers in a validated structure.
    Model(ModelDreamer),
}

/// A model that dreams, and the profile its calls are recorded (and priced) under.
#[derive(Clone)]
pub struct ModelDreamer {
    pub provider: Arc<dyn Provider>,
    /// The profile's name, as the dream's usage records it.
    pub profile: String,
    /// The profile, when known, for prices.
    pub prices: Option<Arc<crate::spec::ModelProfile>>,
}

impl Dreamer {
    /// A model dreamer with no profile behind it (its calls are recorded unpriced).
    pub fn model(provider: Arc<dyn Provider>) -> Dreamer {
        Dreamer::Model(ModelDreamer {
            profile: provider.label(),
            provider,
            prices: None,
        })
    }
}

/// How a dream reads the history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DreamOptions {
    /// Which of the team's sessions it mines (`[dreaming] history`).
    #[serde(default)]
    pub history: HistoryWindow,
    /// Digest every session again instead of using cached digests, and mine even when
    /// no session is new (`lucid dream --rescan`).
    #[serde(default)]
    pub rescan: bool,
}

impl DreamOptions {
    /// The options a session file's `[dreaming]` table sets.
    pub fn for_spec(spec: &crate::spec::SessionSpec) -> DreamOptions {
        DreamOptions {
            history: spec.dreaming.history,
            rescan: false,
        }
    }
}

/// A dream, as recorded in the store's `dreams` tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DreamRun {
    pub id: DreamId,
    pub team: String,
    /// The session the dream was recorded as.
    pub session: SessionId,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    /// The sessions it digested now, reading their events (the others it mined came from
    /// the digest cache).
    pub sessions: Vec<SessionId>,
    pub patterns: u32,
    /// Memories it proposed or revised.
    pub proposals: Vec<MemoryId>,
    /// The sessions that were new to dreaming when it started; a dream is due again only
    /// when others arrive.
    #[serde(default)]
    pub considered: Vec<SessionId>,
    /// The runs it mined: the latest run of each distinct mission in its history window.
    #[serde(default)]
    pub mined: Vec<SessionId>,
    /// Digests it read from the cache instead of the events.
    #[serde(default)]
    pub cached: u32,
    /// Runs in the window it set aside as repeats of a mission it mined a later run of.
    #[serde(default)]
    pub repeats: u32,
    /// The history window it mined.
    #[serde(default)]
    pub history: HistoryWindow,
    /// Whether it digested and mined everything again.
    #[serde(default)]
    pub rescan: bool,
    /// Pending proposals of earlier dreams it withdrew: the history no longer supports
    /// them (see [`withdraw`]).
    #[serde(default)]
    pub withdrawn: Vec<MemoryId>,
}

/// What a dream did (also what `POST /v1/dreams` answers, so it reads back too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamReport {
    pub run: DreamRun,
    pub patterns: Patterns,
    pub proposals: Vec<Memory>,
    /// When it proposed nothing, why: what the history shows and the nearest candidates
    /// with the evidence they lack (see [`near`]).
    #[serde(default)]
    pub why_nothing: Vec<String>,
}

/// The dreamer a session file asks for: offline for offline profiles (scripted, test,
/// replay), else a model client for its `[dreaming] model` profile.
pub fn dreamer_for(spec: &crate::spec::SessionSpec) -> Result<Dreamer, DreamerError> {
    let Some(profile) = spec.models.get(&spec.dreaming.model) else {
        return Err(DreamerError::UnknownProfile {
            profile: spec.dreaming.model.clone(),
        });
    };
    if profile.is_offline() {
        return Ok(Dreamer::Offline);
    }
    Ok(Dreamer::Model(ModelDreamer {
        provider: crate::run::provider_for(&spec.dreaming.model, profile, "dreamer", None)?,
        profile: spec.dreaming.model.clone(),
        prices: Some(Arc::new(profile.clone())),
    }))
}

/// Dreams over a team's history with the default options (all of it, cached digests),
/// records the dream, and writes its proposals.
pub async fn dream(
    store: &Store,
    team: &str,
    dreamer: &Dreamer,
    catalog: &EnvironmentCatalog,
) -> Result<DreamReport, DreamError> {
    dream_with(store, team, dreamer, catalog, DreamOptions::default()).await
}

/// [`dream`] with options (a history window, a rescan).
pub async fn dream_with(
    store: &Store,
    team: &str,
    dreamer: &Dreamer,
    catalog: &EnvironmentCatalog,
    options: DreamOptions,
) -> Result<DreamReport, DreamError> {
    let sink: Arc<dyn EventSink> = Arc::new(store.clone());
    let bus = EventBus::new(SessionId::generate(), sink);
    dream_on_bus_with(store, team, dreamer, catalog, options, &bus).await
}

/// [`dream`] on a bus the caller made (recording into `store`), so it can subscribe
/// first and watch the dreamer thread live (the TUI does).
pub async fn dream_on_bus(
    store: &Store,
    team: &str,
    dreamer: &Dreamer,
    catalog: &EnvironmentCatalog,
    bus: &EventBus,
) -> Result<DreamReport, DreamError> {
    dream_on_bus_with(store, team, dreamer, catalog, DreamOptions::default(), bus).await
}

/// [`dream_with`] on a bus the caller made.
pub async fn dream_on_bus_with(
    store: &Store,
    team: &str,
    dreamer: &Dreamer,
    catalog: &EnvironmentCatalog,
    options: DreamOptions,
    bus: &EventBus,
) -> Result<DreamReport, DreamError> {
    let started_at_ms = now_ms();
    let id = DreamId::generate();
    let session = bus.session();
    let new_sessions = undreamt_sessions(store, team)?;
    let dreamer_thread = Some(AgentId(1));
    bus.emit(
        None,
        EventKind::SessionStarted {
            team: team.to_string(),
            spec_path: "(dream)".into(),
            task: format!(
                "Dream over team {team}'s history (window: {}): {} new session(s){}",
                options.history,
                new_sessions.len(),
                if options.rescan {
                    ", rescanning everything"
                } else {
                    ""
                }
            ),
            environment: DREAM_ENVIRONMENT.into(),
            seed: 0,
            world: 0,
            max_iterations: 0,
        },
    );
    bus.emit(
        dreamer_thread,
        EventKind::AgentSpawned {
            name: "dreamer".into(),
            role: "dreamer".into(),
            parent: None,
            model: match dreamer {
                Dreamer::Offline => "offline".into(),
                Dreamer::Model(model) => model.provider.label(),
            },
            purpose: Some("review the team's history and propose memories".into()),
            iteration: 1,
        },
    );

    let pass = pass::Pass {
        store,
        team,
        dreamer,
        catalog,
        options,
        dream: id,
        bus,
        started_at_ms,
    };
    let outcome = pass.run(&new_sessions).await;
    let (status, error) = match &outcome {
        Ok(_) => (AgentStatus::Done, None),
        Err(err) => (AgentStatus::Failed, Some(err.to_string())),
    };
    bus.emit(
        dreamer_thread,
        EventKind::AgentFinished {
            status,
            turns: 1,
            answer: None,
        },
    );
    bus.emit(
        None,
        EventKind::SessionFinished {
            passed: error.is_none(),
            iterations: 0,
            duration_ms: now_ms().saturating_sub(started_at_ms),
            error,
            cancelled: false,
        },
    );
    bus.checkpoint()
        .await
        .map_err(|err| DreamError::Record(err.0))?;
    let outcome = outcome?;
    let run = DreamRun {
        id,
        team: team.to_string(),
        session,
        started_at_ms,
        finished_at_ms: now_ms(),
        patterns: outcome.patterns.count() as u32,
        proposals: outcome.proposals.iter().map(|m| m.id).collect(),
        considered: new_sessions,
        sessions: outcome.digested,
        mined: outcome.mined,
        cached: outcome.cached,
        repeats: outcome.repeats,
        history: options.history,
        rescan: options.rescan,
        withdrawn: outcome.withdrawn,
    };
    store.put_dream(id.to_bytes(), &run)?;
    store.flush()?;
    Ok(DreamReport {
        run,
        patterns: outcome.patterns,
        proposals: outcome.proposals,
        why_nothing: outcome.why_nothing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(models: &str) -> crate::spec::SessionSpec {
        let catalog: EnvironmentCatalog = [(
            "k".to_string(),
            crate::world::capabilities(&[], &["done"], &["lead"]),
        )]
        .into_iter()
        .collect();
        let source = format!(
            "name = \"t\"\ntask = \"do it\"\n[environment]\nkind = \"k\"\n{models}\n[agents.lead]\nlead = true\nprompt = \"p\"\n[[outcome.criteria]]\nid = \"c\"\ndescription = \"d\"\ncheck = \"done\"\n"
        );
        crate::spec::parse(Path::new("s.toml"), &source, &catalog).unwrap()
    }

    #[test]
    fn the_dreamer_is_offline_for_offline_profiles_and_errors_name_the_profile() {
        let mut offline = spec("");
        assert!(matches!(dreamer_for(&offline), Ok(Dreamer::Offline)));
        offline.dreaming.model = "gone".into();
        let err = dreamer_for(&offline).err().unwrap();
        assert_eq!(
            err,
            DreamerError::UnknownProfile {
                profile: "gone".into()
            }
        );
        assert_eq!(err.to_string(), "no model profile `gone`");

        let mut keyless = spec(
            "[models.remote]\nprovider = \"openai\"\nmodel = \"m\"\napi_key_env = \"LUCID_TEST_DREAMER_KEY_NEVER_SET\"\n",
        );
        keyless.dreaming.model = "remote".into();
        let err = dreamer_for(&keyless).err().unwrap();
        assert!(matches!(err, DreamerError::Provider(_)), "{err:?}");
        assert!(
            err.to_string().contains("LUCID_TEST_DREAMER_KEY_NEVER_SET"),
            "{err}"
        );
    }
}
