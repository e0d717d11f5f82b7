//! The one front door every run goes through: [`load`] a session file (with the user's
//! config), then [`launch`] it, whoever starts it (the CLI, the TUI's picker, the server,
//! the benches). Both take the [`Worlds`] the program knows (`lucid_envs::worlds()`).
//!
//! `launch` assembles the session the same way every time: the recorded session to
//! continue (`--resume`), the session's work folder, the environment, replay recordings,
//! the bus with its recorder, the approved playbooks and the team; it subscribes a
//! listener before anything happens, spawns the revise loop, and, when the run has ended,
//! dreams if `[dreaming] every_sessions` says a dream is due. The [`SessionHandle`] it
//! returns is all a caller holds: [`SessionHandle::events`] (the event stream),
//! [`SessionHandle::submit`] ([`Op`]s: cancel the run or one thread) and
//! [`SessionHandle::join`]; [`SessionHandle::control`] hands the ops to someone else
//! (the server's registry). This module prints nothing; callers decide what to show.

mod control;
mod resume;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::event::{AgentId, Event, EventBus, EventSink, SessionId};
use crate::memory::MemoryBook;
use crate::outcome::{resume_session, run_session, SessionOrigin, SessionResult};
use crate::run::{CancelToken, Playbook, RunError, TeamRun};
use crate::spec::SessionSpec;
use crate::store::Store;
use crate::world::Worlds;

pub use control::Control;

/// Why a session could not start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LaunchError {
    /// The user can fix it: a bad session file, an unknown or unfinished session to
    /// resume, a model profile that cannot be served, an environment that cannot be built.
    #[error("{0}")]
    Usage(String),
    /// Something failed underneath (the store).
    #[error("{0}")]
    Runtime(String),
}

/// Where a session's events are recorded.
pub enum Recorder {
    /// The store: playbooks, resume, work folders and scheduled dreams come from it.
    Store(Store),
    /// A bare sink (benchmarks): no playbooks unless given, no dreams, no resume.
    Sink(Arc<dyn EventSink>),
}

/// Which playbooks steer the run.
#[derive(Debug, Clone, Default)]
pub enum Playbooks {
    /// The team's approved playbooks from the store (none with a bare sink).
    #[default]
    Approved,
    /// Exactly these.
    Given(Vec<Playbook>),
}

/// How to launch a session.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// The session file as the user named it (recorded with the session).
    pub spec_path: String,
    /// Continue this interrupted (or errored) session, by id or unique prefix.
    pub resume: Option<String>,
    pub playbooks: Playbooks,
    /// Do not dream after the run even if `[dreaming] every_sessions` says so.
    pub no_scheduled_dream: bool,
    /// Offline model profiles (`scripted`, `test`) that set no `latency_ms` take this many
    /// milliseconds over each answer, streaming it in pieces (the TUI's `--pace`, so the
    /// offline demo plays at a pace a person can watch). `None`: full speed.
    pub pace_ms: Option<u64>,
}

/// Gives the offline profiles that set no latency one of `ms` per answer (see
/// [`LaunchOptions::pace_ms`]).
fn pace<'a>(profiles: impl Iterator<Item = &'a mut crate::spec::ModelProfile>, ms: u64) {
    use crate::spec::ProviderKind;
    for profile in profiles {
        let offline = matches!(
            profile.provider,
            ProviderKind::Scripted | ProviderKind::Test
        );
        if offline && profile.latency_ms == 0 {
            profile.latency_ms = ms.min(crate::spec::MAX_LATENCY_MS);
        }
    }
}

/// What a caller may ask of a running session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Stop every agent; the session ends as cancelled and can be resumed.
    Cancel,
    /// Stop one thread and every thread it delegated to.
    CancelThread(AgentId),
}

/// How a session ended, and the scheduled dream that followed, if one was due.
#[derive(Debug)]
pub struct Finished {
    pub session: SessionId,
    pub result: Result<SessionResult, RunError>,
    /// One sentence about the scheduled dream (or why it failed), if one ran.
    pub dream: Option<String>,
}

/// A launched session.
pub struct SessionHandle {
    session: SessionId,
    events: Option<UnboundedReceiver<Event>>,
    /// The running team, not kept alive by the handle: when the run ends, the team and
    /// its bus go, and the event stream ends.
    team: std::sync::Weak<TeamRun>,
    cancel: CancelToken,
    task: JoinHandle<Finished>,
}

