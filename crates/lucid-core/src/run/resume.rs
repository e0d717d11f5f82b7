//! Resuming an interrupted session: rebuilding, from its recorded events, the lead's
//! context up to its last completed step and the environment calls that step rests on.
//!
//! A step is one model turn and the tool calls it made; it is complete when every call
//! has its result recorded. The lead's completed steps are kept as they were; so is the
//! work of every sub-agent whose answer reached the lead in a completed step (its
//! environment calls are replayed, silently, on a fresh episode so the world is as it
//! was). A step cut off mid-way, and the sub-agents it was waiting for, run again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use crate::event::{AgentId, Event, EventKind};
use crate::model::{ContentBlock, Message, Role};
use crate::spec::{ADVISOR_TOOL, DELEGATE_TOOL};

/// Where an interrupted session picks up.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePoint {
    /// The iteration to continue (the first one not graded).
    pub iteration: u32,
    /// The lead's context: opening, earlier iterations, feedback, completed steps.
    pub lead_conversation: Vec<Message>,
    pub lead_turns: u32,
    /// The lead's final answer, if its last completed step this iteration was one.
    pub lead_answer: Option<String>,
    /// Environment calls of completed steps in this iteration, in the order they ran.
    pub replay: Vec<(String, Value)>,
    /// The id the next spawned agent gets.
    pub next_agent: u32,
    /// Whether the iteration's revision feedback is already recorded.
    pub feedback_recorded: bool,
}

/// One tool call as recorded, matched with its result (if it returned).
struct CallRecord {
    agent: AgentId,
    id: String,
    tool: String,
    input: Value,
    result: Option<(String, bool)>,
}

#[derive(Default)]
struct Turn {
    text: Option<String>,
    /// Indices into the call records, in call order.
    calls: Vec<usize>,
}

