//! The in-process bus: redacts secrets, assigns sequence numbers, records, then fans out;
//! and makes what it recorded durable by group commit: a step boundary
//! ([`EventBus::checkpoint`]) waits until one flush has covered every event emitted
//! before it, and a flush covers every step that reached its boundary meanwhile, so many
//! agents finishing steps at once share one fsync instead of paying one each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};

use super::{id::now_ms, AgentId, Event, EventKind, SessionId};

/// Why the recorder could not keep an event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Where events are recorded durably (the store implements this).
pub trait EventSink: Send + Sync {
    /// Records one event; called in sequence order.
    fn append(&self, event: &Event) -> Result<(), SinkError>;
    /// Makes every appended event durable.
    fn flush(&self) -> Result<(), SinkError>;
    /// A session's events recorded so far, in order, for rebuilding a finished thread's
    /// context when its parent follows up; `None` when this recorder cannot read back.
    fn recorded(&self, _session: SessionId) -> Option<Result<Vec<Event>, SinkError>> {
        None
    }
}

struct BusState {
    next_seq: u64,
    listeners: Vec<mpsc::UnboundedSender<Event>>,
    /// The first recording failure; reported at the next checkpoint.
    failure: Option<SinkError>,
}

/// Orders one session's events and hands each to the recorder and every listener.
pub struct EventBus {
    session: SessionId,
    sink: Arc<dyn EventSink>,
    state: Mutex<BusState>,
    /// Every event numbered below this is durable (the latest flush covered it).
    durable: watch::Sender<u64>,
    /// A flush is under way; checkpoints that arrive meanwhile wait for the next one.
    flushing: AtomicBool,
}

impl EventBus {
    pub fn new(session: SessionId, sink: Arc<dyn EventSink>) -> Self {
        Self::resuming(session, sink, 0)
    }

    /// A bus that continues a stream whose next sequence number is `next_seq`.
    pub fn resuming(session: SessionId, sink: Arc<dyn EventSink>, next_seq: u64) -> Self {
        EventBus {
            session,
            sink,
            state: Mutex::new(BusState {
                next_seq,
                listeners: Vec::new(),
                failure: None,
            }),
            durable: watch::Sender::new(next_seq),
            flushing: AtomicBool::new(false),
        }
    }

    pub fn session(&self) -> SessionId {
        self.session
    }

