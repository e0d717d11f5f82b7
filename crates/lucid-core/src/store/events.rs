//! Event streams: every session's events under `session id (16 bytes) ++ seq (u64)`,
//! both big-endian, so one prefix scan yields a session's events in order and streams
//! of different sessions never interleave.
//!
//! A record holds the events one write covered, as a JSON array, under the sequence
//! number of its *last* event: appends wait in [`super::batch`] and a flush writes each
//! session's as one record (stores written before batching hold one event per record,
//! as a JSON object; both read the same). Reads see pending events too.
//!
//! A session's events are appended in order by one writer (its bus), so its newest
//! record always sorts after the others: a reader that copies the pending events and
//! then scans finds every event once, wherever a flush moved it meanwhile. An event
//! numbered at or below one already appended is refused.
//!
//! Appending does not fsync; [`Store::flush`] makes the appended events durable.

use std::cell::RefCell;

use super::batch::{Order, Pending};
use super::{Inner, Store, StoreError};
use crate::event::{Event, SessionId};

const KEY_LEN: usize = 24;

/// Encoded events larger than this do not keep their buffer around afterwards.
const KEEP_BUFFER: usize = 64 * 1024;

thread_local! {
    /// Reused encoding buffer: an append then only copies the bytes into its batch.
    static ENCODE_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn event_key(session: SessionId, seq: u64) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[..16].copy_from_slice(&session.to_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The session and sequence number a key names.
fn split_key(key: &[u8]) -> Result<(SessionId, u64), StoreError> {
    let (session, seq) = <[u8; KEY_LEN]>::try_from(key)
        .map(|key| {
            let mut session = [0u8; 16];
            session.copy_from_slice(&key[..16]);
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&key[16..]);
            (SessionId::from_bytes(session), u64::from_be_bytes(seq))
        })
        .map_err(|_| StoreError::Corrupt {
            what: format!("event key of {} bytes, expected {KEY_LEN}", key.len()),
        })?;
    Ok((session, seq))
}

/// The events of one stored record, checked against its key: the key's session, and
/// consecutive sequence numbers ending at the key's.
pub(super) fn decode_record(key: &[u8], value: &[u8]) -> Result<Vec<Event>, StoreError> {
    let (session, seq) = split_key(key)?;
    let corrupt = |what: String| StoreError::Corrupt { what };
    let events: Vec<Event> = if value.first() == Some(&b'[') {
        serde_json::from_slice(value)
    } else {
        serde_json::from_slice(value).map(|event| vec![event])
    }
    .map_err(|err| corrupt(format!("event {session} #{seq}: {err}")))?;
    // The first event's number: the key's, less the events after it.
    let first = (events.len() as u64)
        .checked_sub(1)
        .and_then(|after| seq.checked_sub(after));
    let misfiled = match first {
        None => true,
        Some(first) => events
            .iter()
            .zip(first..=seq)
            .any(|(event, expected)| event.session != session || event.seq != expected),
    };
    if misfiled {
        let found: Vec<String> = events
            .iter()
            .take(3)
            .map(|e| format!("{} #{}", e.session, e.seq))
            .collect();
        return Err(corrupt(format!(
            "events stored as {session} up to #{seq} say {}",
            if found.is_empty() {
                "nothing".to_string()
            } else {
                found.join(", ")
            }
        )));
    }
    Ok(events)
}

impl Inner {
    /// Writes every pending batch to the `events` tree as one atomic write (without
    /// fsync). If it fails, every event stays pending.
    pub(super) fn write_pending(&self) -> Result<(), StoreError> {
        self.pending().write_all(|records| {
            let mut batch = sled::Batch::default();
            for &(session, last, value) in records {
                batch.insert(&event_key(session, last), value);
            }
            self.mark_schema()?;
            self.events.apply_batch(batch).map_err(StoreError::from)
        })
    }

    /// Writes one session's pending batch, if it has one; if that fails, it stays
    /// pending.
    pub(super) fn write_session(
        &self,
        pending: &mut Pending,
        session: SessionId,
    ) -> Result<(), StoreError> {
        pending.write(session, |last, value| {
            self.mark_schema()?;
            self.events.insert(event_key(session, last), value)?;
            Ok(())
        })
    }
}

impl Store {
    /// Records one event (under its session and sequence number) and folds it into the
    /// session's summary. Does not fsync; see [`Store::flush`].
    pub fn append_event(&self, event: &Event) -> Result<(), StoreError> {
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
                let result = self.pend(event, &buffer);
                if buffer.capacity() > KEEP_BUFFER {
                    *buffer = Vec::new();
                }
                result
            }
            // Only reachable by re-entry, which nothing does; stay correct regardless.
            Err(_) => {
                let encoded = serde_json::to_vec(event).map_err(encode_error)?;
                self.pend(event, &encoded)
            }
        })?;
        self.track(event)
    }

    /// Adds an encoded event to its session's batch, writing what has to be written now.
    /// Records are written while the batches are locked, so a reader never finds an
    /// event in neither place.
    fn pend(&self, event: &Event, encoded: &[u8]) -> Result<(), StoreError> {
        let (session, seq) = (event.session, event.seq);
        let mut pending = self.inner.pending();
        match pending.order(session, seq) {
            Order::Joins => {}
            Order::Gap => self.inner.write_session(&mut pending, session)?,
            Order::Backwards { last } => {
                return Err(StoreError::Corrupt {
                    what: format!(
                        "event {session} #{seq} arrived after #{last}: two writers for one session"
                    ),
                })
            }
        }
        if pending.push(session, seq, encoded) {
            self.inner.write_session(&mut pending, session)?;
        }
        Ok(())
    }

    /// Writes this session's pending events before its summary is saved, so a summary
    /// on disk never runs ahead of the events it counts.
    pub(super) fn write_events_of(&self, session: SessionId) -> Result<(), StoreError> {
        self.inner.write_session(&mut self.inner.pending(), session)
    }

    /// A session's events in sequence order; empty for an unknown session.
    pub fn events(&self, session: SessionId) -> Result<Vec<Event>, StoreError> {
        self.each_event(session).collect()
    }

    /// A session's events in order, read one record at a time (a fold over a long
    /// session never holds all of them), then those not written yet.
    pub fn each_event(
        &self,
        session: SessionId,
    ) -> impl Iterator<Item = Result<Event, StoreError>> + use<> {
        // Taken before the scan: whatever a flush moves from here to the tree meanwhile
        // is found by the scan, and skipped here by its sequence number.
        let pending = self.inner.pending().snapshot(session);
        EventsOf {
            session,
            stored: self.inner.events.scan_prefix(session.to_bytes()).fuse(),
            pending,
            record: Vec::new().into_iter(),
            last: None,
            failed: false,
        }
    }

    /// The sequence number the session's next event gets: the last one plus one, 0 for
    /// a session with no events. For resuming a stream.
    pub fn next_seq(&self, session: SessionId) -> Result<u64, StoreError> {
        // Pending events follow every stored one; the stored end is read (and checked)
        // regardless.
        let pending = self.inner.pending().last_seq(session);
        let stored = match self
            .inner
            .events
            .scan_prefix(session.to_bytes())
            .next_back()
        {
            None => 0,
            Some(item) => {
                let (key, _) = item?;
                split_key(&key)?
                    .1
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Corrupt {
                        what: format!("event sequence of {session} is exhausted"),
                    })?
            }
        };
        match pending {
            None => Ok(stored),
            Some(last) => last
                .checked_add(1)
                .map(|next| next.max(stored))
                .ok_or_else(|| StoreError::Corrupt {
                    what: format!("event sequence of {session} is exhausted"),
                }),
        }
    }
}

