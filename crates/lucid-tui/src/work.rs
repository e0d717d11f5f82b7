//! The background work the reducer's [`Command`]s ask for, started by the event loop
//! ([`super::runtime`]): reading sessions and replays, listing session files, starting
//! a run, steering the run on show, dreaming, and the Memory view's calls. What is known
//! at once comes back as actions to apply before any other input; the rest arrives later
//! on [`Channels`]. It also holds what the loop is watching ([`Watching`]).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::app::{Action, Command};
use super::backend::{Feed, StartRequest};
use super::memory_state::{MemoryCommand, MemoryUpdate};
use super::runtime::Services;
use lucid_core::dream::{DreamError, DreamReport, Dreamer};
use lucid_core::event::{Event, EventBus, EventSink, SessionId};
use lucid_core::session::Op;

pub(super) type DreamTask = tokio::task::JoinHandle<Result<DreamReport, DreamError>>;

/// Where later results go.
pub(super) struct Channels {
    pub actions: mpsc::UnboundedSender<Action>,
    /// A started run's feed (or why it did not start).
    pub arrivals: mpsc::UnboundedSender<Result<Feed, String>>,
}

/// What the loop is watching.
#[derive(Default)]
pub(super) struct Watching {
    /// The live run on show.
    pub feed: Option<Feed>,
    /// The run on show was started by this window: its end is the loop's outcome.
    pub ours: bool,
    /// A run this window asked for is starting; its feed arrives on `Channels::arrivals`.
    pub starting: bool,
    pub dream: Option<DreamTask>,
    pub dream_events: Option<mpsc::UnboundedReceiver<Event>>,
    /// Ops on their way to the run's owner.
    pub requests: JoinSet<()>,
}

impl Watching {
    pub fn is_busy(&self) -> bool {
        self.feed.is_some() || self.dream.is_some() || self.starting
    }
}

pub(super) async fn dream_end(
    task: &mut Option<DreamTask>,
) -> Result<Result<DreamReport, DreamError>, String> {
    match task.as_mut() {
        Some(task) => task
            .await
            .map_err(|err| format!("the dream crashed: {err}")),
        None => std::future::pending().await,
    }
}

/// Dreams for `team` in the lucid that holds the store; what it proposed, or why not.
async fn dream_through(
    owner: &lucid_server::client::Client,
    team: String,
) -> Result<String, String> {
    let asked = lucid_server::CreateDream {
        team: Some(team),
        ..Default::default()
    };
    match owner
        .post_json::<_, Vec<DreamReport>>("/v1/dreams", &asked)
        .await
    {
        Ok(reports) => Ok(dreamt(&reports)),
        // The owner's words reach the screen cleaned, like everything from outside.
        Err(err) => Err(format!(
            "the dream failed: {}",
            lucid_core::event::one_line(&err.to_string(), 300)
        )),
    }
}

/// One line for the dreams `reports` tell of.
pub(super) fn dreamt(reports: &[DreamReport]) -> String {
    let sessions: usize = reports.iter().map(|r| r.run.sessions.len()).sum();
    match reports.iter().map(|r| r.proposals.len()).sum::<usize>() {
        0 => format!("dreamed over {sessions} session(s): nothing new to propose"),
        n => format!("dreamed over {sessions} session(s): {n} proposal(s) wait for review"),
    }
}

/// Asks the run on show to do `op`; a refusal comes back as a footer notice.
fn submit(watching: &mut Watching, channels: &Channels, op: Op) {
    let Some(feed) = &watching.feed else {
        return;
    };
    let request = feed.submit(op);
    let actions = channels.actions.clone();
    watching.requests.spawn(async move {
        if let Err(message) = request.await {
            // The loop gone: nobody to tell.
            let _ = actions.send(Action::RunFailed(message));
        }
    });
}

