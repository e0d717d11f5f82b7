//! A recorded session as OpenTelemetry spans, following the GenAI semantic conventions:
//! one root span for the session, an `invoke_agent` span per agent thread (under the
//! agent that delegated to it), a `chat` span per model turn, an `execute_tool` span per
//! tool call and a `grade iteration N` span per grading pass.
//!
//! A pure fold of the stored events: times are the events' recorded times, ids are derived
//! from the session id (the trace id is the session id's 128 bits; a span id comes from the
//! sequence number of the event that opened it), so the same session always makes the same
//! trace. A model turn is recorded once it is whole, so its span starts at the thread's
//! previous step (its spawn, its last tool result, a revision or a resume) and ends at the
//! turn. Nothing of the model's text or the tools' inputs and outputs is carried; only
//! names, counts and short one-line summaries (errors, purposes) bounded in length. This
//! module does not send anything (see `send`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceState;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::models::Models;
use lucid_core::event::{one_line, AgentId, AgentStatus, Event, EventKind, Projection, Standing};

/// Longest summary (an error, a purpose) an attribute carries, in characters.
const SUMMARY_CHARS: usize = 200;
/// Longest name (a team, an agent, a tool, a model) an attribute carries, in characters.
const NAME_CHARS: usize = 80;
/// Most failed criteria a grading span lists by id.
const MAX_LISTED: usize = 32;

/// A span while the fold builds it.
struct Draft {
    id: SpanId,
    parent: SpanId,
    name: String,
    kind: SpanKind,
    start_ms: u64,
    end_ms: Option<u64>,
    attributes: Vec<KeyValue>,
    events: Vec<opentelemetry::trace::Event>,
    status: Status,
}

impl Draft {
    fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        self.attributes.push(KeyValue::new(key, value.into()));
    }
}

/// An agent thread's span and where the thread stands.
struct Thread {
    span: usize,
    name: String,
    profile: String,
    /// The time of its latest step: where its next model turn began.
    ready_ms: u64,
    last_ms: u64,
    /// Retries of its model call under way.
    retries: u32,
}

/// The fold's state.
struct Fold<'a> {
    session: u128,
    models: &'a Models,
    drafts: Vec<Draft>,
    threads: BTreeMap<AgentId, Thread>,
    /// Open tool calls by thread and call id.
    tools: HashMap<(Option<AgentId>, String), usize>,
    /// Open grading passes by iteration.
    gradings: BTreeMap<u32, usize>,
    /// The verdicts of each open grading pass, by its span.
    verdicts: HashMap<usize, Verdicts>,
    /// A revision or a resume: no thread's model turn began before it.
    floor_ms: u64,
    /// When the event before the one in hand happened (a grader's or advisor's call
    /// began no earlier).
    previous_ms: u64,
}

/// What a grading pass judged so far.
#[derive(Default)]
struct Verdicts {
    total: u64,
    passed: u64,
    unjudged: u64,
    /// The ids of the criteria that failed (bounded: a rubric's ids).
    failed: Vec<String>,
}

