//! Resuming an interrupted session: rebuilding, from its recorded events, the lead's
//! context up to its last completed step and the environment calls that step rests on.
//!
//! A step is one model turn and the tool calls it made; it is complete when every call
//! has its result recorded. The lead's completed steps are kept as they were; so is the
//! work of every sub-agent whose answer reached the lead in a completed step (its
//! environment calls are replayed, silently, on a fresh episode so the world is as it
//! was). A step cut off mid-way, and the sub-agents it was waiting for, run again.

use std::collections::{BTreeMap, BTreeSet};

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
    /// The lead's final answer, if it finished this iteration before the interruption.
    pub lead_answer: Option<String>,
    /// Environment calls of completed steps in this iteration, in the order they ran.
    pub replay: Vec<(String, Value)>,
    /// The id the next spawned agent gets.
    pub next_agent: u32,
    /// Whether the iteration's revision feedback is already recorded.
    pub feedback_recorded: bool,
}

#[derive(Default)]
struct Turn {
    text: Option<String>,
    /// (call id, tool, input) in call order.
    calls: Vec<(String, String, Value)>,
}

/// Rebuilds the resume point from a session's events. `opening` is the lead's first
/// message (the task and briefing, as the runner builds it).
pub fn resume_point(events: &[Event], opening: Message) -> ResumePoint {
    let lead = AgentId(1);
    let mut graded: BTreeSet<u32> = BTreeSet::new();
    let mut feedback: BTreeMap<u32, String> = BTreeMap::new();
    let mut max_agent = 1;
    // Per iteration: the lead's turns (in order), results by call id, finishes.
    let mut iteration = 1u32;
    let mut lead_turns: Vec<(u32, Turn)> = Vec::new();
    let mut results: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut lead_finished: BTreeMap<u32, Option<String>> = BTreeMap::new();
    let mut delegated_to: BTreeMap<AgentId, (AgentId, String)> = BTreeMap::new();
    let mut agent_iteration: BTreeMap<AgentId, u32> = BTreeMap::new();
    let mut env_calls: Vec<(AgentId, String, String, Value)> = Vec::new();
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
                if event.agent == Some(lead) {
                    if let Some((_, turn)) = lead_turns.last_mut() {
                        turn.calls
                            .push((call_id.clone(), tool.clone(), input.clone()));
                    }
                }
                if tool != DELEGATE_TOOL && tool != ADVISOR_TOOL {
                    if let Some(agent) = event.agent {
                        env_calls.push((agent, call_id.clone(), tool.clone(), input.clone()));
                    }
                }
            }
            EventKind::ToolReturned {
                call_id,
                output,
                is_error,
                ..
            } => {
                let key = format!("{}/{call_id}", event.agent.map_or(0, |a| a.0));
                results.insert(key, (output.clone(), *is_error));
            }
            EventKind::Delegated { call_id, child, .. } => {
                if let Some(parent) = event.agent {
                    delegated_to.insert(*child, (parent, call_id.clone()));
                }
            }
            EventKind::AgentFinished { answer, .. } if event.agent == Some(lead) => {
                lead_finished.insert(iteration, answer.clone());
            }
            _ => {}
        }
    }
    let current = (1..).find(|it| !graded.contains(it)).unwrap_or(1);
    let result_of = |agent: AgentId, call: &str| results.get(&format!("{}/{call}", agent.0));

    // The lead's conversation: completed steps of every iteration up to the current.
    let mut conversation = vec![opening];
    let mut turns = 0u32;
    let mut completed_lead_calls: BTreeSet<String> = BTreeSet::new();
    for it in 1..=current {
        if it > 1 {
            match feedback.get(&it) {
                Some(text) => conversation.push(Message::user_text(text.clone())),
                None => break,
            }
        }
        for (_, turn) in lead_turns.iter().filter(|(i, _)| *i == it) {
            let complete = turn
                .calls
                .iter()
                .all(|(id, _, _)| result_of(lead, id).is_some());
            if !complete {
                break;
            }
            let mut content = Vec::new();
            if let Some(text) = &turn.text {
                content.push(ContentBlock::Text { text: text.clone() });
            }
            for (id, tool, input) in &turn.calls {
                content.push(ContentBlock::ToolUse {
                    id: id.clone(),
                    name: tool.clone(),
                    input: input.clone(),
                });
            }
            conversation.push(Message {
                role: Role::Assistant,
                content,
            });
            turns += 1;
            if turn.calls.is_empty() {
                continue;
            }
            let results = turn
                .calls
                .iter()
                .filter_map(|(id, _, _)| {
                    let (output, is_error) = result_of(lead, id)?;
                    if it == current {
                        completed_lead_calls.insert(id.clone());
                    }
                    Some(ContentBlock::ToolResult {
                        tool_use_id: id.clone(),
                        content: output.clone(),
                        is_error: *is_error,
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
            let Some((parent, call)) = delegated_to.get(&current_agent) else {
                return false;
            };
            let returned = if *parent == lead {
                completed_lead_calls.contains(call)
            } else {
                result_of(*parent, call).is_some()
            };
            if !returned {
                return false;
            }
            current_agent = *parent;
        }
        false
    };
    let replay = env_calls
        .into_iter()
        .filter(|(agent, call, _, _)| {
            let in_iteration = if *agent == lead {
                lead_turns
                    .iter()
                    .any(|(it, t)| *it == current && t.calls.iter().any(|(id, _, _)| id == call))
            } else {
                agent_iteration.get(agent) == Some(&current)
            };
            in_iteration
                && counts(*agent)
                && result_of(*agent, call).is_some()
                && (*agent != lead || completed_lead_calls.contains(call))
        })
        .map(|(_, _, tool, input)| (tool, input))
        .collect();
    let finished_cleanly = lead_finished.get(&current).cloned().flatten();
    let last_is_answer = conversation.last().is_some_and(|m| {
        m.role == Role::Assistant
            && !m
                .content
                .iter()
                .any(|b| matches!(b, ContentBlock::ToolUse { .. }))
    });
    ResumePoint {
        iteration: current,
        lead_answer: if last_is_answer {
            finished_cleanly
        } else {
            None
        },
        lead_conversation: conversation,
        lead_turns: turns,
        replay,
        next_agent: max_agent + 1,
        feedback_recorded: current == 1 || feedback.contains_key(&current),
    }
}
