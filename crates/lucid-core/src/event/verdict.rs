//! The grader's verdicts, as the protocol carries them: one per criterion, grouped by
//! iteration. The grader produces them (`outcome`), and the report, resume and replay read
//! them back from events; this is their one definition.

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