/// The session's spans, the root first. Empty when there are no events.
pub fn spans(events: &[Event], models: &Models) -> Vec<SpanData> {
    let Some(first) = events.first() else {
        return Vec::new();
    };
    let projection = Projection::of(events);
    let start_ms = first.at_ms;
    let end_ms = projection.last_event_ms.max(start_ms);
    let mut fold = Fold {
        session: first.session.0,
        models,
        drafts: Vec::new(),
        threads: BTreeMap::new(),
        tools: HashMap::new(),
        gradings: BTreeMap::new(),
        verdicts: HashMap::new(),
        floor_ms: start_ms,
        previous_ms: start_ms,
    };
    let root = fold.open(
        u64::MAX,
        SpanId::INVALID,
        format!("lucid session {}", one_line(&projection.team, NAME_CHARS)),
        SpanKind::Internal,
        start_ms,
    );
    fold.drafts[root].end_ms = Some(end_ms);
    describe_session(&mut fold.drafts[root], &projection, first);
    for event in events {
        fold.apply(event);
    }
    let trace = TraceId::from_bytes(first.session.to_bytes());
    let scope = InstrumentationScope::builder("lucid")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    // Threads end at their last step, or at the session's end with a call still out (a
    // killed run); so does anything else left open.
    for (id, thread) in &fold.threads {
        let waiting = fold.tools.keys().any(|(agent, _)| *agent == Some(*id));
        fold.drafts[thread.span].end_ms = Some(if waiting { end_ms } else { thread.last_ms });
    }
    fold.drafts
        .into_iter()
        .map(|draft| {
            let end = draft.end_ms.unwrap_or(end_ms).max(draft.start_ms);
            let mut events = SpanEvents::default();
            events.events = draft.events;
            SpanData {
                span_context: SpanContext::new(
                    trace,
                    draft.id,
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                ),
                parent_span_id: draft.parent,
                parent_span_is_remote: false,
                span_kind: draft.kind,
                name: Cow::Owned(draft.name),
                start_time: time(draft.start_ms),
                end_time: time(end),
                attributes: draft.attributes,
                dropped_attributes_count: 0,
                events,
                links: SpanLinks::default(),
                status: draft.status,
                instrumentation_scope: scope.clone(),
            }
        })
        .collect()
}

/// The root span's attributes and status, from the whole session.
fn describe_session(root: &mut Draft, projection: &Projection, first: &Event) {
    root.set("lucid.session.id", first.session.to_string());
    root.set("gen_ai.conversation.id", first.session.to_string());
    root.set("lucid.team", one_line(&projection.team, NAME_CHARS));
    root.set("lucid.spec", one_line(&projection.spec_path, SUMMARY_CHARS));
    root.set(
        "lucid.environment",
        one_line(&projection.environment, NAME_CHARS),
    );
    root.set("lucid.seed", int(projection.seed));
    root.set("lucid.world", int(projection.world));
    root.set("lucid.outcome.passed", projection.passed());
    let iterations = projection
        .finish
        .as_ref()
        .map_or(projection.iteration, |f| f.iterations);
    root.set("lucid.iterations", i64::from(iterations));
    root.set("lucid.max_iterations", i64::from(projection.max_iterations));
    let standing = projection.standing(false);
    root.set("lucid.session.status", standing_str(standing));
    let (tokens_in, tokens_out) = projection.tokens();
    // Totals under lucid's names: the chat spans carry gen_ai.usage.*, and a backend that
    // adds those up must not count them twice.
    root.set("lucid.usage.input_tokens", int(tokens_in));
    root.set("lucid.usage.output_tokens", int(tokens_out));
    if let Some(cost) = projection.cost_usd {
        root.set("lucid.cost_usd", cost);
    }
    if projection.resumed > 0 {
        root.set("lucid.resumed", i64::from(projection.resumed));
    }
    if let Some(error) = projection.error().filter(|_| standing == Standing::Error) {
        root.status = Status::error(one_line(error, SUMMARY_CHARS));
    }
}

