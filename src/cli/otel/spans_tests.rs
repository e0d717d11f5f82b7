use std::collections::BTreeMap;

use opentelemetry::trace::Status;
use opentelemetry::Value;
use serde_json::json;

use super::*;
use lucid_core::event::{AgentStatus, Event, EventKind, SessionId};
use lucid_core::spec::ModelProfile;

/// Builds a stream: each call appends the next event, 10 ms after the one before.
struct Stream {
    session: SessionId,
    events: Vec<Event>,
}

impl Stream {
    fn new() -> Stream {
        let mut stream = Stream {
            session: SessionId::generate(),
            events: Vec::new(),
        };
        stream.push(
            None,
            EventKind::SessionStarted {
                team: "crew".into(),
                spec_path: "crew.toml".into(),
                task: "the task".into(),
                environment: "lumara".into(),
                seed: 7,
                world: 3,
                max_iterations: 2,
            },
        );
        stream
    }

    fn push(&mut self, agent: Option<u32>, kind: EventKind) -> &mut Stream {
        let seq = self.events.len() as u64;
        self.events.push(Event {
            session: self.session,
            seq,
            at_ms: 1_000 + seq * 10,
            agent: agent.map(AgentId),
            kind,
        });
        self
    }

    fn spawn(&mut self, agent: u32, name: &str, parent: Option<u32>) -> &mut Stream {
        self.push(
            Some(agent),
            EventKind::AgentSpawned {
                name: name.into(),
                role: name.into(),
                parent: parent.map(AgentId),
                model: "fast".into(),
                purpose: parent.map(|_| "survey the sites".into()),
                iteration: 1,
            },
        )
    }

    fn turn(&mut self, agent: u32, turn: u32, tokens: (u64, u64)) -> &mut Stream {
        self.push(
            Some(agent),
            EventKind::ModelTurn {
                turn,
                tokens_in: tokens.0,
                tokens_out: tokens.1,
                stop: "tool_use".into(),
                cost_usd: Some(0.5),
                tool_calls: Some(1),
            },
        )
    }

    fn call(&mut self, agent: u32, id: &str, tool: &str) -> &mut Stream {
        self.push(
            Some(agent),
            EventKind::ToolCalled {
                call_id: id.into(),
                tool: tool.into(),
                input: json!({"secret_input": "SHOULD-NOT-LEAVE"}),
            },
        )
    }

    fn returned(&mut self, agent: u32, id: &str, output: &str, is_error: bool) -> &mut Stream {
        self.push(
            Some(agent),
            EventKind::ToolReturned {
                call_id: id.into(),
                tool: "t".into(),
                output: output.into(),
                is_error,
            },
        )
    }

    fn at(&self, seq: usize) -> SystemTime {
        time(self.events[seq].at_ms)
    }

