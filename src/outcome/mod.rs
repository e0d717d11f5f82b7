//! Outcomes: judging a team's result against the rubric, and the revise loop.
//!
//! The [`grader`] judges each criterion on its own, in a fresh context holding only the
//! task, the rubric, the output and the environment's facts; programmatic checks are
//! evaluated directly, the rest go to the grader model. [`revise`] runs iterations until
//! the rubric is met or `max_iterations` is reached, handing the lead the failed
//! criteria as feedback. Check expressions themselves are parsed in `spec::check`.

pub mod grader;
pub mod revise;

pub use grader::{Grader, GraderError};
pub use revise::{feedback_message, resume_session, run_session, SessionOrigin, SessionResult};

use serde::Serialize;

/// The grader's judgement of one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionVerdict {
    pub id: String,
    pub passed: bool,
    pub reason: String,
    /// What must change; empty when the criterion passed.
    pub fix: String,
}

/// The grader's judgement of one iteration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub iteration: u32,
    pub criteria: Vec<CriterionVerdict>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.criteria.iter().all(|c| c.passed)
    }
}
