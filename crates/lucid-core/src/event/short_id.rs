//! Short ids: the 8 characters a person reads and types for a session, memory or dream,
//! and the one rule by which typed text names an id.
//!
//! Full ids are ULIDs (see [`super::id`]): 48 bits of time, then 80 random bits that
//! count up within a millisecond. Ids made in one batch share their first 10–16
//! characters, so a prefix of the full id names one only once most of it is typed.
//!
//! The short id is the first 40 bits of SHA-256 over the id's 16 big-endian bytes,
//! written as 8 Crockford base32 characters in lower case. Why this and not a slice
//! of the id:
//! - a hash of the whole id spreads neighbours apart: ids made one after the other in
//!   the same millisecond differ from their first character on, so 4 or 5 typed
//!   characters usually name one (the random part's leading bits would not: a
//!   monotonic batch shares them);
//! - SHA-256 is fixed by a standard, so the same id has the same short id in every
//!   lucid, forever (std's hasher makes no such promise);
//! - 40 bits: among `n` ids, the chance that any two share a short id is about
//!   n²/2⁴¹, 1 in 2 million for 1,000 ids and 1 in 22,000 for 10,000. A shared short
//!   id is not an error: each id still answers to its full id, and the ambiguity
//!   sentence lists both;
//! - lower case sets it apart from a full id on screen; it is read like a full id:
//!   case-insensitive, `O` as 0 and `I`/`L` as 1.
//!
//! Typed text ([`IdQuery`]) names the ids whose full id starts with it, and (from
//! [`MIN_SHORT_PREFIX`] characters on) those whose short id starts with it. Typing a
//! whole short id that belongs to exactly one id names that id even if the text also
//! starts some full id. When several ids match, [`Ambiguity`] is the sentence that
//! lists them. This module does not know where ids are stored.

use std::fmt;

use sha2::{Digest, Sha256};

use super::format_time;
use super::id::{ascii, crockford, CROCKFORD};

/// Characters in a short id.
pub const SHORT_ID_LEN: usize = 8;

/// The fewest typed characters matched against short ids (fewer match full ids only).
pub const MIN_SHORT_PREFIX: usize = 4;

/// Characters in a full id.
const FULL_ID_LEN: usize = 26;

/// How many candidates an ambiguity sentence names.
pub const SHOWN_CANDIDATES: usize = 5;

/// An id's short form (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShortId(u64);

impl ShortId {
    /// The short id of the 128-bit id `id`.
    pub fn of(id: u128) -> Self {
        let digest = Sha256::digest(id.to_be_bytes());
        let value = digest[..5]
            .iter()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
        ShortId(value)
    }

    /// The canonical characters, upper case (what typed text is compared with).
    fn canonical(self) -> [u8; SHORT_ID_LEN] {
        crockford(u128::from(self.0))
    }
}

impl fmt::Display for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.canonical();
        text.make_ascii_lowercase();
        f.write_str(ascii(&text))
    }
}

impl serde::Serialize for ShortId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Text a person typed to name an id: a full id, a prefix of one, or a prefix of a
/// short id, read case-insensitively with `O` as 0 and `I`/`L` as 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdQuery {
    typed: String,
    /// Canonical characters (upper case Crockford).
    canon: String,
}

impl IdQuery {
    /// The query `typed` makes; `None` when it is empty, longer than a full id, or has
    /// a character no id can hold.
    pub fn parse(typed: &str) -> Option<Self> {
        let trimmed = typed.trim();
        let canon: String = trimmed
            .chars()
            .map(|c| match c.to_ascii_uppercase() {
                'O' => Some('0'),
                'I' | 'L' => Some('1'),
                up if up.is_ascii() && CROCKFORD.contains(&(up as u8)) => Some(up),
                _ => None,
            })
            .collect::<Option<String>>()?;
        if canon.is_empty() || canon.len() > FULL_ID_LEN {
            return None;
        }
        Some(IdQuery {
            typed: trimmed.to_string(),
            canon,
        })
    }

    /// The text as typed (trimmed).
    pub fn typed(&self) -> &str {
        &self.typed
    }

