//! The in-process bus: redacts secrets, assigns sequence numbers, records, then fans out.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

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
    pub async fn checkpoint(&self) -> Result<(), SinkError> {
        if let Some(err) = self.lock().failure.clone() {
            return Err(err);
        }
        let sink = Arc::clone(&self.sink);
        match tokio::task::spawn_blocking(move || sink.flush()).await {
            Ok(result) => result,
            Err(join) => Err(SinkError(format!("flush task failed: {join}"))),
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
}