/// The iterator [`Store::each_event`] returns: stored records in key order, each
/// decoded when reached, then the pending events the records did not cover. Ends after
/// the first error.
struct EventsOf {
    session: SessionId,
    /// Fused: a sled scan that has ended may find records written since, which the
    /// pending copy read afterwards already holds.
    stored: std::iter::Fuse<sled::Iter>,
    pending: Option<Vec<u8>>,
    /// The rest of the record in hand.
    record: std::vec::IntoIter<Event>,
    /// The sequence number of the last event yielded.
    last: Option<u64>,
    failed: bool,
}

impl EventsOf {
    fn next_record(&mut self) -> Option<Result<Vec<Event>, StoreError>> {
        if let Some(item) = self.stored.next() {
            return Some(
                item.map_err(StoreError::from)
                    .and_then(|(key, value)| decode_record(&key, &value)),
            );
        }
        let bytes = self.pending.take()?;
        let session = self.session;
        let last = self.last;
        Some(
            serde_json::from_slice::<Vec<Event>>(&bytes)
                .map_err(|err| StoreError::Corrupt {
                    what: format!("pending events of {session}: {err}"),
                })
                .map(|mut events| {
                    events.retain(|e| last.is_none_or(|last| e.seq > last));
                    events
                }),
        )
    }
}

