//! Running a team: the agent loop, delegation to specialists, the advisor, bounded
//! parallelism, budgets and cancellation.
//!
//! A [`TeamRun`] holds what one session needs while it runs (spec, environment, bus,
//! providers, approved playbooks, budgets). [`TeamRun::attempt`] plays one iteration:
//! the lead works on a fresh episode, delegating subtasks to specialists that start in
//! fresh contexts and return only their final answers. Grading and the revise loop live
//! in `outcome`; this module reports everything it does as events and nothing else.

mod agent;
mod cancel;
mod orchestration;
mod playbook;
mod providers;
pub mod report;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

pub use cancel::CancelToken;
pub use playbook::{render_playbooks, Playbook};
pub use providers::ProviderSet;

use crate::env::Environment;
use crate::event::{AgentId, AgentStatus, EventBus, EventKind, Facts};
use crate::model::Message;
use crate::spec::SessionSpec;

/// Why a run could not go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("cannot record the session: {0}")]
    Store(String),
    #[error("{0}")]
    Provider(String),
    /// The session cannot start as configured (a missing API key, an incomplete profile).
    #[error("{0}")]
    Config(String),
    /// The model server refused a request (400, 401, 403, …): retrying cannot help.
    #[error("{0}")]
    Refused(String),
    #[error("the run was cancelled")]
    Cancelled,
}

/// What one iteration produced.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The lead's final answer (empty if it produced none).
    pub output: String,
    pub lead_status: AgentStatus,
    /// The episode's result facts.
    pub facts: Facts,
}

/// Model turns left for the whole session.
struct TurnBudget(AtomicU32);

impl TurnBudget {
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

/// One session's team while it runs.
pub struct TeamRun {
    spec: Arc<SessionSpec>,
    env: Arc<dyn Environment>,
    bus: Arc<EventBus>,
    providers: ProviderSet,
    /// The system prompt of each agent, with its playbooks rendered in.
    prompts: BTreeMap<String, String>,
    budget: TurnBudget,
    next_agent: AtomicU32,
    parallel: Arc<Semaphore>,
    cancel: CancelToken,
    lead_id: AgentId,
}

impl TeamRun {
    /// Prepares a run. Fails before anything starts if a model profile cannot be served.
    pub fn new(
        spec: Arc<SessionSpec>,
        env: Arc<dyn Environment>,
        bus: Arc<EventBus>,
        playbooks: &[Playbook],
        cancel: CancelToken,
    ) -> Result<Arc<Self>, RunError> {
        let providers = ProviderSet::for_session(&spec, env.as_ref())?;
        let prompts = spec
            .agents
            .values()
            .map(|agent| {
                let applied: Vec<&Playbook> = playbooks
                    .iter()
                    .filter(|p| p.applies_to(&agent.name))
                    .collect();
                (
                    agent.name.clone(),
                    render_playbooks(&agent.prompt, &applied),
                )
            })
            .collect();
        let team = TeamRun {
            budget: TurnBudget(AtomicU32::new(spec.limits.max_total_turns)),
            parallel: Arc::new(Semaphore::new(spec.limits.max_parallel)),
            next_agent: AtomicU32::new(1),
            lead_id: AgentId(1),
            spec,
            env,
            bus,
            providers,
            prompts,
            cancel,
        };
        for agent in team.spec.agents.values() {
            for playbook in playbooks.iter().filter(|p| p.applies_to(&agent.name)) {
                team.bus.emit(
                    None,
                    EventKind::PlaybookApplied {
                        memory_id: playbook.id.clone(),
                        version: playbook.version,
                        title: playbook.title.clone(),
                        agent_name: agent.name.clone(),
                    },
                );
            }
        }
        Ok(Arc::new(team))
    }

    pub fn bus(&self) -> &Arc<EventBus> {
        &self.bus
    }

    pub fn spec(&self) -> &SessionSpec {
        &self.spec
    }

    pub fn providers(&self) -> &ProviderSet {
        &self.providers
    }

    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// The lead's opening message: the task and the environment's briefing.
    pub fn opening_message(&self) -> Message {
        let briefing = self.env.briefing();
        if briefing.trim().is_empty() {
            Message::user_text(self.spec.task.clone())
        } else {
            Message::user_text(format!("{}\n\n## Briefing\n{}", self.spec.task, briefing))
        }
    }

    /// Plays one iteration on a fresh episode. `lead_conversation` is the lead's context
    /// so far (the opening message, earlier iterations and grader feedback); the lead's
    /// new turns are appended to it.
    pub async fn attempt(
        self: &Arc<Self>,
        iteration: u32,
        lead_conversation: &mut Vec<Message>,
        lead_turns: &mut u32,
    ) -> Result<Attempt, RunError> {
        if self.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        let episode = self.env.episode();
        let lead = self.spec.lead().clone();
        if iteration == 1 {
            self.bus.emit(
                Some(self.lead_id),
                EventKind::AgentSpawned {
                    name: lead.name.clone(),
                    role: lead.role.clone(),
                    parent: None,
                    model: lead.model.clone(),
                    purpose: None,
                    iteration,
                },
            );
        }
        let thread = agent::AgentThread {
            id: self.lead_id,
            spec: Arc::new(lead),
            depth: 0,
            iteration,
            cancel: self.cancel.child(),
            episode,
        };
        let end = self
            .run_agent(&thread, lead_conversation, lead_turns, None)
            .await;
        self.bus
            .checkpoint()
            .await
            .map_err(|err| RunError::Store(err.0))?;
        if let Some(fatal) = end.fatal {
            return Err(fatal);
        }
        if end.status == AgentStatus::Cancelled {
            return Err(RunError::Cancelled);
        }
        Ok(Attempt {
            output: end.answer.unwrap_or_default(),
            lead_status: end.status,
            facts: thread.episode.facts(),
        })
    }

    fn new_agent_id(&self) -> AgentId {
        AgentId(self.next_agent.fetch_add(1, Ordering::SeqCst) + 1)
    }
}
