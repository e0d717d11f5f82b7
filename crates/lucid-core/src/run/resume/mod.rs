//! Resuming an interrupted session: rebuilding, from its recorded events, where every
//! agent thread of the current iteration stands, so a resumed run redoes only work that
//! had not finished.
//!
//! A step is one model turn and the tool calls it made. A turn is kept when its record is
//! whole (every call it made is on record) and the step before it completed; a kept turn
//! whose calls did not all return is the thread's *open step*: the calls that returned
//! keep their results, the others run again. A `delegate` call of an open step does not
//! start a new specialist when its child is on record: a child that had finished hands
//! over its recorded answer (paid work is not paid twice), and an unfinished one
//! continues from its own kept turns, recursively. The environment calls of every kept
//! step (and those of finished children) are replayed, silently, on a fresh episode so
//! the world is as it was. A specialist cancelled with the whole run (Ctrl-C) continues
//! like an unfinished one. Agents left unfinished that nothing continues (started by a
//! turn that is run again) are recorded as cancelled, so a finished session lists no
//! agent as running.
//!
//! A thread its parent followed up (see `run::follow_up`) has several segments, one per
//! delegation; each is resumed on its own: a `delegate` call hands over the segment it
//! started, and a continued segment's context is the thread's whole recorded
//! conversation (every earlier segment's message and kept turns, then its own). Only the
//! environment calls of the current iteration are replayed, whichever segment made them.
//! [`thread_context`] rebuilds the same conversation for a live follow-up.

mod record;

use serde_json::Value;

use self::record::{AgentRecord, CallRecord, Record, TurnRecord};
use crate::event::{AgentId, AgentStatus, Event};
use crate::model::{ContentBlock, Message, Role};
use crate::spec::{ADVISOR_TOOL, DELEGATE_TOOL};

/// Where an interrupted session picks up.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePoint {
    /// The iteration to continue (the first one not graded).
    pub iteration: u32,
    /// The lead's context: opening, earlier iterations, feedback, kept steps (ending with
    /// the assistant turn of its open step, if it has one).
    pub lead_conversation: Vec<Message>,
    pub lead_turns: u32,
    /// The lead's kept turns in this iteration (its `max_turns` counts them).
    pub lead_turns_this_iteration: u32,
    /// The lead's final answer, if its last kept step this iteration was one.
    pub lead_answer: Option<String>,
    /// Whether that answer's finish still has to be recorded.
    pub lead_finish_missing: bool,
    /// The calls of the lead's open step this iteration (empty when it has none).
    pub lead_step: Vec<StepCall>,
    /// Whether the lead's spawn is on record.
    pub lead_spawned: bool,
    /// Environment calls of kept steps in this iteration, in the order they ran.
    pub replay: Vec<(String, Value)>,
    /// The id the next spawned agent gets.
    pub next_agent: u32,
    /// Whether the iteration's revision feedback is already recorded.
    pub feedback_recorded: bool,
    /// Model turns every agent took so far (they count against `max_total_turns`).
    pub turns_taken: u32,
    /// Unfinished agents nothing continues, with their recorded turns: they are
    /// recorded as cancelled when the run resumes.
    pub abandoned: Vec<(AgentId, u32)>,
    /// Finished specialists whose answers are handed over without running them again.
    pub reused_agents: u32,
    /// Unfinished specialists that continue from their kept steps.
    pub continued_agents: u32,
}

/// A delegated thread as the record has it, for a follow-up: its conversation (every
/// started segment's message and kept turns), its recorded turns, who delegated it, as
/// which specialist, and whether it is at work.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadContext {
    pub messages: Vec<Message>,
    pub turns: u32,
    pub parent: Option<AgentId>,
    pub specialist: String,
    /// Its latest segment started and has not ended.
    pub running: bool,
}

/// The recorded context of a delegated thread; `None` when no delegation started
/// `agent` (the lead, or an id not on record).
pub fn thread_context(events: &[Event], agent: AgentId) -> Option<ThreadContext> {
    let record = Record::of(events);
    let thread = record.agents.get(&agent)?;
    if thread.segments.is_empty() || !thread.spawned {
        return None;
    }
    let (messages, turns) = earlier_segments(&record, thread, thread.segments.len());
    Some(ThreadContext {
        messages,
        turns,
        parent: thread.parent,
        specialist: thread.specialist.clone(),
        running: thread.open_segment().is_some(),
    })
}

