//! Events appended since the last write, per session, already encoded: the bytes of a
//! JSON array that grows by one element per append. A flush (or a batch reaching
//! [`BATCH_BYTES`]) writes each batch as one record of the `events` tree, so sled sees
//! one insert per session per step boundary instead of one per event.
//!
//! A batch only ever holds consecutive sequence numbers: an append that skips ahead
//! closes the batch first, and one numbered at or below the last is refused (see
//! [`Order`]). The record's key carries the batch's *last* sequence number, so the last
//! key of a session still says where its stream ends. A write that fails leaves the
//! batch as it was.

use std::collections::HashMap;

use crate::event::SessionId;

/// A batch this large is written at once, without waiting for the flush: it bounds the
/// memory a session holds between step boundaries. A sled leaf of such records (up to
/// 17 before it splits) can pass the 128 KiB at which sled keeps the leaf in a file of
/// its own (`blobs/`); measured on an offline fleet of 10,000 agents, 16 KiB records (57
/// such files) took 1.4 s and 102 MB, and 4 KiB records (none) 1.7-2.1 s and 116-125 MB.
pub(super) const BATCH_BYTES: usize = 16 * 1024;

/// One session's pending events.
struct Batch {
    /// `[` and the encoded events, comma-separated; `]` is added to write it.
    bytes: Vec<u8>,
    /// The sequence number of the last event appended (written or not).
    last: u64,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.bytes.len() <= 1
    }

    /// Empties the batch once its record is written, keeping a buffer of ordinary size
    /// for the next step.
    fn clear(&mut self) {
        if self.bytes.capacity() > 2 * BATCH_BYTES {
            self.bytes = Vec::with_capacity(64);
            self.bytes.push(b'[');
        } else {
            self.bytes.truncate(1);
        }
    }
}

/// Where an event stands against its session's pending batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    /// Nothing is pending, or it follows the last pending event: it joins the batch.
    Joins,
    /// It does not follow what is pending: the batch must be written first.
    Gap,
    /// It is numbered at or below an event already appended: a second writer.
    Backwards { last: u64 },
}

/// Every session's pending events.
#[derive(Default)]
pub(super) struct Pending {
    batches: HashMap<SessionId, Batch>,
}

impl Pending {
    /// How `seq` fits the session's batch.
    pub fn order(&self, session: SessionId, seq: u64) -> Order {
        match self.batches.get(&session) {
            None => Order::Joins,
            Some(batch) if seq <= batch.last => Order::Backwards { last: batch.last },
            Some(batch) if batch.is_empty() || batch.last + 1 == seq => Order::Joins,
            Some(_) => Order::Gap,
        }
    }

    /// Adds one encoded event to its session's batch (see [`Pending::order`] first);
    /// true when the batch has reached [`BATCH_BYTES`] and should be written now.
    pub fn push(&mut self, session: SessionId, seq: u64, encoded: &[u8]) -> bool {
        let batch = self.batches.entry(session).or_insert_with(|| Batch {
            bytes: vec![b'['],
            last: seq,
        });
        if !batch.is_empty() {
            batch.bytes.push(b',');
        }
        batch.bytes.extend_from_slice(encoded);
        batch.last = seq;
        batch.bytes.len() >= BATCH_BYTES
    }

