//! The orchestration tools: `delegate` starts a specialist in a fresh context and
//! returns only its final answer, followed by a line naming the thread; with `thread`
//! it follows up a thread the agent delegated to before (`follow_up`), which continues
//! with its earlier conversation. A resumed delegation hands over to the specialist on
//! record instead: its answer if it had finished, else it continues. `ask_advisor`
//! consults a stronger model and returns its advice.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::agent::{AgentEnd, AgentThread, Continuation, Resumed, ToolCall};
use super::follow_up::{thread_line, FollowUpRequest};
use super::resume::{ThreadResume, ThreadState};
use super::{RunError, TeamRun};
use crate::event::{AgentId, AgentStatus, EventKind};
use crate::model::{ContentBlock, Message, ModelRequest, ToolChoice, ToolSpec};
use crate::spec::{AgentSpec, ADVISOR_TOOL, DELEGATE_TOOL};
use crate::tool::{parse_args, ToolOutput};

#[derive(Deserialize)]
struct DelegateArgs {
    specialist: String,
    subtask: String,
    #[serde(default)]
    purpose: String,
    /// The thread to follow up: a number, or a string holding one.
    #[serde(default)]
    thread: Option<serde_json::Value>,
}

impl DelegateArgs {
    /// The thread to follow up, if the call names one.
    fn thread(&self) -> Result<Option<AgentId>, ToolOutput> {
        let number = match &self.thread {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().trim_start_matches('#').parse().ok(),
            Some(_) => None,
        };
        match number.and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Ok(Some(AgentId(n))),
            None => Err(ToolOutput::error(
                "`thread` must be the number of a thread a delegation's result named",
            )),
        }
    }
}

#[derive(Deserialize)]
struct AdvisorArgs {
    question: String,
}

/// How many of the executor's latest message blocks the advisor sees.
const ADVISOR_TRANSCRIPT_BLOCKS: usize = 8;
/// How many characters of each block the advisor sees.
const ADVISOR_BLOCK_CHARS: usize = 400;

pub const ADVISOR_SYSTEM: &str = "You are an advisor to an agent working on a task. Answer its \
question with concrete, actionable advice in a few sentences. You see only the question and a \
compact view of the agent's recent work; the agent will continue on its own.";