    fn spans(&self) -> Vec<SpanData> {
        let mut profiles = BTreeMap::new();
        profiles.insert(
            "fast".to_string(),
            toml::from_str::<ModelProfile>("provider = \"anthropic\"\nmodel = \"claude-x\"")
                .unwrap(),
        );
        spans(&self.events, &Models::of(&profiles))
    }
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn get<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// A lead that delegates once; its specialist calls one tool; one grading pass.
fn delegation() -> Stream {
    let mut s = Stream::new();
    s.spawn(1, "lead", None)
        .turn(1, 1, (100, 10))
        .call(1, "d1", "delegate")
        .push(
            Some(1),
            EventKind::Delegated {
                call_id: "d1".into(),
                child: AgentId(2),
                specialist: "detector".into(),
                subtask: "SUBTASK-TEXT".into(),
                purpose: "survey the sites".into(),
                follow_up: false,
            },
        )
        .spawn(2, "detector", Some(1))
        .turn(2, 1, (50, 5))
        .call(2, "c1", "survey_site")
        .returned(2, "c1", "ok", false)
        .push(
            Some(2),
            EventKind::AgentFinished {
                status: AgentStatus::Done,
                turns: 1,
                answer: Some("ANSWER-TEXT".into()),
            },
        )
        .returned(1, "d1", "ANSWER-TEXT", false)
        .turn(1, 2, (200, 20))
        .push(
            Some(1),
            EventKind::AgentFinished {
                status: AgentStatus::Done,
                turns: 2,
                answer: Some("ANSWER-TEXT".into()),
            },
        )
        .push(None, EventKind::GradingStarted { iteration: 1 })
        .push(
            None,
            EventKind::CriterionJudged {
                iteration: 1,
                criterion: "soft".into(),
                passed: true,
                reason: "REASON-TEXT".into(),
                fix: String::new(),
                judged: true,
            },
        )
        .push(
            None,
            EventKind::CriterionJudged {
                iteration: 1,
                criterion: "fuel".into(),
                passed: false,
                reason: "REASON-TEXT".into(),
                fix: "FIX-TEXT".into(),
                judged: false,
            },
        )
        .push(
            None,
            EventKind::GradingFinished {
                iteration: 1,
                passed: false,
                facts: Default::default(),
            },
        )
        .push(
            None,
            EventKind::SessionFinished {
                passed: false,
                iterations: 1,
                duration_ms: 200,
                error: None,
                cancelled: false,
            },
        );
    s
}

#[test]
fn a_session_is_a_tree_of_genai_spans_on_its_recorded_times() {
    let s = delegation();
    let spans = s.spans();
    assert_eq!(spans.len(), 1 + 2 + 3 + 2 + 1);
    let root = &spans[0];
    assert_eq!(root.name, "lucid session crew");
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert_eq!(root.start_time, s.at(0));
    assert_eq!(root.end_time, s.at(s.events.len() - 1));
    assert_eq!(get(root, "lucid.seed"), Some(&Value::I64(7)));
    assert_eq!(get(root, "lucid.outcome.passed"), Some(&Value::Bool(false)));
    assert_eq!(get(root, "lucid.session.status"), Some(&"failed".into()));
    assert_eq!(
        get(root, "lucid.usage.input_tokens"),
        Some(&Value::I64(350))
    );

    let lead = named(&spans, "invoke_agent lead")[0];
    let detector = named(&spans, "invoke_agent detector")[0];
    assert_eq!(lead.parent_span_id, root.span_context.span_id());
    assert_eq!(detector.parent_span_id, lead.span_context.span_id());
    assert_eq!(get(detector, "gen_ai.agent.id"), Some(&"2".into()));
    assert_eq!(
        get(detector, "gen_ai.provider.name"),
        Some(&"anthropic".into())
    );
    assert_eq!(
        get(detector, "lucid.agent.purpose"),
        Some(&"survey the sites".into())
    );
    // A thread ends at its last step.
    assert_eq!(lead.end_time, s.at(12));

    let chats = named(&spans, "chat claude-x");
    assert_eq!(chats.len(), 3);
    // The lead's second turn began when the delegation came back.
    let second = chats
        .iter()
        .find(|c| get(c, "lucid.turn") == Some(&Value::I64(2)))
        .unwrap();
    assert_eq!(second.parent_span_id, lead.span_context.span_id());
    assert_eq!(second.start_time, s.at(10));
    assert_eq!(second.end_time, s.at(11));
    assert_eq!(second.span_kind, SpanKind::Client);
    assert_eq!(
        get(second, "gen_ai.usage.input_tokens"),
        Some(&Value::I64(200))
    );
    assert_eq!(
        get(second, "gen_ai.usage.output_tokens"),
        Some(&Value::I64(20))
    );
    assert_eq!(
        get(second, "gen_ai.request.model"),
        Some(&"claude-x".into())
    );
    assert_eq!(get(second, "lucid.cost_usd"), Some(&Value::F64(0.5)));

    let delegate = named(&spans, "execute_tool delegate")[0];
    assert_eq!(get(delegate, "gen_ai.tool.call.id"), Some(&"d1".into()));
    assert_eq!(get(delegate, "lucid.delegate.agent_id"), Some(&"2".into()));
    assert_eq!(
        (delegate.start_time, delegate.end_time),
        (s.at(3), s.at(10))
    );
    let survey = named(&spans, "execute_tool survey_site")[0];
    assert_eq!(survey.parent_span_id, detector.span_context.span_id());
    assert_eq!(survey.status, Status::Unset);

    let grading = named(&spans, "grade iteration 1")[0];
    assert_eq!(grading.parent_span_id, root.span_context.span_id());
    assert_eq!(get(grading, "lucid.grading.criteria"), Some(&Value::I64(2)));
    assert_eq!(
        get(grading, "lucid.grading.criteria_passed"),
        Some(&Value::I64(1))
    );
    assert_eq!(
        get(grading, "lucid.grading.criteria_unjudged"),
        Some(&Value::I64(1))
    );
    assert!(matches!(grading.status, Status::Error { .. }));
    let failed = format!("{:?}", get(grading, "lucid.grading.failed_criteria"));
    assert!(
        failed.contains("fuel") && !failed.contains("soft"),
        "{failed}"
    );
}

#[test]
fn the_graders_and_advisors_calls_are_chat_spans_where_they_were_made() {
    let usage = |role: &str| EventKind::ModelUsage {
        role: role.into(),
        profile: "fast".into(),
        tokens_in: 700,
        tokens_out: 70,
        cost_usd: Some(0.25),
    };
    let mut s = Stream::new();
    s.spawn(1, "lead", None)
        .push(Some(1), usage("advisor"))
        .turn(1, 1, (100, 10))
        .push(None, EventKind::GradingStarted { iteration: 1 })
        .push(None, usage("grader"))
        .push(
            None,
            EventKind::GradingFinished {
                iteration: 1,
                passed: true,
                facts: Default::default(),
            },
        );
    let spans = s.spans();
    let lead = named(&spans, "invoke_agent lead")[0];
    let grading = named(&spans, "grade iteration 1")[0];
    let chats = named(&spans, "chat claude-x");
    let by_role = |role: &'static str| {
        *chats
            .iter()
            .find(|c| get(c, "lucid.role") == Some(&role.into()))
            .unwrap()
    };
    let grader = by_role("grader");
    assert_eq!(grader.parent_span_id, grading.span_context.span_id());
    assert_eq!((grader.start_time, grader.end_time), (s.at(4), s.at(5)));
    assert_eq!(get(grader, "gen_ai.operation.name"), Some(&"chat".into()));
    assert_eq!(
        get(grader, "gen_ai.usage.input_tokens"),
        Some(&Value::I64(700))
    );
    assert_eq!(get(grader, "lucid.cost_usd"), Some(&Value::F64(0.25)));
    let advisor = by_role("advisor");
    assert_eq!(advisor.parent_span_id, lead.span_context.span_id());
    assert_eq!(
        get(advisor, "gen_ai.provider.name"),
        Some(&"anthropic".into())
    );
}

