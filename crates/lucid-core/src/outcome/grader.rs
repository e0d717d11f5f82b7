//! The grader: an independent judge in a fresh context.
//!
//! Criteria with a check are evaluated directly; the rest go to the grader model, which
//! must answer through its forced `submit_verdicts` call. A malformed answer is asked
//! again once; after that the grader fails closed: each criterion the answer did not
//! judge well fails as *not judged*, saying why, and the session goes on (a revision,
//! or the end with the rubric not met). Only a model that cannot be reached or refuses
//! the request stops the run.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::{CriterionVerdict, Verdict};
use crate::event::{EventBus, EventKind, Facts};
use crate::model::{
    complete_observed, ContentBlock, Message, ModelError, ModelRequest, Provider, RetryNotice,
    Role, ToolChoice, ToolSpec,
};
use crate::spec::{Criterion, ModelProfile, Rubric};
use crate::world::command_facts::CommandReport;

/// The tool the grader model must answer through.
pub const VERDICT_TOOL: &str = "submit_verdicts";

pub const GRADER_SYSTEM: &str = "You are an independent grader. Judge the output against each \
listed criterion on its own, using only the task, the rubric, the output and the facts you are \
given. For every criterion say whether it passed, why, and (if it failed) exactly what must \
change. Answer by calling submit_verdicts once with one verdict per listed criterion.";

/// Why grading could not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraderError {
    #[error("the grader model is unavailable: {0}")]
    Unavailable(String),
    #[error("the grader model refused the request: {0}")]
    Refused(String),
}

/// What makes a grader model's answer unusable; the sentence is also what the model is
/// told when it is asked again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerdictProblem {
    #[error("no {} call", VERDICT_TOOL)]
    NoCall,
    #[error("{} arguments: {reason}", VERDICT_TOOL)]
    BadArguments { reason: String },
    #[error("no verdict for criterion `{criterion}`")]
    Missing { criterion: String },
    #[error("criterion `{criterion}` was judged twice")]
    JudgedTwice { criterion: String },
    #[error("the verdict for `{criterion}` gives no reason")]
    NoReason { criterion: String },
    #[error("`{criterion}` is not a criterion to judge")]
    NotToJudge { criterion: String },
}

/// Judges outputs against one rubric.
pub struct Grader {
    task: String,
    rubric: Rubric,
    model: Option<Arc<dyn Provider>>,
    bus: Arc<EventBus>,
    /// The grader's profile, for recording what its calls used and cost.
    profile: Option<(String, ModelProfile)>,
}

#[derive(Deserialize)]
struct VerdictsArgs {
    verdicts: Vec<VerdictArg>,
}

#[derive(Deserialize)]
struct VerdictArg {
    criterion: String,
    passed: bool,
    reason: String,
    #[serde(default)]
    fix: String,
}

impl Grader {
    /// `model` judges criteria without a check; it may be `None` when every criterion has one.
    pub fn new(
        task: String,
        rubric: Rubric,
        model: Option<Arc<dyn Provider>>,
        bus: Arc<EventBus>,
    ) -> Self {
        Grader {
            task,
            rubric,
            model,
            bus,
            profile: None,
        }
    }

    /// Names the grader's model profile, so each call's tokens (and cost, when the profile
    /// has prices) are recorded as the grader's.
    pub fn with_profile(mut self, name: &str, profile: Option<&ModelProfile>) -> Self {
        self.profile = profile.map(|p| (name.to_string(), p.clone()));
        self
    }

