//! The Run view's model: a fold of one session's events into threads (the agent tree),
//! each thread's transcript, the grader's verdicts per iteration, and the files a
//! `project` session changed (see `change_state`).
//!
//! [`RunState::apply`] is a pure function of the event; the live view and a replay feed
//! it the same stream. All model and tool text is sanitized here, once, so nothing
//! downstream can draw a control sequence. It knows nothing about keys or drawing.

use std::collections::{BTreeMap, BTreeSet};

use super::change_state::Changes;
use lucid_core::event::{sanitize, AgentId, AgentStatus, Event, EventKind, SessionId};

/// What a thread is doing, as the tree shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadPhase {
    /// Spawned, nothing of its own yet (queued for a slot, or on its first model call).
    Pending,
    /// Waiting for its model.
    Thinking,
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
}

/// One agent thread in the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    pub id: AgentId,
    pub name: String,
    pub parent: Option<AgentId>,
    pub children: Vec<AgentId>,
    pub model: String,
    pub purpose: Option<String>,
    pub iteration: u32,
    pub phase: ThreadPhase,
    pub turns: u32,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    /// Tool calls sent and not yet returned (delegations included).
    pub open_calls: BTreeSet<String>,
    pub open_delegations: BTreeSet<String>,
    pub transcript: Vec<Entry>,
    /// Lines the transcript takes when every tool call is folded (kept for fast scrolling).
    pub folded_lines: usize,
}

/// One item of a thread's transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Model text, already sanitized, split into lines.
    Text(Vec<String>),
    /// A model turn's accounting.
    Turn {
        turn: u32,
        tokens_in: u64,
        tokens_out: u64,
    },
    /// A tool call and, once it returned, its result. Folded to one line unless expanded.
    Tool {
        call_id: String,
        tool: String,
        input: String,
        /// A `shell` call's command line (shown as `shell: COMMAND` instead of the input).
        command: Option<String>,
        output: Option<Vec<String>>,
        is_error: bool,
    },
    Delegated {
        child: AgentId,
        specialist: String,
        purpose: String,
    },
    Advisor {
        advisor: String,
        question: String,
        answer: Vec<String>,
    },
    Retry {
        attempt: u32,
        reason: String,
        delay_ms: u64,
    },
    Error(String),
    Finished {
        status: AgentStatus,
        answer: Option<String>,
    },
    /// A dream's finding: a pattern across sessions with its support.
    Pattern {
        summary: String,
        support: u32,
    },
    /// A dream's proposal.
    Proposal {
        title: String,
        change: String,
        version: u32,
    },
}

impl Entry {
    /// Lines this entry takes on screen.
    pub fn height(&self, expanded: bool) -> usize {
        match self {
            Entry::Text(lines) => lines.len().max(1),
            Entry::Tool { output, .. } if expanded => 1 + output.as_ref().map_or(0, Vec::len),
            Entry::Advisor { answer, .. } if expanded => 2 + answer.len(),
            _ => 1,
        }
    }

    pub fn is_expandable(&self) -> bool {
        matches!(self, Entry::Tool { .. } | Entry::Advisor { .. })
    }
}

/// One criterion's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionLine {
    pub id: String,
    pub passed: bool,
    pub reason: String,
    pub fix: String,
}

/// One grading pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grading {
    pub iteration: u32,
    pub criteria: Vec<CriterionLine>,
    /// `None` while the grader is still judging.
    pub passed: Option<bool>,
    /// The feedback the lead got after this pass, if it revised.
    pub feedback: Option<String>,
}

/// How the session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub passed: bool,
    pub iterations: u32,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// Everything the Run view shows, folded from events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunState {
    pub session: Option<SessionId>,
    pub team: String,
    pub spec_path: String,
    pub environment: String,
    pub seed: u64,
    pub world: u64,
    pub max_iterations: u32,
    pub iteration: u32,
    pub started_ms: Option<u64>,
    /// The time of the latest event.
    pub last_event_ms: u64,
    pub threads: BTreeMap<AgentId, Thread>,
    /// Threads without a parent, in spawn order (the lead, normally one).
    pub roots: Vec<AgentId>,
    /// Distinct model profiles in use, in first-seen order.
    pub models: Vec<String>,
    /// `title vN → agent` for each playbook applied.
    pub playbooks: Vec<String>,
    pub gradings: Vec<Grading>,
    /// Session-level errors (agent-less `Error` events).
    pub errors: Vec<String>,
    /// Times the session was resumed after an interruption.
    pub resumed: u32,
    /// The files the session changed, as recorded last (`project` sessions only).
    pub changes: Option<Changes>,
    pub finish: Option<Finish>,
    pub events: u64,
}

/// A `shell` call's command line, on one line.
fn shell_command(tool: &str, input: &serde_json::Value) -> Option<String> {
    if tool != lucid_envs::project::SHELL {
        return None;
    }
    let command = input.get("command")?.as_str()?;
    Some(lucid_core::event::one_line(command, 200))
}

