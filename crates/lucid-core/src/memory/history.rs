//! A memory's history: one entry per version saying who wrote it, when, what they did
//! (created, edited, approved, rejected, retired, reverted, …) and what that did to the
//! memory's status. What a version did is written into its `reason` by the book
//! ([`Action::reason`]) and read back here ([`Action::from_reason`]), so the records of
//! stores written before this module read as well. This module only reads versions; the
//! book ([`super::MemoryBook`]) and the edit functions write them.

use serde::{Deserialize, Serialize};

use super::record::{Author, Memory, MemoryStatus};
use crate::event::MemoryId;

/// What one version did to a memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// The first version.
    Created,
    /// A person changed the title, body or rules; `approved`: and approved the result in
    /// the same step.
    Edited {
        approved: bool,
    },
    /// A person made the content what version `to` said; `approved` as for an edit.
    Reverted {
        to: u32,
        approved: bool,
    },
    /// A proposal was approved.
    Approved,
    /// A rejected or retired memory was approved again.
    Reapproved {
        was: MemoryStatus,
    },
    Rejected,
    /// A person retired an approved memory.
    Retired,
    /// An approved proposal wrote its content into this memory.
    UpdatedBy {
        proposal: MemoryId,
    },
    /// An approved proposal retired this memory.
    RetiredBy {
        proposal: MemoryId,
    },
    /// A dream rewrote its own open proposal.
    Revised,
    /// A reason this version of lucid does not know.
    Other {
        reason: String,
    },
}

impl Action {
    /// The reason a version written by this action records.
    pub fn reason(&self) -> String {
        let approved = |yes: bool| if yes { " and approved" } else { "" };
        match self {
            Action::Created => "created".into(),
            Action::Edited { approved: yes } => format!("edited{}", approved(*yes)),
            Action::Reverted { to, approved: yes } => {
                format!("reverted to v{to}{}", approved(*yes))
            }
            Action::Approved => "approved".into(),
            Action::Reapproved { was } => format!("re-approved (was {})", was.as_str()),
            Action::Rejected => "rejected".into(),
            Action::Retired => "retired".into(),
            Action::UpdatedBy { proposal } => format!("updated by {proposal}"),
            Action::RetiredBy { proposal } => format!("retired by {proposal}"),
            Action::Revised => "revised by a dream".into(),
            Action::Other { reason } => reason.clone(),
        }
    }

    /// What the version `version` with this `reason` did (the first version is always
    /// [`Action::Created`], whatever its reason says).
    pub fn from_reason(version: u32, reason: &str) -> Action {
        if version <= 1 {
            return Action::Created;
        }
        // Edits and reverts may say they were approved in the same step.
        let (rest, approved) = match reason.strip_suffix(" and approved") {
            Some(rest) => (rest, true),
            None => (reason, false),
        };
        let rewrite = match rest {
            "edited" => Some(Action::Edited { approved }),
            _ => rest
                .strip_prefix("reverted to v")
                .and_then(|n| n.parse().ok())
                .map(|to| Action::Reverted { to, approved }),
        };
        let proposal = |text: &str| text.trim().parse::<MemoryId>().ok();
        let known = rewrite.or_else(|| match reason {
            "approved" => Some(Action::Approved),
            "rejected" => Some(Action::Rejected),
            "retired" => Some(Action::Retired),
            "revised by a dream" => Some(Action::Revised),
            _ => reason
                .strip_prefix("re-approved (was ")
                .and_then(|s| s.strip_suffix(')'))
                .and_then(MemoryStatus::parse)
                .map(|was| Action::Reapproved { was })
                .or_else(|| {
                    reason
                        .strip_prefix("updated by ")
                        .and_then(proposal)
                        .map(|proposal| Action::UpdatedBy { proposal })
                })
                .or_else(|| {
                    reason
                        .strip_prefix("retired by ")
                        .and_then(proposal)
                        .map(|proposal| Action::RetiredBy { proposal })
                }),
        });
        known.unwrap_or_else(|| Action::Other {
            reason: reason.to_string(),
        })
    }

    /// The verb a person reads, e.g. `edited and approved`, `reverted to v2`.
    pub fn describe(&self) -> String {
        match self {
            Action::Created => "created".into(),
            Action::UpdatedBy { proposal } => format!("updated by {}", proposal.short_id()),
            Action::RetiredBy { proposal } => format!("retired by {}", proposal.short_id()),
            other => other.reason(),
        }
    }
}

/// One version of a memory as its history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub version: u32,
    /// When the version was written (Unix milliseconds).
    pub at_ms: u64,
    /// Who wrote it.
    pub by: Author,
    pub action: Action,
    /// The status it left the memory in.
    pub status: MemoryStatus,
    /// The status before (none for the first version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<MemoryStatus>,
    /// One line a person reads: what happened and what it did to the status.
    pub summary: String,
}

impl HistoryEntry {
    /// Whether this version took an approval back: an edit or revert of an approved
    /// memory that nobody approved in the same step.
    pub fn needs_review(&self) -> bool {
        matches!(
            self.action,
            Action::Edited { approved: false }
                | Action::Reverted {
                    approved: false,
                    ..
                }
        ) && self.was == Some(MemoryStatus::Approved)
            && self.status == MemoryStatus::Proposed
    }
}

