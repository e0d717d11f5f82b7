//! The revise loop: attempt, grade, hand the failures back to the lead, until the rubric
//! is met or the iterations run out. Also brackets the session with its start and
//! finish events.

use std::sync::Arc;

use super::{Grader, Verdict};
use crate::event::{now_ms, Event, EventKind, Facts, Projection, SessionId};
use crate::model::Message;
use crate::run::{resume_point, IterationResume, RunError, TeamRun};

/// What a whole session came to.
#[derive(Debug, Clone)]
pub struct SessionResult {
    pub session: SessionId,
    pub passed: bool,
    pub verdicts: Vec<Verdict>,
    pub facts: Facts,
    pub output: String,
    pub duration_ms: u64,
}

/// Where the session came from, for the start event.
#[derive(Debug, Clone)]
pub struct SessionOrigin {
    pub spec_path: String,
    pub seed: u64,
    pub world: u64,
}

/// Where the revise loop starts: from scratch, or from a recorded session.
struct Start {
    iteration: u32,
    conversation: Vec<Message>,
    lead_turns: u32,
    verdicts: Vec<Verdict>,
    /// Where the first iteration picks up.
    resume: IterationResume,
    /// Whether the first iteration's feedback is already in `conversation`.
    feedback_recorded: bool,
}

/// Runs a session to its end: every iteration, graded, revised, recorded.
pub async fn run_session(
    team: Arc<TeamRun>,
    origin: SessionOrigin,
) -> Result<SessionResult, RunError> {
    let started = now_ms();
    let spec = team.spec();
    team.bus().emit(
        None,
        EventKind::SessionStarted {
            team: spec.team.clone(),
            spec_path: origin.spec_path,
            task: spec.task.clone(),
            environment: spec.environment.kind.get_ref().clone(),
            seed: origin.seed,
            world: origin.world,
            max_iterations: spec.rubric.max_iterations,
        },
    );
    if !spec.dreaming.choices.is_empty() {
        team.bus().emit(
            None,
            EventKind::ChoicesDeclared {
                choices: spec.dreaming.choices.clone(),
            },
        );
    }
    team.announce_playbooks();
    // The session is on record before any work starts, so a kill at any moment leaves
    // it listed (as interrupted).
    team.bus()
        .checkpoint()
        .await
        .map_err(|err| RunError::Store(err.0))?;
    let start = Start {
        iteration: 1,
        conversation: vec![team.opening_message()],
        lead_turns: 0,
        verdicts: Vec::new(),
        resume: IterationResume::default(),
        feedback_recorded: true,
    };
    finish(&team, start, started).await
}

/// Continues an interrupted session from its last completed step; `events` are the
/// events recorded so far, and `team` must be built on a bus that continues them.
pub async fn resume_session(
    team: Arc<TeamRun>,
    events: &[Event],
) -> Result<SessionResult, RunError> {
    let started = now_ms();
    let point = resume_point(events, team.opening_message());
    team.continue_after(&point);
    team.bus().emit(
        None,
        EventKind::SessionResumed {
            iteration: point.iteration,
            lead_turns: point.lead_turns,
            replayed_calls: point.replay.len() as u32,
            reused_agents: point.reused_agents,
            continued_agents: point.continued_agents,
        },
    );
    team.abandon(&point);
    let start = Start {
        iteration: point.iteration,
        verdicts: Projection::of(events).verdicts(),
        resume: IterationResume::of(&point),
        conversation: point.lead_conversation,
        lead_turns: point.lead_turns,
        feedback_recorded: point.feedback_recorded,
    };
    finish(&team, start, started).await
}

/// Runs the loop from `start` and records how the session ended.
async fn finish(
    team: &Arc<TeamRun>,
    start: Start,
    started: u64,
) -> Result<SessionResult, RunError> {
    let bus = Arc::clone(team.bus());
    let outcome = match team.start_tools().await {
        Ok(()) => iterate(team, start).await,
        Err(err) => Err(err),
    };
    // MCP servers stop with the session, however it ended (a verdict, an error, Ctrl-C).
    team.stop_tools().await;
    let duration_ms = now_ms().saturating_sub(started);
    let finish = match &outcome {
        Ok((verdicts, _, _)) => EventKind::SessionFinished {
            passed: verdicts.last().is_some_and(Verdict::passed),
            iterations: verdicts.len() as u32,
            duration_ms,
            error: None,
            cancelled: false,
        },
        Err(err) => EventKind::SessionFinished {
            passed: false,
            iterations: 0,
            duration_ms,
            error: Some(err.to_string()),
            cancelled: matches!(err, RunError::Cancelled),
        },
    };
    bus.emit(None, finish);
    bus.checkpoint()
        .await
        .map_err(|err| RunError::Store(err.0))?;
    let (verdicts, facts, output) = outcome?;
    Ok(SessionResult {
        session: bus.session(),
        passed: verdicts.last().is_some_and(Verdict::passed),
        verdicts,
        facts,
        output,
        duration_ms,
    })
}