    /// Judges one iteration's output and facts, recording each criterion's verdict.
    pub async fn judge(
        &self,
        iteration: u32,
        output: &str,
        facts: &Facts,
        evidence: &[CommandReport],
    ) -> Result<Verdict, GraderError> {
        self.bus.emit(None, EventKind::GradingStarted { iteration });
        let modelled: Vec<&Criterion> = self
            .rubric
            .criteria
            .iter()
            .filter(|c| c.check.is_none())
            .collect();
        let mut from_model = if modelled.is_empty() {
            Vec::new()
        } else {
            self.ask_model(&modelled, output, facts, evidence).await?
        };
        let mut criteria = Vec::new();
        for criterion in &self.rubric.criteria {
            let verdict = match &criterion.check {
                Some(check) => judge_check(criterion, check, facts, evidence),
                None => match from_model.iter().position(|v| v.id == criterion.id) {
                    Some(i) => from_model.swap_remove(i),
                    None => not_judged(criterion, "the grader gave no verdict"),
                },
            };
            self.bus.emit(
                None,
                EventKind::CriterionJudged {
                    iteration,
                    criterion: verdict.id.clone(),
                    passed: verdict.passed,
                    reason: verdict.reason.clone(),
                    fix: verdict.fix.clone(),
                    judged: verdict.judged,
                },
            );
            criteria.push(verdict);
        }
        let verdict = Verdict {
            iteration,
            criteria,
        };
        self.bus.emit(
            None,
            EventKind::GradingFinished {
                iteration,
                passed: verdict.passed(),
                facts: facts.clone(),
            },
        );
        Ok(verdict)
    }

    /// Asks the grader model for the criteria it judges; re-asks once on a malformed
    /// answer, and then fails closed on whatever the last answer did not judge well.
    async fn ask_model(
        &self,
        criteria: &[&Criterion],
        output: &str,
        facts: &Facts,
        evidence: &[CommandReport],
    ) -> Result<Vec<CriterionVerdict>, GraderError> {
        let Some(model) = &self.model else {
            return Err(GraderError::Unavailable(
                "no grader model is configured".into(),
            ));
        };
        let mut request =
            grader_request(&self.task, &self.rubric, criteria, output, facts, evidence);
        let mut last = (Vec::new(), VerdictProblem::NoCall);
        for _attempt in 0..2 {
            let on_retry = |notice: &RetryNotice| {
                self.bus.emit(
                    None,
                    EventKind::Retry {
                        attempt: notice.attempt,
                        reason: notice.reason.clone(),
                        delay_ms: notice.delay_ms,
                    },
                );
            };
            let response = complete_observed(model.as_ref(), request.clone(), on_retry)
                .await
                .map_err(|err| match err {
                    ModelError::Refused(m) => GraderError::Refused(m),
                    other => GraderError::Unavailable(other.to_string()),
                })?;
            if let Some((name, profile)) = &self.profile {
                self.bus.emit(
                    None,
                    crate::run::usage_event(
                        crate::run::GRADER_ROLE,
                        name,
                        Some(profile),
                        &response.usage,
                    ),
                );
            }
            match parse_verdicts(&response.content, criteria) {
                Ok(verdicts) => return Ok(verdicts),
                Err(problem) => {
                    last = (response.content.clone(), problem.clone());
                    std::sync::Arc::make_mut(&mut request.messages).push(Message {
                        role: Role::Assistant,
                        content: response.content.clone(),
                    });
                    let answers = response.content.iter().filter_map(|block| match block {
                        ContentBlock::ToolUse { id, .. } => Some(ContentBlock::ToolResult {
                            tool_use_id: id.clone(),
                            content: problem.to_string(),
                            is_error: true,
                        }),
                        _ => None,
                    });
                    let mut content: Vec<ContentBlock> = answers.collect();
                    content.push(ContentBlock::Text {
                        text: format!("Your answer could not be used: {problem}. Call {VERDICT_TOOL} again with one verdict per listed criterion."),
                    });
                    std::sync::Arc::make_mut(&mut request.messages).push(Message {
                        role: Role::User,
                        content,
                    });
                }
            }
        }
        let (content, problem) = last;
        Ok(fail_closed(&content, criteria, &problem))
    }
}

