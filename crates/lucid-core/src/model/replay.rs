//! The `replay` profile: answers each agent's turns from a recorded session.
//!
//! [`Recording::from_events`] folds a session's event stream into what its models said:
//! per agent thread its name, its first user message (the lead's is the task, a
//! specialist's the subtask it was delegated) and one [`RecordedAnswer`] per `ModelTurn`
//! (the runner records the turn first, then the thread's `Text` and `ToolCalled` events
//! of that answer, so an answer is everything of the thread from one `ModelTurn` to the
//! next); the verdicts of each graded iteration; and the advisor's answers.
//!
//! [`ReplayProvider`] answers live requests from a recording, in one seat:
//! - an agent's request is matched to a recorded thread of the same agent name whose first
//!   message is the request's, and answered with that thread's answer number *n*, *n*
//!   being the assistant messages already in the request. Threads of the same name and
//!   first message (a specialist given the same subtask again) are taken in recorded
//!   order. A replayed tool call's id ends in `_r<thread>`, so later turns find their
//!   thread again even when specialists of one name run in parallel;
//! - the grader answers its forced tool with the recorded verdicts of the iteration it is
//!   on (it counts the fresh requests it has been sent), leaving out the criteria the
//!   recorded grader could not judge;
//! - the advisor answers a question with the recorded answer to the same question.
//!
//! Whatever the recording does not hold (the team, its task or a subtask changed) is
//! answered with a text saying what was not found, which ends the thread rather than
//! hanging it. This module reads the events it is given; it does not open the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{json, Value};

use super::collect::to_deltas;
use super::scripted::estimate_usage;
use super::{
    ContentBlock, Message, ModelDelta, ModelError, ModelRequest, ModelResponse, Provider, Role,
    StopReason, ToolChoice, Usage,
};
use crate::event::{AgentId, CriterionVerdict, Event, EventKind};

/// Ends a replayed tool call's id, followed by the recorded thread's agent number.
const THREAD_TAG: &str = "_r";
/// How much of an unmatched first message a not-found answer quotes.
const QUOTE_CHARS: usize = 120;

/// One tool call of a recorded answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    pub id: String,
    pub tool: String,
    pub input: Value,
}

/// What a model answered in one recorded turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordedAnswer {
    /// The answer's text (empty when it only called tools).
    pub text: String,
    pub calls: Vec<RecordedCall>,
}

/// Why a live agent request has no recorded thread to answer from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThreadNotRecorded {
    /// No thread of the agent began with the request's first message (quoted, cut to
    /// 120 characters).
    #[error("no recorded thread of agent `{agent}` begins with the message \"{quoted}\"")]
    NoOpening { agent: String, quoted: String },
    /// The agent began fewer threads with this message than the live run has.
    #[error("agent `{agent}` began {recorded} thread(s) with this message in the recording, and this is thread {wanted}")]
    TooFewThreads {
        agent: String,
        recorded: usize,
        wanted: usize,
    },
}

/// One recorded agent thread and every answer its model gave, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedThread {
    pub agent: AgentId,
    pub name: String,
    /// The thread's first user message: the task for the lead, the subtask for a
    /// specialist.
    pub opening: String,
    pub lead: bool,
    pub answers: Vec<RecordedAnswer>,
}

impl RecordedThread {
    /// Whether a request whose first message is `opening` continues this thread. The
    /// lead's first message is the task, followed by the environment's briefing.
    fn opens_with(&self, opening: &str) -> bool {
        opening == self.opening
            || (self.lead
                && opening
                    .strip_prefix(self.opening.as_str())
                    .is_some_and(|rest| rest.starts_with("\n\n## Briefing\n")))
    }
}

/// What the models of a recorded session said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recording {
    /// The recorded session's id, for messages.
    pub session: String,
    pub threads: Vec<RecordedThread>,
    /// The verdicts of each graded iteration, in the order they were recorded.
    pub verdicts: BTreeMap<u32, Vec<CriterionVerdict>>,
    /// Each advisor consultation: the question and the answer.
    pub advice: Vec<(String, String)>,
}