#[test]
fn no_text_of_the_session_leaves_in_a_span() {
    let spans = delegation().spans();
    let everything = format!("{spans:?}");
    for text in [
        "SHOULD-NOT-LEAVE",
        "SUBTASK-TEXT",
        "ANSWER-TEXT",
        "REASON-TEXT",
        "FIX-TEXT",
        "the task",
    ] {
        assert!(!everything.contains(text), "{text} is in a span");
    }
}

#[test]
fn the_same_session_always_makes_the_same_trace() {
    let s = delegation();
    let (a, b) = (s.spans(), s.spans());
    let ids = |spans: &[SpanData]| -> Vec<(TraceId, SpanId)> {
        spans
            .iter()
            .map(|s| (s.span_context.trace_id(), s.span_context.span_id()))
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(
        a[0].span_context.trace_id().to_bytes(),
        s.session.to_bytes()
    );
    let mut distinct: Vec<SpanId> = a.iter().map(|s| s.span_context.span_id()).collect();
    distinct.sort_by_key(|id| id.to_bytes());
    distinct.dedup();
    assert_eq!(distinct.len(), a.len());
    assert!(!distinct.contains(&SpanId::INVALID));
}

#[test]
fn a_failed_tool_is_an_error_span_with_a_short_summary() {
    let mut s = Stream::new();
    let long = format!("boom\n\u{1b}[31m{}", "x".repeat(5_000));
    s.spawn(1, "lead", None)
        .turn(1, 1, (1, 1))
        .call(1, "c1", "shell")
        .returned(1, "c1", &long, true);
    let spans = s.spans();
    let tool = named(&spans, "execute_tool shell")[0];
    let Status::Error { description } = &tool.status else {
        panic!("{:?}", tool.status);
    };
    assert!(description.starts_with("boom x"), "{description}");
    assert!(description.chars().count() <= SUMMARY_CHARS);
    assert_eq!(get(tool, "error.type"), Some(&"tool_error".into()));
}

#[test]
fn retries_belong_to_the_turn_and_a_revision_starts_the_next() {
    let mut s = Stream::new();
    s.spawn(1, "lead", None)
        .push(
            Some(1),
            EventKind::Retry {
                attempt: 1,
                reason: "overloaded".into(),
                delay_ms: 5,
            },
        )
        .turn(1, 1, (1, 1))
        .push(None, EventKind::GradingStarted { iteration: 1 })
        .push(
            None,
            EventKind::RevisionStarted {
                iteration: 2,
                feedback: "do better".into(),
            },
        )
        .turn(1, 2, (1, 1));
    let spans = s.spans();
    let chats = named(&spans, "chat claude-x");
    // The retry did not cut the first turn short: it began at the spawn.
    assert_eq!(chats[0].start_time, s.at(1));
    assert_eq!(get(chats[0], "lucid.retries"), Some(&Value::I64(1)));
    // The second turn began at the revision, not at the lead's last step.
    assert_eq!(chats[1].start_time, s.at(5));
    assert_eq!(get(chats[1], "lucid.retries"), None);
}

#[test]
fn an_interrupted_session_closes_what_was_open_at_its_last_event() {
    let mut s = Stream::new();
    s.spawn(1, "lead", None)
        .turn(1, 1, (1, 1))
        .call(1, "c1", "survey_site")
        .push(None, EventKind::GradingStarted { iteration: 1 })
        .push(
            None,
            EventKind::Error {
                message: "the provider stayed down".into(),
            },
        );
    let spans = s.spans();
    let last = s.at(s.events.len() - 1);
    assert_eq!(named(&spans, "execute_tool survey_site")[0].end_time, last);
    assert_eq!(named(&spans, "grade iteration 1")[0].end_time, last);
    // Its thread waited on the call: it ends there too, not before its child.
    assert_eq!(named(&spans, "invoke_agent lead")[0].end_time, last);
    assert_eq!(
        get(&spans[0], "lucid.session.status"),
        Some(&"interrupted".into())
    );
    assert_eq!(spans[0].events.len(), 1, "the session's error is an event");
}

#[test]
fn a_session_that_ended_on_an_error_has_an_error_root() {
    let mut s = Stream::new();
    s.spawn(1, "lead", None).push(
        None,
        EventKind::SessionFinished {
            passed: false,
            iterations: 1,
            duration_ms: 10,
            error: Some("model error: refused".into()),
            cancelled: false,
        },
    );
    let spans = s.spans();
    assert_eq!(
        spans[0].status,
        Status::error("model error: refused".to_string())
    );
    // Without the session file, a profile is named by itself.
    let bare = spans_of(&s.events);
    let lead = named(&bare, "invoke_agent lead")[0];
    assert_eq!(get(lead, "gen_ai.request.model"), Some(&"fast".into()));
    assert_eq!(get(lead, "gen_ai.provider.name"), None);
}

fn spans_of(events: &[Event]) -> Vec<SpanData> {
    spans(events, &Models::default())
}

#[test]
fn no_events_no_spans() {
    assert!(spans_of(&[]).is_empty());
}