    /// A new listener; it receives every event emitted from now on.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().listeners.push(tx);
        rx
    }

    /// Records and broadcasts an event, returning it. Recording failures are kept and
    /// reported by the next [`EventBus::checkpoint`], so emitting never fails. The
    /// process's secrets are redacted from the event first: neither the recorder nor a
    /// listener ever sees them. A live-only event ([`EventKind::is_live_only`]) is only
    /// broadcast: it is not recorded and takes no sequence number (it carries the next).
    pub fn emit(&self, agent: Option<AgentId>, mut kind: EventKind) -> Event {
        super::redact_event(&mut kind);
        let mut state = self.lock();
        let event = Event {
            session: self.session,
            seq: state.next_seq,
            at_ms: now_ms(),
            agent,
            kind,
        };
        if event.kind.is_live_only() {
            state.listeners.retain(|tx| tx.send(event.clone()).is_ok());
            return event;
        }
        state.next_seq += 1;
        if state.failure.is_none() {
            if let Err(err) = self.sink.append(&event) {
                state.failure = Some(err);
            }
        }
        state.listeners.retain(|tx| tx.send(event.clone()).is_ok());
        event
    }

    /// Marks a step boundary: everything emitted so far is made durable before the caller
    /// goes on. Returns the first recording failure, if any happened.
    ///
    /// Group commit: when no flush is under way this call starts one, covering every
    /// event emitted up to then; otherwise it waits for the flush under way and, if that
    /// one started before this call's events, for the next (which one of the waiters
    /// starts). No caller returns before a flush that began after its last event ended.
    pub async fn checkpoint(&self) -> Result<(), SinkError> {
        let target = self.lock().next_seq;
        let mut durable = self.durable.subscribe();
        loop {
            if let Some(err) = self.lock().failure.clone() {
                return Err(err);
            }
            if *durable.borrow_and_update() >= target {
                return Ok(());
            }
            if self.flushing.swap(true, Ordering::AcqRel) {
                // Someone else's flush is under way: wait for it to end (a failed flush
                // wakes the waiters too), then look again.
                if durable.changed().await.is_err() {
                    return Err(SinkError("the event bus closed".into()));
                }
                continue;
            }
            // Every event numbered below `covered` was appended before the flush starts.
            let covered = self.lock().next_seq;
            let leading = Leading { bus: self };
            let sink = Arc::clone(&self.sink);
            let flushed = match tokio::task::spawn_blocking(move || sink.flush()).await {
                Ok(result) => result,
                Err(join) => Err(SinkError(format!("flush task failed: {join}"))),
            };
            // Finished: what follows publishes the result (the guard is for cancellation).
            std::mem::forget(leading);
            self.flushing.store(false, Ordering::Release);
            match flushed {
                Ok(()) => self.durable.send_modify(|d| *d = (*d).max(covered)),
                Err(err) => {
                    self.lock().failure.get_or_insert(err);
                    // Wake the waiters: they read the failure.
                    self.durable.send_modify(|_| {});
                }
            }
        }
    }

    /// This session's events recorded so far, read back from the recorder (off the
    /// async threads: the store's reads are synchronous).
    pub async fn recorded(&self) -> Result<Vec<Event>, SinkError> {
        if let Some(err) = self.lock().failure.clone() {
            return Err(err);
        }
        let sink = Arc::clone(&self.sink);
        let session = self.session;
        let read = tokio::task::spawn_blocking(move || sink.recorded(session)).await;
        match read {
            Ok(Some(result)) => result,
            Ok(None) => Err(SinkError(
                "this session's recorder cannot read its events back".into(),
            )),
            Err(join) => Err(SinkError(format!("read task failed: {join}"))),
        }
    }

    /// The same as [`EventBus::checkpoint`] for callers outside the async runtime.
    pub fn checkpoint_blocking(&self) -> Result<(), SinkError> {
        if let Some(err) = self.lock().failure.clone() {
            return Err(err);
        }
        self.sink.flush()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BusState> {
        // A panic while holding the lock cannot leave the state half-written: every
        // field is updated by single assignments, so the poisoned state is still valid.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The flush a checkpoint leads, while it is under way. Dropped only when the leading
/// checkpoint is cancelled mid-flush: then nobody is flushing any more, and the waiters
/// are woken to lead the next one themselves.
struct Leading<'a> {
    bus: &'a EventBus,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.bus.flushing.store(false, Ordering::Release);
        self.bus.durable.send_modify(|_| {});
    }
}

/// A sink that keeps nothing; for tests and benchmarks of the runner alone.
pub struct NullSink;

impl EventSink for NullSink {
    fn append(&self, _event: &Event) -> Result<(), SinkError> {
        Ok(())
    }
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct MemorySink(Mutex<Vec<Event>>);