    /// The smallest and largest ids whose full id starts with this text: text order is
    /// id order, so they are one range. `None` when no full id can (a first character
    /// past `7`: it carries only 3 bits).
    pub fn full_range(&self) -> Option<(u128, u128)> {
        let mut low: u128 = 0;
        let mut high: u128 = 0;
        for (i, c) in self.canon.bytes().enumerate() {
            let digit = CROCKFORD.iter().position(|&a| a == c)? as u128;
            if i == 0 && digit > 7 {
                return None;
            }
            low = (low << 5) | digit;
            high = (high << 5) | digit;
        }
        for _ in self.canon.len()..FULL_ID_LEN {
            low <<= 5;
            high = (high << 5) | 0x1f;
        }
        Some((low, high))
    }

    /// Whether short ids are matched at all (long enough, and short enough).
    pub fn may_be_short(&self) -> bool {
        (MIN_SHORT_PREFIX..=SHORT_ID_LEN).contains(&self.canon.len())
    }

    /// Whether `id`'s full id starts with this text.
    pub fn matches_full(&self, id: u128) -> bool {
        self.full_range()
            .is_some_and(|(low, high)| (low..=high).contains(&id))
    }

    /// Whether `id`'s short id starts with this text (of at least
    /// [`MIN_SHORT_PREFIX`] characters).
    pub fn matches_short(&self, id: u128) -> bool {
        self.may_be_short()
            && ShortId::of(id)
                .canonical()
                .starts_with(self.canon.as_bytes())
    }

    /// Whether this text names `id` by either form.
    pub fn matches(&self, id: u128) -> bool {
        self.matches_full(id) || self.matches_short(id)
    }

    /// Whether this text is `id`'s whole short id.
    fn is_short_of(&self, id: u128) -> bool {
        self.canon.as_bytes() == ShortId::of(id).canonical()
    }

    /// What the matches (every item this text [`matches`](Self::matches)) come to: the
    /// one match, or the one whose whole short id was typed, or none, or several.
    pub fn pick<T>(&self, mut matches: Vec<T>, id: impl Fn(&T) -> u128) -> Pick<T> {
        if matches.len() > 1 {
            let exact: Vec<usize> = (0..matches.len())
                .filter(|&i| self.is_short_of(id(&matches[i])))
                .collect();
            if let [one] = exact[..] {
                return Pick::One(matches.swap_remove(one));
            }
        }
        match matches.len() {
            0 => Pick::None,
            1 => Pick::One(matches.swap_remove(0)),
            _ => Pick::Several(matches),
        }
    }
}

/// What a query named.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick<T> {
    None,
    One(T),
    /// Every match, in the order given.
    Several(Vec<T>),
}

/// One id an ambiguous query could mean, as the sentence names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub short_id: ShortId,
    /// What a person knows it by: a session's team, a memory's title.
    pub label: String,
    /// When it was made (ms since the Unix epoch).
    pub at_ms: u64,
}

/// Typed text that names several ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.sentence())]
pub struct Ambiguity {
    /// The text as typed.
    pub typed: String,
    /// What the ids name, plural: `sessions`, `memories`.
    pub kind: &'static str,
    /// How many ids match.
    pub count: usize,
    /// The first few of them (newest first).
    pub shown: Vec<Candidate>,
}

impl Ambiguity {
    /// The ambiguity of `typed`, which matches `count` ids, naming the newest few of
    /// `candidates` (every match, or at least the newest few).
    pub fn new(
        typed: &str,
        kind: &'static str,
        count: usize,
        mut candidates: Vec<Candidate>,
    ) -> Self {
        candidates.sort_by_key(|c| std::cmp::Reverse(c.at_ms));
        candidates.truncate(SHOWN_CANDIDATES);
        Ambiguity {
            typed: typed.to_string(),
            kind,
            count,
            shown: candidates,
        }
    }