async fn iterate(
    team: &Arc<TeamRun>,
    start: Start,
) -> Result<(Vec<Verdict>, Facts, String), RunError> {
    let spec = team.spec();
    let max = spec.rubric.max_iterations;
    let grader = Grader::new(
        spec.task.clone(),
        spec.rubric.clone(),
        team.providers().grader(),
        Arc::clone(team.bus()),
    )
    .with_profile(
        &spec.rubric.grader,
        team.providers().profile(&spec.rubric.grader),
    );
    let Start {
        iteration: first,
        mut conversation,
        mut lead_turns,
        mut verdicts,
        resume,
        feedback_recorded,
    } = start;
    let mut resume = Some(resume);
    let mut facts = Facts::new();
    let mut output = String::new();
    if verdicts.last().is_some_and(Verdict::passed) {
        return Ok((verdicts, facts, output));
    }
    for iteration in first..=max {
        let resumed_here = iteration == first;
        if let Some(previous) = verdicts.last() {
            if !(resumed_here && feedback_recorded) {
                let feedback = feedback_message(previous, max);
                team.bus().emit(
                    None,
                    EventKind::RevisionStarted {
                        iteration,
                        feedback: feedback.clone(),
                    },
                );
                conversation.push(Message::user_text(feedback));
            }
        }
        let attempt = team
            .attempt_from(
                iteration,
                &mut conversation,
                &mut lead_turns,
                resume.take().unwrap_or_default(),
            )
            .await?;
        let verdict = grader
            .judge(
                iteration,
                &attempt.output,
                &attempt.facts,
                &attempt.evidence,
            )
            .await
            .map_err(|err| RunError::Provider(err.to_string()))?;
        team.bus()
            .checkpoint()
            .await
            .map_err(|err| RunError::Store(err.0))?;
        facts = attempt.facts;
        output = attempt.output;
        let passed = verdict.passed();
        verdicts.push(verdict);
        // Out of turns: the work is graded as it stands, and no pass follows.
        if passed || attempt.budget_spent {
            break;
        }
    }
    Ok((verdicts, facts, output))
}

/// The message the lead gets after a failed iteration: the failed criteria with the
/// grader's reasons and what must change.
pub fn feedback_message(verdict: &Verdict, max_iterations: u32) -> String {
    let mut text = format!(
        "## Grader feedback (iteration {} of {max_iterations})\nThe rubric is not met. Failed criteria:\n",
        verdict.iteration
    );
    for failed in verdict.criteria.iter().filter(|c| !c.passed) {
        text.push_str(&format!("- {}: {}\n", failed.id, failed.reason));
        if !failed.fix.is_empty() {
            text.push_str(&format!("  must change: {}\n", failed.fix));
        }
    }
    let passed: Vec<&str> = verdict
        .criteria
        .iter()
        .filter(|c| c.passed)
        .map(|c| c.id.as_str())
        .collect();
    if !passed.is_empty() {
        text.push_str(&format!("Passed: {}.\n", passed.join(", ")));
    }
    text.push_str("Take another pass: revise the plan and try again.");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::CriterionVerdict;

    #[test]
    fn feedback_lists_failures_with_fixes_and_names_the_passes() {
        let verdict = Verdict {
            iteration: 1,
            criteria: vec![
                CriterionVerdict {
                    id: "soft_landing".into(),
                    passed: false,
                    reason: "touchdown_speed_mps = 4.31, needs <= 2".into(),
                    fix: "touchdown_speed_mps must be at most 2 (it was 4.31)".into(),
                    judged: true,
                },
                CriterionVerdict {
                    id: "clear_ground".into(),
                    passed: true,
                    reason: "slope_deg = 3, needs <= 8".into(),
                    fix: String::new(),
                    judged: true,
                },
            ],
        };
        assert_eq!(
            feedback_message(&verdict, 3),
            "## Grader feedback (iteration 1 of 3)\nThe rubric is not met. Failed criteria:\n\
             - soft_landing: touchdown_speed_mps = 4.31, needs <= 2\n  \
             must change: touchdown_speed_mps must be at most 2 (it was 4.31)\n\
             Passed: clear_ground.\nTake another pass: revise the plan and try again."
        );
    }
}
