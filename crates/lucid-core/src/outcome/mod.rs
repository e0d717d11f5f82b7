//! Outcomes: judging a team's result against the rubric, and the revise loop.
//!
//! The [`grader`] judges each criterion on its own, in a fresh context holding only the
//! task, the rubric, the output and the environment's facts; programmatic checks are
//! evaluated directly, the rest go to the grader model. [`revise`] runs iterations until
//! the rubric is met or `max_iterations` is reached, handing the lead the failed
//! criteria as feedback. Check expressions themselves are parsed in `spec::check`.

pub mod grader;
pub mod revise;

pub use grader::{Grader, GraderError, VerdictProblem};
pub use revise::{feedback_message, resume_session, run_session, SessionOrigin, SessionResult};

pub use crate::event::{CriterionVerdict, Verdict};
