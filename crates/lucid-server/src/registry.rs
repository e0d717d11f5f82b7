//! The owner's live runs: session id → a broadcast of the run's events (then how it
//! finished) and the run's [`Control`] (cancel it, or one of its threads). A run is tracked from launch until its last
//! event and its end have been broadcast; then its entry (and the only sender) goes, and
//! every event stream watching it ends.
//!
//! The runs the owner starts (for its clients, or its own) are announced on
//! [`Registry::started`] and listed by [`Registry::live`], so a window (the TUI holding
//! the store, or a client's TUI through `GET /v1/events`) can show them;
//! a late watcher subscribes ([`Registry::subscribe`]) and then reads what the run has
//! recorded so far from the store (an event is recorded before it is passed on, so
//! nothing falls between the two; duplicates are skipped by sequence number): the
//! registry keeps no history of its own. When the server stops, [`Registry::stop_announcing`] ends every
//! listener's stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;

use lucid_core::event::{AgentId, Event, SessionId};
use lucid_core::session::{Control, Finished, Op, SessionHandle};

/// How many messages a slow watcher may fall behind before it re-reads the store.
const BACKLOG: usize = 4096;

/// How a run ended, as the owner tells its clients (the SSE event `finished`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// The rubric was met.
    pub passed: bool,
    /// The run failed (the sentence), if it did.
    pub error: Option<String>,
    /// One sentence about the scheduled dream that followed, if one ran.
    pub dream: Option<String>,
    /// It ended because it was cancelled (by a client, or by the owner stopping).
    #[serde(default)]
    pub cancelled: bool,
}

impl RunEnd {
    pub fn of(finished: &Finished) -> RunEnd {
        match &finished.result {
            Ok(result) => RunEnd {
                passed: result.passed,
                error: None,
                dream: finished.dream.clone(),
                cancelled: false,
            },
            Err(err) => RunEnd {
                passed: false,
                error: Some(err.to_string()),
                dream: finished.dream.clone(),
                cancelled: matches!(err, lucid_core::run::RunError::Cancelled),
            },
        }
    }
}

/// What a live run broadcasts.
#[derive(Debug, Clone)]
pub enum Live {
    Event(Event),
    Ended(RunEnd),
}

struct LiveRun {
    tx: broadcast::Sender<Live>,
    control: Control,
    /// The session file, once the run has been announced.
    spec: Option<String>,
}

/// A run the owner started (the SSE event `started` of `GET /v1/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    #[serde(rename = "session_id")]
    pub session: SessionId,
    /// The session file, as whoever started the run named it.
    pub spec: String,
}

/// How many announcements of new runs a slow listener may miss.
const ANNOUNCEMENTS: usize = 64;

/// The runs, and the slots reserved for runs clients are starting.
#[derive(Default)]
struct Runs {
    live: HashMap<SessionId, LiveRun>,
    /// Client runs being launched: not live yet, but the owner must not let go.
    reserved: usize,
    /// The owner is letting the store go: clients' new runs are refused.
    closing: bool,
}

/// A reserved place for a client's run (see [`Registry::reserve`]); dropping it after the
/// run is tracked (or failed to launch) gives the place back.
pub struct Slot {
    registry: Registry,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut runs = self.registry.lock();
        runs.reserved = runs.reserved.saturating_sub(1);
        drop(runs);
        self.registry.idle.notify_waiters();
    }
}

