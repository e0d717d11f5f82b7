//! The scripted grader's verdict on one log: the only place a finding meets the log's
//! hidden cause.
//!
//! It says what a reviewer who knows the log would say: right or wrong, and why, in
//! terms of the log — which line shows the failure, whether the cited line is it — and
//! of the team's own choice. It never names the hidden cause of a log the team got
//! wrong, so nothing recorded (facts, per-log records, events) carries the label; what
//! a dream learns, it learns from these verdicts. Whether a finding was right on a log
//! is, of course, the team's own label confirmed.

use super::fleet::{BuildLog, Cause};

/// What the grader judged of one log's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The finding names the cause the log failed for.
    pub right: bool,
    /// The finding cites a line that shows the failure.
    pub cites_failure: bool,
    /// The grader's stated reason, one or two sentences.
    pub reason: String,
}

impl Verdict {
    /// `right` or `wrong`, as the per-log records say it.
    pub fn word(&self) -> &'static str {
        if self.right {
            "right"
        } else {
            "wrong"
        }
    }
}

/// Judges the finding filed for `log` (cause and evidence line), if any.
pub fn judge(log: &BuildLog, finding: Option<(Cause, u32)>) -> Verdict {
    let failure_line = log.evidence.last().copied().unwrap_or(0);
    let total = log.lines.len();
    let Some((cause, line)) = finding else {
        return Verdict {
            right: false,
            cites_failure: false,
            reason: format!(
                "wrong: no cause was filed for this log; the failure shows at line {failure_line}."
            ),
        };
    };
    let chosen = cause.name();
    let right = cause == log.cause;
    let cites_failure = log.evidence.contains(&line);
    let reason = if log.line(line).is_none() {
        format!(
            "{}: the cited line {line} does not exist (the log has lines 1 to {total}); \
             the failure shows at line {failure_line}.",
            if right {
                format!("right cause `{chosen}`, but")
            } else {
                format!("wrong: the build did not fail because of `{chosen}`, and")
            }
        )
    } else {
        match (right, cites_failure) {
            (true, true) => {
                format!("right: line {line} shows why the build failed, and `{chosen}` is what it shows.")
            }
            (true, false) => format!(
                "right cause `{chosen}`, but line {line} is not the line that shows it; \
                 the failure shows at line {failure_line}."
            ),
            (false, true) => format!(
                "wrong: line {line} is where the build failed, but what it shows is not `{chosen}`."
            ),
            (false, false) => format!(
                "wrong: the build did not fail because of `{chosen}`; line {line} is not what broke it; \
                 the failure shows at line {failure_line}."
            ),
        }
    };
    Verdict {
        right,
        cites_failure,
        reason,
    }
}
