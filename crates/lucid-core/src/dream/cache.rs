//! The digest cache: each session's digest is computed once from its events and kept in
//! the store's `digests` tree, so a dream reads the events only of sessions no dream has
//! digested, however long the history it mines.
//!
//! A cached digest is used only when it was written in this digest format
//! ([`DIGEST_VERSION`]: bump it whenever [`SessionDigest`] or the fold that makes it
//! changes meaning), for the same tracked fact names, and for the same finish of the
//! session (a session resumed and finished again is digested again). Anything else —
//! including a record that no longer decodes — is recomputed and replaced. A rescan
//! recomputes every digest. Sessions that give no digest (never graded) are cached as
//! such too, so they are not read again.

use serde::{Deserialize, Serialize};

use super::digest::SessionDigest;
use super::DreamError;
use crate::event::SessionId;
use crate::store::{SessionSummary, Store, StoreError};

/// The format of cached digests. A cached digest of another version is recomputed.
pub const DIGEST_VERSION: u32 = 3;

#[derive(Serialize, Deserialize)]
struct CachedDigest {
    version: u32,
    /// [`fingerprint`] of the fact names whose mentions the digest tracked.
    facts: u64,
    /// When the digested session finished.
    finished_at_ms: Option<u64>,
    digest: Option<SessionDigest>,
}

/// The digests of a history, and how they were had.
#[derive(Debug, Default)]
pub struct Digested {
    /// One per session that gives a digest, in the order asked for.
    pub digests: Vec<SessionDigest>,
    /// Sessions whose events were read and digested now.
    pub computed: Vec<SessionId>,
    /// Sessions whose digest came from the cache.
    pub cached: u32,
}

/// FNV-1a over the sorted fact names: a digest is reused only for the same names.
fn fingerprint(fact_names: &[String]) -> u64 {
    let mut names: Vec<&str> = fact_names.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in names.join("\0").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The digests of `sessions`: from the cache where it holds a current one (unless
/// `rescan`), else from the events, cached for the next dream.
pub fn digests(
    store: &Store,
    sessions: &[SessionSummary],
    fact_names: &[String],
    rescan: bool,
) -> Result<Digested, DreamError> {
    let facts = fingerprint(fact_names);
    let mut out = Digested::default();
    for session in sessions {
        let key = session.id.to_bytes();
        if !rescan {
            let cached = match store.digest::<CachedDigest>(key) {
                Ok(cached) => cached,
                // Written in a format this build does not read: recompute it.
                Err(StoreError::Corrupt { .. }) => None,
                Err(err) => return Err(err.into()),
            };
            if let Some(cached) = cached.filter(|c| {
                c.version == DIGEST_VERSION
                    && c.facts == facts
                    && c.finished_at_ms == session.finished_at_ms
            }) {
                out.cached += 1;
                out.digests.extend(cached.digest);
                continue;
            }
        }
        let digest = SessionDigest::from_events(&store.events(session.id)?, fact_names);
        store.put_digest(
            key,
            &CachedDigest {
                version: DIGEST_VERSION,
                facts,
                finished_at_ms: session.finished_at_ms,
                digest: digest.clone(),
            },
        )?;
        out.computed.push(session.id);
        out.digests.extend(digest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_depends_on_the_set_of_names_only() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            fingerprint(&names(&["a", "b"])),
            fingerprint(&names(&["b", "a", "a"]))
        );
        assert_ne!(
            fingerprint(&names(&["a", "b"])),
            fingerprint(&names(&["a", "b", "c"]))
        );
        assert_ne!(
            fingerprint(&names(&["ab"])),
            fingerprint(&names(&["a", "b"]))
        );
    }
}