/// A criterion the grader could not judge: it fails, and says why.
fn not_judged(criterion: &Criterion, why: &str) -> CriterionVerdict {
    CriterionVerdict {
        id: criterion.id.clone(),
        passed: false,
        reason: format!("not judged: {why}"),
        fix: String::new(),
        judged: false,
    }
}

/// The verdicts of a grader's last, malformed answer: a criterion it judged once, with
/// a reason, keeps that verdict; every other one is not judged, with the problem that
/// concerns it (or, for an answer that could not be read at all, the answer's problem).
fn fail_closed(
    content: &[ContentBlock],
    criteria: &[&Criterion],
    problem: &VerdictProblem,
) -> Vec<CriterionVerdict> {
    let args = verdict_input(content)
        .and_then(|input| serde_json::from_value::<VerdictsArgs>(input).ok())
        .map(|args| args.verdicts)
        .unwrap_or_default();
    criteria
        .iter()
        .map(|criterion| match judge_one(&args, criterion) {
            Ok(verdict) => verdict,
            Err(own) => {
                let reason = match problem {
                    VerdictProblem::NoCall | VerdictProblem::BadArguments { .. } => problem,
                    _ => &own,
                };
                not_judged(
                    criterion,
                    &format!("the grader's answer was malformed twice: {reason}"),
                )
            }
        })
        .collect()
}

/// Judges a criterion with a programmatic check. A failed check over a fact from a
/// command quotes the end of that command's output in what must change.
fn judge_check(
    criterion: &Criterion,
    check: &crate::spec::CheckExpr,
    facts: &Facts,
    evidence: &[CommandReport],
) -> CriterionVerdict {
    match check.eval(facts) {
        Ok(passed) => CriterionVerdict {
            id: criterion.id.clone(),
            passed,
            reason: check.explain(facts),
            fix: if passed {
                String::new()
            } else {
                let mut fix = check.what_must_change(facts).join("; ");
                for report in related_reports(check, evidence) {
                    fix.push_str(&format!("\n{}", quote_report(report)));
                }
                fix
            },
            judged: true,
        },
        Err(err) => CriterionVerdict {
            fix: "the environment must report the facts the check reads".into(),
            ..not_judged(
                criterion,
                &format!(
                    "the check `{}` could not be evaluated: {err}",
                    check.source()
                ),
            )
        },
    }
}

/// The fact commands a check reads (`tests_pass`, or `report` for `report.field`).
fn related_reports<'a>(
    check: &crate::spec::CheckExpr,
    evidence: &'a [CommandReport],
) -> impl Iterator<Item = &'a CommandReport> {
    let named: Vec<String> = check.facts().into_iter().map(|(fact, _)| fact).collect();
    evidence.iter().filter(move |report| {
        named.iter().any(|fact| {
            fact == &report.fact
                || fact
                    .strip_prefix(report.fact.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        })
    })
}

/// A fact command's status and the end of its output, as the team reads it.
fn quote_report(report: &CommandReport) -> String {
    let mut text = format!(
        "`{}` (fact `{}`): {}",
        report.command, report.fact, report.status
    );
    if !report.tail.trim().is_empty() {
        text.push_str(&format!(
            "; its output ends:\n```\n{}\n```",
            report.tail.trim_end()
        ));
    }
    text
}

