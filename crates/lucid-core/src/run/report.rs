//! The report of a session: what `run --json` and `sessions show --json` print, read off
//! the session's [`Projection`]. A pure function of the event stream, so a live run and a
//! stored one report alike.

use serde::Serialize;

use std::collections::BTreeMap;

use crate::event::{
    AgentId, AgentStatus, Event, Facts, Projection, RoleUsage, SessionId, ShortId, Standing,
};

/// A criterion's verdict as the report shows it: the protocol's own type.
pub use crate::event::CriterionVerdict as CriterionReport;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IterationReport {
    pub iteration: u32,
    pub passed: bool,
    pub criteria: Vec<CriterionReport>,
    /// The criteria the grader could not judge (each failed closed; its verdict has
    /// `judged: false` and says why).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_judged: Vec<String>,
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
    /// Every turn of the thread, its follow-ups' included.
    pub turns: u32,
    /// Times its parent followed it up (absent when never).
    #[serde(skip_serializing_if = "is_zero")]
    pub follow_ups: u32,
    pub tool_calls: u32,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// What its model turns cost in US dollars, when its profile has prices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
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
    Cancelled,
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReport {
    pub session_id: Option<SessionId>,
    /// The session's short id, what a person types (see [`crate::event::short_id`]).
    pub short_id: Option<ShortId>,
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
    /// What the model calls cost in US dollars (the agents' turns and every other call:
    /// grader, advisors, dreamer), when their profiles have prices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Tokens in and out across the session, every call counted.
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Calls outside the agents' turns, by role.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub usage_by_role: BTreeMap<String, RoleUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The lead's final answer (of the last iteration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SessionReport {
    /// Folds a session's events, in order. `live` says whether the session may still be
    /// running; a finished-less stream that is not live reads as interrupted.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>, live: bool) -> SessionReport {
        SessionReport::of(&Projection::of(events), live)
    }

    /// The report of a projected session.
    pub fn of(view: &Projection, live: bool) -> SessionReport {
        let status = match view.standing(live) {
            Standing::Running => ReportStatus::Running,
            Standing::Passed => ReportStatus::Passed,
            Standing::Failed => ReportStatus::Failed,
            Standing::Error => ReportStatus::Error,
            Standing::Cancelled => ReportStatus::Cancelled,
            Standing::Interrupted => ReportStatus::Interrupted,
        };
        let (tokens_in, tokens_out) = view.tokens();
        SessionReport {
            session_id: view.session,
            short_id: view.session.map(SessionId::short_id),
            team: view.team.clone(),
            spec: view.spec_path.clone(),
            status,
            outcome: OutcomeReport {
                passed: view.passed(),
                iterations: view
                    .gradings
                    .iter()
                    .filter(|g| g.passed.is_some() || !g.criteria.is_empty())
                    .map(|g| IterationReport {
                        iteration: g.iteration,
                        passed: g.passed.unwrap_or(false),
                        criteria: g.criteria.clone(),
                        not_judged: g
                            .criteria
                            .iter()
                            .filter(|c| !c.judged)
                            .map(|c| c.id.clone())
                            .collect(),
                    })
                    .collect(),
            },
            agents: view
                .spawned
                .iter()
                .filter_map(|id| view.agents.get(id))
                .map(|agent| AgentReport {
                    id: agent.id,
                    name: agent.name.clone(),
                    parent: agent.parent,
                    purpose: agent.purpose.clone(),
                    status: agent.phase.status(),
                    turns: agent.turns,
                    follow_ups: agent.follow_ups,
                    tool_calls: agent.tool_calls,
                    tokens_in: agent.tokens_in,
                    tokens_out: agent.tokens_out,
                    cost_usd: agent.cost_usd,
                })
                .collect(),
            playbooks_applied: view
                .distinct_playbooks()
                .into_iter()
                .map(|p| PlaybookReport {
                    id: p.memory_id.clone(),
                    version: p.version,
                })
                .collect(),
            facts: view.facts.clone(),
            duration_ms: view.duration_ms(),
            retries: view.retries,
            cost_usd: view.cost_usd,
            tokens_in,
            tokens_out,
            usage_by_role: view.usage_by_role.clone(),
            error: view.error().map(str::to_string),
            answer: view.lead_answer.clone(),
        }
    }
}