/// Splits sanitized text into lines.
fn lines(text: &str) -> Vec<String> {
    sanitize(text)
        .lines()
        .map(|l| l.replace('\t', "    "))
        .collect()
}

/// A tool input on one line.
fn input_line(input: &serde_json::Value) -> String {
    let text = match input {
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    };
    lucid_core::event::one_line(&text, 200)
}

impl RunState {
    pub fn is_live(&self) -> bool {
        self.session.is_some() && self.finish.is_none()
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &Event) {
        self.events += 1;
        self.session.get_or_insert(event.session);
        self.started_ms.get_or_insert(event.at_ms);
        self.last_event_ms = self.last_event_ms.max(event.at_ms);
        let at = event.at_ms;
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
            }
            EventKind::SessionFinished {
                passed,
                iterations,
                duration_ms,
                error,
            } => {
                self.finish = Some(Finish {
                    passed: *passed,
                    iterations: *iterations,
                    duration_ms: *duration_ms,
                    error: error.as_deref().map(sanitize),
                });
            }
            EventKind::AgentSpawned {
                name,
                parent,
                model,
                purpose,
                iteration,
                ..
            } => {
                let Some(id) = event.agent else { return };
                self.iteration = self.iteration.max(*iteration);
                let model = sanitize(model);
                if !self.models.contains(&model) {
                    self.models.push(model.clone());
                }
                match parent.and_then(|p| self.threads.get_mut(&p)) {
                    Some(parent) => {
                        if !parent.children.contains(&id) {
                            parent.children.push(id);
                        }
                    }
                    None => {
                        if !self.roots.contains(&id) {
                            self.roots.push(id);
                        }
                    }
                }
                let thread = self.threads.entry(id).or_insert_with(|| Thread {
                    id,
                    name: sanitize(name),
                    parent: *parent,
                    children: Vec::new(),
                    model,
                    purpose: purpose.as_deref().map(sanitize),
                    iteration: *iteration,
                    phase: ThreadPhase::Pending,
                    turns: 0,
                    tokens_in: 0,
                    tokens_out: 0,
                    started_ms: at,
                    finished_ms: None,
                    open_calls: BTreeSet::new(),
                    open_delegations: BTreeSet::new(),
                    transcript: Vec::new(),
                    folded_lines: 0,
                });
                // The lead is spawned once; a new iteration restarts it.
                thread.iteration = *iteration;
                thread.phase = ThreadPhase::Pending;
                thread.finished_ms = None;
            }
            EventKind::SessionResumed { iteration, .. } => {
                self.resumed += 1;
                self.iteration = self.iteration.max(*iteration);
            }
            EventKind::Error { message } if event.agent.is_none() => {
                self.errors.push(lucid_core::event::one_line(message, 500));
            }
            EventKind::GradingStarted { iteration } => {
                self.grading_mut(*iteration);
            }
            EventKind::CriterionJudged {
                iteration,
                criterion,
                passed,
                reason,
                fix,
            } => {
                self.grading_mut(*iteration).criteria.push(CriterionLine {
                    id: sanitize(criterion),
                    passed: *passed,
                    reason: lucid_core::event::one_line(reason, 1000),
                    fix: lucid_core::event::one_line(fix, 1000),
                });
            }
            EventKind::GradingFinished {
                iteration, passed, ..
            } => {
                self.grading_mut(*iteration).passed = Some(*passed);
            }
            EventKind::RevisionStarted {
                iteration,
                feedback,
            } => {
                // The feedback answers the previous pass.
                let graded = iteration.saturating_sub(1).max(1);
                self.grading_mut(graded).feedback = Some(sanitize(feedback));
                self.iteration = self.iteration.max(*iteration);
                if let Some(lead) = self.roots.first().and_then(|id| self.threads.get_mut(id)) {
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
                self.changes = Some(Changes::new(
                    *iteration, isolation, project, work_root, files, diff,
                ));
            }
            EventKind::PlaybookApplied {
                version,
                title,
                agent_name,
                ..
            } => {
                self.playbooks.push(format!(
                    "{} v{version} → {}",
                    lucid_core::event::one_line(title, 60),
                    sanitize(agent_name)
                ));
            }
            _ => {
                if let Some(id) = event.agent {
                    if let Some(thread) = self.threads.get_mut(&id) {
                        thread.apply(at, &event.kind);
                    }
                }
            }
        }
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

    /// Every thread in tree order (depth first), with its depth.
    pub fn tree_order(&self) -> Vec<(AgentId, usize)> {
        let mut order = Vec::with_capacity(self.threads.len());
        let mut stack: Vec<(AgentId, usize)> = self.roots.iter().rev().map(|&r| (r, 0)).collect();
        while let Some((id, depth)) = stack.pop() {
            order.push((id, depth));
            if let Some(thread) = self.threads.get(&id) {
                stack.extend(thread.children.iter().rev().map(|&c| (c, depth + 1)));
            }
        }
        order
    }