    impl EventSink for MemorySink {
        fn append(&self, event: &Event) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(event.clone());
            Ok(())
        }
        fn flush(&self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    struct FailingSink;

    impl EventSink for FailingSink {
        fn append(&self, _event: &Event) -> Result<(), SinkError> {
            Err(SinkError("disk full".into()))
        }
        fn flush(&self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn events_are_numbered_recorded_and_fanned_out() {
        let sink = Arc::new(MemorySink(Mutex::new(Vec::new())));
        let bus = EventBus::new(SessionId::generate(), sink.clone());
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        bus.emit(None, EventKind::Text { text: "a".into() });
        bus.emit(Some(AgentId(1)), EventKind::Text { text: "b".into() });
        bus.checkpoint().await.unwrap();
        let recorded: Vec<u64> = sink.0.lock().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(recorded, vec![0, 1]);
        for rx in [&mut first, &mut second] {
            assert_eq!(rx.recv().await.unwrap().seq, 0);
            let b = rx.recv().await.unwrap();
            assert_eq!((b.seq, b.agent), (1, Some(AgentId(1))));
        }
    }

    #[tokio::test]
    async fn live_only_events_reach_listeners_but_are_never_recorded_or_numbered() {
        let sink = Arc::new(MemorySink(Mutex::new(Vec::new())));
        let bus = EventBus::new(SessionId::generate(), sink.clone());
        let mut rx = bus.subscribe();
        bus.emit(None, EventKind::Text { text: "a".into() });
        let delta = EventKind::TextDelta {
            turn: 1,
            at: 0,
            text: "b".into(),
        };
        bus.emit(Some(AgentId(1)), delta.clone());
        bus.emit(None, EventKind::Text { text: "c".into() });
        let recorded: Vec<u64> = sink.0.lock().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(recorded, vec![0, 1], "the delta is not recorded");
        assert!(sink
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|e| !e.kind.is_live_only()));
        let heard: Vec<(u64, EventKind)> = [0, 1, 2]
            .map(|_| rx.try_recv().unwrap())
            .into_iter()
            .map(|e| (e.seq, e.kind))
            .collect();
        assert_eq!(heard[1], (1, delta), "it carries the next event's number");
        assert_eq!(heard[2].0, 1);
    }

    #[tokio::test]
    async fn a_recording_failure_surfaces_at_the_checkpoint() {
        let bus = EventBus::new(SessionId::generate(), Arc::new(FailingSink));
        bus.emit(
            None,
            EventKind::Text {
                text: "lost".into(),
            },
        );
        let err = bus.checkpoint().await.unwrap_err();
        assert!(err.0.contains("disk full"));
    }

    /// A sink whose flush takes a while and remembers how many events each covered.
    #[derive(Default)]
    struct SlowSink {
        appended: std::sync::atomic::AtomicU64,
        /// Events appended when each flush started.
        flushes: Mutex<Vec<u64>>,
        fail: bool,
    }

    impl EventSink for SlowSink {
        fn append(&self, _event: &Event) -> Result<(), SinkError> {
            self.appended.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn flush(&self) -> Result<(), SinkError> {
            let covered = self.appended.load(Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(30));
            self.flushes.lock().unwrap().push(covered);
            if self.fail {
                return Err(SinkError("fsync failed".into()));
            }
            Ok(())
        }
    }

    /// `steps` tasks each emit an event, wait until all have, then reach a step boundary.
    async fn steps_at_once(sink: Arc<SlowSink>, steps: usize) -> Vec<(u64, Result<(), SinkError>)> {
        let bus = Arc::new(EventBus::new(SessionId::generate(), sink));
        let barrier = Arc::new(tokio::sync::Barrier::new(steps));
        let tasks: Vec<_> = (0..steps)
            .map(|_| {
                let (bus, barrier) = (bus.clone(), barrier.clone());
                tokio::spawn(async move {
                    let event = bus.emit(
                        None,
                        EventKind::Text {
                            text: "step".into(),
                        },
                    );
                    barrier.wait().await;
                    (event.seq, bus.checkpoint().await)
                })
            })
            .collect();
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.unwrap());
        }
        done
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steps_that_reach_their_boundary_together_share_one_flush() {
        let sink = Arc::new(SlowSink::default());
        let done = steps_at_once(sink.clone(), 64).await;
        assert!(done.iter().all(|(_, result)| result.is_ok()));
        // Every step was emitted before any boundary: one flush covers all 64.
        assert_eq!(*sink.flushes.lock().unwrap(), vec![64]);

        // A step emitted after a flush started waits for the next one.
        let sink = Arc::new(SlowSink::default());
        let bus = Arc::new(EventBus::new(SessionId::generate(), sink.clone()));
        bus.emit(
            None,
            EventKind::Text {
                text: "first".into(),
            },
        );
        let early = tokio::spawn({
            let bus = bus.clone();
            async move { bus.checkpoint().await }
        });
        while !bus.flushing.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        bus.emit(
            None,
            EventKind::Text {
                text: "late".into(),
            },
        );
        bus.checkpoint().await.unwrap();
        early.await.unwrap().unwrap();
        assert_eq!(sink.flushes.lock().unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_leader_leaves_the_next_checkpoint_to_flush() {
        let sink = Arc::new(SlowSink::default());
        let bus = Arc::new(EventBus::new(SessionId::generate(), sink.clone()));
        bus.emit(None, EventKind::Text { text: "a".into() });
        let leader = tokio::spawn({
            let bus = bus.clone();
            async move { bus.checkpoint().await }
        });
        while !bus.flushing.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        leader.abort();
        let _ = leader.await;
        bus.emit(None, EventKind::Text { text: "b".into() });
        tokio::time::timeout(std::time::Duration::from_secs(10), bus.checkpoint())
            .await
            .expect("a checkpoint after a cancelled leader does not hang")
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_flush_fails_every_step_waiting_on_it() {
        let sink = Arc::new(SlowSink {
            fail: true,
            ..SlowSink::default()
        });
        let done = steps_at_once(sink.clone(), 16).await;
        assert!(done
            .iter()
            .all(|(_, result)| matches!(result, Err(err) if err.0.contains("fsync failed"))));
        assert_eq!(sink.flushes.lock().unwrap().len(), 1);
    }
}
