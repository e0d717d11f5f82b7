//! The Run view's model: a fold of one session's events into threads (the agent tree),
//! each thread's transcript, the grader's verdicts per iteration, and the files a
//! `project` session changed (see `change_state`).
//!
//! [`RunState::apply`] is a pure function of the event; the live view and a replay feed
//! it the same stream. All model and tool text is sanitized here, once, so nothing
//! downstream can draw a control sequence. It knows nothing about keys or drawing.

use std::collections::BTreeMap;

use super::change_state::Changes;
use lucid_core::event::projection::Agent;
use lucid_core::event::{clean, sanitize, AgentId, AgentStatus, Event, EventKind};
use lucid_core::event::{Projection, MAX_LIVE_TEXT};

pub use lucid_core::event::projection::{Finish, Grading};
pub use lucid_core::event::ThreadPhase;

/// A thread's transcript: what the Run view adds to the projection's agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    pub entries: Vec<Entry>,
    /// Lines the transcript takes when every tool call is folded (kept for fast scrolling).
    pub folded_lines: usize,
}

/// A thread as the Run view draws it: its place in the tree and accounting (the
/// projection's), and its transcript.
#[derive(Debug, Clone, Copy)]
pub struct Thread<'a> {
    pub agent: &'a Agent,
    pub transcript: &'a Transcript,
}

/// One item of a thread's transcript. Every text is kept whole (sanitized); views cut
/// or wrap it.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// What the thread was told, always its first entry: its system prompt (playbooks
    /// rendered in; `None` in sessions recorded before lucid kept it) and its task (the
    /// session's for the lead, the delegated subtask for a specialist). Folded.
    Prompt {
        system: Option<Vec<String>>,
        /// Bytes of the system prompt the record left out (it is bounded).
        cut: u64,
        task: Vec<String>,
    },
    /// Model text, already sanitized, split into lines.
    Text(Vec<String>),
    /// A follow-up its lead sent this thread (it continues with its own context), already
    /// sanitized, split into lines.
    FollowUp(Vec<String>),
    /// The text of model turn `turn` as it streams in (live only; always the last entry,
    /// gone when the thread's next recorded event arrives: the whole turn replaces it).
    Streaming {
        turn: u32,
        /// The text so far, as it came (bounded by [`MAX_LIVE_TEXT`]).
        text: String,
        /// `text` cleaned (secrets redacted, control sequences removed), split into lines.
        lines: Vec<String>,
    },
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
        /// The whole input as JSON on one line (cut only when shown folded).
        input: String,
        /// A `shell` call's whole command (shown as `shell: COMMAND` instead of the input).
        command: Option<String>,
        output: Option<Vec<String>>,
        is_error: bool,
    },
    /// A delegation: its purpose, and the whole subtask the child was given.
    Delegated {
        child: AgentId,
        specialist: String,
        purpose: String,
        subtask: Vec<String>,
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
            Entry::Text(lines) | Entry::Streaming { lines, .. } => lines.len().max(1),
            Entry::FollowUp(lines) => 1 + lines.len(),
            Entry::Tool { output, .. } if expanded => 1 + output.as_ref().map_or(0, Vec::len),
            Entry::Advisor { answer, .. } if expanded => 2 + answer.len(),
            _ => 1,
        }
    }

    /// Whether Enter shows more of it: everything but a turn's accounting and the text
    /// streaming in.
    pub fn is_expandable(&self) -> bool {
        !matches!(self, Entry::Turn { .. } | Entry::Streaming { .. })
    }
}

/// Everything the Run view shows: the session's projection, and each thread's
/// transcript and the files a project session changed, folded from the same events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunState {
    /// The session as the one projection folds it: tree, phases, verdicts, finish.
    pub view: Projection,
    pub transcripts: BTreeMap<AgentId, Transcript>,
    /// Distinct model profiles in use, in first-seen order.
    pub models: Vec<String>,
    /// The files the session changed, as recorded last (`project` sessions only).
    pub changes: Option<Changes>,
    /// The session's task (the lead's first message).
    pub task: String,
    /// Subtasks delegated to threads not spawned yet, by child.
    subtasks: BTreeMap<AgentId, String>,
}