impl Fold<'_> {
    /// Opens a span; `key` (the opening event's sequence number) makes its id.
    fn open(
        &mut self,
        key: u64,
        parent: SpanId,
        name: String,
        kind: SpanKind,
        start_ms: u64,
    ) -> usize {
        self.drafts.push(Draft {
            id: span_id(self.session, key),
            parent,
            name,
            kind,
            start_ms,
            end_ms: None,
            attributes: Vec::new(),
            events: Vec::new(),
            status: Status::Unset,
        });
        self.drafts.len() - 1
    }

    fn root_id(&self) -> SpanId {
        self.drafts[0].id
    }

    /// The span a thread's work goes under: its own, or the session's for a thread that
    /// was never spawned on record.
    fn thread_span(&self, agent: Option<AgentId>) -> SpanId {
        agent
            .and_then(|id| self.threads.get(&id))
            .map_or(self.root_id(), |t| self.drafts[t.span].id)
    }

    fn apply(&mut self, event: &Event) {
        let at = event.at_ms;
        let agent = event.agent;
        match &event.kind {
            EventKind::AgentSpawned { .. } => {
                if let Some(id) = agent.filter(|id| !self.threads.contains_key(id)) {
                    self.spawn(event, id);
                }
            }
            EventKind::ModelTurn {
                turn,
                tokens_in,
                tokens_out,
                stop,
                cost_usd,
                tool_calls,
            } => self.model_turn(
                event,
                *turn,
                (*tokens_in, *tokens_out),
                stop,
                *cost_usd,
                *tool_calls,
            ),
            EventKind::ToolCalled { call_id, tool, .. } => {
                let parent = self.thread_span(agent);
                let tool = one_line(tool, NAME_CHARS);
                let span = self.open(
                    event.seq,
                    parent,
                    format!("execute_tool {tool}"),
                    SpanKind::Internal,
                    at,
                );
                let draft = &mut self.drafts[span];
                draft.set("gen_ai.operation.name", "execute_tool");
                draft.set("gen_ai.tool.name", tool);
                draft.set("gen_ai.tool.call.id", one_line(call_id, NAME_CHARS));
                draft.set("gen_ai.conversation.id", session_text(event));
                self.tools.insert((agent, call_id.clone()), span);
            }
            EventKind::ToolReturned {
                call_id,
                output,
                is_error,
                ..
            } => {
                if let Some(span) = self.tools.remove(&(agent, call_id.clone())) {
                    let draft = &mut self.drafts[span];
                    draft.end_ms = Some(at);
                    if *is_error {
                        draft.set("error.type", "tool_error");
                        draft.status = Status::error(one_line(output, SUMMARY_CHARS));
                    }
                }
            }
            EventKind::Delegated {
                call_id,
                child,
                specialist,
                ..
            } => {
                if let Some(&span) = self.tools.get(&(agent, call_id.clone())) {
                    let draft = &mut self.drafts[span];
                    draft.set("lucid.delegate.agent", one_line(specialist, NAME_CHARS));
                    draft.set("lucid.delegate.agent_id", child.0.to_string());
                }
            }
            EventKind::AgentFinished { status, turns, .. } => {
                if let Some(thread) = agent.and_then(|id| self.threads.get(&id)) {
                    let draft = &mut self.drafts[thread.span];
                    // The lead finishes once per iteration: the last finish stands.
                    draft.attributes.retain(|kv| {
                        !matches!(kv.key.as_str(), "lucid.agent.status" | "lucid.agent.turns")
                    });
                    draft.set("lucid.agent.status", status.as_str());
                    draft.set("lucid.agent.turns", i64::from(*turns));
                    draft.status = match status {
                        AgentStatus::Failed => Status::error("the agent failed"),
                        _ => Status::Unset,
                    };
                }
            }
            EventKind::Error { message } => {
                let span = agent
                    .and_then(|id| self.threads.get(&id))
                    .map_or(0, |t| t.span);
                self.drafts[span]
                    .events
                    .push(opentelemetry::trace::Event::new(
                        "lucid.error",
                        time(at),
                        vec![KeyValue::new("message", one_line(message, SUMMARY_CHARS))],
                        0,
                    ));
            }
            EventKind::GradingStarted { iteration } => {
                let root = self.root_id();
                let span = self.open(
                    event.seq,
                    root,
                    format!("grade iteration {iteration}"),
                    SpanKind::Internal,
                    at,
                );
                self.drafts[span].set("lucid.iteration", i64::from(*iteration));
                // A pass cut off by a kill is graded again from the start.
                if let Some(cut) = self.gradings.insert(*iteration, span) {
                    self.verdicts.remove(&cut);
                }
            }
            EventKind::CriterionJudged {
                iteration,
                criterion,
                passed,
                judged,
                ..
            } => {
                if let Some(&span) = self.gradings.get(iteration) {
                    let verdicts = self.verdicts.entry(span).or_default();
                    verdicts.total += 1;
                    if *passed {
                        verdicts.passed += 1;
                    } else if verdicts.failed.len() < MAX_LISTED {
                        verdicts.failed.push(one_line(criterion, NAME_CHARS));
                    }
                    if !judged {
                        verdicts.unjudged += 1;
                    }
                }
            }
            EventKind::GradingFinished {
                iteration, passed, ..
            } => self.graded(event, *iteration, *passed),
            EventKind::ModelUsage {
                role,
                profile,
                tokens_in,
                tokens_out,
                cost_usd,
            } => self.model_usage(event, role, profile, (*tokens_in, *tokens_out), *cost_usd),
            EventKind::RevisionStarted { .. } | EventKind::SessionResumed { .. } => {
                self.floor_ms = at;
            }
            _ => {}
        }
        self.previous_ms = self.previous_ms.max(at);
        if let Some(thread) = agent.and_then(|id| self.threads.get_mut(&id)) {
            thread.last_ms = thread.last_ms.max(at);
            // A retry is part of the model call under way, not a step of its own.
            if matches!(event.kind, EventKind::Retry { .. }) {
                thread.retries += 1;
            } else {
                thread.ready_ms = at;
            }
        }
    }

    /// Opens the span of a thread `event` (its `AgentSpawned`) started.
    fn spawn(&mut self, event: &Event, id: AgentId) {
        let EventKind::AgentSpawned {
            name,
            role,
            parent,
            model: profile,
            purpose,
            iteration,
        } = &event.kind
        else {
            return;
        };
        let parent = *parent;
        let iteration = *iteration;
        let parent_span = self.thread_span(parent);
        let name = one_line(name, NAME_CHARS);
        let span = self.open(
            event.seq,
            parent_span,
            format!("invoke_agent {name}"),
            SpanKind::Internal,
            event.at_ms,
        );
        let (provider, model) = self.models.get(profile);
        let draft = &mut self.drafts[span];
        draft.set("gen_ai.operation.name", "invoke_agent");
        draft.set("gen_ai.agent.name", name.clone());
        draft.set("gen_ai.agent.id", id.0.to_string());
        draft.set("gen_ai.conversation.id", session_text(event));
        draft.set("gen_ai.request.model", one_line(&model, NAME_CHARS));
        if let Some(provider) = provider {
            draft.set("gen_ai.provider.name", provider);
        }
        draft.set("lucid.agent.role", one_line(role, NAME_CHARS));
        draft.set("lucid.iteration", i64::from(iteration));
        if let Some(purpose) = purpose {
            draft.set("lucid.agent.purpose", one_line(purpose, SUMMARY_CHARS));
        }
        self.threads.insert(
            id,
            Thread {
                span,
                name,
                profile: profile.to_string(),
                ready_ms: event.at_ms,
                last_ms: event.at_ms,
                retries: 0,
            },
        );
    }

    fn model_turn(
        &mut self,
        event: &Event,
        turn: u32,
        (tokens_in, tokens_out): (u64, u64),
        stop: &str,
        cost_usd: Option<f64>,
        tool_calls: Option<u32>,
    ) {
        let parent = self.thread_span(event.agent);
        let thread = event.agent.and_then(|id| self.threads.get_mut(&id));
        let (start, profile, agent_name, retries) = match thread {
            Some(thread) => {
                let retries = std::mem::take(&mut thread.retries);
                let start = thread.ready_ms.max(self.floor_ms).min(event.at_ms);
                (
                    start,
                    thread.profile.clone(),
                    Some(thread.name.clone()),
                    retries,
                )
            }
            None => (event.at_ms, String::new(), None, 0),
        };
        let span = self.chat(
            event,
            parent,
            &profile,
            start,
            (tokens_in, tokens_out),
            cost_usd,
        );
        let draft = &mut self.drafts[span];
        draft.set(
            "gen_ai.response.finish_reasons",
            Value::Array(vec![opentelemetry::StringValue::from(one_line(stop, NAME_CHARS))].into()),
        );
        if let Some(name) = agent_name {
            draft.set("gen_ai.agent.name", name);
        }
        draft.set("lucid.turn", i64::from(turn));
        if let Some(calls) = tool_calls {
            draft.set("lucid.tool_calls", i64::from(calls));
        }
        if retries > 0 {
            draft.set("lucid.retries", i64::from(retries));
        }
    }

    /// A model call outside the agents' turns: the grader's (under the grading pass in
    /// hand), an advisor's (under the asking thread), the dreamer's.
    fn model_usage(
        &mut self,
        event: &Event,
        role: &str,
        profile: &str,
        (tokens_in, tokens_out): (u64, u64),
        cost_usd: Option<f64>,
    ) {
        let grading = (role == "grader")
            .then(|| self.gradings.values().next_back().copied())
            .flatten();
        let parent = match grading {
            Some(span) => self.drafts[span].id,
            None => self.thread_span(event.agent),
        };
        let start = self.previous_ms.max(self.floor_ms).min(event.at_ms);
        let span = self.chat(
            event,
            parent,
            profile,
            start,
            (tokens_in, tokens_out),
            cost_usd,
        );
        self.drafts[span].set("lucid.role", one_line(role, NAME_CHARS));
    }

    /// Opens and closes the span of one model call `event` recorded, from `start` to the
    /// event, under `parent`: the GenAI `chat` attributes every call has.
    fn chat(
        &mut self,
        event: &Event,
        parent: SpanId,
        profile: &str,
        start: u64,
        (tokens_in, tokens_out): (u64, u64),
        cost_usd: Option<f64>,
    ) -> usize {
        let (provider, model) = self.models.get(profile);
        let model = one_line(&model, NAME_CHARS);
        let span = self.open(
            event.seq,
            parent,
            format!("chat {model}"),
            SpanKind::Client,
            start,
        );
        let draft = &mut self.drafts[span];
        draft.end_ms = Some(event.at_ms);
        draft.set("gen_ai.operation.name", "chat");
        draft.set("gen_ai.request.model", model);
        if let Some(provider) = provider {
            draft.set("gen_ai.provider.name", provider);
        }
        draft.set("gen_ai.usage.input_tokens", int(tokens_in));
        draft.set("gen_ai.usage.output_tokens", int(tokens_out));
        draft.set("gen_ai.conversation.id", session_text(event));
        if let Some(cost) = cost_usd {
            draft.set("lucid.cost_usd", cost);
        }
        span
    }

    fn graded(&mut self, event: &Event, iteration: u32, passed: bool) {
        let Some(span) = self.gradings.remove(&iteration) else {
            return;
        };
        let verdicts = self.verdicts.remove(&span).unwrap_or_default();
        let draft = &mut self.drafts[span];
        draft.end_ms = Some(event.at_ms);
        draft.set("lucid.grading.passed", passed);
        draft.set("lucid.grading.criteria", int(verdicts.total));
        draft.set("lucid.grading.criteria_passed", int(verdicts.passed));
        draft.set(
            "lucid.grading.criteria_failed",
            int(verdicts.total - verdicts.passed),
        );
        if verdicts.unjudged > 0 {
            draft.set("lucid.grading.criteria_unjudged", int(verdicts.unjudged));
        }
        if !verdicts.failed.is_empty() {
            let failed: Vec<opentelemetry::StringValue> =
                verdicts.failed.into_iter().map(Into::into).collect();
            draft.set("lucid.grading.failed_criteria", Value::Array(failed.into()));
        }
        if !passed {
            draft.status = Status::error("the rubric was not met");
        }
    }
}

fn standing_str(standing: Standing) -> &'static str {
    match standing {
        Standing::Running => "running",
        Standing::Passed => "passed",
        Standing::Failed => "failed",
        Standing::Error => "error",
        Standing::Cancelled => "cancelled",
        Standing::Interrupted => "interrupted",
    }
}

fn session_text(event: &Event) -> String {
    event.session.to_string()
}

/// A count as an OTLP integer.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A span id from the session and a key: splitmix64 over both, never zero.
fn span_id(session: u128, key: u64) -> SpanId {
    let mixed = splitmix(splitmix((session as u64) ^ ((session >> 64) as u64)) ^ key);
    SpanId::from_bytes(mixed.max(1).to_be_bytes())
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
#[path = "spans_tests.rs"]
mod tests;
