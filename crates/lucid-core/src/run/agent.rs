//! The agent loop: ask the model, run the tools it calls, feed the results back, until
//! it answers without calling a tool, runs out of turns, or is cancelled.

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::{join_all, BoxFuture};
use tokio::sync::OwnedSemaphorePermit;

use super::conversation::Conversation;
use super::live_text::LiveText;
use super::resume::{StepCall, ThreadResume};
use super::toolkit::{Toolkit, Toolkits};
use super::{RunError, TeamRun};
use crate::event::{AgentId, AgentStatus, EventKind};
use crate::model::{ContentBlock, Message, ModelDelta, ModelRequest, Role, ToolChoice};
use crate::spec::AgentSpec;
use crate::tool::{ToolOutput, ToolRegistry, ToolSpec};
use crate::world::Episode;

/// Most characters of a rule departure's evidence that are recorded.
const MAX_EVIDENCE_CHARS: usize = 500;

/// One agent thread: who it is and what it works in.
pub(super) struct AgentThread {
    pub id: AgentId,
    pub spec: Arc<AgentSpec>,
    /// 0 for the lead, 1 for its specialists, …
    pub depth: u32,
    pub iteration: u32,
    pub cancel: super::CancelToken,
    pub episode: Arc<dyn Episode>,
    /// The attempt's toolkits, shared by every thread of the episode.
    pub toolkits: Arc<Toolkits>,
}

/// How an agent thread ended.
pub(super) struct AgentEnd {
    pub status: AgentStatus,
    pub answer: Option<String>,
    /// A failure that must end the whole run (the store failed, the lead's model is down).
    pub fatal: Option<RunError>,
}

/// A tool call as the model made it.
pub(super) struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: serde_json::Value,
    /// Set for the calls of an open step a resumed thread finishes first.
    pub resumed: Option<Resumed>,
}

/// A call of a resumed open step.
pub(super) enum Resumed {
    /// It returned before the interruption: its recorded result.
    Returned(ToolOutput),
    /// It is on record (its `ToolCalled`) and runs now; a delegation hands over to its
    /// specialist when that is on record.
    Pending(Option<ThreadResume>),
}

impl ToolCall {
    /// The call of an open step, as the record has it.
    pub fn from_step(call: StepCall) -> ToolCall {
        let resumed = match call.result {
            Some((content, is_error)) => Resumed::Returned(ToolOutput {
                content,
                is_error,
                fatal: false,
            }),
            None => Resumed::Pending(call.child),
        };
        ToolCall {
            id: call.id,
            name: call.tool,
            input: call.input,
            resumed: Some(resumed),
        }
    }
}

/// Where a thread continues from, when it was interrupted.
#[derive(Default)]
pub(super) struct Continuation {
    /// Turns it took towards its `max_turns` (the lead: in this iteration).
    pub turns_this_run: u32,
    /// Its open step, finished before its next model turn.
    pub step: Vec<StepCall>,
}

impl TeamRun {
    /// Runs an agent until it ends; records `AgentFinished`. `permit` is the parallelism
    /// slot a delegated agent holds while it works (the lead holds none); `from` is where
    /// an interrupted thread continues (its open step runs first).
    pub(super) async fn run_agent(
        self: &Arc<Self>,
        thread: &AgentThread,
        messages: &mut Vec<Message>,
        turns: &mut u32,
        mut permit: Option<OwnedSemaphorePermit>,
        from: Continuation,
    ) -> AgentEnd {
        let end = self
            .agent_loop(thread, messages, turns, &mut permit, from)
            .await;
        self.bus.emit(
            Some(thread.id),
            EventKind::AgentFinished {
                status: end.status,
                turns: *turns,
                answer: end.answer.clone(),
            },
        );
        end
    }

    /// An agent kind's tools in this episode: the episode's and the session's tools it
    /// names, its MCP tools, then the orchestration tools it may call.
    fn toolkit(&self, episode: &dyn Episode, agent: &AgentSpec) -> Toolkit {
        let mut registry: ToolRegistry = episode
            .tools()
            .into_iter()
            .chain(self.session_tools().iter().cloned())
            .filter(|tool| agent.tools.contains(&tool.spec().name))
            .collect();
        let mut specs = registry.specs(&agent.tools);
        for tool in self.mcp_tools_of(&agent.name) {
            specs.push(tool.spec());
            registry.insert(Arc::clone(tool));
        }
        // The orchestration tools come last, so the delegate tool can be swapped for one
        // that offers follow-ups once a delegation has returned.
        let own = specs.len();
        specs.extend(self.orchestration_specs(agent, false));
        Toolkit {
            registry,
            specs: specs.into(),
            own,
        }
    }

