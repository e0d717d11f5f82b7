//! The event loop: terminal input, the live run's events and the results of background
//! work become [`Action`]s for the reducer; the reducer's [`Command`]s become background
//! work. It draws only when something changed, at most every [`FRAME`], folding every
//! event queued meanwhile into that one frame. Store reads run on blocking threads, never
//! on the draw path.
//!
//! When the window serves its store, runs the server starts for other windows (`lucid
//! run --headless` as a client) are announced by its [`Registry`]; an idle window
//! switches its Run view to such a run and folds the registry's broadcast of its events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use super::app::{Action, AppState, Command, Source};
use super::live::{self, LiveRun};
use super::memory_state::{MemoryCommand, MemoryItem, MemoryUpdate};
use super::update::update;
use super::views;
use lucid_core::dream::{DreamError, DreamReport, Dreamer};
use lucid_core::event::{now_ms, Event, EventBus, EventSink, SessionId};
use lucid_core::outcome::SessionResult;
use lucid_core::run::RunError;
use lucid_core::session::{Finished, Op, SessionHandle};
use lucid_core::store::Store;
use lucid_server::{Live, Registry, RunEnd, Started, Tracked};

/// The shortest time between two frames (about 60 per second).
pub const FRAME: Duration = Duration::from_millis(16);
/// How often elapsed times refresh while a run is live.
const LIVE_TICK: Duration = Duration::from_millis(250);

/// Where the Memory view's records live and how they change. Calls block (they may read
/// and write the store); the runtime makes them on blocking threads.
pub trait MemoryBackend: Send + Sync {
    fn list(&self) -> Result<Vec<MemoryItem>, String>;
    /// Each returns the message for the footer.
    fn approve(&self, id: &str) -> Result<String, String>;
    fn reject(&self, id: &str) -> Result<String, String>;
    fn save_edit(&self, id: &str, body: &str) -> Result<String, String>;
    fn export(&self, id: &str) -> Result<String, String>;
}

/// What the loop can reach beyond the state.
pub struct Services {
    pub store: Option<Store>,
    /// Where `n` looks for session files.
    pub sessions_dir: PathBuf,
    pub memory: Option<Arc<dyn MemoryBackend>>,
    /// The live runs of the server this window runs for its store, if it serves it.
    pub registry: Option<Registry>,
}

/// How the loop ended.
#[derive(Default)]
pub struct Outcome {
    /// The result of the last live run, if one ran to its end.
    pub run: Option<Result<SessionResult, RunError>>,
    /// What the scheduled dream after it did, if one ran.
    pub dream: Option<String>,
}

/// The live run the loop is watching.
#[derive(Default)]
struct Watching {
    run: Option<SessionHandle>,
    /// The own run's entry in the registry, finished when the run ends.
    tracked: Option<Tracked>,
    dream: Option<DreamTask>,
    events: Option<mpsc::UnboundedReceiver<Event>>,
    /// A run the server started for another window.
    remote: Option<Remote>,
}

impl Watching {
    fn is_busy(&self) -> bool {
        self.run.is_some() || self.dream.is_some() || self.remote.is_some()
    }
}

/// A run of another window's, watched through the registry.
struct Remote {
    session: SessionId,
    live: broadcast::Receiver<Live>,
}

/// What a remote run said next.
enum RemoteNews {
    Event(Event),
    /// It ended (how, unless the broadcast closed without saying).
    Ended(Option<RunEnd>),
}

async fn next_remote(remote: &mut Option<Remote>) -> RemoteNews {
    let Some(remote) = remote.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match remote.live.recv().await {
            Ok(Live::Event(event)) => return RemoteNews::Event(event),
            Ok(Live::Ended(end)) => return RemoteNews::Ended(Some(end)),
            // Fell behind: the store has the whole run; the view goes on from here.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return RemoteNews::Ended(None),
        }
    }
}

async fn next_started(started: &mut Option<broadcast::Receiver<Started>>) -> Option<Started> {
    let Some(rx) = started.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(started) => return Some(started),
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return None,
        }
    }
}