/// A user message at the end of a conversation: a new one, or, when the conversation
/// already ends on the user's side (a thread that stopped after a step), a text block
/// on that last message, so roles keep alternating.
pub fn push_user(messages: &mut Vec<Message>, text: String) {
    match messages.last_mut() {
        Some(last) if last.role == Role::User => last.content.push(ContentBlock::Text { text }),
        _ => messages.push(Message::user_text(text)),
    }
}

/// A thread's conversation through the segments before `upto` (each started one's
/// message and kept turns; a step cut off is left out), and the turns they recorded.
fn earlier_segments(record: &Record, thread: &AgentRecord, upto: usize) -> (Vec<Message>, u32) {
    let mut messages = Vec::new();
    let mut turns = 0u32;
    for (index, segment) in thread.segments.iter().enumerate().take(upto) {
        if !segment.started {
            continue;
        }
        push_user(&mut messages, segment.message.clone());
        let recorded = thread.segment_turns(index);
        let kept = keep_turns(record, &recorded.iter().collect::<Vec<_>>(), &mut messages);
        if kept.open.is_some() {
            messages.pop();
        }
        turns += recorded.len() as u32;
    }
    (messages, turns)
}

/// A call of an open step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCall {
    pub id: String,
    pub tool: String,
    pub input: Value,
    /// The recorded result, when the call returned.
    pub result: Option<(String, bool)>,
    /// For a `delegate` call whose specialist is on record: where it stands.
    pub child: Option<ThreadResume>,
}

/// Where a recorded specialist stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadResume {
    pub agent: AgentId,
    /// Whether its start (its spawn, or for a follow-up its `FollowUp`) is on record
    /// (else it is recorded as it continues).
    pub spawned: bool,
    pub state: ThreadState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ThreadState {
    /// It had ended: its answer goes to its parent. `recorded` is false when it had
    /// answered but its finish is not on record yet.
    Finished {
        status: AgentStatus,
        answer: Option<String>,
        turns: u32,
        recorded: bool,
    },
    /// It continues: its context (the subtask and its kept steps; for a follow-up, the
    /// thread's earlier segments before them), its turns, the kept turns of this segment
    /// (its `max_turns` counts them), and the calls of its open step (empty when its
    /// next move is a model turn).
    Unfinished {
        messages: Vec<Message>,
        turns: u32,
        segment_turns: u32,
        step: Vec<StepCall>,
    },
}

/// What a thread's kept turns come to.
struct Kept {
    /// Model turns kept.
    turns: u32,
    /// Call indices of the kept turns (the open step's included).
    calls: Vec<usize>,
    /// The open step's call indices, if the last kept turn has calls that did not return.
    open: Option<Vec<usize>>,
    /// Set when the last kept turn made no call: the thread answered (its latest text).
    answered: Option<Option<String>>,
}

/// How far a resume goes into nested delegations (a guard against a corrupt record).
const MAX_DEPTH: usize = 64;