/// The grader model's whole context: task, rubric, output, facts and the fact commands'
/// results, nothing else.
pub fn grader_request(
    task: &str,
    rubric: &Rubric,
    criteria: &[&Criterion],
    output: &str,
    facts: &Facts,
    evidence: &[CommandReport],
) -> ModelRequest {
    let rubric_lines: Vec<String> = rubric
        .criteria
        .iter()
        .map(|c| format!("- {}: {}", c.id, c.description))
        .collect();
    let to_judge: Vec<String> = criteria.iter().map(|c| format!("- {}", c.id)).collect();
    let facts_json = serde_json::to_string_pretty(facts).unwrap_or_else(|_| "{}".into());
    let commands = if evidence.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = evidence.iter().map(quote_report).collect();
        format!(
            "## Commands run after the attempt\n{}\n\n",
            quoted.join("\n")
        )
    };
    let text = format!(
        "## Task\n{task}\n\n## Rubric\n{}\n\n## Output\n{output}\n\n## Facts\n{facts_json}\n\n{commands}## Criteria to judge\n{}\n",
        rubric_lines.join("\n"),
        to_judge.join("\n")
    );
    let ids: Vec<&str> = criteria.iter().map(|c| c.id.as_str()).collect();
    ModelRequest {
        system: GRADER_SYSTEM.into(),
        messages: vec![Message::user_text(text)].into(),
        tools: vec![ToolSpec {
            name: VERDICT_TOOL.into(),
            description: "Record one verdict per criterion.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "verdicts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "criterion": {"type": "string", "enum": ids},
                                "passed": {"type": "boolean"},
                                "reason": {"type": "string", "description": "Why, citing the output or facts."},
                                "fix": {"type": "string", "description": "What must change; empty if passed."}
                            },
                            "required": ["criterion", "passed", "reason", "fix"],
                            "additionalProperties": false
                        }
                    }
                },
                "required": ["verdicts"],
                "additionalProperties": false
            }),
        }].into(),
        tool_choice: ToolChoice::Tool {
            name: VERDICT_TOOL.into(),
        },
        max_tokens: 2048,
        temperature: None,
    }
}

/// The arguments of the answer's `submit_verdicts` call, if it made one.
fn verdict_input(content: &[ContentBlock]) -> Option<serde_json::Value> {
    content.iter().find_map(|block| match block {
        ContentBlock::ToolUse { name, input, .. } if name == VERDICT_TOOL => Some(input.clone()),
        _ => None,
    })
}

/// The one verdict `verdicts` gives `criterion`: judged exactly once, with a reason.
fn judge_one(
    verdicts: &[VerdictArg],
    criterion: &Criterion,
) -> Result<CriterionVerdict, VerdictProblem> {
    let mut matching = verdicts.iter().filter(|v| v.criterion == criterion.id);
    let found = matching.next().ok_or_else(|| VerdictProblem::Missing {
        criterion: criterion.id.clone(),
    })?;
    if matching.next().is_some() {
        return Err(VerdictProblem::JudgedTwice {
            criterion: criterion.id.clone(),
        });
    }
    if found.reason.trim().is_empty() {
        return Err(VerdictProblem::NoReason {
            criterion: criterion.id.clone(),
        });
    }
    Ok(CriterionVerdict {
        id: found.criterion.clone(),
        passed: found.passed,
        reason: found.reason.clone(),
        fix: if found.passed {
            String::new()
        } else {
            found.fix.clone()
        },
        judged: true,
    })
}