impl TeamRun {
    /// The declarations of the orchestration tools this agent may call.
    /// `follow_ups`: whether the agent has a returned delegation it could follow up; the
    /// `thread` argument is offered only then (a parameter that cannot be used yet only
    /// invites a model, a small one especially, to fill it in).
    pub(super) fn orchestration_specs(&self, agent: &AgentSpec, follow_ups: bool) -> Vec<ToolSpec> {
        let mut specs = Vec::new();
        if !agent.delegates.is_empty() {
            specs.push(delegate_spec(agent, follow_ups));
        }
        if agent.advisor.is_some() {
            specs.push(ToolSpec {
                name: ADVISOR_TOOL.into(),
                description: "Ask a stronger advisor model for guidance; you continue the work yourself.".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"question": {"type": "string", "description": "What you want advice on, with the relevant numbers."}},
                    "required": ["question"]
                }),
            });
        }
        specs
    }

    /// Whether `messages` hold a delegation that returned: a thread the agent could follow
    /// up.
    pub(super) fn can_follow_up(messages: &[Message]) -> bool {
        let delegations: Vec<&str> = messages
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|block| match block {
                ContentBlock::ToolUse { id, name, .. } if name == DELEGATE_TOOL => {
                    Some(id.as_str())
                }
                _ => None,
            })
            .collect();
        messages.iter().flat_map(|m| &m.content).any(|block| {
            matches!(block, ContentBlock::ToolResult { tool_use_id, .. } if delegations.contains(&tool_use_id.as_str()))
        })
    }

    pub(super) fn orchestration_names(
        &self,
        agent: &AgentSpec,
    ) -> impl Iterator<Item = &'static str> {
        let delegate = (!agent.delegates.is_empty()).then_some(DELEGATE_TOOL);
        let advisor = agent.advisor.is_some().then_some(ADVISOR_TOOL);
        delegate.into_iter().chain(advisor)
    }

    /// Runs a specialist on a subtask and returns its final answer as the tool result.
    pub(super) async fn delegate(
        self: &Arc<Self>,
        parent: &AgentThread,
        call: &ToolCall,
        input: serde_json::Value,
    ) -> Result<ToolOutput, RunError> {
        let args: DelegateArgs = match parse_args(DELEGATE_TOOL, input) {
            Ok(args) => args,
            Err(output) => return Ok(output),
        };
        if !parent.spec.delegates.contains(&args.specialist) {
            return Ok(ToolOutput::error(format!(
                "`{}` is not one of your specialists; you can delegate to: {}",
                args.specialist,
                parent.spec.delegates.join(", ")
            )));
        }
        if parent.depth + 1 > self.spec.limits.max_depth {
            return Ok(ToolOutput::error(format!(
                "delegation is limited to {} levels; do this subtask yourself",
                self.spec.limits.max_depth
            )));
        }
        let Some(child_spec) = self.spec.agents.get(&args.specialist).cloned() else {
            return Ok(ToolOutput::error(format!("no agent `{}`", args.specialist)));
        };
        let thread = match args.thread() {
            Ok(thread) => thread,
            Err(refusal) => return Ok(refusal),
        };
        let recorded = match &call.resumed {
            Some(Resumed::Pending(Some(child))) => Some(child.clone()),
            _ => None,
        };
        // The thread's start: its spawn, or for a follow-up the `FollowUp` on its thread.
        let start = |child_id: AgentId, purpose: &str| {
            let kind = match thread {
                Some(_) => EventKind::FollowUp {
                    message: args.subtask.clone(),
                    iteration: parent.iteration,
                },
                None => EventKind::AgentSpawned {
                    name: child_spec.name.clone(),
                    role: child_spec.role.clone(),
                    parent: Some(parent.id),
                    model: child_spec.model.clone(),
                    purpose: Some(purpose.to_string()),
                    iteration: parent.iteration,
                },
            };
            let spawned = thread.is_none();
            self.bus.emit(Some(child_id), kind);
            if spawned {
                self.brief(child_id, &child_spec.name);
            }
        };
        // A resumed delegation hands over to the specialist on record: a finished one's
        // answer is reused, an unfinished one continues where it stood.
        let (child_id, mut messages, mut turns, from, busy) = match recorded {
            Some(ThreadResume {
                agent,
                spawned,
                state:
                    ThreadState::Finished {
                        status,
                        answer,
                        turns,
                        recorded,
                    },
            }) => {
                if !spawned {
                    start(agent, &args.purpose);
                }
                if !recorded {
                    self.bus.emit(
                        Some(agent),
                        EventKind::AgentFinished {
                            status,
                            turns,
                            answer: answer.clone(),
                        },
                    );
                }
                let end = AgentEnd {
                    status,
                    answer,
                    fatal: None,
                };
                return specialist_output(&args.specialist, agent, end);
            }
            Some(ThreadResume {
                agent,
                spawned,
                state:
                    ThreadState::Unfinished {
                        messages,
                        turns,
                        segment_turns,
                        step,
                    },
            }) => {
                if !spawned {
                    start(agent, &args.purpose);
                }
                let from = Continuation {
                    turns_this_run: segment_turns,
                    step,
                };
                (agent, messages, turns, from, self.claim(agent))
            }
            None => match thread {
                Some(thread) => {
                    let request = FollowUpRequest {
                        call_id: &call.id,
                        thread,
                        specialist: &args.specialist,
                        message: &args.subtask,
                        purpose: &args.purpose,
                    };
                    match self.follow_up(parent, request).await {
                        Ok(follow) => (
                            thread,
                            follow.messages,
                            follow.turns,
                            Continuation::default(),
                            Some(follow.busy),
                        ),
                        Err(refusal) => return Ok(refusal),
                    }
                }
                None => {
                    if let Err(refusal) = self.spend_agent() {
                        return Ok(refusal);
                    }
                    let child_id = self.new_agent_id();
                    self.bus.emit(
                        Some(parent.id),
                        EventKind::Delegated {
                            call_id: call.id.clone(),
                            child: child_id,
                            specialist: args.specialist.clone(),
                            subtask: args.subtask.clone(),
                            purpose: args.purpose.clone(),
                            follow_up: false,
                        },
                    );
                    start(child_id, &args.purpose);
                    let messages = vec![Message::user_text(args.subtask.clone())];
                    let busy = self.claim(child_id);
                    (child_id, messages, 0, Continuation::default(), busy)
                }
            },
        };
        let child = AgentThread {
            id: child_id,
            spec: Arc::new(child_spec),
            depth: parent.depth + 1,
            iteration: parent.iteration,
            cancel: parent.cancel.child(),
            episode: Arc::clone(&parent.episode),
            toolkits: Arc::clone(&parent.toolkits),
        };
        self.register_cancel(child_id, &child.cancel);
        // The child runs on its own task so specialists use every core; its context is
        // fresh: nothing of the parent's conversation but the subtask (and, for a
        // follow-up, the thread's own earlier work).
        let team = Arc::clone(self);
        let handle = tokio::spawn(async move {
            let permit = Arc::clone(&team.parallel).acquire_owned().await.ok();
            team.run_agent(&child, &mut messages, &mut turns, permit, from)
                .await
        });
        let joined = handle.await;
        drop(busy);
        match joined {
            Ok(end) => specialist_output(&args.specialist, child_id, end),
            Err(join) => Ok(ToolOutput::error(format!(
                "specialist `{}` crashed: {join}",
                args.specialist
            ))),
        }
    }

    /// Asks the agent's advisor model; the answer comes back as the tool result.
    pub(super) async fn consult_advisor(
        self: &Arc<Self>,
        thread: &AgentThread,
        input: serde_json::Value,
        transcript: &str,
    ) -> Result<ToolOutput, RunError> {
        let args: AdvisorArgs = match parse_args(ADVISOR_TOOL, input) {
            Ok(args) => args,
            Err(output) => return Ok(output),
        };
        let Some(provider) = self.providers.advisor(&thread.spec.name) else {
            return Ok(ToolOutput::error("you have no advisor"));
        };
        let request = ModelRequest {
            system: ADVISOR_SYSTEM.into(),
            messages: vec![Message::user_text(format!(
                "## Question\n{}\n\n## Recent work of the agent asking\n{}",
                args.question, transcript
            ))]
            .into(),
            tools: vec![].into(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 1024,
            temperature: None,
        };
        let on_retry = |notice: &crate::model::RetryNotice| {
            self.bus
                .emit(Some(thread.id), super::agent::retry_event(notice));
        };
        let answer =
            match crate::model::complete_observed(provider.as_ref(), request, on_retry).await {
                Ok(response) => {
                    let profile = thread.spec.advisor.as_deref().unwrap_or_default();
                    self.bus.emit(
                        Some(thread.id),
                        super::usage_event(
                            super::ADVISOR_ROLE,
                            profile,
                            self.providers.profile(profile),
                            &response.usage,
                        ),
                    );
                    response.text()
                }
                Err(err @ crate::model::ModelError::Refused(_)) => {
                    return Err(RunError::Refused(format!("the advisor's model: {err}")));
                }
                Err(err) => {
                    return Ok(ToolOutput::error(format!(
                        "the advisor is unavailable: {err}"
                    )))
                }
            };
        self.bus.emit(
            Some(thread.id),
            EventKind::AdvisorConsulted {
                advisor: thread.spec.advisor.clone().unwrap_or_default(),
                question: args.question,
                answer: answer.clone(),
            },
        );
        Ok(ToolOutput::ok(answer))
    }
}