/// Rebuilds the resume point from a session's events. `opening` is the lead's first
/// message (the task and briefing, as the runner builds it).
pub fn resume_point(events: &[Event], opening: Message) -> ResumePoint {
    let lead = AgentId(1);
    let record = Record::of(events);
    let current = (1..).find(|it| !record.graded.contains(it)).unwrap_or(1);
    let no_turns = AgentRecord::default();
    let lead_record = record.agents.get(&lead).unwrap_or(&no_turns);

    // The lead's conversation: the kept steps of every iteration up to the current.
    let mut conversation = vec![opening];
    let mut lead_turns = 0u32;
    let mut this_iteration = Kept {
        turns: 0,
        calls: Vec::new(),
        open: None,
        answered: None,
    };
    for it in 1..=current {
        if it > 1 {
            match record.feedback.get(&it) {
                Some(text) => conversation.push(Message::user_text(text.clone())),
                None => break,
            }
        }
        let turns: Vec<&TurnRecord> = lead_record
            .turns
            .iter()
            .filter(|t| t.iteration == it)
            .collect();
        let kept = keep_turns(&record, &turns, &mut conversation);
        lead_turns += kept.turns;
        if it == current {
            this_iteration = kept;
        } else if kept.open.is_some() {
            // An earlier iteration never ends on an open step; if the record says
            // otherwise, its unanswered calls are left out of the context.
            conversation.pop();
            lead_turns -= 1;
        }
    }

    let mut resume = Resumer {
        record: &record,
        current,
        visited: Vec::new(),
        replay: Vec::new(),
        reused: 0,
        continued: 0,
    };
    resume.visited.push((lead, 0));
    resume.keep_calls(&this_iteration.calls, true);
    let lead_step = match &this_iteration.open {
        Some(open) => resume.step(open, 0),
        None => Vec::new(),
    };
    let mut replay = resume.replay;
    replay.sort_unstable();
    let replay = replay
        .into_iter()
        .filter_map(|index| record.calls.get(index))
        .map(|call| (call.tool.clone(), call.input.clone()))
        .collect();
    let abandoned = record
        .agents
        .iter()
        .filter(|(id, agent)| {
            let open = match agent.segments.is_empty() {
                true => (agent.spawned && agent.finished.is_none()).then_some(0),
                false => agent.open_segment(),
            };
            open.is_some_and(|segment| !resume.visited.contains(&(**id, segment)))
        })
        .map(|(id, agent)| (*id, agent.turns.len() as u32))
        .collect();
    let lead_answer = this_iteration.answered.map(Option::unwrap_or_default);
    let lead_finished_now = lead_record
        .finished
        .as_ref()
        .is_some_and(|(_, _, it)| *it == current);
    ResumePoint {
        iteration: current,
        lead_finish_missing: lead_answer.is_some() && !lead_finished_now,
        lead_answer,
        lead_conversation: conversation,
        lead_turns,
        lead_turns_this_iteration: this_iteration.turns,
        lead_step,
        lead_spawned: lead_record.spawned,
        replay,
        next_agent: record.max_agent + 1,
        feedback_recorded: current == 1 || record.feedback.contains_key(&current),
        turns_taken: record.turns_taken,
        abandoned,
        reused_agents: resume.reused,
        continued_agents: resume.continued,
    }
}

/// Appends a thread's kept turns to `messages` (an assistant message per turn, and the
/// results of each step that completed).
fn keep_turns(record: &Record, turns: &[&TurnRecord], messages: &mut Vec<Message>) -> Kept {
    let mut kept = Kept {
        turns: 0,
        calls: Vec::new(),
        open: None,
        answered: None,
    };
    let mut last_text: Option<String> = None;
    for turn in turns {
        if !turn.whole() {
            break;
        }
        let made: Vec<&CallRecord> = turn
            .calls
            .iter()
            .filter_map(|&index| record.calls.get(index))
            .collect();
        let mut content = Vec::new();
        if let Some(text) = &turn.text {
            content.push(ContentBlock::Text { text: text.clone() });
            if !text.trim().is_empty() {
                last_text = Some(text.clone());
            }
        }
        content.extend(made.iter().map(|call| ContentBlock::ToolUse {
            id: call.id.clone(),
            name: call.tool.clone(),
            input: call.input.clone(),
        }));
        messages.push(Message {
            role: Role::Assistant,
            content,
        });
        kept.turns += 1;
        kept.calls.extend(turn.calls.iter().copied());
        if made.is_empty() {
            kept.answered = Some(last_text);
            break;
        }
        if made.iter().any(|call| call.result.is_none()) {
            kept.open = Some(turn.calls.clone());
            break;
        }
        messages.push(Message {
            role: Role::User,
            content: made
                .iter()
                .filter_map(|call| {
                    let (output, is_error) = call.result.clone()?;
                    Some(ContentBlock::ToolResult {
                        tool_use_id: call.id.clone(),
                        content: output,
                        is_error,
                    })
                })
                .collect(),
        });
    }
    kept
}

/// Walks the threads a resumed run keeps, from the lead down its delegations.
struct Resumer<'a> {
    record: &'a Record,
    current: u32,
    /// Segments of threads whose work is kept (continued or handed over).
    visited: Vec<(AgentId, usize)>,
    /// Call indices to replay on the fresh episode.
    replay: Vec<usize>,
    reused: u32,
    continued: u32,
}