    /// The kind's declarations with the delegate tool offering follow-ups.
    fn specs_with_follow_ups(&self, agent: &AgentSpec, toolkit: &Toolkit) -> Arc<[ToolSpec]> {
        let mut specs = toolkit.specs[..toolkit.own].to_vec();
        specs.extend(self.orchestration_specs(agent, true));
        specs.into()
    }

    async fn agent_loop(
        self: &Arc<Self>,
        thread: &AgentThread,
        messages: &mut Vec<Message>,
        turns: &mut u32,
        permit: &mut Option<OwnedSemaphorePermit>,
        from: Continuation,
    ) -> AgentEnd {
        let agent = &thread.spec;
        // A thread without a model fails before anything is built for it.
        let provider = match self.providers.agent(&agent.name) {
            Some(provider) => provider,
            None => {
                let message = format!("no model for agent `{}`", agent.name);
                return self.fail(
                    thread,
                    message.clone(),
                    None,
                    Some(RunError::Provider(message)),
                );
            }
        };
        let mut conversation = Conversation::lend(messages);
        let toolkit = thread
            .toolkits
            .of(&agent.name, || self.toolkit(thread.episode.as_ref(), agent));
        let tools = &toolkit.registry;
        // Only an agent that delegates can follow up; the others never scan for it (a
        // fleet worker's turns stay as cheap as before).
        let delegates = !agent.delegates.is_empty();
        let mut follow_ups = delegates && Self::can_follow_up(&conversation);
        // What every turn's request carries, shared rather than copied.
        let mut shared_specs = if follow_ups {
            self.specs_with_follow_ups(agent, &toolkit)
        } else {
            Arc::clone(&toolkit.specs)
        };
        let system = self.prompts.get(&agent.name).cloned().unwrap_or_default();
        let profile = self.providers.profile(&agent.model);
        let mut last_text = None;
        let mut turns_this_run = from.turns_this_run;
        if !from.step.is_empty() {
            let calls = from.step.into_iter().map(ToolCall::from_step).collect();
            if let Some(end) = self
                .run_step(
                    thread,
                    tools,
                    conversation.messages_mut(),
                    permit,
                    calls,
                    None,
                )
                .await
            {
                return end;
            }
        }
        loop {
            if thread.cancel.is_cancelled() {
                return AgentEnd {
                    status: AgentStatus::Cancelled,
                    answer: last_text,
                    fatal: None,
                };
            }
            if turns_this_run >= agent.max_turns {
                return self.fail(
                    thread,
                    format!(
                        "agent `{}` used all {} of its turns without finishing",
                        agent.name, agent.max_turns
                    ),
                    last_text,
                    None,
                );
            }
            if !self.budget.take() {
                // The whole session is out of turns: each thread stops at its next
                // turn (every call made so far still gets its answer), and the lead's
                // stop ends the attempt, which is graded as it stands.
                let message = format!(
                    "the session's budget of {} model turns is used up (limits.max_total_turns)",
                    self.spec.limits.max_total_turns
                );
                return self.fail(
                    thread,
                    message.clone(),
                    last_text,
                    Some(RunError::Budget(message)),
                );
            }
            if delegates && !follow_ups && Self::can_follow_up(&conversation) {
                follow_ups = true;
                shared_specs = self.specs_with_follow_ups(agent, &toolkit);
            }
            let request = ModelRequest {
                system: system.clone(),
                messages: conversation.shared(),
                tools: Arc::clone(&shared_specs),
                tool_choice: ToolChoice::Auto,
                max_tokens: profile.map_or(4096, |p| p.max_tokens),
                temperature: profile.and_then(|p| p.temperature),
            };
            // Retries happen inside the provider; each is recorded as it starts. Nothing
            // else of a turn is recorded before the turn is whole, so a retried turn
            // never duplicates events; its text streams to live watchers only.
            let turn = *turns + 1;
            let mut live = LiveText::default();
            let watch = |delta: &ModelDelta| {
                // A tool call's name and arguments stream like text, on a line of their
                // own: `» survey_site {"site":"A"}`.
                let piece = match delta {
                    ModelDelta::Text(piece)
                    | ModelDelta::ToolCallArgs {
                        fragment: piece, ..
                    } => Cow::Borrowed(piece.as_str()),
                    ModelDelta::ToolCallStart { name, .. } => {
                        let line = if live.is_empty() { "" } else { "\n" };
                        Cow::Owned(format!("{line}» {name} "))
                    }
                    ModelDelta::Retry(notice) => {
                        live.restart();
                        self.bus.emit(Some(thread.id), retry_event(notice));
                        return;
                    }
                    ModelDelta::Usage(_) | ModelDelta::Stop(_) => return,
                };
                if let Some((at, text)) = live.push(&piece) {
                    let delta = EventKind::TextDelta { turn, at, text };
                    self.bus.emit(Some(thread.id), delta);
                }
            };
            let answer = crate::model::collect_watched(provider.stream(request), watch);
            let response = tokio::select! {
                response = answer => response,
                () = thread.cancel.cancelled() => continue,
            };
            let mut response = match response {
                Ok(response) => response,
                // A refused request (bad key, bad request) fails the same way for every
                // agent: the run ends.
                Err(err @ crate::model::ModelError::Refused(_)) => {
                    return self
                        .fail_with(thread, RunError::Refused(format!("model error: {err}")));
                }
                Err(err) => {
                    // The lead cannot go on without its model; a specialist's failure
                    // goes back to its parent as a tool error.
                    let message = format!("model error: {err}");
                    let fatal = (thread.depth == 0).then(|| RunError::Provider(message.clone()));
                    return self.fail(thread, message, last_text, fatal);
                }
            };
            // A network model's calls past its cap are dropped before anything of the
            // turn is recorded; the model hears why with the results.
            let cap = profile
                .filter(|p| !p.is_offline())
                .map(|p| p.max_tool_calls_per_turn);
            let dropped = super::bounds::cap_tool_calls(&mut response.content, cap);
            *turns += 1;
            turns_this_run += 1;
            self.bus.emit(
                Some(thread.id),
                EventKind::ModelTurn {
                    turn: *turns,
                    tokens_in: response.usage.input_tokens,
                    tokens_out: response.usage.output_tokens,
                    stop: response.stop.as_str().to_string(),
                    cost_usd: profile.and_then(|p| {
                        p.cost_usd(response.usage.input_tokens, response.usage.output_tokens)
                    }),
                    tool_calls: Some(response.tool_uses().count() as u32),
                },
            );
            if let Some(note) = &dropped {
                self.bus.emit(
                    Some(thread.id),
                    EventKind::Error {
                        message: note.clone(),
                    },
                );
            }
            let text = response.text();
            if !text.trim().is_empty() {
                self.bus
                    .emit(Some(thread.id), EventKind::Text { text: text.clone() });
                for (memory_id, evidence) in crate::world::rules::parse_overrides(&text) {
                    self.bus.emit(
                        Some(thread.id),
                        EventKind::RuleOverridden {
                            memory_id,
                            // One line, bounded: it is shown in lists and digests.
                            evidence: crate::event::one_line(&evidence, MAX_EVIDENCE_CHARS),
                        },
                    );
                }
                last_text = Some(text);
            }
            let calls: Vec<ToolCall> = response
                .tool_uses()
                .map(|(id, name, input)| ToolCall {
                    id: id.to_string(),
                    name: name.to_string(),
                    input: input.clone(),
                    resumed: None,
                })
                .collect();
            conversation.messages_mut().push(Message {
                role: Role::Assistant,
                content: response.content,
            });
            if calls.is_empty() {
                if let Err(err) = self.bus.checkpoint().await {
                    return self.fatal(RunError::Store(err.0));
                }
                return AgentEnd {
                    status: AgentStatus::Done,
                    answer: last_text,
                    fatal: None,
                };
            }
            if let Some(end) = self
                .run_step(
                    thread,
                    tools,
                    conversation.messages_mut(),
                    permit,
                    calls,
                    dropped,
                )
                .await
            {
                return end;
            }
        }
    }

