//! The report of a session, folded from its events: what `run --json` and
//! `sessions show --json` print. A pure function of the event stream, so a live run and
//! a stored one report alike.

use serde::Serialize;

use crate::event::{AgentId, AgentStatus, Event, EventKind, Facts, SessionId};

/// A criterion's verdict as the report shows it: the protocol's own type.
pub use crate::event::CriterionVerdict as CriterionReport;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IterationReport {
    pub iteration: u32,
    pub passed: bool,
    pub criteria: Vec<CriterionReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeReport {
    pub passed: bool,
    pub iterations: Vec<IterationReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentReport {
    pub id: AgentId,
    pub name: String,
    pub parent: Option<AgentId>,
    pub purpose: Option<String>,
    pub status: AgentStatus,
    pub turns: u32,
    pub tool_calls: u32,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaybookReport {
    pub id: String,
    pub version: u32,
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    Running,
    Passed,
    Failed,
    Error,
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReport {
    pub session_id: Option<SessionId>,
    pub team: String,
    pub spec: String,
    pub status: ReportStatus,
    pub outcome: OutcomeReport,
    pub agents: Vec<AgentReport>,
    pub playbooks_applied: Vec<PlaybookReport>,
    pub facts: Facts,
    pub duration_ms: u64,
    /// Model retries (rate limits, overload, cut streams) across the session.
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// What the model turns cost in US dollars, when their profiles have prices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SessionReport {
    /// Folds a session's events, in order. `live` says whether the session may still be
    /// running; a finished-less stream that is not live reads as interrupted.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>, live: bool) -> SessionReport {
        let mut report = SessionReport {
            session_id: None,
            team: String::new(),
            spec: String::new(),
            status: ReportStatus::Running,
            outcome: OutcomeReport {
                passed: false,
                iterations: Vec::new(),
            },
            agents: Vec::new(),
            playbooks_applied: Vec::new(),
            facts: Facts::new(),
            duration_ms: 0,
            retries: 0,
            cost_usd: None,
            error: None,
        };
        let mut first_at = None;
        let mut finished = false;
        for event in events {
            report.session_id.get_or_insert(event.session);
            let started = *first_at.get_or_insert(event.at_ms);
            report.duration_ms = event.at_ms.saturating_sub(started);
            report.apply(event, &mut finished);
        }
        if !finished && !live {
            report.status = ReportStatus::Interrupted;
        }
        report
    }

    fn agent_mut(&mut self, id: Option<AgentId>) -> Option<&mut AgentReport> {
        let id = id?;
        self.agents.iter_mut().find(|a| a.id == id)
    }

    fn apply(&mut self, event: &Event, finished: &mut bool) {
        match &event.kind {
            EventKind::SessionStarted {
                team, spec_path, ..
            } => {
                self.team = team.clone();
                self.spec = spec_path.clone();
            }
            EventKind::SessionFinished {
                passed,
                duration_ms,
                error,
                ..
            } => {
                *finished = true;
                self.outcome.passed = *passed;
                self.duration_ms = *duration_ms;
                self.error = error.clone();
                self.status = match (error, passed) {
                    (Some(_), _) => ReportStatus::Error,
                    (None, true) => ReportStatus::Passed,
                    (None, false) => ReportStatus::Failed,
                };
            }
            EventKind::AgentSpawned {
                name,
                parent,
                purpose,
                ..
            } => {
                if let Some(id) = event.agent {
                    self.agents.push(AgentReport {
                        id,
                        name: name.clone(),
                        parent: *parent,
                        purpose: purpose.clone(),
                        status: AgentStatus::Running,
                        turns: 0,
                        tool_calls: 0,
                        tokens_in: 0,
                        tokens_out: 0,
                    });
                }
            }
            EventKind::ModelTurn {
                tokens_in,
                tokens_out,
                cost_usd,
                ..
            } => {
                if let Some(cost) = cost_usd {
                    *self.cost_usd.get_or_insert(0.0) += cost;
                }
                if let Some(agent) = self.agent_mut(event.agent) {
                    agent.status = AgentStatus::Running;
                    agent.turns += 1;
                    agent.tokens_in += tokens_in;
                    agent.tokens_out += tokens_out;
                }
            }
            EventKind::ToolCalled { .. } => {
                if let Some(agent) = self.agent_mut(event.agent) {
                    agent.tool_calls += 1;
                }
            }
            EventKind::AgentFinished { status, .. } => {
                if let Some(agent) = self.agent_mut(event.agent) {
                    agent.status = *status;
                }
            }
            EventKind::GradingStarted { iteration } => {
                self.outcome
                    .iterations
                    .retain(|i| i.iteration != *iteration);
            }
            EventKind::SessionResumed { .. } => {
                *finished = false;
                self.status = ReportStatus::Running;
                self.error = None;
            }
            EventKind::CriterionJudged {
                iteration,
                criterion,
                passed,
                reason,
                fix,
            } => {
                let judged = CriterionReport {
                    id: criterion.clone(),
                    passed: *passed,
                    reason: reason.clone(),
                    fix: fix.clone(),
                };
                match self
                    .outcome
                    .iterations
                    .iter_mut()
                    .find(|i| i.iteration == *iteration)
                {
                    Some(it) => it.criteria.push(judged),
                    None => self.outcome.iterations.push(IterationReport {
                        iteration: *iteration,
                        passed: false,
                        criteria: vec![judged],
                    }),
                }
            }
            EventKind::GradingFinished {
                iteration,
                passed,
                facts,
            } => {
                if let Some(it) = self
                    .outcome
                    .iterations
                    .iter_mut()
                    .find(|i| i.iteration == *iteration)
                {
                    it.passed = *passed;
                }
                self.outcome.passed = *passed;
                self.facts = facts.clone();
            }
            EventKind::PlaybookApplied {
                memory_id, version, ..
            } if !self.playbooks_applied.iter().any(|p| &p.id == memory_id) => {
                self.playbooks_applied.push(PlaybookReport {
                    id: memory_id.clone(),
                    version: *version,
                });
            }
            EventKind::Error { message } if event.agent.is_none() => {
                self.error = Some(message.clone());
            }
            EventKind::Retry { .. } => self.retries += 1,
            _ => {}
        }
    }
}
