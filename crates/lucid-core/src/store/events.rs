//! Event streams: every session's events under `session id (16 bytes) ++ seq (u64)`,
//! both big-endian, so one prefix scan yields a session's events in order and streams
//! of different sessions never interleave. Values are the events as JSON.
//!
//! Appending does not fsync; [`Store::flush`] makes the appended events durable.

use std::cell::RefCell;

use super::{Store, StoreError};
use crate::event::{Event, SessionId};

const KEY_LEN: usize = 24;

/// Encoded events larger than this do not keep their buffer around afterwards.
const KEEP_BUFFER: usize = 64 * 1024;

thread_local! {
    /// Reused encoding buffer: an append then allocates only sled's copy of the value.
    static ENCODE_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn event_key(session: SessionId, seq: u64) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[..16].copy_from_slice(&session.to_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn key_seq(key: &[u8]) -> Result<u64, StoreError> {
    if key.len() != KEY_LEN {
        return Err(StoreError::Corrupt {
            what: format!("event key of {} bytes, expected {KEY_LEN}", key.len()),
        });
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&key[16..]);
    Ok(u64::from_be_bytes(seq))
}

impl Store {
    /// Records one event (under its session and sequence number) and folds it into the
    /// session's summary. Does not fsync; see [`Store::flush`].
    pub fn append_event(&self, event: &Event) -> Result<(), StoreError> {
        let key = event_key(event.session, event.seq);
        let encode_error = |err: serde_json::Error| {
            StoreError::Io(format!(
                "could not encode event {} #{}: {err}",
                event.session, event.seq
            ))
        };
        ENCODE_BUFFER.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => {
                buffer.clear();
                serde_json::to_writer(&mut *buffer, event).map_err(encode_error)?;
                let result = self.inner.events.insert(key, buffer.as_slice());
                if buffer.capacity() > KEEP_BUFFER {
                    *buffer = Vec::new();
                }
                result.map(drop).map_err(StoreError::from)
            }
            // Only reachable by re-entry, which nothing does; stay correct regardless.
            Err(_) => {
                let value = serde_json::to_vec(event).map_err(encode_error)?;
                self.inner.events.insert(key, value)?;
                Ok(())
            }
        })?;
        self.track(event)
    }

    /// A session's events in sequence order; empty for an unknown session.
    pub fn events(&self, session: SessionId) -> Result<Vec<Event>, StoreError> {
        self.each_event(session).collect()
    }

    /// A session's events in order, read one at a time (a fold over a long session
    /// never holds all of them).
    pub fn each_event(
        &self,
        session: SessionId,
    ) -> impl Iterator<Item = Result<Event, StoreError>> + use<> {
        self.inner
            .events
            .scan_prefix(session.to_bytes())
            .map(move |item| {
                let (key, value) = item?;
                let seq = key_seq(&key)?;
                let event: Event =
                    serde_json::from_slice(&value).map_err(|err| StoreError::Corrupt {
                        what: format!("event {session} #{seq}: {err}"),
                    })?;
                if event.session != session || event.seq != seq {
                    return Err(StoreError::Corrupt {
                        what: format!(
                            "event stored as {session} #{seq} says {} #{}",
                            event.session, event.seq
                        ),
                    });
                }
                Ok(event)
            })
    }

    /// The sequence number the session's next event gets: the last one plus one, 0 for
    /// a session with no events. For resuming a stream.
    pub fn next_seq(&self, session: SessionId) -> Result<u64, StoreError> {
        match self
            .inner
            .events
            .scan_prefix(session.to_bytes())
            .next_back()
        {
            None => Ok(0),
            Some(item) => {
                let (key, _) = item?;
                key_seq(&key)?
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Corrupt {
                        what: format!("event sequence of {session} is exhausted"),
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{EventBus, EventKind, EventSink};
    use crate::store::testing::{event, open_in, started, temp_store, tool_called};

    fn text(n: u64) -> EventKind {
        EventKind::Text {
            text: format!("line {n}"),
        }
    }

    #[test]
    fn events_round_trip_in_order_without_interleaving_sessions() {
        let (dir, store) = temp_store();
        // Adjacent ids: a key layout that put the seq first would interleave them.
        let a = SessionId(0x0190_0000_0000_0000_0000_0000_0000_0000);
        let b = SessionId(a.0 + 1);
        let mut expected_a = Vec::new();
        let mut expected_b = Vec::new();
        // Past 255, so a little-endian seq would sort out of order.
        for seq in 0..300 {
            let ea = event(a, seq, text(seq));
            let eb = event(b, seq, tool_called(&format!("t{seq}")));
            store.append_event(&eb).unwrap();
            store.append_event(&ea).unwrap();
            expected_a.push(ea);
            expected_b.push(eb);
        }
        assert_eq!(store.events(a).unwrap(), expected_a);
        assert_eq!(store.events(b).unwrap(), expected_b);
        assert!(store.events(SessionId(b.0 + 1)).unwrap().is_empty());

        store.flush().unwrap();
        drop(store);
        let reopened = open_in(&dir).unwrap();
        assert_eq!(reopened.events(a).unwrap(), expected_a);
        assert_eq!(reopened.events(b).unwrap(), expected_b);
    }

    #[test]
    fn next_seq_continues_each_stream() {
        let (dir, store) = temp_store();
        let a = SessionId(0x0190_0000_0000_0000_0000_0000_0000_0000);
        let b = SessionId(a.0 + 1);
        assert_eq!(store.next_seq(a).unwrap(), 0);
        for seq in 0..260 {
            store.append_event(&event(a, seq, text(seq))).unwrap();
        }
        store.append_event(&event(b, 0, text(0))).unwrap();
        assert_eq!(store.next_seq(a).unwrap(), 260);
        assert_eq!(store.next_seq(b).unwrap(), 1);
        drop(store);
        assert_eq!(open_in(&dir).unwrap().next_seq(a).unwrap(), 260);
    }

    #[test]
    fn a_corrupt_event_is_an_error_not_a_panic() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        store.append_event(&event(id, 0, started("t"))).unwrap();
        store
            .inner
            .events
            .insert(event_key(id, 1), &b"{\"session\":"[..])
            .unwrap();
        match store.events(id) {
            Err(StoreError::Corrupt { what }) => {
                assert!(
                    what.contains(&id.to_string()) && what.contains("#1"),
                    "{what}"
                )
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }

        // A well-formed event filed under the wrong position is caught too.
        let misfiled = serde_json::to_vec(&event(id, 9, text(9))).unwrap();
        store
            .inner
            .events
            .insert(event_key(id, 1), misfiled)
            .unwrap();
        assert!(matches!(store.events(id), Err(StoreError::Corrupt { .. })));

        // So is a key of the wrong length.
        let mut short = id.to_bytes().to_vec();
        short.push(0xff);
        store.inner.events.insert(short, &b"{}"[..]).unwrap();
        assert!(matches!(
            store.next_seq(id),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn the_store_records_a_bus_as_its_sink() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        let bus = EventBus::new(id, Arc::new(store.clone()));
        bus.emit(None, started("t"));
        bus.emit(None, text(1));
        bus.checkpoint_blocking().unwrap();
        let recorded = store.events(id).unwrap();
        assert_eq!(recorded.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(recorded[1].kind, text(1));

        let resumed = EventBus::resuming(id, Arc::new(store.clone()), store.next_seq(id).unwrap());
        assert_eq!(resumed.emit(None, text(2)).seq, 2);
        EventSink::flush(&store).unwrap();
        assert_eq!(store.events(id).unwrap().len(), 3);
    }
}
