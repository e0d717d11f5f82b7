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
    /// What must change; empty when the criterion passed (or could not be judged).
    pub fix: String,
    /// False when the grader could not judge the criterion (its answer was malformed
    /// twice): the criterion then fails closed, and `reason` says why.
    pub judged: bool,
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

    /// The criteria the grader could not judge, in rubric order.
    pub fn not_judged(&self) -> impl Iterator<Item = &str> {
        self.criteria
            .iter()
            .filter(|c| !c.judged)
            .map(|c| c.id.as_str())
    }
}