impl Iterator for EventsOf {
    type Item = Result<Event, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(event) = self.record.next() {
                if self.last.is_some_and(|last| event.seq <= last) {
                    self.failed = true;
                    return Some(Err(StoreError::Corrupt {
                        what: format!(
                            "event {} #{} is stored after #{}",
                            self.session,
                            event.seq,
                            self.last.unwrap_or_default()
                        ),
                    }));
                }
                self.last = Some(event.seq);
                return Some(Ok(event));
            }
            match self.next_record()? {
                Ok(events) => self.record = events.into_iter(),
                Err(err) => {
                    self.failed = true;
                    return Some(Err(err));
                }
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
    fn a_flush_writes_each_sessions_events_as_one_record_and_reads_see_them_before() {
        let (_dir, store) = temp_store();
        let a = SessionId::generate();
        let b = SessionId(a.0 + 1);
        let expected: Vec<Event> = (0..30).map(|seq| event(a, seq, text(seq))).collect();
        let encoded: usize = expected
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap().len() + 1)
            .sum();
        assert!(
            encoded < super::super::batch::BATCH_BYTES,
            "one batch holds them"
        );
        for e in &expected {
            store.append_event(e).unwrap();
        }
        store.append_event(&event(b, 0, text(0))).unwrap();
        assert_eq!(
            store.events(a).unwrap(),
            expected,
            "pending events read back"
        );
        assert_eq!(store.next_seq(a).unwrap(), 30);
        assert_eq!(
            store.inner.events.len(),
            0,
            "nothing written before the flush"
        );

        store.flush().unwrap();
        assert_eq!(store.inner.events.len(), 2, "one record per session");
        assert_eq!(store.events(a).unwrap(), expected);
        assert_eq!(store.next_seq(a).unwrap(), 30);
        assert_eq!(store.check().counts[1], ("events", 31));
    }

