//! The event spine: the one vocabulary in which the runner, grader and dreamer tell the
//! world what happened, and the in-process bus that orders events and fans them out.
//!
//! Every event of a session gets the next sequence number, is handed to the recorder
//! (the store) and then to every listener (headless printer, TUI), in that order. Live-only
//! events (a model's text as it streams) go to the listeners alone. Every
//! reader folds a session's events through the one [`Projection`]. Every string an event
//! carries has the process's secrets redacted before anyone sees it (`redact`), and
//! [`clean`] is the boundary for outside text on its way to a person. This module does
//! not know how events are stored or shown.

mod amounts;
mod bus;
mod changes;
mod id;
mod kind;
pub mod projection;
mod redact;
mod sanitize;
pub mod short_id;
mod time;
mod verdict;

pub use amounts::{format_dollars, format_tokens};
pub use bus::{EventBus, EventSink, NullSink, SinkError};
pub use changes::{ChangeKind, FileChange};
pub use id::{now_ms, AgentId, DreamId, MemoryId, ParseIdError, SessionId};
pub use kind::{AgentStatus, EventKind, Facts, MAX_BRIEF, MAX_LIVE_TEXT};
pub use projection::{Projection, RoleUsage, Standing, ThreadPhase};
pub use redact::{
    clean, redact, redact_event, redact_in_place, redact_json, register_secret, MIN_PREFIX,
    REDACTED,
};
pub use sanitize::{one_line, sanitize};
pub use short_id::{Ambiguity, Candidate, IdQuery, Pick, ShortId};
pub use time::format_time;
pub use verdict::{CriterionVerdict, Verdict};

use serde::{Deserialize, Serialize};

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub session: SessionId,
    /// Position in the session's stream, from 0, without gaps. A live-only event
    /// ([`EventKind::is_live_only`]) is not part of the stream: it carries the position
    /// of the next recorded event.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The agent thread the event belongs to; `None` for session-level events.
    pub agent: Option<AgentId>,
    pub kind: EventKind,
}