async fn next_event(events: &mut Option<mpsc::UnboundedReceiver<Event>>) -> Option<Event> {
    match events.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

type DreamTask = tokio::task::JoinHandle<Result<DreamReport, DreamError>>;

async fn dream_end(
    task: &mut Option<DreamTask>,
) -> Result<Result<DreamReport, DreamError>, String> {
    match task.as_mut() {
        Some(task) => task
            .await
            .map_err(|err| format!("the dream crashed: {err}")),
        None => std::future::pending().await,
    }
}

async fn run_end(run: &mut Option<SessionHandle>) -> Finished {
    match run.as_mut() {
        Some(run) => run.wait().await,
        None => std::future::pending().await,
    }
}

/// Runs the app until it quits. `live` is a run started by the caller (`lucid run`).
pub async fn run_app<B, I>(
    terminal: &mut Terminal<B>,
    mut app: AppState,
    services: Services,
    live: Option<LiveRun>,
    mut input: I,
    initial: Vec<Command>,
) -> std::io::Result<Outcome>
where
    B: Backend,
    I: Stream<Item = std::io::Result<crossterm::event::Event>> + Unpin,
{
    let (tx, mut results) = mpsc::unbounded_channel::<Action>();
    let mut outcome = Outcome::default();
    let mut watching = Watching::default();
    let mut started = services.registry.as_ref().map(Registry::started);
    if let Some(run) = live {
        update(
            &mut app,
            Action::RunStarted {
                spec: run.spec_path.clone(),
            },
        );
        watching = watch(run);
    }
    let mut pending = initial;
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut last_tick = Instant::now();
    loop {
        while !pending.is_empty() {
            for command in std::mem::take(&mut pending) {
                for action in execute(command, &services, &tx, &mut watching) {
                    pending.extend(update(&mut app, action));
                }
            }
        }
        if app.quit {
            break;
        }
        let due = last_draw.map_or(Duration::ZERO, |at| FRAME.saturating_sub(at.elapsed()));
        if dirty && due.is_zero() {
            terminal.draw(|frame| views::draw(frame, &app))?;
            dirty = false;
            last_draw = Some(Instant::now());
        }
        let playing =
            matches!(&app.source, Source::Replay(r) if !r.paused && r.next < r.events.len());
        let wake = if dirty {
            due.max(Duration::from_millis(1))
        } else if playing {
            FRAME
        } else if app.run_is_live() {
            LIVE_TICK
        } else {
            Duration::from_secs(60)
        };
        tokio::select! {
            input = input.next() => match input {
                Some(Ok(crossterm::event::Event::Key(key))) => {
                    pending.extend(update(&mut app, Action::Key(key)));
                    dirty = true;
                }
                Some(Ok(crossterm::event::Event::Mouse(mouse))) => {
                    pending.extend(update(&mut app, Action::Mouse(mouse)));
                    dirty = true;
                }
                Some(Ok(_)) => dirty = true,
                Some(Err(err)) => return Err(err),
                None => break,
            },
            event = next_event(&mut watching.events) => match event {
                Some(event) => {
                    pending.extend(update(&mut app, Action::Event(event)));
                    // Fold everything already queued into the same frame.
                    if let Some(rx) = watching.events.as_mut() {
                        while let Ok(event) = rx.try_recv() {
                            pending.extend(update(&mut app, Action::Event(event)));
                        }
                    }
                    dirty = true;
                }
                None => watching.events = None,
            },
            ended = run_end(&mut watching.run) => {
                watching.run = None;
                // Every event passed on (to `watching.events` too) before it is drained.
                if let Some(tracked) = watching.tracked.take() {
                    tracked.finish(&ended).await;
                }
                if let Some(rx) = watching.events.as_mut() {
                    while let Ok(event) = rx.try_recv() {
                        pending.extend(update(&mut app, Action::Event(event)));
                    }
                }
                if let Err(err) = &ended.result {
                    app.notice = Some(format!("the run ended: {err}"));
                }
                if let Some(note) = &ended.dream {
                    app.notice = Some(lucid_core::event::sanitize(note));
                }
                outcome.run = Some(ended.result);
                outcome.dream = ended.dream;
                pending.extend(update(&mut app, Action::RunEnded));
                dirty = true;
            },
            news = next_remote(&mut watching.remote) => {
                match news {
                    RemoteNews::Event(event) => {
                        pending.extend(update(&mut app, Action::Event(event)));
                    }
                    RemoteNews::Ended(end) => {
                        watching.remote = None;
                        if let Some(end) = end {
                            if let Some(err) = &end.error {
                                app.notice = Some(format!(
                                    "the run ended: {}",
                                    lucid_core::event::sanitize(err)
                                ));
                            }
                            if let Some(note) = &end.dream {
                                app.notice = Some(lucid_core::event::sanitize(note));
                            }
                        }
                        pending.extend(update(&mut app, Action::RunEnded));
                    }
                }
                dirty = true;
            },
            news = next_started(&mut started) => {
                match news {
                    Some(news) => {
                        pending.extend(on_started(&mut app, &services, &mut watching, news));
                        dirty = true;
                    }
                    None => started = None,
                }
            },
            ended = dream_end(&mut watching.dream) => {
                watching.dream = None;
                if let Some(rx) = watching.events.as_mut() {
                    while let Ok(event) = rx.try_recv() {
                        pending.extend(update(&mut app, Action::Event(event)));
                    }
                }
                let update_memory = match ended {
                    Ok(Ok(report)) => MemoryUpdate::Done(match report.proposals.len() {
                        0 => format!("dreamed over {} session(s): nothing new to propose", report.run.sessions.len()),
                        n => format!("dreamed over {} session(s): {n} proposal(s) wait for review", report.run.sessions.len()),
                    }),
                    Ok(Err(err)) => MemoryUpdate::Failed(format!("the dream failed: {err}")),
                    Err(message) => MemoryUpdate::Failed(message),
                };
                pending.extend(update(&mut app, Action::Memory(update_memory)));
                pending.extend(update(&mut app, Action::RunEnded));
                dirty = true;
            },
            action = results.recv() => {
                if let Some(action) = action {
                    pending.extend(update(&mut app, action));
                    dirty = true;
                }
            },
            () = tokio::time::sleep(wake) => {},
        }
        let elapsed = last_tick.elapsed();
        if elapsed >= FRAME {
            last_tick = Instant::now();
            let before = replay_position(&app);
            update(
                &mut app,
                Action::Tick {
                    now_ms: now_ms(),
                    elapsed_ms: elapsed.as_millis() as u64,
                },
            );
            if before != replay_position(&app) || (app.run_is_live() && elapsed >= LIVE_TICK) {
                dirty = true;
            }
        }
    }
    // A dream is short and only writes proposals: let it finish and record itself.
    if let Some(task) = watching.dream.take() {
        let _ = task.await;
    }
    // Quitting while a run is live cancels it; wait for it to record its end.
    if let Some(run) = watching.run.take() {
        run.submit(Op::Cancel);
        let ended = run.join().await;
        if let Some(tracked) = watching.tracked.take() {
            tracked.finish(&ended).await;
        }
        outcome.run = Some(ended.result);
        outcome.dream = ended.dream;
    }
    Ok(outcome)
}

fn replay_position(app: &AppState) -> Option<usize> {
    match &app.source {
        Source::Replay(replay) => Some(replay.next),
        _ => None,
    }
}

fn watch(run: LiveRun) -> Watching {
    Watching {
        run: Some(run.handle),
        tracked: run.tracked,
        events: Some(run.events),
        dream: None,
        remote: None,
    }
}

/// A run started for another window: an idle window shows it, a busy one says so.
fn on_started(
    app: &mut AppState,
    services: &Services,
    watching: &mut Watching,
    started: Started,
) -> Vec<Command> {
    if watching.is_busy() {
        app.notice = Some(format!(
            "a run from another window started: {}",
            started.session
        ));
        return Vec::new();
    }
    let Some(registry) = &services.registry else {
        return Vec::new();
    };
    let Some((history, live)) = registry.watch(started.session) else {
        app.notice = Some(format!(
            "a run from another window started and ended: {}",
            started.session
        ));
        return Vec::new();
    };
    let mut commands = update(
        app,
        Action::RunStarted {
            spec: lucid_core::event::sanitize(&started.spec),
        },
    );
    for event in history {
        commands.extend(update(app, Action::Event(event)));
    }
    *watching = Watching {
        remote: Some(Remote {
            session: started.session,
            live,
        }),
        ..Watching::default()
    };
    commands
}

/// Starts a command's work. What is known at once is returned (and applied before any
/// other input, so a new run's first events find the view ready); later results come
/// back through `tx` as actions.
fn execute(
    command: Command,
    services: &Services,
    tx: &mpsc::UnboundedSender<Action>,
    watching: &mut Watching,
) -> Vec<Action> {
    let mut now = Vec::new();
    let mut send = |action: Action| now.push(action);
    let blocking = |job: Box<dyn FnOnce() -> Action + Send>| {
        let tx = tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(job());
        });
    };
    let no_store = || "no store is open".to_string();
    match command {
        Command::CancelAgent(_) | Command::CancelRun if watching.remote.is_some() => {
            // The registry cancels a whole run; it was started from another window.
            let cancelled = match (&watching.remote, &services.registry) {
                (Some(remote), Some(registry)) => registry.cancel(remote.session),
                _ => false,
            };
            send(Action::RunFailed(if cancelled {
                "cancelling the whole run (it was started from another window)".into()
            } else {
                "the run has already ended".into()
            }));
        }
        Command::CancelAgent(id) => {
            if let Some(run) = &watching.run {
                if !run.submit(Op::CancelThread(id)) {
                    send(Action::RunFailed(format!("thread {id} has not run yet")));
                }
            }
        }
        Command::CancelRun => {
            if let Some(run) = &watching.run {
                run.submit(Op::Cancel);
            }
        }
        Command::LoadSessions => {
            let store = services.store.clone();
            blocking(Box::new(move || {
                Action::SessionsLoaded(match store {
                    Some(store) => store.sessions().map_err(|e| e.to_string()),
                    None => Err(no_store()),
                })
            }));
        }
        Command::LoadReplay(id) => {
            let store = services.store.clone();
            blocking(Box::new(move || {
                Action::ReplayLoaded(
                    id,
                    match store {
                        Some(store) => store.events(id).map_err(|e| e.to_string()),
                        None => Err(no_store()),
                    },
                )
            }));
        }
        Command::ListSpecs => {
            let dir = services.sessions_dir.clone();
            blocking(Box::new(move || {
                let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|e| e == "toml"))
                    .collect();
                specs.sort();
                Action::SpecsListed(specs)
            }));
        }
        Command::StartRun(path) => {
            if watching.is_busy() {
                send(Action::RunFailed("a run is already live".into()));
                return now;
            }
            let Some(store) = &services.store else {
                send(Action::RunFailed(no_store()));
                return now;
            };
            match live::start_file_tracked(&path, store, services.registry.as_ref()) {
                Ok(run) => {
                    send(Action::RunStarted {
                        spec: run.spec_path.clone(),
                    });
                    *watching = watch(run);
                }
                Err(message) => send(Action::RunFailed(message)),
            }
        }
        Command::Memory(MemoryCommand::DreamNow { team }) => {
            if watching.is_busy() {
                send(Action::Memory(MemoryUpdate::Failed(
                    "a run or dream is already live".into(),
                )));
                return now;
            }
            let Some(store) = services.store.clone() else {
                send(Action::Memory(MemoryUpdate::Failed(no_store())));
                return now;
            };
            let sink: Arc<dyn EventSink> = Arc::new(store.clone());
            let bus = EventBus::new(SessionId::generate(), sink);
            watching.events = Some(bus.subscribe());
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
            send(Action::DreamStarted);
        }
        Command::Memory(command) => {
            let Some(backend) = services.memory.clone() else {
                send(Action::Memory(match command {
                    MemoryCommand::Load => MemoryUpdate::Loaded(Err(
                        "Memory records are not available in this build: the memory store \
                         arrives with the dreaming work."
                            .into(),
                    )),
                    _ => MemoryUpdate::Failed("memory is not available in this build".into()),
                }));
                return now;
            };
            blocking(Box::new(move || {
                let done = |result: Result<String, String>| {
                    Action::Memory(match result {
                        Ok(message) => MemoryUpdate::Done(message),
                        Err(message) => MemoryUpdate::Failed(message),
                    })
                };
                match command {
                    MemoryCommand::Load => Action::Memory(MemoryUpdate::Loaded(backend.list())),
                    MemoryCommand::Approve(id) => done(backend.approve(&id)),
                    MemoryCommand::Reject(id) => done(backend.reject(&id)),
                    MemoryCommand::SaveEdit { id, body } => done(backend.save_edit(&id, &body)),
                    MemoryCommand::Export(id) => done(backend.export(&id)),
                    // Handled above: a dream is a live session, not a blocking call.
                    MemoryCommand::DreamNow { .. } => {
                        Action::Memory(MemoryUpdate::Failed("dreams run as live sessions".into()))
                    }
                }
            }));
        }
    }
    now
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

    use std::path::Path;

    use super::*;

    fn services(store: &Store, registry: &Registry) -> Services {
        Services {
            store: Some(store.clone()),
            sessions_dir: std::path::PathBuf::from("sessions"),
            memory: None,
            registry: Some(registry.clone()),
        }
    }

    fn lumara() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join("sessions/lumara.toml")
    }

    #[tokio::test]
    async fn a_busy_window_names_a_run_from_another_window_instead_of_switching() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let registry = Registry::default();
        let services = services(&store, &registry);
        let mut app = AppState::new(Default::default(), Default::default());
        let (_tx, live) = broadcast::channel(4);
        let mine = SessionId::generate();
        let mut watching = Watching {
            remote: Some(Remote {
                session: mine,
                live,
            }),
            ..Watching::default()
        };
        let other = SessionId::generate();
        let news = Started {
            session: other,
            spec: "sessions/lumara.toml".into(),
        };
        assert!(on_started(&mut app, &services, &mut watching, news).is_empty());
        assert_eq!(
            app.notice.as_deref(),
            Some(format!("a run from another window started: {other}").as_str())
        );
        assert_eq!(watching.remote.as_ref().map(|r| r.session), Some(mine));
        assert!(matches!(app.source, Source::Idle));
    }

    #[tokio::test]
    async fn cancelling_a_run_from_another_window_goes_through_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let registry = Registry::default();
        let services = services(&store, &registry);
        let mut run = live::start_file_tracked(&lumara(), &store, Some(&registry)).unwrap();
        let (_, live) = registry.watch(run.session).unwrap();
        let mut watching = Watching {
            remote: Some(Remote {
                session: run.session,
                live,
            }),
            ..Watching::default()
        };
        let (tx, _results) = mpsc::unbounded_channel();
        let id = lucid_core::event::AgentId(1);
        let now = execute(Command::CancelAgent(id), &services, &tx, &mut watching);
        assert!(
            matches!(&now[..], [Action::RunFailed(m)] if m.starts_with("cancelling the whole run")),
            "{now:?}"
        );
        // The registry's cancel reached the run: it ends cancelled.
        while run.events.recv().await.is_some() {}
        let ended = run.handle.join().await;
        if let Some(tracked) = run.tracked.take() {
            tracked.finish(&ended).await;
        }
        assert!(
            matches!(ended.result, Err(RunError::Cancelled)),
            "{:?}",
            ended.result.map(|r| r.passed)
        );
        // Once it has ended, the registry no longer knows it.
        let now = execute(Command::CancelRun, &services, &tx, &mut watching);
        assert!(
            matches!(&now[..], [Action::RunFailed(m)] if m == "the run has already ended"),
            "{now:?}"
        );
    }
}
