//! Running a team: the agent loop, delegation to specialists, the advisor, bounded
//! parallelism, budgets and cancellation.
//!
//! A [`TeamRun`] holds what one session needs while it runs (spec, environment, bus,
//! providers, approved playbooks, budgets). [`TeamRun::attempt`] plays one iteration:
//! the lead works on a fresh episode, delegating subtasks to specialists that start in
//! fresh contexts and return only their final answers; a follow-up (`follow_up`) sends a
//! finished specialist thread a new message, and it continues with its own earlier
//! context, rebuilt from the record. Grading and the revise loop live in `outcome`; this
//! module reports everything it does as events and nothing else.

mod agent;
mod bounds;
mod cancel;
mod conversation;
mod follow_up;
mod live_text;
mod orchestration;
mod playbook;
mod providers;
mod recordings;
pub mod report;
mod resume;
mod toolkit;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

pub use cancel::CancelToken;
pub use orchestration::ADVISOR_SYSTEM;
pub use playbook::{choose_exploration, render_playbooks, Playbook, MAX_EXPLORE};
pub use providers::{provider_for, usage_event, ProviderSet};
pub use providers::{ADVISOR_ROLE, GRADER_ROLE};
pub use recordings::{load_recordings, RecordingError};
pub use resume::{
    resume_point, thread_context, ResumePoint, StepCall, ThreadContext, ThreadResume, ThreadState,
};

use crate::event::{AgentId, AgentStatus, EventBus, EventKind, Facts};
use crate::model::Message;
use crate::spec::SessionSpec;
use crate::world::Environment;

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
    /// A tool broke in a way the run cannot go on from (an MCP server crashed).
    #[error("{0}")]
    Tool(String),
    #[error("the run was cancelled")]
    Cancelled,
    #[error("{0}")]
    Budget(String),
}

/// What one iteration produced.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The lead's final answer (empty if it produced none).
    pub output: String,
    pub lead_status: AgentStatus,
    /// The episode's result facts.
    pub facts: Facts,
    /// The session's turn budget ran out during this attempt: it is graded as it
    /// stands, and no further iteration starts.
    pub budget_spent: bool,
    /// How the fact commands went (their status and output tail), for the grader.
    pub evidence: Vec<crate::world::command_facts::CommandReport>,
}

/// Where a resumed iteration picks up (from a [`ResumePoint`]); the default starts
/// the iteration afresh.
#[derive(Debug, Clone, Default)]
pub struct IterationResume {
    /// Environment calls of the kept steps, in the order they ran.
    pub replay: Vec<(String, serde_json::Value)>,
    /// The lead's answer, if it had already answered.
    pub finished: Option<String>,
    /// Whether that answer's finish still has to be recorded.
    pub finish_missing: bool,
    /// The lead's kept turns this iteration.
    pub turns_this_iteration: u32,
    /// The lead's open step.
    pub step: Vec<StepCall>,
}