/// The `delegate` tool as `agent` sees it; with `follow_ups`, it may address a thread.
fn delegate_spec(agent: &AgentSpec, follow_ups: bool) -> ToolSpec {
    let mut properties = json!({
        "specialist": {"type": "string", "enum": agent.delegates, "description": "Which specialist to hand the subtask to."},
        "subtask": {"type": "string", "description": "Everything the specialist needs to know: it sees nothing else."},
        "purpose": {"type": "string", "description": "Why this delegation, in one line (recorded for tracing)."}
    });
    let mut description = String::from(
        "Hand a subtask to a specialist. The specialist starts with a fresh context holding only \
         the subtask, works with its own tools, and returns its final answer. Several \
         delegations in one turn run in parallel.",
    );
    if follow_ups {
        properties["specialist"]["description"] =
            json!("Which specialist to hand the subtask to (for a follow-up: the thread's).");
        properties["subtask"]["description"] = json!(
            "Everything the specialist needs to know: it sees nothing else. For a follow-up: your new message to the thread."
        );
        properties["thread"] = json!({"type": "integer", "description": "Only to follow up: the thread number a delegation's result gave."});
        description.push_str(
            " Each result names its thread. To follow up a thread you delegated to before (in \
             any pass) once it has returned, pass `thread`: it continues with its earlier \
             conversation and gets `subtask` as your new message.",
        );
    }
    ToolSpec {
        name: DELEGATE_TOOL.into(),
        description,
        input_schema: json!({
            "type": "object",
            "properties": properties,
            "required": ["specialist", "subtask", "purpose"]
        }),
    }
}