/// The owner's live runs.
#[derive(Clone)]
pub struct Registry {
    runs: Arc<Mutex<Runs>>,
    idle: Arc<Notify>,
    /// `None` once the server has stopped: listeners' streams have ended.
    started: Arc<Mutex<Option<broadcast::Sender<Started>>>>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            runs: Arc::default(),
            idle: Arc::default(),
            started: Arc::new(Mutex::new(Some(broadcast::channel(ANNOUNCEMENTS).0))),
        }
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Runs> {
        // A panic while holding the map leaves it consistent (single inserts/removes).
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether this owner is running `session` now.
    pub fn is_running(&self, session: SessionId) -> bool {
        self.lock().live.contains_key(&session)
    }

    /// Watches a live run: `None` when this owner is not running it.
    pub fn subscribe(&self, session: SessionId) -> Option<broadcast::Receiver<Live>> {
        self.lock().live.get(&session).map(|run| run.tx.subscribe())
    }

    fn announcer(&self) -> MutexGuard<'_, Option<broadcast::Sender<Started>>> {
        // A panic while holding it leaves it consistent (a single take).
        self.started
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Listens for the runs this owner starts (see [`Registry::announce`]). The receiver
    /// closes when the server stops ([`Registry::stop_announcing`]).
    pub fn started(&self) -> broadcast::Receiver<Started> {
        match self.announcer().as_ref() {
            Some(tx) => tx.subscribe(),
            // Stopped: a receiver that is closed already.
            None => broadcast::channel(1).1,
        }
    }

    /// Tells listeners that a tracked run started (for a client, or the owner's own),
    /// and lists it in [`Registry::live`] from now on.
    pub fn announce(&self, session: SessionId, spec: String) {
        if let Some(run) = self.lock().live.get_mut(&session) {
            run.spec = Some(spec.clone());
        }
        if let Some(tx) = self.announcer().as_ref() {
            // Nobody listening (no window watches) is fine.
            let _ = tx.send(Started { session, spec });
        }
    }

    /// The announced runs that are live now, oldest first.
    pub fn live(&self) -> Vec<Started> {
        let mut live: Vec<Started> = self
            .lock()
            .live
            .iter()
            .filter_map(|(session, run)| {
                run.spec.as_ref().map(|spec| Started {
                    session: *session,
                    spec: spec.clone(),
                })
            })
            .collect();
        live.sort_by_key(|run| run.session);
        live
    }

    /// Ends every listener's stream of announcements; nothing is announced after this.
    pub fn stop_announcing(&self) {
        self.announcer().take();
    }

    fn control(&self, session: SessionId) -> Option<Control> {
        self.lock()
            .live
            .get(&session)
            .map(|run| run.control.clone())
    }

    /// Cancels a live run; false when this owner is not running it.
    pub fn cancel(&self, session: SessionId) -> bool {
        self.control(session)
            .is_some_and(|control| control.submit(Op::Cancel))
    }

    /// Cancels one thread of a live run and every thread it delegated to (the lead: the
    /// whole run). `None` when this owner is not running the session; `Some(false)` when
    /// no thread with that id has run in it.
    pub fn cancel_thread(&self, session: SessionId, thread: AgentId) -> Option<bool> {
        self.control(session)
            .map(|control| control.submit(Op::CancelThread(thread)))
    }

    /// Cancels every live run (each ends after the step in hand).
    pub fn cancel_all(&self) {
        let controls: Vec<Control> = self
            .lock()
            .live
            .values()
            .map(|r| r.control.clone())
            .collect();
        for control in controls {
            control.submit(Op::Cancel);
        }
    }

    /// Live runs, and client runs being launched.
    pub fn len(&self) -> usize {
        let runs = self.lock();
        runs.live.len() + runs.reserved
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves a place for a client's run before it is launched, so the owner does not
    /// let the store go under it; `None` once the owner is letting go (see
    /// [`Registry::let_go`]).
    pub fn reserve(&self) -> Option<Slot> {
        let mut runs = self.lock();
        if runs.closing {
            return None;
        }
        runs.reserved += 1;
        Some(Slot {
            registry: self.clone(),
        })
    }

    /// Refuses clients' new runs from now on (runs already live go on).
    pub fn close(&self) {
        self.lock().closing = true;
    }

    /// Waits until no run is live or being launched, then refuses clients' new runs:
    /// when it returns, nothing runs here and nothing will.
    pub async fn let_go(&self) {
        loop {
            self.wait_idle().await;
            let mut runs = self.lock();
            if runs.live.is_empty() && runs.reserved == 0 {
                runs.closing = true;
                return;
            }
        }
    }

    /// Waits until no run is live.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// Tracks a launched run: its events go to the returned receiver (for a local
    /// printer) and to every watcher. Call [`Tracked::finish`] with how it ended.
    pub fn track(&self, handle: &mut SessionHandle) -> (UnboundedReceiver<Event>, Tracked) {
        let session = handle.session();
        let (tx, _) = broadcast::channel(BACKLOG);
        self.lock().live.insert(
            session,
            LiveRun {
                tx: tx.clone(),
                control: handle.control(),
                spec: None,
            },
        );
        let (local_tx, local_rx) = unbounded_channel();
        let source = handle.events();
        let forward_tx = tx.clone();
        // Unconstrained: each time it runs it passes on everything waiting, instead of
        // yielding after a budget and queueing behind every agent of a large run while
        // the run's events pile up.
        let forwarder = tokio::spawn(tokio::task::unconstrained(async move {
            let Some(mut source) = source else { return };
            while let Some(event) = source.recv().await {
                // Nobody watching: the run goes on regardless.
                let _ = forward_tx.send(Live::Event(event.clone()));
                // The local reader gone: the run goes on regardless.
                let _ = local_tx.send(event);
            }
        }));
        (
            local_rx,
            Tracked {
                registry: self.clone(),
                session,
                tx,
                forwarder,
            },
        )
    }

    fn remove(&self, session: SessionId) {
        self.lock().live.remove(&session);
        self.idle.notify_waiters();
    }
}

/// A run being tracked; see [`Registry::track`].
pub struct Tracked {
    registry: Registry,
    session: SessionId,
    tx: broadcast::Sender<Live>,
    forwarder: JoinHandle<()>,
}

impl Tracked {
    /// After every event has been passed on, tells watchers how the run ended and stops
    /// tracking it.
    pub async fn finish(self, finished: &Finished) {
        // The forwarder ends with the run's event stream; it cannot fail but by a panic,
        // after which there is nothing more to pass on.
        let _ = self.forwarder.await;
        let _ = self.tx.send(Live::Ended(RunEnd::of(finished)));
        drop(self.tx);
        self.registry.remove(self.session);
    }
}