/// A memory with every version of it (oldest first) and its history: what
/// `lucid memory show --json` prints and the owner's `GET /v1/memories/{id}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    pub memory: Memory,
    pub versions: Vec<Memory>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

impl MemoryRecord {
    pub fn new(memory: Memory, versions: Vec<Memory>) -> Self {
        let history = history(&versions);
        MemoryRecord {
            memory,
            versions,
            history,
        }
    }
}

/// The history of a memory from its versions (oldest first, as the book lists them).
pub fn history(versions: &[Memory]) -> Vec<HistoryEntry> {
    let mut was = None;
    versions
        .iter()
        .map(|version| {
            let action = Action::from_reason(version.version, &version.reason);
            let mut entry = HistoryEntry {
                version: version.version,
                at_ms: version.updated_at_ms,
                by: version.author.clone(),
                action,
                status: version.status,
                was,
                summary: String::new(),
            };
            entry.summary = summary(&entry, &version.reason);
            was = Some(version.status);
            entry
        })
        .collect()
}

/// `what happened` plus, when the status changed in a way the verb does not say, how.
fn summary(entry: &HistoryEntry, reason: &str) -> String {
    let status = entry.status.as_str();
    match &entry.action {
        Action::Created => match reason.trim() {
            "" | "created" => format!("created as {status}"),
            note => format!("created as {status} ({note})"),
        },
        _ if entry.needs_review() => format!(
            "{}; it was approved, so it is proposed again and steers no run until approved",
            entry.action.describe()
        ),
        Action::Edited { approved: true } | Action::Reverted { approved: true, .. } => {
            match entry.was {
                Some(was @ (MemoryStatus::Rejected | MemoryStatus::Retired)) => {
                    format!("{} (was {})", entry.action.describe(), was.as_str())
                }
                _ => entry.action.describe(),
            }
        }
        action => match entry.was {
            Some(was) if was != entry.status && !verb_says_status(action) => {
                format!("{} ({} → {status})", action.describe(), was.as_str())
            }
            _ => action.describe(),
        },
    }
}

/// Whether the verb already names the status the version ends in.
fn verb_says_status(action: &Action) -> bool {
    matches!(
        action,
        Action::Approved
            | Action::Reapproved { .. }
            | Action::Rejected
            | Action::Retired
            | Action::RetiredBy { .. }
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn every_action_reads_back_from_the_reason_it_writes() {
        let proposal = MemoryId(0x0193_0000_0000_0000_0000_0000_0000_0007);
        let actions = [
            Action::Edited { approved: false },
            Action::Edited { approved: true },
            Action::Reverted {
                to: 3,
                approved: false,
            },
            Action::Reverted {
                to: 12,
                approved: true,
            },
            Action::Approved,
            Action::Reapproved {
                was: MemoryStatus::Retired,
            },
            Action::Reapproved {
                was: MemoryStatus::Rejected,
            },
            Action::Rejected,
            Action::Retired,
            Action::UpdatedBy { proposal },
            Action::RetiredBy { proposal },
            Action::Revised,
        ];
        for action in actions {
            assert_eq!(Action::from_reason(2, &action.reason()), action);
        }
        assert_eq!(
            Action::from_reason(1, "proposed by a dream"),
            Action::Created
        );
        assert_eq!(
            Action::from_reason(4, "something new"),
            Action::Other {
                reason: "something new".into()
            }
        );
    }

    #[test]
    fn the_history_says_who_did_what_and_when_an_edit_took_an_approval_back() {
        let base = crate::memory::testing::proposal("t", "Land softly");
        let ann = Author::Person { name: "ann".into() };
        let version = |n: u32, status, reason: &str| Memory {
            version: n,
            status,
            reason: reason.into(),
            author: ann.clone(),
            updated_at_ms: u64::from(n) * 1000,
            ..base.clone()
        };
        let versions = [
            version(1, MemoryStatus::Proposed, "proposed by a dream"),
            version(2, MemoryStatus::Approved, "approved"),
            version(3, MemoryStatus::Proposed, "edited"),
            version(4, MemoryStatus::Approved, "approved"),
            version(5, MemoryStatus::Retired, "retired"),
            version(6, MemoryStatus::Approved, "re-approved (was retired)"),
            version(7, MemoryStatus::Approved, "reverted to v2 and approved"),
        ];
        let history = history(&versions);
        let summaries: Vec<&str> = history.iter().map(|e| e.summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "created as proposed (proposed by a dream)",
                "approved",
                "edited; it was approved, so it is proposed again and steers no run until approved",
                "approved",
                "retired",
                "re-approved (was retired)",
                "reverted to v2 and approved",
            ]
        );
        assert!(history[2].needs_review());
        assert_eq!(history[2].was, Some(MemoryStatus::Approved));
        assert_eq!(history[6].at_ms, 7000);
        assert_eq!(history[6].by, ann);
    }
}
