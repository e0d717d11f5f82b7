//! The session summary: what a session was and how it went, as a fold over its events
//! ([`SessionSummary::start`] on `SessionStarted`, then [`SessionSummary::apply`] for
//! each event), and the session's status.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, SessionId};

/// How a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Being written by this process.
    Running,
    /// Finished with the rubric met.
    Passed,
    /// Finished with the rubric not met after the last iteration.
    Failed,
    /// Finished on a runtime failure.
    Error,
    /// Cancelled by a person (or Ctrl-C) before it finished; it can be resumed.
    Cancelled,
    /// Ended without finishing (the process was killed or crashed).
    Interrupted,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Passed => "passed",
            SessionStatus::Failed => "failed",
            SessionStatus::Error => "error",
            SessionStatus::Cancelled => "cancelled",
            SessionStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a session was and how it went, derived from its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: SessionId,
    pub team: String,
    pub spec_path: String,
    pub task: String,
    /// The environment's kind.
    pub environment: String,
    pub seed: u64,
    pub world: u64,
    pub max_iterations: u32,
    pub started_at_ms: u64,
    pub finished_at_ms: Option<u64>,
    pub status: SessionStatus,
    /// Iterations graded so far.
    pub iterations: u32,
    /// The latest verdict.
    pub passed: Option<bool>,
    /// The verdict of the first iteration.
    pub first_attempt_passed: Option<bool>,
    /// Agent threads spawned.
    pub agents: u32,
    pub tool_calls: u32,
    /// Tokens of every model call the session paid for: the agents' turns and the
    /// grader's, advisors' and dreamer's calls.
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// What those calls cost, when their profiles have prices (absent in summaries
    /// recorded before costs were summed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    pub duration_ms: Option<u64>,
    /// The runtime failure the session ended on.
    pub error: Option<String>,
}

impl SessionSummary {
    /// A dream's own session (the dreamer's thread), not a run of a team.
    pub fn is_dream(&self) -> bool {
        self.environment == crate::dream::DREAM_ENVIRONMENT
    }

    /// A fresh summary when `event` is a `SessionStarted`.
    pub fn start(event: &Event) -> Option<SessionSummary> {
        let EventKind::SessionStarted {
            team,
            spec_path,
            task,
            environment,
            seed,
            world,
            max_iterations,
        } = &event.kind
        else {
            return None;
        };
        Some(SessionSummary {
            id: event.session,
            team: team.clone(),
            spec_path: spec_path.clone(),
            task: task.clone(),
            environment: environment.clone(),
            seed: *seed,
            world: *world,
            max_iterations: *max_iterations,
            started_at_ms: event.at_ms,
            finished_at_ms: None,
            status: SessionStatus::Running,
            iterations: 0,
            passed: None,
            first_attempt_passed: None,
            agents: 0,
            tool_calls: 0,
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: None,
            duration_ms: None,
            error: None,
        })
    }