impl SessionHandle {
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The session's events from its first, once (later calls give `None`). The stream
    /// ends when the session has ended.
    pub fn events(&mut self) -> Option<UnboundedReceiver<Event>> {
        self.events.take()
    }

    /// Asks something of the running session; false when it cannot be done (a thread
    /// that has not run).
    pub fn submit(&self, op: Op) -> bool {
        self.control().submit(op)
    }

    /// A control that carries out [`Op`]s on this run from elsewhere, without keeping
    /// it alive.
    pub fn control(&self) -> Control {
        Control::new(self.team.clone(), self.cancel.clone())
    }

    /// A token that cancels the run when cancelled (for signal handlers).
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Waits for the session (and a scheduled dream after it) to end.
    pub async fn join(mut self) -> Finished {
        self.wait().await
    }

    /// [`SessionHandle::join`] without giving the handle up, for event loops that wait
    /// on several things at once (dropping the wait loses nothing). Call it again only
    /// while it has not returned.
    pub async fn wait(&mut self) -> Finished {
        let session = self.session;
        (&mut self.task).await.unwrap_or_else(|err| Finished {
            session,
            result: Err(RunError::Provider(format!("the run crashed: {err}"))),
            dream: None,
        })
    }
}

/// Reads a session file with the user's config (model profiles, MCP servers) under it and
/// applies the command line's overrides: every run starts from this.
pub fn load(
    worlds: &dyn Worlds,
    path: &Path,
    model: Option<&str>,
    seed: Option<u64>,
    world: Option<u64>,
) -> Result<SessionSpec, LaunchError> {
    let user = crate::config::user_config().map_err(|err| LaunchError::Usage(err.to_string()))?;
    let mut spec = crate::spec::load_with(path, &worlds.catalog(), &user)
        .map_err(|err| LaunchError::Usage(err.to_string()))?;
    if let Some(profile) = model {
        spec.use_model_everywhere(profile)
            .map_err(|err| LaunchError::Usage(format!("--model: {err}")))?;
    }
    if let Some(seed) = seed {
        spec.environment.seed = seed;
    }
    if let Some(world) = world {
        spec.environment.world = world;
    }
    Ok(spec)
}

/// Starts a session: see the module docs. Must be called inside a tokio runtime.
pub fn launch(
    worlds: Arc<dyn Worlds>,
    mut spec: SessionSpec,
    recorder: Recorder,
    options: LaunchOptions,
) -> Result<SessionHandle, LaunchError> {
    if let Some(ms) = options.pace_ms {
        pace(spec.models.values_mut(), ms);
    }
    let store = match &recorder {
        Recorder::Store(store) => Some(store.clone()),
        Recorder::Sink(_) => None,
    };
    let resume = match (&options.resume, &store) {
        (Some(id), Some(store)) => Some(resume::load(store, id, &mut spec)?),
        (Some(_), None) => {
            return Err(LaunchError::Usage(
                "only a session recorded in a store can be resumed".into(),
            ))
        }
        (None, _) => None,
    };
    let session = resume
        .as_ref()
        .map_or_else(SessionId::generate, |r| r.session);
    if let Some(store) = &store {
        spec.environment.work_dir = Some(store.work_dir(session));
        crate::run::load_recordings(store, &mut spec).map_err(|err| match &err {
            crate::run::RecordingError::Store {
                source: crate::store::StoreError::Ambiguous { .. },
                ..
            }
            | crate::run::RecordingError::NotFound { .. } => LaunchError::Usage(err.to_string()),
            crate::run::RecordingError::Store { .. } => LaunchError::Runtime(err.to_string()),
        })?;
    }
    let env = worlds
        .build(
            &spec.environment,
            spec.environment.seed,
            spec.environment.world,
        )
        .map_err(|err| LaunchError::Usage(format!("{}: {err}", spec.path.display())))?;
    let sink: Arc<dyn EventSink> = match &recorder {
        Recorder::Store(store) => Arc::new(store.clone()),
        Recorder::Sink(sink) => Arc::clone(sink),
    };
    let bus = Arc::new(match &resume {
        Some(resume) => EventBus::resuming(session, sink, resume.next_seq),
        None => EventBus::new(session, sink),
    });
    let events = bus.subscribe();
    let playbooks: Vec<Playbook> = match (&resume, &options.playbooks, &store) {
        (Some(resume), _, _) => resume.playbooks.clone(),
        (None, Playbooks::Given(given), _) => given.clone(),
        (None, Playbooks::Approved, Some(store)) => approved_playbooks(store, &spec)?,
        (None, Playbooks::Approved, None) => Vec::new(),
    };
    let origin = SessionOrigin {
        spec_path: options.spec_path.clone(),
        seed: spec.environment.seed,
        world: spec.environment.world,
    };
    let spec = Arc::new(spec);
    let team = TeamRun::new(
        Arc::clone(&spec),
        env,
        Arc::clone(&bus),
        &playbooks,
        CancelToken::new(),
    )
    .map_err(|err| LaunchError::Usage(err.to_string()))?;
    drop(bus);
    let cancel = team.cancel_token().clone();
    let weak = Arc::downgrade(&team);
    let running = team;
    let dream_store = store.filter(|_| !options.no_scheduled_dream);
    let task = tokio::spawn(async move {
        let result = match resume {
            Some(resume) => resume_session(running, &resume.events).await,
            None => run_session(running, origin).await,
        };
        let dream = match (&result, &dream_store) {
            (Ok(_), Some(store)) => dream_if_due(store, &spec, &*worlds).await,
            _ => None,
        };
        Finished {
            session,
            result,
            dream,
        }
    });
    Ok(SessionHandle {
        session,
        events: Some(events),
        team: weak,
        cancel,
        task,
    })
}

