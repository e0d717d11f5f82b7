//! The recorded work of a session, folded per agent: each thread's model turns with the
//! tool calls each made (matched with their results), its delegations and how it ended.
//! A delegated thread is a list of segments: the one its delegation started, then one
//! per follow-up its parent sent it (each runs until the thread answers again).
//! [`super::resume_point`] decides from this what a resumed run keeps.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use crate::event::{AgentId, AgentStatus, Event, EventKind};

/// One tool call as recorded, matched with its result (if it returned).
pub(super) struct CallRecord {
    pub id: String,
    pub tool: String,
    pub input: Value,
    pub result: Option<(String, bool)>,
    /// The thread a `delegate` call started or followed up, and the index of the segment
    /// it started, if that is on record.
    pub child: Option<(AgentId, usize)>,
}

/// One model turn of a thread.
pub(super) struct TurnRecord {
    /// The iteration it belongs to (the lead's turns span iterations).
    pub iteration: u32,
    pub text: Option<String>,
    /// Indices into [`Record::calls`], in call order.
    pub calls: Vec<usize>,
    /// How many calls the turn made, when the recording says (see `ModelTurn`).
    pub declared: Option<u32>,
}

impl TurnRecord {
    /// Whether every call the turn made is on record.
    pub fn whole(&self) -> bool {
        self.declared
            .is_none_or(|declared| declared as usize == self.calls.len())
    }
}

/// What one delegation (the first, or a follow-up) had a thread do.
pub(super) struct Segment {
    /// The subtask, or the follow-up's message.
    pub message: String,
    /// Whether the thread's start (its spawn, or its `FollowUp`) is on record.
    pub started: bool,
    /// Index into [`AgentRecord::turns`] of the segment's first turn.
    pub first_turn: usize,
    /// How the segment ended, if that is on record.
    pub finished: Option<(AgentStatus, Option<String>)>,
}

/// One agent thread.
#[derive(Default)]
pub(super) struct AgentRecord {
    pub spawned: bool,
    pub iteration: u32,
    pub parent: Option<AgentId>,
    pub turns: Vec<TurnRecord>,
    /// Its last recorded finish, and the iteration it was recorded in.
    pub finished: Option<(AgentStatus, Option<String>, u32)>,
    /// From the delegation that started it.
    pub specialist: String,
    pub subtask: String,
    pub purpose: String,
    /// Its delegations, in order (none for the lead).
    pub segments: Vec<Segment>,
}

impl AgentRecord {
    /// The turns of segment `index`.
    pub fn segment_turns(&self, index: usize) -> &[TurnRecord] {
        let start = self
            .segments
            .get(index)
            .map_or(self.turns.len(), |s| s.first_turn);
        let end = self
            .segments
            .get(index + 1)
            .map_or(self.turns.len(), |s| s.first_turn);
        self.turns.get(start..end.max(start)).unwrap_or(&[])
    }

    /// The latest segment that started, if it has not ended: the thread is at work.
    pub fn open_segment(&self) -> Option<usize> {
        let index = self.segments.iter().rposition(|s| s.started)?;
        self.segments[index].finished.is_none().then_some(index)
    }
}

/// A session's events, folded.
#[derive(Default)]
pub(super) struct Record {
    pub calls: Vec<CallRecord>,
    pub agents: BTreeMap<AgentId, AgentRecord>,
    pub graded: BTreeSet<u32>,
    /// Revision feedback, by the iteration it starts.
    pub feedback: BTreeMap<u32, String>,
    pub max_agent: u32,
    /// Model turns of every agent.
    pub turns_taken: u32,
}

