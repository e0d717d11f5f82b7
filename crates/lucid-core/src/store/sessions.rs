//! Stored session summaries and the in-memory cache of the sessions this handle is
//! writing: folding appended events in, reading summaries back, finding a session by
//! what a person typed (a full id, a prefix of one, or a prefix of a short id).
//!
//! A summary is written to the `sessions` tree when its session starts, after each
//! grading, when it finishes, after every [`SAVE_EVERY`] other changes, and at
//! [`Store::flush`], so after a flush the stored summary is current.
//!
//! One process owns a store at a time, so a summary stored as `running` whose session
//! this handle is not writing belongs to a run that ended without finishing: it reads
//! back as [`SessionStatus::Interrupted`].

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::summary::{SessionStatus, SessionSummary};
use super::{Store, StoreError};
use crate::event::short_id::SHOWN_CANDIDATES;
use crate::event::{Ambiguity, Candidate, Event, EventKind, IdQuery, Pick, SessionId};

/// How many summary changes may stay unsaved between the milestone writes.
const SAVE_EVERY: u32 = 256;

/// The summary of a session this handle is writing, with its unsaved change count.
pub(super) struct LiveSummary {
    summary: SessionSummary,
    unsaved: u32,
}

/// Every session this handle has appended to; `None` for a stream without a summary
/// (no `SessionStarted` seen or stored), remembered so it is looked up only once.
pub(super) type LiveSummaries = HashMap<SessionId, Option<LiveSummary>>;

/// Writes every summary with unsaved changes.
pub(super) fn save_unsaved(live: &mut LiveSummaries, tree: &sled::Tree) -> Result<(), StoreError> {
    for entry in live.values_mut().flatten() {
        if entry.unsaved > 0 {
            put_summary(tree, &entry.summary)?;
            entry.unsaved = 0;
        }
    }
    Ok(())
}

fn put_summary(tree: &sled::Tree, summary: &SessionSummary) -> Result<(), StoreError> {
    let value = serde_json::to_vec(summary).map_err(|err| {
        StoreError::Io(format!(
            "could not encode the summary of {}: {err}",
            summary.id
        ))
    })?;
    tree.insert(summary.id.to_bytes(), value)?;
    Ok(())
}

pub(super) fn decode_summary(id: SessionId, bytes: &[u8]) -> Result<SessionSummary, StoreError> {
    let summary: SessionSummary =
        serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
            what: format!("summary of session {id}: {err}"),
        })?;
    if summary.id != id {
        return Err(StoreError::Corrupt {
            what: format!("summary stored under {id} is for {}", summary.id),
        });
    }
    Ok(summary)
}

pub(super) fn decode_key(key: &[u8]) -> Result<SessionId, StoreError> {
    <[u8; 16]>::try_from(key)
        .map(SessionId::from_bytes)
        .map_err(|_| StoreError::Corrupt {
            what: format!("session key of {} bytes, expected 16", key.len()),
        })
}

/// A stored summary as this handle sees it: the live copy when it is writing the
/// session, else the stored one with an unfinished run marked interrupted.
fn resolve(live: &LiveSummaries, mut stored: SessionSummary) -> SessionSummary {
    if let Some(Some(entry)) = live.get(&stored.id) {
        return entry.summary.clone();
    }
    if stored.status == SessionStatus::Running {
        stored.status = SessionStatus::Interrupted;
    }
    stored
}