    #[test]
    fn a_read_begun_before_a_flush_yields_every_event_once() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        for seq in 0..10 {
            store.append_event(&event(id, seq, text(seq))).unwrap();
        }
        store.flush().unwrap();
        for seq in 10..20 {
            store.append_event(&event(id, seq, text(seq))).unwrap();
        }
        // The read takes its copy of the pending events, then they move to the tree.
        let reading = store.each_event(id);
        store.flush().unwrap();
        let seqs: Vec<u64> = reading.map(|e| e.unwrap().seq).collect();
        assert_eq!(seqs, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn reads_during_appends_and_flushes_always_see_a_whole_prefix() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                for seq in 0..3000 {
                    // Now and then an event large enough to fill a batch on its own.
                    let kind = if seq % 500 == 0 {
                        EventKind::Text {
                            text: "x".repeat(20_000),
                        }
                    } else {
                        text(seq)
                    };
                    store.append_event(&event(id, seq, kind)).unwrap();
                    if seq % 97 == 0 {
                        store.flush().unwrap();
                    }
                }
            })
        };
        let mut longest = 0;
        loop {
            let done = writer.is_finished();
            let seqs: Vec<u64> = store.each_event(id).map(|e| e.unwrap().seq).collect();
            assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
            assert!(seqs.len() >= longest, "a later read never sees less");
            longest = seqs.len();
            if done {
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(longest, 3000);
    }

    #[test]
    fn a_store_of_one_event_per_record_reads_as_before_and_continues() {
        let (dir, store) = temp_store();
        let id = SessionId::generate();
        // Schema 1 wrote every event as one JSON object under its own sequence number.
        let old: Vec<Event> = (0..3).map(|seq| event(id, seq, text(seq))).collect();
        for e in &old {
            let value = serde_json::to_vec(e).unwrap();
            store
                .inner
                .events
                .insert(event_key(id, e.seq), value)
                .unwrap();
        }
        store
            .inner
            .meta
            .insert(b"schema_version", &1u32.to_be_bytes())
            .unwrap();
        store.flush().unwrap();
        drop(store);

        let store = open_in(&dir).unwrap();
        let marked = |store: &Store| store.inner.meta.get(b"schema_version").unwrap().unwrap();
        assert_eq!(
            marked(&store).as_ref(),
            &1u32.to_be_bytes(),
            "reading leaves an older store usable by an older lucid"
        );
        assert_eq!(store.events(id).unwrap(), old);
        assert_eq!(store.next_seq(id).unwrap(), 3);
        let more: Vec<Event> = (3..6).map(|seq| event(id, seq, text(seq))).collect();
        for e in &more {
            store.append_event(e).unwrap();
        }
        store.flush().unwrap();
        assert_eq!(
            marked(&store).as_ref(),
            &crate::store::SCHEMA_VERSION.to_be_bytes(),
            "written in the new layout, an older lucid refuses it instead of misreading it"
        );
        assert_eq!(store.events(id).unwrap(), [old, more].concat());
        assert!(store.check().is_healthy());
    }

    #[test]
    fn a_record_whose_events_do_not_match_its_key_is_corrupt() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        // Two events filed as if they ended at #5: they say #0 and #1.
        let batch = serde_json::to_vec(&[event(id, 0, text(0)), event(id, 1, text(1))]).unwrap();
        store.inner.events.insert(event_key(id, 5), batch).unwrap();
        match store.events(id) {
            Err(StoreError::Corrupt { what }) => assert!(what.contains("#5"), "{what}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // An empty record is no record.
        let other = SessionId(id.0 + 1);
        store
            .inner
            .events
            .insert(event_key(other, 0), &b"[]"[..])
            .unwrap();
        assert!(matches!(
            store.events(other),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn an_event_numbered_at_or_below_one_appended_is_refused() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        for seq in 0..5 {
            store.append_event(&event(id, seq, text(seq))).unwrap();
        }
        for seq in [4, 0] {
            match store.append_event(&event(id, seq, text(seq))) {
                Err(StoreError::Corrupt { what }) => {
                    assert!(what.contains("two writers"), "{what}")
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
        store.flush().unwrap();
        assert!(
            store.append_event(&event(id, 3, text(3))).is_err(),
            "written or not"
        );
        assert_eq!(
            store.events(id).unwrap().len(),
            5,
            "nothing was overwritten"
        );
    }

    #[test]
    fn a_summary_on_disk_never_runs_ahead_of_its_events() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        store.append_event(&event(id, 0, started("t"))).unwrap();
        // The start is a milestone: its summary is saved, and the event before it.
        assert!(store.inner.sessions.get(id.to_bytes()).unwrap().is_some());
        assert_eq!(store.inner.events.len(), 1);
    }

    #[test]
    fn the_largest_sequence_numbers_are_errors_not_panics() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        let at_the_end = |session| Event {
            seq: u64::MAX,
            ..event(session, 0, text(0))
        };
        let last = at_the_end(id);
        store
            .inner
            .events
            .insert(
                event_key(id, u64::MAX),
                serde_json::to_vec(&[&last]).unwrap(),
            )
            .unwrap();
        assert_eq!(store.events(id).unwrap(), [last]);
        assert!(matches!(
            store.next_seq(id),
            Err(StoreError::Corrupt { .. })
        ));
        // Two events cannot end at #0.
        let other = SessionId(id.0 + 1);
        let two = serde_json::to_vec(&[event(other, 0, text(0)), event(other, 1, text(1))]);
        store
            .inner
            .events
            .insert(event_key(other, 0), two.unwrap())
            .unwrap();
        assert!(matches!(
            store.events(other),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(!store.check().is_healthy());

        let pending = SessionId(id.0 + 2);
        store.append_event(&at_the_end(pending)).unwrap();
        assert!(matches!(
            store.next_seq(pending),
            Err(StoreError::Corrupt { .. })
        ));
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