impl Resumer<'_> {
    /// Keeps calls: the environment calls that returned are replayed; the specialists
    /// of delegations that returned keep their work too (`nested`: recursively).
    fn keep_calls(&mut self, calls: &[usize], nested: bool) {
        for &index in calls {
            let Some(call) = self.record.calls.get(index) else {
                continue;
            };
            if call.result.is_none() {
                continue;
            }
            if call.tool == DELEGATE_TOOL {
                if let (Some((child, segment)), true) = (call.child, nested) {
                    self.keep_finished(child, segment, 0);
                }
            } else if call.tool != ADVISOR_TOOL {
                self.replay.push(index);
            }
        }
    }

    /// Keeps the whole recorded work of a specialist's segment whose answer was handed
    /// over: what it did in this iteration (an earlier iteration's episode is gone).
    fn keep_finished(&mut self, agent: AgentId, segment: usize, depth: usize) {
        if depth > MAX_DEPTH || self.visited.contains(&(agent, segment)) {
            return;
        }
        self.visited.push((agent, segment));
        let Some(record) = self.record.agents.get(&agent) else {
            return;
        };
        let current = self.current;
        for turn in record
            .segment_turns(segment)
            .iter()
            .filter(|turn| turn.iteration == current)
        {
            for &index in &turn.calls {
                let Some(call) = self.record.calls.get(index) else {
                    continue;
                };
                match (call.tool.as_str(), call.child, &call.result) {
                    (_, _, None) | (ADVISOR_TOOL, _, _) => {}
                    (DELEGATE_TOOL, Some((child, segment)), _) => {
                        self.keep_finished(child, segment, depth + 1)
                    }
                    (DELEGATE_TOOL, None, _) => {}
                    _ => self.replay.push(index),
                }
            }
        }
    }

    /// The calls of an open step, each with its result or its specialist's standing.
    fn step(&mut self, open: &[usize], depth: usize) -> Vec<StepCall> {
        open.iter()
            .filter_map(|&index| self.record.calls.get(index))
            .map(|call| {
                let child = match (call.tool.as_str(), &call.result, call.child) {
                    (DELEGATE_TOOL, None, Some((child, segment))) => {
                        self.thread(child, segment, depth + 1)
                    }
                    _ => None,
                };
                StepCall {
                    id: call.id.clone(),
                    tool: call.tool.clone(),
                    input: call.input.clone(),
                    result: call.result.clone(),
                    child,
                }
            })
            .collect()
    }

    /// Where a specialist's segment whose delegation had not returned stands.
    fn thread(&mut self, agent: AgentId, segment: usize, depth: usize) -> Option<ThreadResume> {
        if depth > MAX_DEPTH || self.visited.contains(&(agent, segment)) {
            return None;
        }
        let record = self.record.agents.get(&agent)?;
        let part = record.segments.get(segment)?;
        // A specialist cancelled along with the run (Ctrl-C) was interrupted like one
        // killed: it continues. One that ended otherwise hands over how it ended.
        let ended = part
            .finished
            .as_ref()
            .filter(|(status, _)| *status != AgentStatus::Cancelled);
        if let Some((status, answer)) = ended {
            self.keep_finished(agent, segment, depth);
            self.reused += 1;
            return Some(ThreadResume {
                agent,
                spawned: part.started,
                state: ThreadState::Finished {
                    status: *status,
                    answer: answer.clone(),
                    turns: (part.first_turn + record.segment_turns(segment).len()) as u32,
                    recorded: true,
                },
            });
        }
        self.visited.push((agent, segment));
        let (mut messages, before) = earlier_segments(self.record, record, segment);
        push_user(&mut messages, part.message.clone());
        let turns: Vec<&TurnRecord> = record.segment_turns(segment).iter().collect();
        let kept = keep_turns(self.record, &turns, &mut messages);
        self.keep_calls(&kept.calls, true);
        let state = match (kept.answered, kept.open) {
            (Some(answer), _) => {
                self.reused += 1;
                ThreadState::Finished {
                    status: AgentStatus::Done,
                    answer,
                    turns: before + kept.turns,
                    recorded: false,
                }
            }
            (None, open) => {
                self.continued += 1;
                let step = match open {
                    Some(open) => self.step(&open, depth),
                    None => Vec::new(),
                };
                ThreadState::Unfinished {
                    messages,
                    turns: before + kept.turns,
                    segment_turns: kept.turns,
                    step,
                }
            }
        };
        Some(ThreadResume {
            agent,
            spawned: part.started,
            state,
        })
    }
}

#[cfg(test)]
mod tests;
