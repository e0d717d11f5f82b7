//! The one projection of a session's events: where the session stands, its agent tree
//! with each thread's phase and accounting, the grader's verdicts per iteration, the
//! playbooks applied, the files changed and how it ended.
//!
//! Everything that reads a session folds it here: the JSON report (`run::report`), the
//! TUI's Run view, the dream digest, resume and the headless printer. [`Projection::apply`]
//! is a pure function of the event, so a live run and a stored one read alike. Text that
//! came from outside (names, purposes, the grader's reasons, errors) is sanitized once, on
//! the way in; facts stay as recorded.

use std::collections::{BTreeMap, BTreeSet};

use super::{sanitize, AgentId, AgentStatus, CriterionVerdict, Event, EventKind, Facts, Verdict};
use super::{FileChange, SessionId};

/// What a thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadPhase {
    /// Spawned, nothing of its own yet (queued for a slot, or on its first model call).
    Pending,
    /// Waiting for its model.
    Thinking,
    /// Its model's answer is streaming in (seen live only).
    Streaming,
    /// A tool call is out.
    CallingTool,
    /// A delegation is out: waiting on children.
    Waiting,
    Done,
    Failed,
    Cancelled,
}

impl ThreadPhase {
    pub fn label(self) -> &'static str {
        match self {
            ThreadPhase::Pending => "pending",
            ThreadPhase::Thinking => "thinking",
            ThreadPhase::Streaming => "streaming",
            ThreadPhase::CallingTool => "calling a tool",
            ThreadPhase::Waiting => "waiting on children",
            ThreadPhase::Done => "done",
            ThreadPhase::Failed => "failed",
            ThreadPhase::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ThreadPhase::Done | ThreadPhase::Failed | ThreadPhase::Cancelled
        )
    }

    /// The phase as an agent status: every unfinished phase is running.
    pub fn status(self) -> AgentStatus {
        match self {
            ThreadPhase::Done => AgentStatus::Done,
            ThreadPhase::Failed => AgentStatus::Failed,
            ThreadPhase::Cancelled => AgentStatus::Cancelled,
            _ => AgentStatus::Running,
        }
    }
}

/// One agent thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub parent: Option<AgentId>,
    pub children: Vec<AgentId>,
    /// Threads above it (the lead is 0).
    pub depth: usize,
    pub model: String,
    pub purpose: Option<String>,
    pub iteration: u32,
    pub phase: ThreadPhase,
    /// Model turns taken (over every iteration, for the lead; over every follow-up, for a
    /// specialist).
    pub turns: u32,
    /// Times its parent followed it up (each ran it again, its turns continuing).
    pub follow_ups: u32,
    /// The highest turn number its turns or its finish reported.
    pub last_turn: u32,
    pub tool_calls: u32,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// What its model turns cost in US dollars, when its profile has prices.
    pub cost_usd: Option<f64>,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    /// Tool calls sent and not yet returned (delegations included).
    pub open_calls: BTreeSet<String>,
    pub open_delegations: BTreeSet<String>,
}

impl Agent {
    /// Milliseconds the thread has run, up to `now_ms` while it is still running.
    pub fn elapsed_ms(&self, now_ms: u64) -> u64 {
        self.finished_ms
            .unwrap_or(now_ms)
            .saturating_sub(self.started_ms)
    }

    fn settle_phase(&mut self) {
        if !self.phase.is_finished() {
            self.phase = if !self.open_delegations.is_empty() {
                ThreadPhase::Waiting
            } else if !self.open_calls.is_empty() {
                ThreadPhase::CallingTool
            } else {
                ThreadPhase::Thinking
            };
        }
    }
}

/// One grading pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grading {
    pub iteration: u32,
    pub criteria: Vec<CriterionVerdict>,
    /// `None` while the grader is still judging.
    pub passed: Option<bool>,
    /// The facts the pass judged (once it finished).
    pub facts: Facts,
    /// Sequence number of the `GradingFinished` event, for citations.
    pub graded_at_seq: Option<u64>,
    /// The feedback the lead got after this pass, if it revised.
    pub feedback: Option<String>,
}