/// Starts a command's work. What is known at once is returned (and applied before any
/// other input); later results come back through `channels`.
pub(super) fn execute(
    command: Command,
    services: &Services,
    channels: &Channels,
    watching: &mut Watching,
) -> Vec<Action> {
    let mut now = Vec::new();
    let mut send = |action: Action| now.push(action);
    let later = |work: futures::future::BoxFuture<'static, Action>| {
        let actions = channels.actions.clone();
        tokio::spawn(async move {
            // The loop gone: nobody to tell.
            let _ = actions.send(work.await);
        });
    };
    match command {
        Command::CancelAgent(id) => submit(watching, channels, Op::CancelThread(id)),
        Command::CancelRun => submit(watching, channels, Op::Cancel),
        Command::LoadSessions => {
            let list = services.sessions.list();
            later(Box::pin(async move { Action::SessionsLoaded(list.await) }));
        }
        Command::LoadReplay(id) => {
            let record = services.sessions.record(id);
            later(Box::pin(
                async move { Action::ReplayLoaded(id, record.await) },
            ));
        }
        Command::ListSpecs => {
            let dir = services.sessions_dir.clone();
            let actions = channels.actions.clone();
            tokio::task::spawn_blocking(move || {
                let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|e| e == "toml"))
                    .collect();
                specs.sort();
                let _ = actions.send(Action::SpecsListed(specs));
            });
        }
        Command::StartRun(choice) => {
            if watching.dream.is_some() {
                send(Action::RunFailed(
                    "a dream is under way; start the run when it has ended".into(),
                ));
                return now;
            }
            if watching.is_busy() {
                send(Action::RunFailed("a run is already live".into()));
                return now;
            }
            watching.starting = true;
            let start = services.sessions.start(StartRequest {
                seed: choice.seed,
                world: choice.world,
                pace_ms: services.pace_ms,
                ..StartRequest::file(choice.spec)
            });
            let arrivals = channels.arrivals.clone();
            tokio::spawn(async move {
                let _ = arrivals.send(start.await);
            });
        }
        Command::Memory(MemoryCommand::DreamNow { team }) => {
            if watching.is_busy() {
                send(Action::Memory(MemoryUpdate::Failed(
                    "a run or dream is already live".into(),
                )));
                return now;
            }
            let Some(store) = services.store.clone() else {
                match services.owner.clone() {
                    Some(owner) => {
                        send(Action::DreamStarted { team: team.clone() });
                        later(Box::pin(async move {
                            Action::DreamEnded(dream_through(&owner, team).await)
                        }));
                    }
                    None => send(Action::Memory(MemoryUpdate::Failed(
                        "this window cannot dream: it holds no store and knows no lucid that does"
                            .into(),
                    ))),
                }
                return now;
            };
            let sink: Arc<dyn EventSink> = Arc::new(store.clone());
            let bus = EventBus::new(SessionId::generate(), sink);
            watching.dream_events = Some(bus.subscribe());
            send(Action::DreamStarted { team: team.clone() });
            watching.dream = Some(tokio::spawn(async move {
                lucid_core::dream::dream_on_bus(
                    &store,
                    &team,
                    &Dreamer::Offline,
                    &lucid_envs::catalog(),
                    &bus,
                )
                .await
            }));
        }
        Command::Memory(command) => {
            let Some(backend) = services.memory.clone() else {
                let unavailable = if services.store.is_some() {
                    "Memory records are not available in this build: the memory store \
                     arrives with the dreaming work."
                } else {
                    "Memories are held by the lucid serving this store; this window cannot \
                     show them yet."
                };
                send(Action::Memory(match command {
                    MemoryCommand::Load => MemoryUpdate::Loaded(Err(unavailable.into())),
                    _ => MemoryUpdate::Failed(unavailable.into()),
                }));
                return now;
            };
            let actions = channels.actions.clone();
            tokio::task::spawn_blocking(move || {
                let done = |result: Result<String, String>| {
                    Action::Memory(match result {
                        Ok(message) => MemoryUpdate::Done(message),
                        Err(message) => MemoryUpdate::Failed(message),
                    })
                };
                let action = match command {
                    MemoryCommand::Load => Action::Memory(MemoryUpdate::Loaded(backend.list())),
                    MemoryCommand::Approve(id) => done(backend.approve(&id)),
                    MemoryCommand::Reject(id) => done(backend.reject(&id)),
                    MemoryCommand::Retire(id) => done(backend.retire(&id)),
                    MemoryCommand::SaveEdit { id, edit } => done(backend.save_edit(&id, edit)),
                    MemoryCommand::Export(id) => done(backend.export(&id)),
                    // Handled above: a dream is a live session, not a blocking call.
                    MemoryCommand::DreamNow { .. } => {
                        Action::Memory(MemoryUpdate::Failed("dreams run as live sessions".into()))
                    }
                };
                let _ = actions.send(action);
            });
        }
    }
    now
}