impl Store {
    /// Folds an appended event into its session's summary, writing the summary when a
    /// milestone or enough changes call for it.
    pub(super) fn track(&self, event: &Event) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let mut live = inner.live();
        let slot = match live.entry(event.session) {
            Entry::Occupied(slot) => slot.into_mut(),
            Entry::Vacant(vacant) => {
                // First event of this session through this handle: pick up a stored
                // summary (a resumed run), so the counts carry on.
                let stored = match inner.sessions.get(event.session.to_bytes())? {
                    Some(bytes) => Some(decode_summary(event.session, &bytes)?),
                    None => None,
                };
                // From now on it reads as running: this handle is writing it.
                vacant.insert(stored.map(|summary| LiveSummary {
                    summary,
                    unsaved: 0,
                }))
            }
        };
        let entry = match slot {
            Some(entry) => {
                if entry.summary.apply(event) {
                    entry.unsaved += 1;
                }
                entry
            }
            None => match SessionSummary::start(event) {
                Some(summary) => slot.insert(LiveSummary {
                    summary,
                    unsaved: 1,
                }),
                None => return Ok(()),
            },
        };
        let milestone = matches!(
            event.kind,
            EventKind::SessionStarted { .. }
                | EventKind::GradingFinished { .. }
                | EventKind::SessionFinished { .. }
        );
        if entry.unsaved > 0 && (milestone || entry.unsaved >= SAVE_EVERY) {
            // The events it counts go first (the summaries' lock is held: the batches'
            // is only ever taken inside it, never the other way round).
            self.write_events_of(event.session)?;
            put_summary(&inner.sessions, &entry.summary)?;
            entry.unsaved = 0;
        }
        Ok(())
    }

    /// The summary of one session, if the store has it.
    pub fn session(&self, id: SessionId) -> Result<Option<SessionSummary>, StoreError> {
        // Read before taking the lock; a session that turns live meanwhile is answered
        // from the live copy below.
        let stored = self.inner.sessions.get(id.to_bytes())?;
        let live = self.inner.live();
        if let Some(Some(entry)) = live.get(&id) {
            return Ok(Some(entry.summary.clone()));
        }
        match stored {
            Some(bytes) => Ok(Some(resolve(&live, decode_summary(id, &bytes)?))),
            None => Ok(None),
        }
    }

    /// Every session's summary, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let mut stored = Vec::new();
        for item in self.inner.sessions.iter() {
            let (key, value) = item?;
            stored.push(decode_summary(decode_key(&key)?, &value)?);
        }
        let live = self.inner.live();
        Ok(stored
            .into_iter()
            .map(|summary| resolve(&live, summary))
            .collect())
    }

    /// The session that `typed` names: its full id, a prefix of it, or a prefix (of
    /// 4 characters or more) of its short id, case-insensitive (see
    /// [`crate::event::short_id`]). `None` when nothing matches;
    /// [`StoreError::Ambiguous`] when several do.
    pub fn find_session(&self, typed: &str) -> Result<Option<SessionSummary>, StoreError> {
        let Some(query) = IdQuery::parse(typed) else {
            return Ok(None);
        };
        let mut ids = Vec::new();
        // Full-id prefixes are one key range: text order is key order.
        if let Some((low, high)) = query.full_range() {
            for key in self
                .inner
                .sessions
                .range(low.to_be_bytes()..=high.to_be_bytes())
                .keys()
            {
                ids.push(decode_key(&key?)?);
            }
        }
        // Short ids are hashes of the ids: every key is hashed (one SHA-256 of 16 bytes).
        if query.may_be_short() {
            for key in self.inner.sessions.iter().keys() {
                let id = decode_key(&key?)?;
                if query.matches_short(id.0) && !query.matches_full(id.0) {
                    ids.push(id);
                }
            }
        }
        match query.pick(ids, |id| id.0) {
            Pick::None => Ok(None),
            Pick::One(id) => self.session(id),
            Pick::Several(mut ids) => {
                // Ids sort by time: only the newest few are read to be named.
                ids.sort_unstable_by(|a, b| b.cmp(a));
                let count = ids.len();
                let mut candidates = Vec::new();
                for id in ids.into_iter().take(SHOWN_CANDIDATES) {
                    let (label, at_ms) = match self.session(id)? {
                        Some(summary) => (summary.team, summary.started_at_ms),
                        None => (String::new(), id.timestamp_ms()),
                    };
                    candidates.push(Candidate {
                        short_id: id.short_id(),
                        label,
                        at_ms,
                    });
                }
                Err(StoreError::Ambiguous(Box::new(Ambiguity::new(
                    query.typed(),
                    "sessions",
                    count,
                    candidates,
                ))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{
        event, finished, graded, open_in, spawned, started, temp_store, tool_called, turn,
    };

    /// Appends `kinds` as the session's events, numbered from `from`.
    fn append_all(store: &Store, id: SessionId, from: u64, kinds: Vec<EventKind>) {
        for (offset, kind) in kinds.into_iter().enumerate() {
            store
                .append_event(&event(id, from + offset as u64, kind))
                .unwrap();
        }
    }

    #[test]
    fn the_summary_is_derived_from_the_events() {
        let (dir, store) = temp_store();
        let id = SessionId::generate();
        append_all(
            &store,
            id,
            0,
            vec![
                started("lumara-team"),
                spawned("commander"),
                turn(100, 20),
                tool_called("scan"),
                spawned("surveyor"),
                tool_called("probe"),
                turn(50, 5),
                graded(1, false),
                EventKind::RevisionStarted {
                    iteration: 2,
                    feedback: "probe deeper".into(),
                },
                spawned("surveyor"),
                tool_called("probe"),
                graded(2, true),
            ],
        );
        let running = store.session(id).unwrap().unwrap();
        assert_eq!(running.status, SessionStatus::Running);
        assert_eq!(running.team, "lumara-team");
        assert_eq!(running.environment, "lumara");
        assert_eq!(
            (running.seed, running.world, running.max_iterations),
            (7, 3, 4)
        );
        assert_eq!((running.agents, running.tool_calls), (3, 3));
        assert_eq!((running.tokens_in, running.tokens_out), (150, 25));
        assert_eq!(running.iterations, 2);
        assert_eq!(running.passed, Some(true));
        assert_eq!(running.first_attempt_passed, Some(false));
        assert_eq!(running.finished_at_ms, None);

        let finish = event(id, 12, finished(true, None));
        store.append_event(&finish).unwrap();
        let done = store.session(id).unwrap().unwrap();
        assert_eq!(done.status, SessionStatus::Passed);
        assert_eq!(done.finished_at_ms, Some(finish.at_ms));
        assert_eq!(done.duration_ms, Some(1_234));
        assert_eq!(done.error, None);

        // The stored record says the same after the store is reopened.
        drop(store);
        let reopened = open_in(&dir).unwrap();
        assert_eq!(reopened.session(id).unwrap().unwrap(), done);
    }

    #[test]
    fn an_unfinished_session_reads_back_as_interrupted_with_its_flushed_counts() {
        let (dir, store) = temp_store();
        let id = SessionId::generate();
        // No milestone after the start: only the flush brings the counts to disk.
        append_all(
            &store,
            id,
            0,
            vec![
                started("t"),
                spawned("lead"),
                tool_called("a"),
                tool_called("b"),
            ],
        );
        assert_eq!(
            store.session(id).unwrap().unwrap().status,
            SessionStatus::Running
        );
        store.flush().unwrap();
        drop(store);

        let reopened = open_in(&dir).unwrap();
        let s = reopened.session(id).unwrap().unwrap();
        assert_eq!(s.status, SessionStatus::Interrupted);
        assert_eq!((s.agents, s.tool_calls), (1, 2));
        assert_eq!(
            reopened.sessions().unwrap()[0].status,
            SessionStatus::Interrupted
        );
        let prefix = &id.to_string()[..20];
        assert_eq!(
            reopened.find_session(prefix).unwrap().unwrap().status,
            SessionStatus::Interrupted
        );
    }

    #[test]
    fn a_resumed_session_runs_again_and_keeps_its_counts() {
        let (dir, store) = temp_store();
        let id = SessionId::generate();
        append_all(&store, id, 0, vec![started("t"), tool_called("a")]);
        drop(store);

        let store = open_in(&dir).unwrap();
        let next = store.next_seq(id).unwrap();
        append_all(&store, id, next, vec![tool_called("b")]);
        let s = store.session(id).unwrap().unwrap();
        assert_eq!((s.status, s.tool_calls), (SessionStatus::Running, 2));
        append_all(
            &store,
            id,
            next + 1,
            vec![graded(1, true), finished(true, None)],
        );
        assert_eq!(
            store.session(id).unwrap().unwrap().status,
            SessionStatus::Passed
        );
    }

    #[test]
    fn sessions_are_listed_oldest_first() {
        let (_dir, store) = temp_store();
        let ids = [
            SessionId::at(3_000),
            SessionId::at(1_000),
            SessionId::at(2_000),
        ];
        for id in ids {
            append_all(&store, id, 0, vec![started("t")]);
        }
        // A stream without a start has no summary and is not listed.
        append_all(&store, SessionId::at(500), 0, vec![tool_called("x")]);
        let listed: Vec<u64> = store
            .sessions()
            .unwrap()
            .iter()
            .map(|s| s.id.timestamp_ms())
            .collect();
        assert_eq!(listed, vec![1_000, 2_000, 3_000]);
    }

    #[test]
    fn find_session_takes_a_full_id_or_a_unique_prefix() {
        let (_dir, store) = temp_store();
        // Two ids that share their first 24 characters, and one far from both.
        let a = SessionId(0x0123_4567_89AB_CDEF_0123_4567_89AB_CD00);
        let b = SessionId(a.0 + 1);
        let far = SessionId(7 << 125);
        for id in [a, b, far] {
            append_all(&store, id, 0, vec![started("t")]);
        }
        let a_text = a.to_string();
        let b_text = b.to_string();
        assert_eq!(a_text[..25], b_text[..25]);

        let find = |text: &str| store.find_session(text).unwrap().map(|s| s.id);
        assert_eq!(find(&a_text), Some(a));
        assert_eq!(find(&b_text.to_lowercase()), Some(b));
        assert_eq!(find(&format!("  {a_text} ")), Some(a));
        assert_eq!(find("7"), Some(far));
        assert_eq!(find(&far.to_string()[..5].to_lowercase()), Some(far));
        assert_eq!(find("6"), None);
        assert_eq!(find("Z"), None);
        assert_eq!(find("!!"), None);
        assert_eq!(find(""), None);
        assert_eq!(find(&format!("{a_text}0")), None);

        match store.find_session(&a_text[..10].to_lowercase()) {
            Err(StoreError::Ambiguous(ambiguity)) => {
                assert_eq!(ambiguity.count, 2);
                assert_eq!(ambiguity.typed, a_text[..10].to_lowercase());
            }
            other => panic!("expected Ambiguous, got {other:?}"),
        }
        let err = store.find_session("0").unwrap_err();
        assert!(err.to_string().contains("matches 2 sessions"), "{err}");
    }

    #[test]
    fn find_session_takes_a_prefix_of_the_short_id() {
        let (_dir, store) = temp_store();
        // A batch made in one millisecond: the full ids share 10+ characters.
        let ids: Vec<SessionId> = (0..200).map(|_| SessionId::at(1_700_000_000_000)).collect();
        for id in &ids {
            append_all(&store, *id, 0, vec![started("t")]);
        }
        for id in &ids {
            let short = id.short_id().to_string();
            let found = store.find_session(&short.to_uppercase()).unwrap();
            assert_eq!(found.map(|s| s.id), Some(*id), "{short}");
        }
        // A prefix of 5 characters names one of 200 ids almost always; check one that does.
        let unique = ids
            .iter()
            .find(|id| {
                let p = &id.short_id().to_string()[..5];
                ids.iter()
                    .filter(|o| o.short_id().to_string().starts_with(p))
                    .count()
                    == 1
            })
            .unwrap();
        let prefix = &unique.short_id().to_string()[..5];
        assert_eq!(
            store.find_session(prefix).unwrap().map(|s| s.id),
            Some(*unique)
        );
        // Three characters are matched against full ids only.
        let three = &unique.short_id().to_string()[..3];
        if !ids
            .iter()
            .any(|id| id.to_string().starts_with(&three.to_uppercase()))
        {
            assert_eq!(store.find_session(three).unwrap(), None);
        }
    }

    #[test]
    fn an_ambiguous_prefix_names_the_newest_five_in_one_sentence() {
        let (_dir, store) = temp_store();
        let ids: Vec<SessionId> = (0..21).map(|_| SessionId::at(1_700_000_000_000)).collect();
        for (i, id) in ids.iter().enumerate() {
            append_all(&store, *id, 0, vec![started(&format!("team-{i:02}"))]);
        }
        let typed = ids[0].to_string()[..6].to_lowercase();
        let err = store.find_session(&typed).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("`{typed}` matches 21 sessions: ")),
            "{text}"
        );
        // The five newest (the last made), with their short ids, teams and times.
        for (i, id) in ids.iter().enumerate().skip(16) {
            assert!(
                text.contains(&format!("{} (team-{i:02}, ", id.short_id())),
                "{text}"
            );
        }
        assert!(!text.contains("team-15"), "{text}");
        assert!(text.contains(" and 16 more; "), "{text}");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn find_session_reads_confusable_letters_as_digits() {
        let (_dir, store) = temp_store();
        let id = SessionId(0x0110_0000_0000_0000_0000_0000_0000_0000);
        append_all(&store, id, 0, vec![started("t")]);
        let text = id.to_string();
        assert!(text.starts_with("0"), "{text}");
        let typed = text.replacen('0', "o", 1);
        assert_eq!(store.find_session(&typed).unwrap().map(|s| s.id), Some(id));
    }

    #[test]
    fn a_corrupt_summary_is_an_error_not_a_panic() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        store
            .inner
            .sessions
            .insert(id.to_bytes(), &b"{\"id\": 12"[..])
            .unwrap();
        for result in [
            store.session(id).map(|_| ()),
            store.sessions().map(|_| ()),
            store.find_session(&id.to_string()).map(|_| ()),
            store.append_event(&event(id, 0, tool_called("x"))),
        ] {
            match result {
                Err(StoreError::Corrupt { what }) => assert!(what.contains(&id.to_string())),
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
        store.inner.sessions.insert(b"short", &b"{}"[..]).unwrap();
        assert!(matches!(store.sessions(), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn summaries_are_written_in_batches_and_at_flush() {
        let (_dir, store) = temp_store();
        let id = SessionId::generate();
        append_all(&store, id, 0, vec![started("t")]);
        let stored = |store: &Store| {
            let bytes = store.inner.sessions.get(id.to_bytes()).unwrap().unwrap();
            decode_summary(id, &bytes).unwrap().tool_calls
        };
        let calls = (0..SAVE_EVERY).map(|_| tool_called("x")).collect();
        append_all(&store, id, 1, calls);
        assert_eq!(stored(&store), SAVE_EVERY);
        append_all(
            &store,
            id,
            1 + u64::from(SAVE_EVERY),
            vec![tool_called("y")],
        );
        assert_eq!(stored(&store), SAVE_EVERY);
        store.flush().unwrap();
        assert_eq!(stored(&store), SAVE_EVERY + 1);
    }
}
