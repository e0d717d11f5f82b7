//! A running session's remote control: a cloneable [`Control`] that carries out [`Op`]s
//! (cancel the run, cancel one thread) from wherever the caller is, such as the server's
//! registry answering a client. It does not keep the run alive: once the run has ended,
//! a thread cancel answers false and a run cancel does nothing.

use std::sync::Weak;

use super::Op;
use crate::run::{CancelToken, TeamRun};

/// Carries out [`Op`]s on one running session; see the module docs.
#[derive(Clone)]
pub struct Control {
    team: Weak<TeamRun>,
    cancel: CancelToken,
}

impl Control {
    pub(super) fn new(team: Weak<TeamRun>, cancel: CancelToken) -> Control {
        Control { team, cancel }
    }

    /// Asks something of the running session; false when it cannot be done (a thread
    /// that has not run, or a run that has ended).
    pub fn submit(&self, op: Op) -> bool {
        match op {
            Op::Cancel => {
                self.cancel.cancel();
                true
            }
            Op::CancelThread(id) => self
                .team
                .upgrade()
                .is_some_and(|team| team.cancel_agent(id)),
        }
    }
}