/// What the calls of one role outside the agents' turns used (the grader, advisors,
/// the dreamer).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RoleUsage {
    pub calls: u32,
    pub tokens_in: u64,
    pub tokens_out: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// A playbook applied to an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedPlaybook {
    pub memory_id: String,
    pub version: u32,
    pub title: String,
    pub agent_name: String,
    /// The session tested a choice the playbook says to avoid, on purpose.
    pub explore: bool,
}

/// The files a `project` session changed, as recorded last.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedFiles {
    pub iteration: u32,
    pub isolation: String,
    pub project: String,
    pub work_root: String,
    pub files: Vec<FileChange>,
    pub diff: String,
}

/// How the session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub passed: bool,
    pub iterations: u32,
    pub duration_ms: u64,
    pub error: Option<String>,
    /// A person (or Ctrl-C) cancelled the run.
    pub cancelled: bool,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Running,
    Passed,
    Failed,
    Error,
    /// Cancelled by a person (or Ctrl-C); it can be resumed.
    Cancelled,
    Interrupted,
}

/// A session, folded from its events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Projection {
    pub session: Option<SessionId>,
    pub team: String,
    pub spec_path: String,
    pub environment: String,
    pub seed: u64,
    pub world: u64,
    pub max_iterations: u32,
    /// The iteration under way (or the last one).
    pub iteration: u32,
    pub started_ms: Option<u64>,
    /// The time of the latest event.
    pub last_event_ms: u64,
    pub events: u64,
    pub agents: BTreeMap<AgentId, Agent>,
    /// Agents in spawn order.
    pub spawned: Vec<AgentId>,
    /// Threads without a parent, in spawn order (the lead, normally one).
    pub roots: Vec<AgentId>,
    pub gradings: Vec<Grading>,
    /// The facts of the latest finished grading.
    pub facts: Facts,
    pub playbooks: Vec<AppliedPlaybook>,
    /// Session-level errors (agent-less `Error` events), in order.
    pub errors: Vec<String>,
    /// Model retries (rate limits, overload, cut streams) across the session.
    pub retries: u32,
    /// What the model turns cost in US dollars, when their profiles have prices.
    pub cost_usd: Option<f64>,
    /// Calls outside the agents' turns, by role (`grader`, `advisor`, `dreamer`).
    pub usage_by_role: BTreeMap<String, RoleUsage>,
    /// The lead's latest final answer, as recorded (not sanitised: for a terminal, clean it).
    pub lead_answer: Option<String>,
    /// Times the session was resumed after an interruption.
    pub resumed: u32,
    pub changes: Option<ChangedFiles>,
    /// Set by `SessionFinished`, cleared by `SessionResumed`.
    pub finish: Option<Finish>,
}