/// Rebuilds the resume point from a session's events. `opening` is the lead's first
/// message (the task and briefing, as the runner builds it).
///
/// Calls are matched with their results by occurrence (a result answers the oldest
/// open call of that agent with that id), so providers that reuse call ids across
/// turns cannot make an unfinished step look finished.
pub fn resume_point(events: &[Event], opening: Message) -> ResumePoint {
    let lead = AgentId(1);
    let mut graded: BTreeSet<u32> = BTreeSet::new();
    let mut feedback: BTreeMap<u32, String> = BTreeMap::new();
    let mut max_agent = 1;
    let mut iteration = 1u32;
    let mut lead_turns: Vec<(u32, Turn)> = Vec::new();
    let mut calls: Vec<CallRecord> = Vec::new();
    let mut open: BTreeMap<(AgentId, String), VecDeque<usize>> = BTreeMap::new();
    // child → the parent's delegate call that made it
    let mut delegated_by: BTreeMap<AgentId, usize> = BTreeMap::new();
    let mut agent_iteration: BTreeMap<AgentId, u32> = BTreeMap::new();
    for event in events {
        if let Some(agent) = event.agent {
            max_agent = max_agent.max(agent.0);
        }
        match &event.kind {
            EventKind::AgentSpawned { iteration: it, .. } => {
                if let Some(agent) = event.agent {
                    agent_iteration.insert(agent, *it);
                }
            }
            EventKind::RevisionStarted {
                iteration: it,
                feedback: text,
            } => {
                iteration = *it;
                feedback.insert(*it, text.clone());
            }
            EventKind::GradingFinished { iteration: it, .. } => {
                graded.insert(*it);
            }
            EventKind::ModelTurn { .. } if event.agent == Some(lead) => {
                lead_turns.push((iteration, Turn::default()))
            }
            EventKind::Text { text } if event.agent == Some(lead) => {
                if let Some((_, turn)) = lead_turns.last_mut() {
                    turn.text = Some(text.clone());
                }
            }
            EventKind::ToolCalled {
                call_id,
                tool,
                input,
            } => {
                let Some(agent) = event.agent else { continue };
                let index = calls.len();
                calls.push(CallRecord {
                    agent,
                    id: call_id.clone(),
                    tool: tool.clone(),
                    input: input.clone(),
                    result: None,
                });
                open.entry((agent, call_id.clone()))
                    .or_default()
                    .push_back(index);
                if agent == lead {
                    if let Some((_, turn)) = lead_turns.last_mut() {
                        turn.calls.push(index);
                    }
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
                    if let Some(call) = calls.get_mut(index) {
                        call.result = Some((output.clone(), *is_error));
                    }
                }
            }
            EventKind::Delegated { call_id, child, .. } => {
                let Some(parent) = event.agent else { continue };
                if let Some(&index) = open.get(&(parent, call_id.clone())).and_then(|q| q.back()) {
                    delegated_by.insert(*child, index);
                }
            }
            _ => {}
        }
    }
    let current = (1..).find(|it| !graded.contains(it)).unwrap_or(1);
    let returned = |index: usize| calls.get(index).is_some_and(|c| c.result.is_some());

    // The lead's conversation: completed steps of every iteration up to the current.
    let mut conversation = vec![opening];
    let mut turns = 0u32;
    let mut completed_lead_calls: BTreeSet<usize> = BTreeSet::new();
    let mut turns_this_iteration = 0u32;
    for it in 1..=current {
        if it > 1 {
            match feedback.get(&it) {
                Some(text) => conversation.push(Message::user_text(text.clone())),
                None => break,
            }
        }
        for (_, turn) in lead_turns.iter().filter(|(i, _)| *i == it) {
            if !turn.calls.iter().all(|&index| returned(index)) {
                break;
            }
            let mut content = Vec::new();
            if let Some(text) = &turn.text {
                content.push(ContentBlock::Text { text: text.clone() });
            }
            let made: Vec<&CallRecord> = turn
                .calls
                .iter()
                .filter_map(|&index| calls.get(index))
                .collect();
            for call in &made {
                content.push(ContentBlock::ToolUse {
                    id: call.id.clone(),
                    name: call.tool.clone(),
                    input: call.input.clone(),
                });
            }
            conversation.push(Message {
                role: Role::Assistant,
                content,
            });
            turns += 1;
            if it == current {
                turns_this_iteration += 1;
            }
            if made.is_empty() {
                continue;
            }
            if it == current {
                completed_lead_calls.extend(turn.calls.iter().copied());
            }
            let results = made
                .iter()
                .filter_map(|call| {
                    let (output, is_error) = call.result.clone()?;
                    Some(ContentBlock::ToolResult {
                        tool_use_id: call.id.clone(),
                        content: output,
                        is_error,
                    })
                })
                .collect();
            conversation.push(Message {
                role: Role::User,
                content: results,
            });
        }
    }

    // Which agents' work counts: the lead, and sub-agents whose delegation returned in
    // a completed lead step (or, nested, to an agent whose work counts).
    let counts = |agent: AgentId| -> bool {
        let mut current_agent = agent;
        for _ in 0..64 {
            if current_agent == lead {
                return true;
            }
            let Some(&index) = delegated_by.get(&current_agent) else {
                return false;
            };
            let Some(call) = calls.get(index) else {
                return false;
            };
            let done = if call.agent == lead {
                completed_lead_calls.contains(&index)
            } else {
                call.result.is_some()
            };
            if !done {
                return false;
            }
            current_agent = call.agent;
        }
        false
    };
    let replay = calls
        .iter()
        .enumerate()
        .filter(|(index, call)| {
            if call.tool == DELEGATE_TOOL || call.tool == ADVISOR_TOOL || call.result.is_none() {
                return false;
            }
            if call.agent == lead {
                completed_lead_calls.contains(index)
            } else {
                agent_iteration.get(&call.agent) == Some(&current) && counts(call.agent)
            }
        })
        .map(|(_, call)| (call.tool.clone(), call.input.clone()))
        .collect();
    // A completed turn of this iteration without tool calls is the lead's final answer.
    let lead_answer = conversation
        .last()
        .filter(|_| turns_this_iteration > 0)
        .filter(|m| {
            m.role == Role::Assistant
                && !m
                    .content
                    .iter()
                    .any(|b| matches!(b, ContentBlock::ToolUse { .. }))
        })
        .map(Message::text);
    ResumePoint {
        iteration: current,
        lead_answer,
        lead_conversation: conversation,
        lead_turns: turns,
        replay,
        next_agent: max_agent + 1,
        feedback_recorded: current == 1 || feedback.contains_key(&current),
    }
}