    /// Runs one step's tool calls (in parallel) and appends their results to `messages`;
    /// the step is then made durable. `Some` when the thread must end.
    async fn run_step(
        self: &Arc<Self>,
        thread: &AgentThread,
        tools: &ToolRegistry,
        messages: &mut Vec<Message>,
        permit: &mut Option<OwnedSemaphorePermit>,
        mut calls: Vec<ToolCall>,
        // A note for the model on the calls past the per-turn cap that were dropped.
        dropped: Option<String>,
    ) -> Option<AgentEnd> {
        // While waiting on its own sub-agents an agent gives its slot back, so nested
        // delegation can never deadlock on the parallelism bound.
        let delegates = calls.iter().any(|c| c.name == crate::spec::DELEGATE_TOOL);
        if delegates {
            permit.take();
        }
        let transcript = if calls.iter().any(|c| c.name == crate::spec::ADVISOR_TOOL) {
            super::orchestration::compact_transcript(messages)
        } else {
            String::new()
        };
        // Every call of the turn is on record before any of them runs (a resumed step's
        // are already): the first checkpoint after the turn, by whichever thread, makes
        // the whole turn durable, so a kill cannot leave half of a fan-out on record.
        for call in calls.iter().filter(|call| call.resumed.is_none()) {
            self.bus.emit(
                Some(thread.id),
                EventKind::ToolCalled {
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    input: call.input.clone(),
                },
            );
        }
        // Each call's arguments go to the call that reads them, rather than a copy: a
        // lead's fan-out holds no second copy of every delegation while its workers run.
        let inputs: Vec<serde_json::Value> = calls
            .iter_mut()
            .map(|call| std::mem::take(&mut call.input))
            .collect();
        let results = join_all(
            calls
                .iter()
                .zip(inputs)
                .map(|(call, input)| match &call.resumed {
                    Some(Resumed::Returned(output)) => {
                        let output = output.clone();
                        Box::pin(async move { Ok(output) })
                    }
                    _ => self.call_tool(thread, tools, call, input, &transcript),
                }),
        )
        .await;
        if delegates && thread.depth > 0 {
            *permit = Arc::clone(&self.parallel).acquire_owned().await.ok();
        }
        let mut fatal = None;
        let content = calls
            .iter()
            .zip(results)
            .map(|(call, result)| {
                let output = match result {
                    Ok(output) => output,
                    Err(err) => {
                        let output = ToolOutput::error(err.to_string());
                        fatal.get_or_insert(err);
                        output
                    }
                };
                ContentBlock::ToolResult {
                    tool_use_id: call.id.clone(),
                    content: output.content,
                    is_error: output.is_error,
                }
            })
            .chain(dropped.map(|text| ContentBlock::Text { text }))
            .collect();
        messages.push(Message {
            role: Role::User,
            content,
        });
        if let Some(fatal) = fatal {
            return Some(self.fatal(fatal));
        }
        // A step is done: make it durable before the next one starts.
        if let Err(err) = self.bus.checkpoint().await {
            return Some(self.fatal(RunError::Store(err.0)));
        }
        None
    }