/// Validates the grader's answer: one `submit_verdicts` call judging each criterion once.
fn parse_verdicts(
    content: &[ContentBlock],
    criteria: &[&Criterion],
) -> Result<Vec<CriterionVerdict>, VerdictProblem> {
    let input = verdict_input(content).ok_or(VerdictProblem::NoCall)?;
    let args: VerdictsArgs =
        serde_json::from_value(input).map_err(|err| VerdictProblem::BadArguments {
            reason: err.to_string(),
        })?;
    let verdicts = criteria
        .iter()
        .map(|criterion| judge_one(&args.verdicts, criterion))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(extra) = args
        .verdicts
        .iter()
        .find(|v| !criteria.iter().any(|c| c.id == v.criterion))
    {
        return Err(VerdictProblem::NotToJudge {
            criterion: extra.criterion.clone(),
        });
    }
    Ok(verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn criterion(id: &str) -> Criterion {
        Criterion {
            id: id.into(),
            description: "d".into(),
            check: None,
        }
    }

    fn call(input: serde_json::Value) -> Vec<ContentBlock> {
        vec![ContentBlock::ToolUse {
            id: "t1".into(),
            name: VERDICT_TOOL.into(),
            input,
        }]
    }

    fn verdict(id: &str, reason: &str) -> serde_json::Value {
        json!({"criterion": id, "passed": true, "reason": reason})
    }

    #[test]
    fn each_malformed_answer_names_its_problem() {
        let (a, b) = (criterion("a"), criterion("b"));
        let criteria = [&a, &b];
        let problem = |content: &[ContentBlock]| parse_verdicts(content, &criteria).unwrap_err();
        let text = [ContentBlock::Text { text: "ok".into() }];
        assert_eq!(problem(&text), VerdictProblem::NoCall);
        assert_eq!(problem(&text).to_string(), "no submit_verdicts call");
        let bad = problem(&call(json!({"verdicts": 3})));
        assert!(matches!(bad, VerdictProblem::BadArguments { .. }), "{bad}");
        assert!(bad.to_string().starts_with("submit_verdicts arguments: "));
        assert_eq!(
            problem(&call(json!({"verdicts": [verdict("a", "r")]}))).to_string(),
            "no verdict for criterion `b`"
        );
        assert_eq!(
            problem(&call(
                json!({"verdicts": [verdict("a", "r"), verdict("a", "r"), verdict("b", "r")]})
            ))
            .to_string(),
            "criterion `a` was judged twice"
        );
        assert_eq!(
            problem(&call(
                json!({"verdicts": [verdict("a", " "), verdict("b", "r")]})
            ))
            .to_string(),
            "the verdict for `a` gives no reason"
        );
        assert_eq!(
            problem(&call(
                json!({"verdicts": [verdict("a", "r"), verdict("b", "r"), verdict("z", "r")]})
            )),
            VerdictProblem::NotToJudge {
                criterion: "z".into()
            }
        );
        let verdicts = parse_verdicts(
            &call(json!({"verdicts": [verdict("b", "r"), verdict("a", "r")]})),
            &criteria,
        )
        .unwrap();
        assert_eq!(verdicts.len(), 2);
        assert_eq!(verdicts[0].id, "a");
    }

    #[test]
    fn a_last_malformed_answer_fails_closed_criterion_by_criterion() {
        let (a, b, c) = (criterion("a"), criterion("b"), criterion("c"));
        let criteria = [&a, &b, &c];
        // `a` judged well, `b` judged twice, `c` missing, `z` not to judge.
        let content = call(json!({"verdicts": [
            {"criterion": "a", "passed": false, "reason": "r", "fix": "f"},
            verdict("b", "r"), verdict("b", "r"), verdict("z", "r")
        ]}));
        let problem = parse_verdicts(&content, &criteria).unwrap_err();
        let verdicts = fail_closed(&content, &criteria, &problem);
        let judged: Vec<(&str, bool, bool)> = verdicts
            .iter()
            .map(|v| (v.id.as_str(), v.passed, v.judged))
            .collect();
        assert_eq!(
            judged,
            [("a", false, true), ("b", false, false), ("c", false, false)]
        );
        assert_eq!(verdicts[0].fix, "f");
        assert_eq!(
            verdicts[1].reason,
            "not judged: the grader's answer was malformed twice: criterion `b` was judged twice"
        );
        assert_eq!(
            verdicts[2].reason,
            "not judged: the grader's answer was malformed twice: no verdict for criterion `c`"
        );

        // An answer that cannot be read at all leaves every criterion not judged.
        let text = [ContentBlock::Text { text: "ok".into() }];
        let verdicts = fail_closed(&text, &criteria, &VerdictProblem::NoCall);
        assert!(verdicts.iter().all(|v| !v.judged && !v.passed));
        assert_eq!(
            verdicts[0].reason,
            "not judged: the grader's answer was malformed twice: no submit_verdicts call"
        );
    }
}