impl Record {
    /// Folds the events. Calls are matched with their results by occurrence (a result
    /// answers the oldest open call of that agent with that id), so providers that reuse
    /// call ids across turns cannot make an unfinished step look finished.
    pub fn of(events: &[Event]) -> Record {
        let mut record = Record {
            max_agent: 1,
            ..Record::default()
        };
        let mut iteration = 1u32;
        let mut open: BTreeMap<(AgentId, String), VecDeque<usize>> = BTreeMap::new();
        for event in events {
            if let Some(agent) = event.agent {
                record.max_agent = record.max_agent.max(agent.0);
            }
            match &event.kind {
                EventKind::AgentSpawned {
                    iteration: it,
                    parent,
                    ..
                } => {
                    if let Some(agent) = event.agent {
                        let entry = record.agents.entry(agent).or_default();
                        entry.spawned = true;
                        entry.iteration = *it;
                        entry.parent = *parent;
                        if let Some(first) = entry.segments.first_mut() {
                            first.started = true;
                        }
                    }
                }
                EventKind::FollowUp { message, .. } => {
                    let Some(agent) = event.agent else { continue };
                    let entry = record.agents.entry(agent).or_default();
                    let first_turn = entry.turns.len();
                    match entry.segments.last_mut().filter(|s| !s.started) {
                        Some(segment) => {
                            segment.started = true;
                            segment.first_turn = first_turn;
                        }
                        None => entry.segments.push(Segment {
                            message: message.clone(),
                            started: true,
                            first_turn,
                            finished: None,
                        }),
                    }
                }
                EventKind::RevisionStarted {
                    iteration: it,
                    feedback,
                } => {
                    iteration = *it;
                    record.feedback.insert(*it, feedback.clone());
                }
                EventKind::GradingFinished { iteration: it, .. } => {
                    record.graded.insert(*it);
                }
                EventKind::ModelTurn { tool_calls, .. } => {
                    record.turns_taken += 1;
                    if let Some(agent) = event.agent {
                        record
                            .agents
                            .entry(agent)
                            .or_default()
                            .turns
                            .push(TurnRecord {
                                iteration,
                                text: None,
                                calls: Vec::new(),
                                declared: *tool_calls,
                            });
                    }
                }
                EventKind::Text { text } => {
                    if let Some(turn) = record.last_turn(event.agent) {
                        turn.text = Some(text.clone());
                    }
                }
                EventKind::ToolCalled {
                    call_id,
                    tool,
                    input,
                } => {
                    let Some(agent) = event.agent else { continue };
                    let index = record.calls.len();
                    record.calls.push(CallRecord {
                        id: call_id.clone(),
                        tool: tool.clone(),
                        input: input.clone(),
                        result: None,
                        child: None,
                    });
                    open.entry((agent, call_id.clone()))
                        .or_default()
                        .push_back(index);
                    if let Some(turn) = record.last_turn(Some(agent)) {
                        turn.calls.push(index);
                    }
                }
                EventKind::ToolReturned {
                    call_id,
                    output,
                    is_error,
                    ..
                } => {
                    let Some(agent) = event.agent else { continue };
                    if let Some(index) = open
                        .get_mut(&(agent, call_id.clone()))
                        .and_then(VecDeque::pop_front)
                    {
                        if let Some(call) = record.calls.get_mut(index) {
                            call.result = Some((output.clone(), *is_error));
                        }
                    }
                }
                EventKind::Delegated {
                    call_id,
                    child,
                    specialist,
                    subtask,
                    purpose,
                    follow_up,
                } => {
                    let Some(parent) = event.agent else { continue };
                    let entry = record.agents.entry(*child).or_default();
                    if !follow_up {
                        entry.specialist = specialist.clone();
                        entry.subtask = subtask.clone();
                        entry.purpose = purpose.clone();
                        entry.parent = Some(parent);
                    }
                    // A follow-up whose `FollowUp` never made it to the record leaves a
                    // segment that never started; the next delegation takes its place.
                    if entry.segments.last().is_some_and(|s| !s.started) {
                        entry.segments.pop();
                    }
                    let segment = entry.segments.len();
                    entry.segments.push(Segment {
                        message: subtask.clone(),
                        started: !follow_up && entry.spawned,
                        first_turn: entry.turns.len(),
                        finished: None,
                    });
                    let index = open.get(&(parent, call_id.clone())).and_then(|q| q.back());
                    if let Some(call) = index.and_then(|&i| record.calls.get_mut(i)) {
                        call.child = Some((*child, segment));
                    }
                    record.max_agent = record.max_agent.max(child.0);
                }
                EventKind::AgentFinished { status, answer, .. } => {
                    if let Some(agent) = event.agent {
                        let entry = record.agents.entry(agent).or_default();
                        entry.finished = Some((*status, answer.clone(), iteration));
                        if let Some(segment) = entry.segments.iter_mut().rev().find(|s| s.started) {
                            segment.finished = Some((*status, answer.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        record
    }

    fn last_turn(&mut self, agent: Option<AgentId>) -> Option<&mut TurnRecord> {
        self.agents.get_mut(&agent?)?.turns.last_mut()
    }
}