impl Recording {
    /// Folds a session's events (in sequence order) into its models' answers.
    pub fn from_events(events: &[Event]) -> Self {
        let mut recording = Recording::default();
        let mut task = String::new();
        let mut subtasks: HashMap<AgentId, String> = HashMap::new();
        let mut threads: HashMap<AgentId, usize> = HashMap::new();
        for event in events {
            if recording.session.is_empty() {
                recording.session = event.session.to_string();
            }
            let thread = event.agent.and_then(|id| threads.get(&id).copied());
            match &event.kind {
                EventKind::SessionStarted { task: t, .. } => task = t.clone(),
                EventKind::Delegated { child, subtask, .. } => {
                    subtasks.insert(*child, subtask.clone());
                }
                EventKind::AgentSpawned { name, parent, .. } => {
                    let Some(id) = event.agent.filter(|id| !threads.contains_key(id)) else {
                        continue;
                    };
                    let opening = match parent {
                        None => task.clone(),
                        Some(_) => subtasks.get(&id).cloned().unwrap_or_default(),
                    };
                    threads.insert(id, recording.threads.len());
                    recording.threads.push(RecordedThread {
                        agent: id,
                        name: name.clone(),
                        opening,
                        lead: parent.is_none(),
                        answers: Vec::new(),
                    });
                }
                EventKind::ModelTurn { .. } => {
                    if let Some(t) = thread.and_then(|i| recording.threads.get_mut(i)) {
                        t.answers.push(RecordedAnswer::default());
                    }
                }
                EventKind::Text { text } => {
                    if let Some(answer) = recording.last_answer(thread) {
                        if !answer.text.is_empty() {
                            answer.text.push('\n');
                        }
                        answer.text.push_str(text);
                    }
                }
                EventKind::ToolCalled {
                    call_id,
                    tool,
                    input,
                } => {
                    if let Some(answer) = recording.last_answer(thread) {
                        answer.calls.push(RecordedCall {
                            id: call_id.clone(),
                            tool: tool.clone(),
                            input: input.clone(),
                        });
                    }
                }
                EventKind::AdvisorConsulted {
                    question, answer, ..
                } => recording.advice.push((question.clone(), answer.clone())),
                EventKind::CriterionJudged {
                    iteration,
                    criterion,
                    passed,
                    reason,
                    fix,
                    judged,
                } => recording
                    .verdicts
                    .entry(*iteration)
                    .or_default()
                    .push(CriterionVerdict {
                        id: criterion.clone(),
                        passed: *passed,
                        reason: reason.clone(),
                        fix: fix.clone(),
                        judged: *judged,
                    }),
                _ => {}
            }
        }
        recording
    }

    /// The answer a thread's model is giving: the one its latest `ModelTurn` opened.
    fn last_answer(&mut self, thread: Option<usize>) -> Option<&mut RecordedAnswer> {
        thread
            .and_then(|i| self.threads.get_mut(i))
            .and_then(|t| t.answers.last_mut())
    }
}

/// Whom a replay provider answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seat {
    /// The agent of this name (every thread of it).
    Agent(String),
    Advisor,
    Grader,
}

/// What a provider remembers between requests.
#[derive(Default)]
struct SeatState {
    /// How many threads each first message has started so far.
    claims: HashMap<String, usize>,
    /// How many fresh grading requests arrived (the iteration being graded).
    gradings: u32,
    /// Which recorded advice was given already.
    advised: Vec<usize>,
}

/// A [`Provider`] that answers from a [`Recording`].
pub struct ReplayProvider {
    recording: Arc<Recording>,
    seat: Seat,
    state: Mutex<SeatState>,
}