impl Projection {
    /// Folds a whole stream.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Event>) -> Projection {
        let mut projection = Projection::default();
        for event in events {
            projection.apply(event);
        }
        projection
    }

    /// Where the session stands. `live` says whether it may still be running; a stream
    /// without a finish that is not live reads as interrupted.
    pub fn standing(&self, live: bool) -> Standing {
        match &self.finish {
            Some(Finish {
                cancelled: true, ..
            }) => Standing::Cancelled,
            Some(Finish { error: Some(_), .. }) => Standing::Error,
            Some(Finish { passed: true, .. }) => Standing::Passed,
            Some(Finish { passed: false, .. }) => Standing::Failed,
            None if live => Standing::Running,
            None => Standing::Interrupted,
        }
    }

    /// Whether the rubric was met: by the finish, or else by the latest grading.
    /// Tokens in and out across the session: every agent's turns and every other call.
    pub fn tokens(&self) -> (u64, u64) {
        let agents = self.agents.values().map(|a| (a.tokens_in, a.tokens_out));
        let roles = self
            .usage_by_role
            .values()
            .map(|u| (u.tokens_in, u.tokens_out));
        agents
            .chain(roles)
            .fold((0, 0), |(i, o), (a, b)| (i + a, o + b))
    }

    pub fn passed(&self) -> bool {
        match &self.finish {
            Some(finish) => finish.passed,
            None => self
                .gradings
                .iter()
                .rev()
                .find_map(|g| g.passed)
                .unwrap_or(false),
        }
    }

    /// The session's error: the finish's, or else the latest session-level one.
    pub fn error(&self) -> Option<&str> {
        match &self.finish {
            Some(finish) => finish.error.as_deref(),
            None => self.errors.last().map(String::as_str),
        }
    }

    /// Milliseconds from the first event to the finish (or the latest event).
    pub fn duration_ms(&self) -> u64 {
        match &self.finish {
            Some(finish) => finish.duration_ms,
            None => self
                .last_event_ms
                .saturating_sub(self.started_ms.unwrap_or(self.last_event_ms)),
        }
    }

    /// The verdicts of every finished grading pass, in order.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.gradings
            .iter()
            .filter(|g| g.passed.is_some())
            .map(|g| Verdict {
                iteration: g.iteration,
                criteria: g.criteria.clone(),
            })
            .collect()
    }

    /// Each playbook applied, once (the first application of each memory).
    pub fn distinct_playbooks(&self) -> Vec<&AppliedPlaybook> {
        let mut seen = BTreeSet::new();
        self.playbooks
            .iter()
            .filter(|p| seen.insert(p.memory_id.as_str()))
            .collect()
    }

    /// An agent's name, if it was spawned.
    pub fn name_of(&self, id: AgentId) -> Option<&str> {
        self.agents.get(&id).map(|a| a.name.as_str())
    }

    /// Every thread in tree order (depth first), with its depth.
    pub fn tree_order(&self) -> Vec<(AgentId, usize)> {
        let mut order = Vec::with_capacity(self.agents.len());
        let mut stack: Vec<(AgentId, usize)> = self.roots.iter().rev().map(|&r| (r, 0)).collect();
        while let Some((id, depth)) = stack.pop() {
            order.push((id, depth));
            if let Some(agent) = self.agents.get(&id) {
                stack.extend(agent.children.iter().rev().map(|&c| (c, depth + 1)));
            }
        }
        order
    }

    /// Folds one event in. A live-only event (a model's text streaming in) only marks its
    /// thread as streaming: it is not counted, and a stored session never has one.
    pub fn apply(&mut self, event: &Event) {
        if event.kind.is_live_only() {
            self.live_event(event);
            return;
        }
        self.events += 1;
        self.session.get_or_insert(event.session);
        self.started_ms.get_or_insert(event.at_ms);
        self.last_event_ms = self.last_event_ms.max(event.at_ms);
        match &event.kind {
            EventKind::SessionStarted {
                team,
                spec_path,
                environment,
                seed,
                world,
                max_iterations,
                ..
            } => {
                self.team = sanitize(team);
                self.spec_path = sanitize(spec_path);
                self.environment = sanitize(environment);
                self.seed = *seed;
                self.world = *world;
                self.max_iterations = *max_iterations;
                self.iteration = self.iteration.max(1);
            }
            EventKind::SessionFinished {
                passed,
                iterations,
                duration_ms,
                error,
                cancelled,
            } => {
                self.finish = Some(Finish {
                    passed: *passed,
                    iterations: *iterations,
                    duration_ms: *duration_ms,
                    error: error.as_deref().map(sanitize),
                    cancelled: *cancelled,
                });
            }
            EventKind::SessionResumed { iteration, .. } => {
                self.resumed += 1;
                self.finish = None;
                self.errors.clear();
                self.iteration = self.iteration.max(*iteration);
            }
            EventKind::AgentSpawned {
                name,
                parent,
                model,
                purpose,
                iteration,
                ..
            } => {
                if let Some(id) = event.agent {
                    self.spawn(id, event.at_ms, name, *parent, model, purpose, *iteration);
                }
            }
            EventKind::Error { message } if event.agent.is_none() => {
                self.errors.push(sanitize(message));
            }
            EventKind::GradingStarted { iteration } => {
                // A pass cut off by a kill is graded again from the start.
                let grading = self.grading_mut(*iteration);
                grading.criteria.clear();
                grading.passed = None;
            }
            EventKind::CriterionJudged {
                iteration,
                criterion,
                passed,
                reason,
                fix,
                judged,
            } => {
                self.grading_mut(*iteration)
                    .criteria
                    .push(CriterionVerdict {
                        id: sanitize(criterion),
                        passed: *passed,
                        reason: sanitize(reason),
                        fix: sanitize(fix),
                        judged: *judged,
                    });
            }
            EventKind::GradingFinished {
                iteration,
                passed,
                facts,
            } => {
                let grading = self.grading_mut(*iteration);
                grading.passed = Some(*passed);
                grading.facts = facts.clone();
                grading.graded_at_seq = Some(event.seq);
                self.facts = facts.clone();
            }
            EventKind::RevisionStarted {
                iteration,
                feedback,
            } => {
                // The feedback answers the previous pass.
                let graded = iteration.saturating_sub(1).max(1);
                self.grading_mut(graded).feedback = Some(sanitize(feedback));
                self.iteration = self.iteration.max(*iteration);
                if let Some(lead) = self.roots.first().and_then(|id| self.agents.get_mut(id)) {
                    lead.phase = ThreadPhase::Pending;
                    lead.finished_ms = None;
                    lead.iteration = *iteration;
                }
            }
            EventKind::FilesChanged {
                iteration,
                isolation,
                project,
                work_root,
                files,
                diff,
            } => {
                self.changes = Some(ChangedFiles {
                    iteration: *iteration,
                    isolation: sanitize(isolation),
                    project: sanitize(project),
                    work_root: sanitize(work_root),
                    files: files.clone(),
                    diff: diff.clone(),
                });
            }
            EventKind::PlaybookApplied {
                memory_id,
                version,
                title,
                agent_name,
                explore,
            } => self.playbooks.push(AppliedPlaybook {
                memory_id: memory_id.clone(),
                version: *version,
                title: sanitize(title),
                agent_name: sanitize(agent_name),
                explore: *explore,
            }),
            EventKind::Retry { .. } => {
                self.retries += 1;
                self.agent_event(event);
            }
            EventKind::ModelTurn { cost_usd, .. } => {
                if let Some(cost) = cost_usd {
                    *self.cost_usd.get_or_insert(0.0) += cost;
                }
                self.agent_event(event);
            }
            EventKind::ModelUsage {
                role,
                tokens_in,
                tokens_out,
                cost_usd,
                ..
            } => {
                let usage = self.usage_by_role.entry(sanitize(role)).or_default();
                usage.calls += 1;
                usage.tokens_in += tokens_in;
                usage.tokens_out += tokens_out;
                if let Some(cost) = cost_usd {
                    *usage.cost_usd.get_or_insert(0.0) += cost;
                    *self.cost_usd.get_or_insert(0.0) += cost;
                }
            }
            EventKind::AgentFinished {
                answer: Some(answer),
                ..
            } => {
                let lead = event
                    .agent
                    .and_then(|id| self.agents.get(&id))
                    .is_some_and(|agent| agent.parent.is_none());
                if lead {
                    self.lead_answer = Some(answer.clone());
                }
                self.agent_event(event);
            }
            _ => self.agent_event(event),
        }
    }

    /// A live-only event: the thread's model is answering.
    fn live_event(&mut self, event: &Event) {
        let Some(agent) = event.agent.and_then(|id| self.agents.get_mut(&id)) else {
            return;
        };
        let idle = agent.open_calls.is_empty() && agent.open_delegations.is_empty();
        if matches!(event.kind, EventKind::TextDelta { .. }) && idle && !agent.phase.is_finished() {
            agent.phase = ThreadPhase::Streaming;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &mut self,
        id: AgentId,
        at_ms: u64,
        name: &str,
        parent: Option<AgentId>,
        model: &str,
        purpose: &Option<String>,
        iteration: u32,
    ) {
        self.iteration = self.iteration.max(iteration);
        let depth = match parent.and_then(|p| self.agents.get_mut(&p)) {
            Some(parent) => {
                if !parent.children.contains(&id) {
                    parent.children.push(id);
                }
                parent.depth + 1
            }
            None => {
                if !self.roots.contains(&id) {
                    self.roots.push(id);
                }
                0
            }
        };
        if !self.agents.contains_key(&id) {
            self.spawned.push(id);
        }
        let agent = self.agents.entry(id).or_insert_with(|| Agent {
            id,
            name: sanitize(name),
            parent,
            children: Vec::new(),
            depth,
            model: sanitize(model),
            purpose: purpose.as_deref().map(sanitize),
            iteration,
            phase: ThreadPhase::Pending,
            turns: 0,
            follow_ups: 0,
            last_turn: 0,
            tool_calls: 0,
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: None,
            started_ms: at_ms,
            finished_ms: None,
            open_calls: BTreeSet::new(),
            open_delegations: BTreeSet::new(),
        });
        // The lead is spawned once; a new iteration restarts it.
        agent.iteration = iteration;
        agent.phase = ThreadPhase::Pending;
        agent.finished_ms = None;
    }

    /// An event of one thread: its phase and accounting.
    fn agent_event(&mut self, event: &Event) {
        let Some(agent) = event.agent.and_then(|id| self.agents.get_mut(&id)) else {
            return;
        };
        match &event.kind {
            EventKind::ModelTurn {
                turn,
                tokens_in,
                tokens_out,
                cost_usd,
                ..
            } => {
                if let Some(cost) = cost_usd {
                    *agent.cost_usd.get_or_insert(0.0) += cost;
                }
                agent.turns += 1;
                agent.last_turn = agent.last_turn.max(*turn);
                agent.tokens_in += tokens_in;
                agent.tokens_out += tokens_out;
                if agent.phase.is_finished() {
                    // A thread working again (the lead of a revision) is running.
                    agent.phase = ThreadPhase::Thinking;
                    agent.finished_ms = None;
                }
            }
            EventKind::ToolCalled { call_id, .. } => {
                agent.tool_calls += 1;
                agent.open_calls.insert(call_id.clone());
            }
            EventKind::Delegated { call_id, .. } => {
                agent.open_delegations.insert(call_id.clone());
            }
            EventKind::ToolReturned { call_id, .. } => {
                agent.open_calls.remove(call_id);
                agent.open_delegations.remove(call_id);
            }
            EventKind::FollowUp { iteration, .. } => {
                // Its parent followed it up: it runs again, in the follow-up's iteration.
                agent.follow_ups += 1;
                agent.iteration = *iteration;
                agent.phase = ThreadPhase::Pending;
                agent.finished_ms = None;
                return;
            }
            EventKind::AgentFinished { status, turns, .. } => {
                agent.last_turn = agent.last_turn.max(*turns);
                agent.finished_ms = Some(event.at_ms);
                agent.phase = match status {
                    AgentStatus::Done => ThreadPhase::Done,
                    AgentStatus::Failed => ThreadPhase::Failed,
                    AgentStatus::Cancelled => ThreadPhase::Cancelled,
                    AgentStatus::Running => ThreadPhase::Thinking,
                };
                agent.open_calls.clear();
                agent.open_delegations.clear();
            }
            _ => {}
        }
        agent.settle_phase();
    }

    fn grading_mut(&mut self, iteration: u32) -> &mut Grading {
        let index = match self.gradings.iter().position(|g| g.iteration == iteration) {
            Some(index) => index,
            None => {
                self.gradings.push(Grading {
                    iteration,
                    ..Grading::default()
                });
                self.gradings.len() - 1
            }
        };
        &mut self.gradings[index]
    }
}

#[cfg(test)]
#[path = "projection_tests.rs"]
mod tests;