    fn sentence(&self) -> String {
        let named: Vec<String> = self
            .shown
            .iter()
            .map(|c| {
                format!(
                    "{} ({}, {})",
                    c.short_id,
                    super::one_line(&c.label, 40),
                    format_time(c.at_ms)
                )
            })
            .collect();
        let more = self.count.saturating_sub(self.shown.len());
        let rest = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "`{}` matches {} {}: {}{rest}; type more of a short id, or the full id",
            super::sanitize(&self.typed),
            self.count,
            self.kind,
            named.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SessionId;

    #[test]
    fn a_batch_made_in_one_millisecond_has_distinct_short_ids_that_name_each_id() {
        let ids: Vec<SessionId> = (0..500).map(|_| SessionId::at(42)).collect();
        let full: Vec<String> = ids.iter().map(ToString::to_string).collect();
        // The full ids share most of their characters…
        assert!(full.iter().all(|t| t[..10] == full[0][..10]));
        // …the short ids do not, and each names its id alone.
        let mut shorts: Vec<String> = ids.iter().map(|id| id.short_id().to_string()).collect();
        shorts.sort();
        shorts.dedup();
        assert_eq!(shorts.len(), ids.len());
        for id in &ids {
            let short = id.short_id().to_string();
            assert_eq!(short.len(), SHORT_ID_LEN);
            let query = IdQuery::parse(&short).unwrap();
            let matches: Vec<&SessionId> = ids.iter().filter(|i| query.matches(i.0)).collect();
            assert_eq!(query.pick(matches, |i| i.0), Pick::One(id));
        }
    }

    #[test]
    fn the_short_id_is_stable_and_lower_case_crockford() {
        // Fixed by SHA-256: a change here would rename every id users have written down.
        assert_eq!(ShortId::of(0).to_string(), "6x3ghzzq");
        assert_eq!(ShortId::of(u128::MAX).to_string().len(), SHORT_ID_LEN);
        let id = SessionId::at(1_000);
        assert_eq!(id.short_id(), id.short_id());
        assert!(id
            .short_id()
            .to_string()
            .bytes()
            .all(|c| CROCKFORD.contains(&c.to_ascii_uppercase())));
    }

    #[test]
    fn queries_read_case_and_confusable_letters_like_the_id_parser() {
        let id = (0..u128::MAX)
            .find(|&i| {
                let s = ShortId::of(i).to_string();
                s.contains('0') && s.contains('1')
            })
            .unwrap();
        let short = ShortId::of(id).to_string();
        let typed = short.replace('0', "O").replace('1', "l").to_uppercase();
        assert!(IdQuery::parse(&typed).unwrap().matches_short(id));
        assert!(IdQuery::parse(&format!(" {} ", &short[..4]))
            .unwrap()
            .matches_short(id));
        // Three characters are too few for a short id.
        assert!(!IdQuery::parse(&short[..3]).unwrap().matches_short(id));
        for bad in ["", "   ", "ab!", "u123", &"0".repeat(27)] {
            assert_eq!(IdQuery::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn full_prefixes_match_as_before() {
        let id = SessionId::at(123_456);
        let text = id.to_string();
        for len in [1, 5, 20, 26] {
            let query = IdQuery::parse(&text[..len].to_lowercase()).unwrap();
            assert!(query.matches_full(id.0), "{len}");
        }
        assert_eq!(IdQuery::parse("Z").unwrap().full_range(), None);
    }

    #[test]
    fn a_whole_short_id_wins_over_a_full_id_it_also_starts() {
        let target = 5u128;
        let short = ShortId::of(target).to_string();
        let query = IdQuery::parse(&short).unwrap();
        // An id whose full text starts with the same characters (if the first carries
        // them), and one whose short id merely starts with the first four.
        let matches = vec![target, 77, 99];
        assert_eq!(query.pick(matches, |&i| i), Pick::One(target));
        let q4 = IdQuery::parse(&short[..4]).unwrap();
        assert_eq!(
            q4.pick(vec![target, 77], |&i| i),
            Pick::Several(vec![target, 77])
        );
        assert_eq!(q4.pick(Vec::<u128>::new(), |&i| i), Pick::None);
    }

    #[test]
    fn the_ambiguity_sentence_names_five_newest_candidates_and_counts_the_rest() {
        let candidates = (0..8u64)
            .map(|i| Candidate {
                short_id: ShortId::of(u128::from(i)),
                label: format!("team-{i}"),
                at_ms: 1_700_000_000_000 + i * 60_000,
            })
            .collect();
        let err = Ambiguity::new("01m8kq", "sessions", 8, candidates);
        let text = err.to_string();
        assert!(text.starts_with("`01m8kq` matches 8 sessions: "), "{text}");
        assert!(
            text.contains(&format!("{} (team-7, ", ShortId::of(7))),
            "{text}"
        );
        assert!(!text.contains("team-2"), "{text}");
        assert!(
            text.ends_with(" and 3 more; type more of a short id, or the full id"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);
    }
}