impl ReplayProvider {
    pub fn new(recording: Arc<Recording>, seat: Seat) -> Self {
        ReplayProvider {
            recording,
            seat,
            state: Mutex::new(SeatState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, SeatState> {
        // Every update is one counter or push; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer to one request.
    pub fn answer(&self, request: &ModelRequest) -> ModelResponse {
        match &self.seat {
            Seat::Agent(name) => self.agent_answer(name, request),
            Seat::Grader => self.verdicts(request),
            Seat::Advisor => self.advice(request),
        }
    }

    fn agent_answer(&self, name: &str, request: &ModelRequest) -> ModelResponse {
        let turn = request
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let thread = match self.tagged_thread(name, request) {
            Some(thread) => thread,
            None => match self.thread_by_opening(name, request, turn) {
                Ok(thread) => thread,
                Err(missing) => return self.not_found(&missing.to_string()),
            },
        };
        match thread.answers.get(turn) {
            Some(answer) => replayed(thread.agent, answer),
            None => self.not_found(&format!(
                "agent `{name}`'s recorded thread {} has {} turn(s), and this is turn {}",
                thread.agent,
                thread.answers.len(),
                turn + 1
            )),
        }
    }

    /// The recorded thread an earlier replayed tool call of this conversation names.
    fn tagged_thread(&self, name: &str, request: &ModelRequest) -> Option<&RecordedThread> {
        let agent = request
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .flat_map(|m| &m.content)
            .find_map(|block| match block {
                ContentBlock::ToolUse { id, .. } => id
                    .rsplit_once(THREAD_TAG)
                    .and_then(|(_, n)| n.parse::<u32>().ok()),
                _ => None,
            })?;
        self.recording
            .threads
            .iter()
            .find(|t| t.agent.0 == agent && t.name == name)
    }

    /// The recorded thread of this agent that began with the request's first message:
    /// the next unclaimed one for a fresh context, else the first whose answers so far
    /// are the ones in the request.
    fn thread_by_opening(
        &self,
        name: &str,
        request: &ModelRequest,
        turn: usize,
    ) -> Result<&RecordedThread, ThreadNotRecorded> {
        let opening = request
            .messages
            .iter()
            .find(|m| m.role == Role::User)
            .map(Message::text)
            .unwrap_or_default();
        let candidates: Vec<&RecordedThread> = self
            .recording
            .threads
            .iter()
            .filter(|t| t.name == name && t.opens_with(&opening))
            .collect();
        let missing = || {
            let mut quoted: String = opening.chars().take(QUOTE_CHARS).collect();
            if quoted.len() < opening.len() {
                quoted.push('…');
            }
            ThreadNotRecorded::NoOpening {
                agent: name.to_string(),
                quoted,
            }
        };
        if turn == 0 {
            let mut state = self.state();
            let claimed = state.claims.entry(opening.clone()).or_insert(0);
            let index = *claimed;
            *claimed += 1;
            return match candidates.get(index) {
                Some(thread) => Ok(thread),
                None if candidates.is_empty() => Err(missing()),
                None => Err(ThreadNotRecorded::TooFewThreads {
                    agent: name.to_string(),
                    recorded: candidates.len(),
                    wanted: index + 1,
                }),
            };
        }
        let said: Vec<String> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .map(Message::text)
            .collect();
        candidates
            .into_iter()
            .find(|t| {
                t.answers.len() >= said.len()
                    && t.answers.iter().zip(&said).all(|(a, s)| &a.text == s)
            })
            .ok_or_else(missing)
    }

    /// The grader's forced tool, called with the recorded verdicts of this iteration.
    fn verdicts(&self, request: &ModelRequest) -> ModelResponse {
        let iteration = {
            let mut state = self.state();
            if request.messages.len() <= 1 {
                state.gradings += 1;
            }
            state.gradings.max(1)
        };
        let tool = match &request.tool_choice {
            ToolChoice::Tool { name } => request.tools.iter().find(|t| &t.name == name),
            ToolChoice::Auto | ToolChoice::Any => request.tools.first(),
        };
        let Some(tool) = tool else {
            return self.not_found("the grader was offered no tool to answer with");
        };
        let Some(recorded) = self.recording.verdicts.get(&iteration) else {
            return self.not_found(&format!(
                "no verdicts were recorded for iteration {iteration} (recorded iterations: {})",
                list(self.recording.verdicts.keys())
            ));
        };
        // The criteria to judge, as the verdict schema lists them; else every recorded one.
        let wanted: Vec<String> = tool
            .input_schema
            .pointer("/properties/verdicts/items/properties/criterion/enum")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_else(|| recorded.iter().map(|v| v.id.clone()).collect());
        // A criterion the recorded grader could not judge is left out, so the replayed
        // grader cannot judge it either.
        let verdicts: Vec<Value> = wanted
            .iter()
            .filter(|id| !recorded.iter().any(|v| &v.id == *id && !v.judged))
            .map(|id| match recorded.iter().find(|v| &v.id == id) {
                Some(v) => json!({"criterion": id, "passed": v.passed, "reason": v.reason, "fix": v.fix}),
                None => json!({
                    "criterion": id,
                    "passed": false,
                    "reason": format!("replay of session {}: no verdict on `{id}` was recorded in iteration {iteration}", self.recording.session),
                    "fix": "record a session whose rubric has this criterion",
                }),
            })
            .collect();
        ModelResponse {
            content: vec![ContentBlock::ToolUse {
                id: format!("replay_verdicts_{iteration}"),
                name: tool.name.clone(),
                input: json!({ "verdicts": verdicts }),
            }],
            stop: StopReason::ToolUse,
            usage: Usage::default(),
        }
    }

    /// The recorded answer to the same question (each recorded answer is given once
    /// while others remain).
    fn advice(&self, request: &ModelRequest) -> ModelResponse {
        let asked = request
            .messages
            .first()
            .map(Message::text)
            .unwrap_or_default();
        let matches = |question: &str| {
            asked == question
                || asked
                    .strip_prefix("## Question\n")
                    .and_then(|rest| rest.strip_prefix(question))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('\n'))
        };
        let mut state = self.state();
        let found: Vec<usize> = (0..self.recording.advice.len())
            .filter(|&i| matches(&self.recording.advice[i].0))
            .collect();
        let pick = found
            .iter()
            .copied()
            .find(|i| !state.advised.contains(i))
            .or_else(|| found.first().copied());
        match pick {
            Some(i) => {
                state.advised.push(i);
                text_answer(self.recording.advice[i].1.clone())
            }
            None => {
                drop(state);
                self.not_found("no advisor answer was recorded for this question")
            }
        }
    }

    /// A text answer saying what the recording does not hold; it ends the thread.
    fn not_found(&self, what: &str) -> ModelResponse {
        text_answer(format!(
            "Replay of session {}: {what}. The team, its task or a subtask changed since the recording, so this stops here.",
            self.recording.session
        ))
    }
}

impl Provider for ReplayProvider {
    fn label(&self) -> String {
        match &self.seat {
            Seat::Agent(name) => format!("replay:{name}"),
            Seat::Advisor => "replay:advisor".into(),
            Seat::Grader => "replay:grader".into(),
        }
    }

    fn stream(&self, request: ModelRequest) -> BoxStream<'static, Result<ModelDelta, ModelError>> {
        let mut response = self.answer(&request);
        response.usage = estimate_usage(&request, &response);
        stream::iter(to_deltas(&response, 48).into_iter().map(Ok)).boxed()
    }
}

/// A recorded answer as the model gives it again, its calls tagged with the thread.
fn replayed(agent: AgentId, answer: &RecordedAnswer) -> ModelResponse {
    let mut content = Vec::new();
    if !answer.text.is_empty() {
        content.push(ContentBlock::Text {
            text: answer.text.clone(),
        });
    }
    for call in &answer.calls {
        content.push(ContentBlock::ToolUse {
            id: format!("{}{THREAD_TAG}{}", call.id, agent.0),
            name: call.tool.clone(),
            input: call.input.clone(),
        });
    }
    ModelResponse {
        content,
        stop: if answer.calls.is_empty() {
            StopReason::EndTurn
        } else {
            StopReason::ToolUse
        },
        usage: Usage::default(),
    }
}

fn text_answer(text: String) -> ModelResponse {
    ModelResponse {
        content: vec![ContentBlock::Text { text }],
        stop: StopReason::EndTurn,
        usage: Usage::default(),
    }
}

fn list(items: impl Iterator<Item = impl ToString>) -> String {
    let items: Vec<String> = items.map(|i| i.to_string()).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