    /// Runs one tool call (already on record, see [`TeamRun::run_step`]), recording its
    /// result.
    ///
    /// Boxed as a `Send` future: delegation recurses into `run_agent` on another task,
    /// and the compiler needs the recursion's type spelled out.
    fn call_tool<'a>(
        self: &'a Arc<Self>,
        thread: &'a AgentThread,
        tools: &'a ToolRegistry,
        call: &'a ToolCall,
        input: serde_json::Value,
        transcript: &'a str,
    ) -> BoxFuture<'a, Result<ToolOutput, RunError>> {
        Box::pin(async move {
            let output = match call.name.as_str() {
                crate::spec::DELEGATE_TOOL => self.delegate(thread, call, input).await?,
                crate::spec::ADVISOR_TOOL => {
                    self.consult_advisor(thread, input, transcript).await?
                }
                name => match tools.get(name) {
                    Some(tool) => {
                        let future = tool.call(input);
                        let output = tokio::select! {
                            output = future => output,
                            () = thread.cancel.cancelled() => ToolOutput::error("cancelled"),
                        };
                        if output.fatal {
                            self.bus.emit(
                                Some(thread.id),
                                EventKind::Error {
                                    message: output.content.clone(),
                                },
                            );
                            return Err(RunError::Tool(output.content));
                        }
                        output
                    }
                    None => ToolOutput::error(format!(
                        "there is no tool `{name}` here; available: {}",
                        tools
                            .names()
                            .map(str::to_string)
                            .chain(self.orchestration_names(&thread.spec).map(str::to_string))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                },
            };
            // A call cut short by cancellation did not return: leaving its result out
            // of the record keeps the step incomplete, so a resumed run does it again.
            if thread.cancel.is_cancelled() {
                return Ok(output);
            }
            self.bus.emit(
                Some(thread.id),
                EventKind::ToolReturned {
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    output: output.content.clone(),
                    is_error: output.is_error,
                },
            );
            Ok(output)
        })
    }

    /// Ends a thread as failed, keeping what it last said for its parent.
    fn fail(
        &self,
        thread: &AgentThread,
        message: String,
        last_text: Option<String>,
        fatal: Option<RunError>,
    ) -> AgentEnd {
        self.bus.emit(Some(thread.id), EventKind::Error { message });
        AgentEnd {
            status: AgentStatus::Failed,
            answer: last_text,
            fatal,
        }
    }

    /// Records the error and ends the agent and the run with it.
    fn fail_with(&self, thread: &AgentThread, err: RunError) -> AgentEnd {
        self.bus.emit(
            Some(thread.id),
            EventKind::Error {
                message: err.to_string(),
            },
        );
        self.fatal(err)
    }

    fn fatal(&self, err: RunError) -> AgentEnd {
        AgentEnd {
            status: AgentStatus::Failed,
            answer: None,
            fatal: Some(err),
        }
    }
}

/// The event that shows a provider's retry to the user.
pub(super) fn retry_event(notice: &crate::model::RetryNotice) -> EventKind {
    EventKind::Retry {
        attempt: notice.attempt,
        reason: notice.reason.clone(),
        delay_ms: notice.delay_ms,
    }
}