    /// Hands one session's pending events to `write` as a record: its last sequence
    /// number and the JSON array. The batch is emptied only if `write` succeeds.
    pub fn write<E>(
        &mut self,
        session: SessionId,
        write: impl FnOnce(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(batch) = self.batches.get_mut(&session).filter(|b| !b.is_empty()) else {
            return Ok(());
        };
        batch.bytes.push(b']');
        let written = write(batch.last, &batch.bytes);
        batch.bytes.pop();
        if written.is_ok() {
            batch.clear();
        }
        written
    }

    /// Hands every pending batch to `commit` as records (session, last sequence number,
    /// JSON array) to write at once; the batches are emptied only if it succeeds.
    /// Sessions with nothing pending since the last time are forgotten (their buffers
    /// freed).
    pub fn write_all<E>(
        &mut self,
        commit: impl FnOnce(&[(SessionId, u64, &[u8])]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.batches.retain(|_, batch| !batch.is_empty());
        if self.batches.is_empty() {
            return Ok(());
        }
        self.batches.values_mut().for_each(|b| b.bytes.push(b']'));
        let records: Vec<(SessionId, u64, &[u8])> = self
            .batches
            .iter()
            .map(|(&session, batch)| (session, batch.last, batch.bytes.as_slice()))
            .collect();
        let written = commit(&records);
        self.batches.values_mut().for_each(|b| {
            b.bytes.pop();
        });
        if written.is_ok() {
            self.batches.values_mut().for_each(Batch::clear);
        }
        written
    }

    /// One session's batch, if it holds events.
    fn holding(&self, session: SessionId) -> Option<&Batch> {
        self.batches.get(&session).filter(|b| !b.is_empty())
    }

    /// A copy of one session's pending events as a JSON array, if it has any.
    pub fn snapshot(&self, session: SessionId) -> Option<Vec<u8>> {
        let batch = self.holding(session)?;
        let mut value = Vec::with_capacity(batch.bytes.len() + 1);
        value.extend_from_slice(&batch.bytes);
        value.push(b']');
        Some(value)
    }

    /// The sequence number of one session's last pending event, if it has any.
    pub fn last_seq(&self, session: SessionId) -> Option<u64> {
        self.holding(session).map(|batch| batch.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(n: u128) -> SessionId {
        SessionId(0x0190_0000_0000_0000_0000_0000_0000_0000 + n)
    }

    /// Every record `write_all` hands over, sorted by session.
    fn write_all(pending: &mut Pending) -> Vec<(SessionId, u64, String)> {
        let mut records = Vec::new();
        pending
            .write_all(|written| {
                for &(session, last, value) in written {
                    records.push((session, last, String::from_utf8(value.to_vec()).unwrap()));
                }
                Ok::<(), ()>(())
            })
            .unwrap();
        records.sort();
        records
    }

    #[test]
    fn consecutive_events_make_one_array_keyed_by_the_last() {
        let mut pending = Pending::default();
        assert_eq!(pending.order(session(1), 4), Order::Joins);
        assert!(!pending.push(session(1), 4, b"{\"a\":4}"));
        assert_eq!(pending.order(session(1), 5), Order::Joins);
        pending.push(session(1), 5, b"{\"a\":5}");
        pending.push(session(2), 0, b"{\"b\":0}");
        assert_eq!(pending.last_seq(session(1)), Some(5));
        assert_eq!(
            pending.snapshot(session(1)).as_deref(),
            Some(&b"[{\"a\":4},{\"a\":5}]"[..])
        );
        assert_eq!(
            write_all(&mut pending),
            [
                (session(1), 5, "[{\"a\":4},{\"a\":5}]".to_string()),
                (session(2), 0, "[{\"b\":0}]".to_string()),
            ]
        );
        // Written, nothing is pending; the order is still known until the next flush.
        assert_eq!(pending.last_seq(session(1)), None);
        assert!(pending.snapshot(session(1)).is_none());
        assert_eq!(pending.order(session(1), 5), Order::Backwards { last: 5 });
        assert!(write_all(&mut pending).is_empty());
        assert!(pending.batches.is_empty(), "idle sessions are forgotten");
    }

    #[test]
    fn a_gap_or_a_step_back_is_told_apart_from_the_next_event() {
        let mut pending = Pending::default();
        pending.push(session(1), 0, b"0");
        pending.push(session(1), 1, b"1");
        assert_eq!(pending.order(session(1), 2), Order::Joins);
        assert_eq!(pending.order(session(1), 7), Order::Gap);
        assert_eq!(pending.order(session(1), 1), Order::Backwards { last: 1 });
        assert_eq!(pending.order(session(1), 0), Order::Backwards { last: 1 });
        assert_eq!(pending.order(session(2), 9), Order::Joins);
    }

    #[test]
    fn a_failed_write_keeps_every_event_pending() {
        let mut pending = Pending::default();
        pending.push(session(1), 0, b"0");
        pending.push(session(2), 0, b"0");
        let failed = pending.write(session(1), |_, _| Err("disk full"));
        assert_eq!(failed, Err("disk full"));
        let failed = pending.write_all(|_| Err("disk full"));
        assert_eq!(failed, Err("disk full"));
        assert_eq!(pending.snapshot(session(1)).as_deref(), Some(&b"[0]"[..]));
        pending.push(session(1), 1, b"1");
        let mut written = None;
        pending
            .write(session(1), |last, value| {
                written = Some((last, value.to_vec()));
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(written, Some((1, b"[0,1]".to_vec())));
        assert_eq!(
            write_all(&mut pending),
            [(session(2), 0, "[0]".to_string())]
        );
    }

    #[test]
    fn a_batch_says_when_it_is_full() {
        let mut pending = Pending::default();
        let event = vec![b'1'; 1000];
        let full_at = (0..40u64)
            .find(|&seq| pending.push(session(1), seq, &event))
            .unwrap();
        assert_eq!(full_at as usize, BATCH_BYTES / 1001);
    }
}