    /// Tokens used by every thread.
    pub fn tokens(&self) -> (u64, u64) {
        self.threads
            .values()
            .fold((0, 0), |(i, o), t| (i + t.tokens_in, o + t.tokens_out))
    }
}

impl Thread {
    fn push(&mut self, entry: Entry) {
        self.folded_lines += entry.height(false);
        self.transcript.push(entry);
    }

    fn apply(&mut self, at: u64, kind: &EventKind) {
        match kind {
            EventKind::ModelTurn {
                turn,
                tokens_in,
                tokens_out,
                ..
            } => {
                self.turns = self.turns.max(*turn);
                self.tokens_in += tokens_in;
                self.tokens_out += tokens_out;
                if !self.phase.is_finished() {
                    self.phase = ThreadPhase::Thinking;
                }
                self.push(Entry::Turn {
                    turn: *turn,
                    tokens_in: *tokens_in,
                    tokens_out: *tokens_out,
                });
            }
            EventKind::Text { text } => {
                let text = lines(text);
                // Consecutive text (a stream in pieces) grows one entry.
                if let Some(Entry::Text(existing)) = self.transcript.last_mut() {
                    self.folded_lines -= existing.len().max(1);
                    existing.extend(text);
                    self.folded_lines += existing.len().max(1);
                } else {
                    self.push(Entry::Text(text));
                }
            }
            EventKind::ToolCalled {
                call_id,
                tool,
                input,
            } => {
                self.open_calls.insert(call_id.clone());
                if tool == lucid_core::spec::DELEGATE_TOOL {
                    self.open_delegations.insert(call_id.clone());
                }
                self.push(Entry::Tool {
                    call_id: call_id.clone(),
                    tool: sanitize(tool),
                    input: input_line(input),
                    command: shell_command(tool, input),
                    output: None,
                    is_error: false,
                });
            }
            EventKind::ToolReturned {
                call_id,
                output,
                is_error,
                ..
            } => {
                self.open_calls.remove(call_id);
                self.open_delegations.remove(call_id);
                let found = self.transcript.iter_mut().rev().find_map(|e| match e {
                    Entry::Tool {
                        call_id: id,
                        output: out,
                        is_error: err,
                        ..
                    } if id == call_id => Some((out, err)),
                    _ => None,
                });
                if let Some((out, err)) = found {
                    *out = Some(lines(output));
                    *err = *is_error;
                }
            }
            EventKind::Delegated {
                child,
                specialist,
                purpose,
                ..
            } => self.push(Entry::Delegated {
                child: *child,
                specialist: sanitize(specialist),
                purpose: lucid_core::event::one_line(purpose, 200),
            }),
            EventKind::AdvisorConsulted {
                advisor,
                question,
                answer,
            } => self.push(Entry::Advisor {
                advisor: sanitize(advisor),
                question: lucid_core::event::one_line(question, 200),
                answer: lines(answer),
            }),
            EventKind::Retry {
                attempt,
                reason,
                delay_ms,
            } => self.push(Entry::Retry {
                attempt: *attempt,
                reason: lucid_core::event::one_line(reason, 200),
                delay_ms: *delay_ms,
            }),
            EventKind::Error { message } => {
                self.push(Entry::Error(lucid_core::event::one_line(message, 500)))
            }
            EventKind::PatternFound { summary, support } => self.push(Entry::Pattern {
                summary: lucid_core::event::one_line(summary, 300),
                support: *support,
            }),
            EventKind::MemoryProposed {
                title,
                change,
                version,
                ..
            } => self.push(Entry::Proposal {
                title: lucid_core::event::one_line(title, 200),
                change: sanitize(change),
                version: *version,
            }),
            EventKind::AgentFinished {
                status,
                turns,
                answer,
            } => {
                self.turns = self.turns.max(*turns);
                self.finished_ms = Some(at);
                self.phase = match status {
                    AgentStatus::Done => ThreadPhase::Done,
                    AgentStatus::Failed => ThreadPhase::Failed,
                    AgentStatus::Cancelled => ThreadPhase::Cancelled,
                    AgentStatus::Running => ThreadPhase::Thinking,
                };
                self.open_calls.clear();
                self.open_delegations.clear();
                self.push(Entry::Finished {
                    status: *status,
                    answer: answer
                        .as_deref()
                        .map(|a| lucid_core::event::one_line(a, 300)),
                });
            }
            _ => {}
        }
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

    /// Milliseconds the thread has run, up to `now_ms` while it is still running.
    pub fn elapsed_ms(&self, now_ms: u64) -> u64 {
        self.finished_ms
            .unwrap_or(now_ms)
            .saturating_sub(self.started_ms)
    }
}