/// A `shell` call's command, whole.
fn shell_command(tool: &str, input: &serde_json::Value) -> Option<String> {
    if tool != lucid_envs::project::SHELL {
        return None;
    }
    let command = input.get("command")?.as_str()?;
    Some(sanitize(command))
}

/// Splits sanitized text into lines.
fn lines(text: &str) -> Vec<String> {
    sanitize(text)
        .lines()
        .map(|l| l.replace('\t', "    "))
        .collect()
}

/// A tool input, whole, on one line (JSON escapes its line breaks).
fn input_text(input: &serde_json::Value) -> String {
    let text = match input {
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    };
    sanitize(&text)
}

impl RunState {
    pub fn is_live(&self) -> bool {
        self.view.session.is_some() && self.view.finish.is_none()
    }

    /// A thread and its transcript.
    pub fn thread(&self, id: AgentId) -> Option<Thread<'_>> {
        static EMPTY: Transcript = Transcript {
            entries: Vec::new(),
            folded_lines: 0,
        };
        let agent = self.view.agents.get(&id)?;
        Some(Thread {
            agent,
            transcript: self.transcripts.get(&id).unwrap_or(&EMPTY),
        })
    }

    /// Folds one event in: the projection first, then what the view adds.
    pub fn apply(&mut self, event: &Event) {
        self.view.apply(event);
        match &event.kind {
            EventKind::SessionStarted { task, .. } => self.task = task.clone(),
            EventKind::AgentSpawned { model, parent, .. } => {
                let model = sanitize(model);
                if !self.models.contains(&model) {
                    self.models.push(model);
                }
                if let Some(id) = event.agent {
                    let task = match parent {
                        None => Some(self.task.clone()),
                        Some(_) => self.subtasks.remove(&id),
                    };
                    self.transcripts
                        .entry(id)
                        .or_default()
                        .prompt()
                        .set_task(task.as_deref());
                }
            }
            EventKind::AgentBriefed { system, cut } => {
                if let Some(id) = event.agent.filter(|id| self.view.agents.contains_key(id)) {
                    if let Entry::Prompt {
                        system: kept,
                        cut: left,
                        ..
                    } = self.transcripts.entry(id).or_default().prompt()
                    {
                        *kept = Some(lines(system));
                        *left = *cut;
                    }
                }
            }
            EventKind::Delegated {
                child,
                subtask,
                follow_up,
                ..
            } => {
                // The child's first message; its thread is usually spawned next. A
                // follow-up's message is its own entry (`FollowUp`), not the task.
                if !follow_up {
                    match self.transcripts.get_mut(child) {
                        Some(transcript) => transcript.prompt().set_task(Some(subtask)),
                        None => {
                            self.subtasks.insert(*child, subtask.clone());
                        }
                    }
                }
                if let Some(id) = event.agent.filter(|id| self.view.agents.contains_key(id)) {
                    self.transcripts.entry(id).or_default().apply(&event.kind);
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
            kind => {
                if let Some(id) = event.agent.filter(|id| self.view.agents.contains_key(id)) {
                    self.transcripts.entry(id).or_default().apply(kind);
                }
            }
        }
    }

    /// Every thread in tree order (depth first), with its depth.
    pub fn tree_order(&self) -> Vec<(AgentId, usize)> {
        self.view.tree_order()
    }
}

impl Entry {
    /// Fills a prompt entry's task (when known and not yet filled).
    fn set_task(&mut self, text: Option<&str>) {
        if let (Entry::Prompt { task, .. }, Some(text)) = (self, text) {
            if task.is_empty() {
                *task = lines(text);
            }
        }
    }
}

impl Transcript {
    /// The thread's prompt entry, made first if there is none yet.
    fn prompt(&mut self) -> &mut Entry {
        if !matches!(self.entries.first(), Some(Entry::Prompt { .. })) {
            let entry = Entry::Prompt {
                system: None,
                cut: 0,
                task: Vec::new(),
            };
            self.folded_lines += entry.height(false);
            self.entries.insert(0, entry);
        }
        &mut self.entries[0]
    }

    fn push(&mut self, entry: Entry) {
        self.folded_lines += entry.height(false);
        self.entries.push(entry);
    }

    /// Drops the partial text of a streaming turn, if the last entry is one.
    fn end_streaming(&mut self) {
        if let Some(Entry::Streaming { lines, .. }) = self.entries.last() {
            self.folded_lines -= lines.len().max(1);
            self.entries.pop();
        }
    }

    /// Folds a piece of a turn's text streaming in: what was shown is cut at `at` bytes
    /// and `piece` added, within [`MAX_LIVE_TEXT`]. A piece that does not fit what was
    /// shown (a broken or foreign stream) is ignored.
    fn stream(&mut self, turn: u32, at: u64, piece: &str) {
        if !matches!(self.entries.last(), Some(Entry::Streaming { turn: t, .. }) if *t == turn) {
            self.end_streaming();
            self.push(Entry::Streaming {
                turn,
                text: String::new(),
                lines: Vec::new(),
            });
        }
        let Some(Entry::Streaming { text, lines, .. }) = self.entries.last_mut() else {
            return;
        };
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        if at > text.len() || !text.is_char_boundary(at) {
            return;
        }
        text.truncate(at);
        let mut cut = piece.len().min(MAX_LIVE_TEXT.saturating_sub(text.len()));
        while !piece.is_char_boundary(cut) {
            cut -= 1;
        }
        text.push_str(&piece[..cut]);
        self.folded_lines -= lines.len().max(1);
        *lines = clean(text)
            .split('\n')
            .map(|l| l.replace('\t', "    "))
            .collect();
        self.folded_lines += lines.len().max(1);
    }

    fn apply(&mut self, kind: &EventKind) {
        if let EventKind::TextDelta { turn, at, text } = kind {
            self.stream(*turn, *at, text);
            return;
        }
        // Whatever the thread records next (its turn, a retry, an error, its end) ends
        // the text streaming in: the whole turn, or a new attempt, replaces it.
        self.end_streaming();
        match kind {
            EventKind::ModelTurn {
                turn,
                tokens_in,
                tokens_out,
                ..
            } => self.push(Entry::Turn {
                turn: *turn,
                tokens_in: *tokens_in,
                tokens_out: *tokens_out,
            }),
            EventKind::Text { text } => {
                let text = lines(text);
                // Consecutive text (a stream in pieces) grows one entry.
                if let Some(Entry::Text(existing)) = self.entries.last_mut() {
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
            } => self.push(Entry::Tool {
                call_id: call_id.clone(),
                tool: sanitize(tool),
                input: input_text(input),
                command: shell_command(tool, input),
                output: None,
                is_error: false,
            }),
            EventKind::ToolReturned {
                call_id,
                output,
                is_error,
                ..
            } => {
                let found = self.entries.iter_mut().rev().find_map(|e| match e {
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
                subtask,
                ..
            } => self.push(Entry::Delegated {
                child: *child,
                specialist: sanitize(specialist),
                purpose: sanitize(purpose),
                subtask: lines(subtask),
            }),
            EventKind::FollowUp { message, .. } => self.push(Entry::FollowUp(lines(message))),
            EventKind::AdvisorConsulted {
                advisor,
                question,
                answer,
            } => self.push(Entry::Advisor {
                advisor: sanitize(advisor),
                question: sanitize(question),
                answer: lines(answer),
            }),
            EventKind::Retry {
                attempt,
                reason,
                delay_ms,
            } => self.push(Entry::Retry {
                attempt: *attempt,
                reason: sanitize(reason),
                delay_ms: *delay_ms,
            }),
            EventKind::Error { message } => self.push(Entry::Error(sanitize(message))),
            EventKind::PatternFound { summary, support } => self.push(Entry::Pattern {
                summary: sanitize(summary),
                support: *support,
            }),
            EventKind::MemoryProposed {
                title,
                change,
                version,
                ..
            } => self.push(Entry::Proposal {
                title: sanitize(title),
                change: sanitize(change),
                version: *version,
            }),
            EventKind::AgentFinished { status, answer, .. } => self.push(Entry::Finished {
                status: *status,
                answer: answer.as_deref().map(sanitize),
            }),
            _ => {}
        }
    }
}