    /// Folds one of the session's events in; returns whether the summary changed.
    ///
    /// A `SessionStarted` for a summary that already exists (a resumed run) refreshes
    /// the header and marks the session running again, keeping the counts and the
    /// original start time.
    pub fn apply(&mut self, event: &Event) -> bool {
        match &event.kind {
            EventKind::SessionStarted { .. } => {
                if let Some(fresh) = SessionSummary::start(event) {
                    self.team = fresh.team;
                    self.spec_path = fresh.spec_path;
                    self.task = fresh.task;
                    self.environment = fresh.environment;
                    self.seed = fresh.seed;
                    self.world = fresh.world;
                    self.max_iterations = fresh.max_iterations;
                }
                self.status = SessionStatus::Running;
                self.finished_at_ms = None;
                self.duration_ms = None;
                self.error = None;
            }
            EventKind::SessionResumed { .. } => {
                self.status = SessionStatus::Running;
                self.finished_at_ms = None;
                self.duration_ms = None;
                self.error = None;
            }
            EventKind::AgentSpawned { .. } => self.agents = self.agents.saturating_add(1),
            EventKind::ToolCalled { .. } => self.tool_calls = self.tool_calls.saturating_add(1),
            EventKind::ModelTurn {
                tokens_in,
                tokens_out,
                cost_usd,
                ..
            }
            | EventKind::ModelUsage {
                tokens_in,
                tokens_out,
                cost_usd,
                ..
            } => {
                self.tokens_in = self.tokens_in.saturating_add(*tokens_in);
                self.tokens_out = self.tokens_out.saturating_add(*tokens_out);
                if let Some(cost) = cost_usd {
                    *self.cost_usd.get_or_insert(0.0) += cost;
                }
            }
            EventKind::GradingFinished {
                iteration, passed, ..
            } => {
                self.iterations = *iteration;
                self.passed = Some(*passed);
                if *iteration == 1 {
                    self.first_attempt_passed = Some(*passed);
                }
            }
            EventKind::SessionFinished {
                passed,
                duration_ms,
                error,
                cancelled,
                ..
            } => {
                self.status = match (error, passed) {
                    _ if *cancelled => SessionStatus::Cancelled,
                    (Some(_), _) => SessionStatus::Error,
                    (None, true) => SessionStatus::Passed,
                    (None, false) => SessionStatus::Failed,
                };
                if error.is_none() {
                    self.passed = Some(*passed);
                }
                self.error = error.clone();
                self.finished_at_ms = Some(event.at_ms);
                self.duration_ms = Some(*duration_ms);
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{event, finished, graded, spawned, started, tool_called, turn};

    /// The summary of a session made of `kinds`.
    fn fold(kinds: Vec<EventKind>) -> SessionSummary {
        let id = SessionId::generate();
        let mut events = kinds
            .into_iter()
            .enumerate()
            .map(|(seq, kind)| event(id, seq as u64, kind));
        let mut summary = SessionSummary::start(&events.next().unwrap()).unwrap();
        for event in events {
            summary.apply(&event);
        }
        summary
    }

    #[test]
    fn only_a_session_start_starts_a_summary() {
        let id = SessionId::generate();
        assert!(SessionSummary::start(&event(id, 0, tool_called("x"))).is_none());
        let summary = SessionSummary::start(&event(id, 0, started("team"))).unwrap();
        assert_eq!((summary.id, summary.status), (id, SessionStatus::Running));
        assert_eq!(summary.started_at_ms, event(id, 0, started("team")).at_ms);
    }

    #[test]
    fn counts_accumulate_and_other_events_change_nothing() {
        let s = fold(vec![
            started("t"),
            spawned("lead"),
            turn(10, 2),
            tool_called("a"),
            EventKind::Text { text: "hi".into() },
            spawned("helper"),
            turn(5, 1),
        ]);
        assert_eq!((s.agents, s.tool_calls), (2, 1));
        assert_eq!((s.tokens_in, s.tokens_out), (15, 3));
        let mut unchanged = s.clone();
        let text = event(s.id, 9, EventKind::Text { text: "x".into() });
        assert!(!unchanged.apply(&text));
        assert_eq!(unchanged, s);
    }

    #[test]
    fn tokens_and_cost_count_every_call_the_session_paid_for() {
        let mut priced = turn(10, 2);
        if let EventKind::ModelTurn { cost_usd, .. } = &mut priced {
            *cost_usd = Some(0.25);
        }
        let grader = EventKind::ModelUsage {
            role: "grader".into(),
            profile: "judge".into(),
            tokens_in: 100,
            tokens_out: 20,
            cost_usd: Some(0.5),
        };
        let s = fold(vec![started("t"), priced, turn(5, 1), grader]);
        assert_eq!((s.tokens_in, s.tokens_out), (115, 23));
        assert_eq!(s.cost_usd, Some(0.75));
        // Unpriced calls leave the cost unknown rather than zero.
        let s = fold(vec![started("t"), turn(5, 1)]);
        assert_eq!(s.cost_usd, None);
    }

    #[test]
    fn first_attempt_and_final_status_follow_the_verdicts() {
        let s = fold(vec![started("t"), graded(1, true), finished(true, None)]);
        assert_eq!(s.first_attempt_passed, Some(true));
        assert_eq!((s.status, s.iterations), (SessionStatus::Passed, 1));

        let s = fold(vec![
            started("t"),
            graded(1, false),
            graded(2, false),
            finished(false, None),
        ]);
        assert_eq!(s.status, SessionStatus::Failed);
        assert_eq!(
            (s.iterations, s.passed, s.first_attempt_passed),
            (2, Some(false), Some(false))
        );

        let s = fold(vec![
            started("t"),
            finished(false, Some("provider unreachable")),
        ]);
        assert_eq!(s.status, SessionStatus::Error);
        assert_eq!(s.error.as_deref(), Some("provider unreachable"));
        assert_eq!((s.passed, s.first_attempt_passed), (None, None));
        assert_eq!(s.duration_ms, Some(1_234));
    }

    #[test]
    fn a_restart_keeps_counts_and_runs_again() {
        let s = fold(vec![
            started("t"),
            tool_called("a"),
            finished(false, Some("killed")),
            started("t2"),
        ]);
        assert_eq!(s.status, SessionStatus::Running);
        assert_eq!((s.tool_calls, s.team.as_str()), (1, "t2"));
        assert_eq!(
            (s.error, s.finished_at_ms, s.duration_ms),
            (None, None, None)
        );
    }

    #[test]
    fn statuses_serialize_in_snake_case() {
        for status in [
            SessionStatus::Running,
            SessionStatus::Passed,
            SessionStatus::Failed,
            SessionStatus::Error,
            SessionStatus::Interrupted,
        ] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(status.to_string(), status.as_str());
        }
    }
}