/// What the parent hears of a specialist's end, with the line naming its thread.
fn specialist_output(
    specialist: &str,
    child: AgentId,
    end: AgentEnd,
) -> Result<ToolOutput, RunError> {
    let mut output = ended(specialist, end)?;
    output.content = format!("{}\n\n{}", output.content, thread_line(child));
    Ok(output)
}

fn ended(specialist: &str, end: AgentEnd) -> Result<ToolOutput, RunError> {
    match end.fatal {
        Some(fatal @ (RunError::Store(_) | RunError::Refused(_))) => return Err(fatal),
        // Out of turns: the parent hears why, and stops at its own next turn.
        Some(RunError::Budget(reason)) => {
            return Ok(ToolOutput::error(format!(
                "specialist `{specialist}` stopped: {reason}"
            )))
        }
        _ => {}
    }
    Ok(match end.status {
        AgentStatus::Done => ToolOutput::ok(end.answer.unwrap_or_default()),
        AgentStatus::Cancelled => {
            ToolOutput::error(format!("specialist `{specialist}` was cancelled"))
        }
        AgentStatus::Failed | AgentStatus::Running => ToolOutput::error(format!(
            "specialist `{specialist}` did not finish{}",
            end.answer
                .map(|a| format!("; its last words: {a}"))
                .unwrap_or_default()
        )),
    })
}

/// A compact view of a conversation's latest blocks, for the advisor.
pub(super) fn compact_transcript(messages: &[Message]) -> String {
    let blocks: Vec<String> = messages
        .iter()
        .flat_map(|m| m.content.iter())
        .map(|block| {
            let line = match block {
                ContentBlock::Text { text } => text.clone(),
                ContentBlock::ToolUse { name, input, .. } => format!("called {name} {input}"),
                ContentBlock::ToolResult {
                    content, is_error, ..
                } => {
                    format!(
                        "{}{content}",
                        if *is_error {
                            "tool error: "
                        } else {
                            "result: "
                        }
                    )
                }
            };
            let mut short: String = line.chars().take(ADVISOR_BLOCK_CHARS).collect();
            if short.len() < line.len() {
                short.push('…');
            }
            format!("- {}", short.replace('\n', " "))
        })
        .collect();
    let start = blocks.len().saturating_sub(ADVISOR_TRANSCRIPT_BLOCKS);
    blocks[start..].join("\n")
}