impl IterationResume {
    /// Where the resume point's iteration picks up.
    pub fn of(point: &ResumePoint) -> IterationResume {
        IterationResume {
            replay: point.replay.clone(),
            finished: point.lead_answer.clone(),
            finish_missing: point.lead_finish_missing,
            turns_this_iteration: point.lead_turns_this_iteration,
            step: point.lead_step.clone(),
        }
    }
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
    /// Agents delegation may still start (`limits.max_agents`).
    agents_left: bounds::AgentBudget,
    next_agent: AtomicU32,
    parallel: Arc<Semaphore>,
    cancel: CancelToken,
    /// Each running thread's own token, so one thread (and its children) can be stopped.
    agent_cancels: Mutex<HashMap<AgentId, CancelToken>>,
    /// The delegated threads at work, so a follow-up never runs a thread twice at once.
    working: follow_up::Working,
    lead_id: AgentId,
    /// Each agent's playbooks, announced when the session starts.
    applied: Vec<(String, Playbook)>,
    /// Whether the lead's spawn is already on record.
    lead_spawned: AtomicBool,
    /// Tools of the session rather than of an episode: `[tools]` commands.
    session_tools: Vec<Arc<dyn crate::tool::Tool>>,
    /// The MCP servers the session started (see [`TeamRun::start_tools`]).
    mcp: tokio::sync::Mutex<Option<crate::tool::mcp::McpServers>>,
    /// Each agent's MCP tools, by agent name, once the servers have started.
    mcp_tools: std::sync::OnceLock<BTreeMap<String, Vec<Arc<dyn crate::tool::Tool>>>>,
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
        let session_tools = command_tools(&spec, env.as_ref())?;
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
            agents_left: bounds::AgentBudget::new(spec.limits.max_agents),
            parallel: Arc::new(Semaphore::new(spec.limits.max_parallel)),
            next_agent: AtomicU32::new(1),
            lead_id: AgentId(1),
            spec,
            env,
            bus,
            providers,
            prompts,
            cancel,
            agent_cancels: Mutex::new(HashMap::new()),
            working: follow_up::Working::default(),
            applied: Vec::new(),
            lead_spawned: AtomicBool::new(false),
            session_tools,
            mcp: tokio::sync::Mutex::new(None),
            mcp_tools: std::sync::OnceLock::new(),
        };
        let applied = team
            .spec
            .agents
            .values()
            .flat_map(|agent| {
                playbooks
                    .iter()
                    .filter(|p| p.applies_to(&agent.name))
                    .map(|p| (agent.name.clone(), p.clone()))
            })
            .collect();
        Ok(Arc::new(TeamRun { applied, ..team }))
    }

    /// Records what thread `id` (agent `name`) was told: its system prompt as sent.
    fn brief(&self, id: AgentId, name: &str) {
        let system = self.prompts.get(name).map_or("", String::as_str);
        self.bus.emit(Some(id), EventKind::briefed(system));
    }

    /// Records which playbooks steer which agent; called once, as the session starts.
    pub fn announce_playbooks(&self) {
        for (agent_name, playbook) in &self.applied {
            self.bus.emit(
                None,
                EventKind::PlaybookApplied {
                    memory_id: playbook.id.clone(),
                    version: playbook.version,
                    title: playbook.title.clone(),
                    agent_name: agent_name.clone(),
                    explore: playbook.explore,
                },
            );
        }
    }

    /// Continues a recorded session: the lead (if its spawn is on record) and the agent
    /// ids on record are not spawned again, and the turns already taken count against
    /// the session's budget.
    pub fn continue_after(&self, point: &ResumePoint) {
        self.lead_spawned
            .store(point.lead_spawned, Ordering::SeqCst);
        self.next_agent
            .store(point.next_agent.saturating_sub(1), Ordering::SeqCst);
        self.budget.0.store(
            self.spec
                .limits
                .max_total_turns
                .saturating_sub(point.turns_taken),
            Ordering::SeqCst,
        );
    }

    /// Records as cancelled the agents a resumed run does not continue (they were
    /// started by a step that runs again), so no agent reads as running once the session
    /// ends.
    pub fn abandon(&self, point: &ResumePoint) {
        for &(agent, turns) in &point.abandoned {
            self.bus.emit(
                Some(agent),
                EventKind::AgentFinished {
                    status: AgentStatus::Cancelled,
                    turns,
                    answer: None,
                },
            );
        }
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

    /// Cancels one agent thread and every thread it delegated to. Returns false when no
    /// thread with that id has run in this session. Cancelling the lead ends the run.
    pub fn cancel_agent(&self, id: AgentId) -> bool {
        let token = self.cancels().get(&id).cloned();
        match token {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Makes a thread's token known to [`TeamRun::cancel_agent`].
    fn register_cancel(&self, id: AgentId, token: &CancelToken) {
        self.cancels().insert(id, token.clone());
    }

    fn cancels(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, CancelToken>> {
        // Inserts and lookups are single map operations; a poisoned map is still whole.
        self.agent_cancels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
        self.attempt_from(
            iteration,
            lead_conversation,
            lead_turns,
            IterationResume::default(),
        )
        .await
    }

    /// [`TeamRun::attempt`], continuing a recorded iteration from `resume`: its kept
    /// environment calls run again, unrecorded, on the fresh episode; a lead that had
    /// answered is not run again; otherwise the lead finishes its open step first.
    pub async fn attempt_from(
        self: &Arc<Self>,
        iteration: u32,
        lead_conversation: &mut Vec<Message>,
        lead_turns: &mut u32,
        resume: IterationResume,
    ) -> Result<Attempt, RunError> {
        if self.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        let episode = self.env.episode();
        if !resume.replay.is_empty() && self.env.replays_calls() {
            let tools: crate::tool::ToolRegistry = episode.tools().into_iter().collect();
            for (name, input) in &resume.replay {
                if let Some(tool) = tools.get(name) {
                    tool.call(input.clone()).await;
                }
            }
        }
        if let Some(output) = resume.finished {
            if resume.finish_missing {
                self.bus.emit(
                    Some(self.lead_id),
                    EventKind::AgentFinished {
                        status: AgentStatus::Done,
                        turns: *lead_turns,
                        answer: Some(output.clone()),
                    },
                );
            }
            let (facts, evidence) = self.outcome_of(iteration, episode.as_ref()).await?;
            return Ok(Attempt {
                output,
                lead_status: AgentStatus::Done,
                facts,
                budget_spent: false,
                evidence,
            });
        }
        let lead = self.spec.lead().clone();
        if !self.lead_spawned.swap(true, Ordering::SeqCst) {
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
            self.brief(self.lead_id, &lead.name);
        }
        let thread = agent::AgentThread {
            id: self.lead_id,
            spec: Arc::new(lead),
            depth: 0,
            iteration,
            cancel: self.cancel.child(),
            episode,
            toolkits: Default::default(),
        };
        self.register_cancel(thread.id, &thread.cancel);
        let from = agent::Continuation {
            turns_this_run: resume.turns_this_iteration,
            step: resume.step,
        };
        let end = self
            .run_agent(&thread, lead_conversation, lead_turns, None, from)
            .await;
        self.bus
            .checkpoint()
            .await
            .map_err(|err| RunError::Store(err.0))?;
        let budget_spent = matches!(end.fatal, Some(RunError::Budget(_)));
        if let Some(fatal) = end.fatal.filter(|_| !budget_spent) {
            return Err(fatal);
        }
        if end.status == AgentStatus::Cancelled && !budget_spent {
            return Err(RunError::Cancelled);
        }
        let (facts, evidence) = self.outcome_of(iteration, thread.episode.as_ref()).await?;
        Ok(Attempt {
            output: end.answer.unwrap_or_default(),
            lead_status: end.status,
            facts,
            budget_spent,
            evidence,
        })
    }

    /// What an attempt came to: the episode's facts, the facts of the fact commands (run
    /// now, in the environment's folder) and, for a project, the recorded change.
    async fn outcome_of(
        &self,
        iteration: u32,
        episode: &dyn crate::world::Episode,
    ) -> Result<(Facts, Vec<crate::world::command_facts::CommandReport>), RunError> {
        let mut facts = episode.facts();
        let mut evidence = Vec::new();
        if let (Some(folder), false) = (self.env.folder(), self.spec.fact_commands.is_empty()) {
            let (command_facts, reports) =
                crate::world::command_facts::evaluate(&folder, &self.spec.fact_commands, || {
                    self.cancel.cancelled()
                })
                .await;
            facts.extend(command_facts);
            evidence = reports;
        }
        if let Some(changes) = episode.changes() {
            self.bus.emit(
                None,
                EventKind::FilesChanged {
                    iteration,
                    isolation: changes.isolation.to_string(),
                    project: changes.project.display().to_string(),
                    work_root: changes.work_root.display().to_string(),
                    files: changes.set.files,
                    diff: changes.set.diff,
                },
            );
            self.bus
                .checkpoint()
                .await
                .map_err(|err| RunError::Store(err.0))?;
        }
        Ok((facts, evidence))
    }

    /// The tools of the session an agent may call, besides its episode's.
    fn session_tools(&self) -> &[Arc<dyn crate::tool::Tool>] {
        &self.session_tools
    }

    /// An agent's MCP tools (none before [`TeamRun::start_tools`]).
    fn mcp_tools_of(&self, agent: &str) -> &[Arc<dyn crate::tool::Tool>] {
        self.mcp_tools
            .get()
            .and_then(|tools| tools.get(agent))
            .map_or(&[], Vec::as_slice)
    }

    /// Starts the MCP servers the session's agents use, once, and gives each agent its
    /// tools. `{root}` in a server's arguments is the environment's working folder (or the
    /// session file's folder). A server that cannot start ends the run.
    pub async fn start_tools(&self) -> Result<(), RunError> {
        if self.spec.mcp_servers.is_empty() || self.mcp_tools.get().is_some() {
            return Ok(());
        }
        let root = match self.env.folder() {
            Some(folder) => folder.root.clone(),
            None => std::fs::canonicalize(&self.spec.environment.base_dir)
                .unwrap_or_else(|_| self.spec.environment.base_dir.clone()),
        };
        let used = |server: &str| {
            self.spec.agents.values().any(|agent| {
                agent
                    .mcp_tools
                    .iter()
                    .any(|pattern| pattern.split_once('.').is_some_and(|(s, _)| s == server))
            })
        };
        let specs: Vec<_> = self
            .spec
            .mcp_servers
            .values()
            .filter(|server| used(&server.name))
            .map(|server| {
                server
                    .expand_root(&root)
                    .hiding(&self.spec.environment.secret_env)
            })
            .collect();
        if specs.is_empty() {
            return Ok(());
        }
        let servers = crate::tool::mcp::McpServers::start(specs)
            .await
            .map_err(|err| self.tool_failure(err.to_string()))?;
        let mut by_agent = BTreeMap::new();
        for agent in self
            .spec
            .agents
            .values()
            .filter(|a| !a.mcp_tools.is_empty())
        {
            let tools = servers
                .tools(&agent.mcp_tools)
                .map_err(|err| self.tool_failure(format!("agent `{}`: {err}", agent.name)))?;
            by_agent.insert(agent.name.clone(), tools);
        }
        *self.mcp.lock().await = Some(servers);
        let _ = self.mcp_tools.set(by_agent);
        Ok(())
    }

    /// Stops the MCP servers (their whole process groups); the session has ended.
    pub async fn stop_tools(&self) {
        if let Some(servers) = self.mcp.lock().await.take() {
            servers.shutdown().await;
        }
    }

    /// Records a tool failure that ends the run.
    fn tool_failure(&self, message: String) -> RunError {
        self.bus.emit(
            None,
            EventKind::Error {
                message: message.clone(),
            },
        );
        RunError::Tool(message)
    }

    fn new_agent_id(&self) -> AgentId {
        AgentId(self.next_agent.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// The `[tools]` commands of a session, bound to the environment's folder.
fn command_tools(
    spec: &SessionSpec,
    env: &dyn Environment,
) -> Result<Vec<Arc<dyn crate::tool::Tool>>, RunError> {
    if spec.command_tools.is_empty() {
        return Ok(Vec::new());
    }
    let folder = env.folder().ok_or_else(|| {
        RunError::Config(format!(
            "`[tools]` commands need an environment that works in a folder, and `{}` does not",
            env.kind()
        ))
    })?;
    Ok(spec
        .command_tools
        .values()
        .map(|tool| {
            Arc::new(crate::world::command_tool::CommandTool::new(
                tool.clone(),
                Arc::clone(&folder),
            )) as Arc<dyn crate::tool::Tool>
        })
        .collect())
}