/// The team's approved playbooks for its next session, with the one this session
/// explores (`[dreaming] explore`) marked; the session's number counts the team's
/// earlier runs (dreams not counted).
fn approved_playbooks(store: &Store, spec: &SessionSpec) -> Result<Vec<Playbook>, LaunchError> {
    let mut playbooks = MemoryBook::new(store.clone())
        .active_playbooks(&spec.team)
        .map_err(|err| LaunchError::Runtime(format!("cannot read the team's playbooks: {err}")))?;
    if spec.dreaming.explore > 0.0 && playbooks.iter().any(Playbook::avoids) {
        let earlier = store
            .sessions()
            .map_err(|err| {
                LaunchError::Runtime(format!("cannot count the team's sessions: {err}"))
            })?
            .iter()
            .filter(|s| s.team == spec.team && !s.is_dream())
            .count() as u64;
        crate::run::choose_exploration(&mut playbooks, spec.dreaming.explore, earlier + 1);
    }
    Ok(playbooks)
}

/// `[dreaming] every_sessions = N`: dreams once N sessions of the team wait for one, and
/// says what came of it. Proposals still wait for a person; a failed dream is reported,
/// not fatal.
async fn dream_if_due(store: &Store, spec: &SessionSpec, worlds: &dyn Worlds) -> Option<String> {
    let every = spec.dreaming.every_sessions;
    if every == 0 {
        return None;
    }
    let waiting = match crate::dream::undreamt_sessions(store, &spec.team) {
        Ok(sessions) => sessions.len() as u32,
        Err(err) => return Some(format!("cannot check whether a dream is due: {err}")),
    };
    if waiting < every {
        return None;
    }
    let dreamer = match crate::dream::dreamer_for(spec) {
        Ok(dreamer) => dreamer,
        Err(message) => return Some(format!("cannot dream: {message}")),
    };
    Some(
        match crate::dream::dream_with(
            store,
            &spec.team,
            &dreamer,
            &worlds.catalog(),
            crate::dream::DreamOptions::for_spec(spec),
        )
        .await
        {
            Ok(report) => format!(
                "dreamed over {} new session(s) and {} mission(s) of history (every_sessions = {every}): {} proposal(s) wait for review (lucid memory list --status proposed)",
                report.run.considered.len(),
                report.run.mined.len(),
                report.proposals.len()
            ),
            Err(err) => format!("the scheduled dream failed: {err}"),
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::spec::{ModelProfile, ProviderKind};

    #[test]
    fn pace_slows_only_offline_profiles_that_set_no_latency() {
        let mut slow = ModelProfile::scripted();
        slow.latency_ms = 25;
        let network = ModelProfile {
            provider: ProviderKind::Openai,
            ..ModelProfile::scripted()
        };
        let mut profiles = [
            ModelProfile::scripted(),
            ModelProfile::test(),
            slow,
            network,
        ];
        super::pace(profiles.iter_mut(), 350);
        let latencies: Vec<u64> = profiles.iter().map(|p| p.latency_ms).collect();
        assert_eq!(latencies, vec![350, 350, 25, 0]);
        super::pace(profiles.iter_mut(), 10_000_000);
        assert_eq!(profiles[3].latency_ms, 0);
    }
}
