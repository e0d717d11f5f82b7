//! Follow-ups to sub-agent threads, on the real runner: `delegate` with `thread`
//! continues a thread the agent delegated to before (in the same pass or an earlier
//! one) with its earlier conversation in its context, as the same agent; the record and
//! the report show one thread with its follow-ups; and every way to address a thread
//! wrongly comes back to the model as a tool error it can read.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use lucid_core::event::{AgentId, Event, EventBus, EventKind, EventSink, Facts, SessionId};
use lucid_core::event::{NullSink, SinkError};
use lucid_core::model::scripted::ResponseBuilder;
use lucid_core::model::{ContentBlock, Message, ModelRequest, ModelResponse, Policy, Role};
use lucid_core::outcome::{run_session, SessionOrigin};
use lucid_core::run::report::SessionReport;
use lucid_core::run::{CancelToken, TeamRun};
use lucid_core::spec::{EnvironmentCapabilities, EnvironmentCatalog};
use lucid_core::tool::{Tool, ToolOutput, ToolSpec};
use lucid_core::world::{Environment, Episode};

/// Keeps every event and reads them back, as the store does.
#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn append(&self, event: &Event) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
    fn recorded(&self, session: SessionId) -> Option<Result<Vec<Event>, SinkError>> {
        let events = self.0.lock().unwrap();
        Some(Ok(events
            .iter()
            .filter(|e| e.session == session)
            .cloned()
            .collect()))
    }
}

/// Every request each role received.
type Requests = Arc<Mutex<BTreeMap<String, Vec<ModelRequest>>>>;

/// The desk: a `note` tool, and a lead that follows a script of turns (each turn's
/// `delegate` inputs; an empty turn answers with the results it got).
struct Desk {
    script: Arc<Vec<Vec<Value>>>,
    requests: Requests,
}

struct NoteTool;

impl Tool for NoteTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "note".into(),
            description: "Write a note.".into(),
            input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}}),
        }
    }
    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        let text = input["text"].as_str().unwrap_or_default().to_string();
        Box::pin(async move { ToolOutput::ok(format!("noted: {text}")) })
    }
}

struct DeskEpisode;

impl Episode for DeskEpisode {
    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(NoteTool)]
    }
    fn facts(&self) -> Facts {
        Facts::new()
    }
}

impl Environment for Desk {
    fn kind(&self) -> &'static str {
        "desk"
    }
    fn briefing(&self) -> String {
        String::new()
    }
    fn policy(&self, role: &str) -> Option<Arc<dyn Policy>> {
        Some(Arc::new(DeskPolicy {
            role: role.to_string(),
            script: Arc::clone(&self.script),
            requests: Arc::clone(&self.requests),
        }))
    }
    fn episode(&self) -> Arc<dyn Episode> {
        Arc::new(DeskEpisode)
    }
}

struct DeskPolicy {
    role: String,
    script: Arc<Vec<Vec<Value>>>,
    requests: Requests,
}

/// The texts of a request's user messages (not its tool results), in order.
fn user_texts(request: &ModelRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .flat_map(|m| &m.content)
        .filter_map(|b| match b {
            ContentBlock::Text { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn results(message: Option<&Message>) -> Vec<String> {
    message
        .map(|m| {
            m.content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolResult { content, .. } => Some(content.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Policy for DeskPolicy {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        self.requests
            .lock()
            .unwrap()
            .entry(self.role.clone())
            .or_default()
            .push(request.clone());
        let turn = request
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let reply = ResponseBuilder::new(format!("{}{turn}", self.role));
        let last = request.messages.last();
        let fresh = last.is_some_and(|m| {
            m.content
                .iter()
                .any(|b| matches!(b, ContentBlock::Text { .. }))
        });
        match self.role.as_str() {
            "lead" => {
                let calls = self.script.get(turn).cloned().unwrap_or_default();
                if calls.is_empty() {
                    return reply
                        .text(format!("answer {turn}: {}", results(last).join(" || ")))
                        .build();
                }
                calls
                    .into_iter()
                    .fold(reply.text(format!("turn {turn}")), |r, input| {
                        r.tool("delegate", input)
                    })
                    .build()
            }
            // A worker notes the latest message it got, then answers with every message
            // it has had.
            "worker" if fresh => {
                let text = user_texts(request).last().cloned().unwrap_or_default();
                reply.tool("note", json!({ "text": text })).build()
            }
            "worker" => reply
                .text(format!("worked on: {}", user_texts(request).join(" | ")))
                .build(),
            // A manager hands its first message to a worker, then answers.
            "manager" if fresh && user_texts(request).len() == 1 => reply
                .tool(
                    "delegate",
                    json!({"specialist": "worker", "subtask": "sub-work", "purpose": "help"}),
                )
                .build(),
            "manager" => reply
                .text(format!("managed: {}", user_texts(request).join(" | ")))
                .build(),
            "grader" => {
                let prompt = user_texts(request).join("\n");
                let passed = prompt.contains("make it final");
                reply
                    .tool(
                        "submit_verdicts",
                        json!({"verdicts": [{"criterion": "final", "passed": passed, "reason": "whether the answer is final", "fix": "finish"}]}),
                    )
                    .build()
            }
            _ => reply.text("?").build(),
        }
    }
}

const SPEC: &str = r#"
name = "desk-team"
task = "Work at the desk."

[environment]
kind = "desk"

[agents.lead]
lead = true
delegates = ["worker", "manager"]
prompt = "You lead."

[agents.worker]
tools = ["note"]
prompt = "You work."

[agents.manager]
delegates = ["worker"]
prompt = "You manage."

[outcome]
max_iterations = 2

[[outcome.criteria]]
id = "final"
description = "The answer is final."
"#;

struct Run {
    events: Vec<Event>,
    requests: BTreeMap<String, Vec<ModelRequest>>,
}

impl Run {
    /// The results the lead's delegate calls got, in the order they were called.
    fn lead_results(&self) -> Vec<(String, bool)> {
        let called: Vec<&str> = self
            .events
            .iter()
            .filter(|e| e.agent == Some(AgentId(1)))
            .filter_map(|e| match &e.kind {
                EventKind::ToolCalled { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        called
            .iter()
            .map(|id| {
                self.events
                    .iter()
                    .filter(|e| e.agent == Some(AgentId(1)))
                    .find_map(|e| match &e.kind {
                        EventKind::ToolReturned {
                            call_id,
                            output,
                            is_error,
                            ..
                        } if call_id == id => Some((output.clone(), *is_error)),
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("call {id} returned"))
            })
            .collect()
    }

    fn report(&self) -> Value {
        serde_json::to_value(SessionReport::fold(&self.events, false)).unwrap()
    }
}

async fn run(script: Vec<Vec<Value>>, sink: Arc<dyn EventSink>, collect: Arc<Collect>) -> Run {
    let mut catalog = EnvironmentCatalog::new();
    catalog.insert(
        "desk".into(),
        EnvironmentCapabilities {
            tools: vec!["note".into()],
            roles: ["lead", "worker", "manager", "grader"]
                .map(String::from)
                .to_vec(),
            ..EnvironmentCapabilities::default()
        },
    );
    let spec = lucid_core::spec::parse(Path::new("desk.toml"), SPEC, &catalog).unwrap();
    let requests = Requests::default();
    let env = Arc::new(Desk {
        script: Arc::new(script),
        requests: Arc::clone(&requests),
    });
    let bus = Arc::new(EventBus::new(SessionId::generate(), sink));
    let team = TeamRun::new(Arc::new(spec), env, bus, &[], CancelToken::new()).unwrap();
    let origin = SessionOrigin {
        spec_path: "desk.toml".into(),
        seed: 1,
        world: 1,
    };
    run_session(team, origin).await.unwrap();
    let events = collect.0.lock().unwrap().clone();
    let requests = requests.lock().unwrap().clone();
    Run { events, requests }
}

async fn recorded_run(script: Vec<Vec<Value>>) -> Run {
    let collect = Arc::new(Collect::default());
    run(script, Arc::clone(&collect) as Arc<dyn EventSink>, collect).await
}

fn delegate(specialist: &str, subtask: &str) -> Value {
    json!({"specialist": specialist, "subtask": subtask, "purpose": subtask})
}

fn follow_up(thread: Value, specialist: &str, message: &str) -> Value {
    json!({"specialist": specialist, "subtask": message, "purpose": "revise", "thread": thread})
}

#[tokio::test]
async fn a_follow_up_continues_the_same_thread_with_its_earlier_context() {
    // Pass 1: a new worker, a follow-up to it, an answer the grader fails. Pass 2: a
    // follow-up to the thread from pass 1, then the final answer.
    let run = recorded_run(vec![
        vec![delegate("worker", "draft the plan")],
        vec![follow_up(json!(2), "worker", "shorten it")],
        vec![],
        vec![follow_up(json!("2"), "worker", "make it final")],
        vec![],
    ])
    .await;

    // Each result keeps the answer first and names the thread last.
    let results = run.lead_results();
    assert_eq!(results.len(), 3);
    for (output, is_error) in &results {
        assert!(!is_error, "{output}");
        assert!(
            output.ends_with("\n\n(thread 2: pass \"thread\": 2 to delegate to follow up)"),
            "{output}"
        );
    }
    assert!(results[0].0.starts_with("worked on: draft the plan\n"));
    assert!(results[1]
        .0
        .starts_with("worked on: draft the plan | shorten it\n"));
    assert!(results[2]
        .0
        .starts_with("worked on: draft the plan | shorten it | make it final\n"));

    // `thread` is offered only once a delegation has returned: the lead's first request
    // has no such argument (a model cannot use it yet), later ones do.
    let offers_thread = |request: &ModelRequest| {
        request
            .tools
            .iter()
            .find(|t| t.name == "delegate")
            .is_some_and(|t| t.input_schema["properties"].get("thread").is_some())
    };
    let lead = &run.requests["lead"];
    assert!(!offers_thread(&lead[0]));
    assert!(lead[1..].iter().all(offers_thread));

    // The worker's model saw its earlier conversation: its own turns, its tool results,
    // then the follow-up as a user turn.
    let worker = &run.requests["worker"];
    assert_eq!(worker.len(), 6, "two turns per delegation");
    let follow = &worker[2];
    let roles: Vec<Role> = follow.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    assert_eq!(follow.messages[0].text(), "draft the plan");
    assert!(results_of(&follow.messages[2]).contains("noted: draft the plan"));
    assert_eq!(follow.messages[3].text(), "worked on: draft the plan");
    assert_eq!(follow.messages[4].text(), "shorten it");
    // In pass 2, the whole thread so far.
    assert_eq!(worker[4].messages.len(), 9);

    // One thread: spawned once, delegated to three times, followed up twice.
    let spawned: Vec<AgentId> = run
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AgentSpawned { .. }))
        .filter_map(|e| e.agent)
        .collect();
    assert_eq!(spawned, [AgentId(1), AgentId(2)]);
    let delegated: Vec<(AgentId, bool)> = run
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Delegated {
                child, follow_up, ..
            } => Some((*child, *follow_up)),
            _ => None,
        })
        .collect();
    assert_eq!(
        delegated,
        [(AgentId(2), false), (AgentId(2), true), (AgentId(2), true)]
    );
    let follow_ups: Vec<(String, u32)> = run
        .events
        .iter()
        .filter(|e| e.agent == Some(AgentId(2)))
        .filter_map(|e| match &e.kind {
            EventKind::FollowUp { message, iteration } => Some((message.clone(), *iteration)),
            _ => None,
        })
        .collect();
    assert_eq!(
        follow_ups,
        [("shorten it".into(), 1), ("make it final".into(), 2)]
    );
    // Its turns count on across follow-ups.
    let finishes: Vec<u32> = run
        .events
        .iter()
        .filter(|e| e.agent == Some(AgentId(2)))
        .filter_map(|e| match &e.kind {
            EventKind::AgentFinished { turns, .. } => Some(*turns),
            _ => None,
        })
        .collect();
    assert_eq!(finishes, [2, 4, 6]);

    // The report lists the thread once, with all its turns and its follow-ups.
    let report = run.report();
    assert_eq!(report["outcome"]["passed"], true);
    let agents = report["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2);
    assert_eq!(agents[1]["id"], 2);
    assert_eq!(agents[1]["turns"], 6);
    assert_eq!(agents[1]["follow_ups"], 2);
    assert_eq!(agents[1]["status"], "done");
    assert!(agents[0].get("follow_ups").is_none(), "absent when none");
}

fn results_of(message: &Message) -> String {
    results(Some(message)).join(" ")
}

#[tokio::test]
async fn a_thread_is_followed_up_only_by_its_parent_as_its_specialist_once_it_returned() {
    // The manager (thread 2) delegates to a worker (thread 3).
    let run = recorded_run(vec![
        vec![delegate("manager", "organize")],
        vec![
            follow_up(json!(3), "worker", "not yours"),
            follow_up(json!(99), "worker", "unknown"),
            follow_up(json!(2), "worker", "wrong specialist"),
            follow_up(json!(1), "worker", "yourself"),
            follow_up(json!("two"), "worker", "not a number"),
        ],
        // Two follow-ups to one thread in one turn: the first runs, the second waits for
        // nothing and is refused.
        vec![
            follow_up(json!(2), "manager", "again"),
            follow_up(json!(2), "manager", "at once"),
        ],
        vec![],
        vec![],
    ])
    .await;
    let results = run.lead_results();
    let refusal = |index: usize, words: &str| {
        let (output, is_error) = &results[index];
        assert!(*is_error, "{index} is a tool error: {output}");
        assert!(output.contains(words), "{index}: {output}");
    };
    refusal(1, "thread 3 was not delegated by you");
    refusal(2, "there is no thread 99 to follow up");
    refusal(3, "thread 2 is `manager`, not `worker`");
    refusal(4, "thread 1 is your own");
    refusal(5, "`thread` must be the number");
    assert!(!results[6].1, "{:?}", results[6]);
    assert!(results[6].0.starts_with("managed: organize | again"));
    refusal(7, "thread 2 is still running");
    // The refusals recorded no delegation and ran nobody.
    let follow_ups = run
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::FollowUp { .. }))
        .count();
    assert_eq!(follow_ups, 1);
    // The worker's thread ran once, for the manager.
    assert_eq!(run.requests["worker"].len(), 2);
}

#[tokio::test]
async fn a_recorder_that_cannot_read_back_refuses_follow_ups() {
    let collect = Arc::new(Collect::default());
    // The run records to a sink without read-back; `collect` stays empty.
    let run = run(
        vec![
            vec![delegate("worker", "draft")],
            vec![follow_up(json!(2), "worker", "again")],
            vec![],
            vec![],
        ],
        Arc::new(NullSink),
        collect,
    )
    .await;
    let answers: Vec<String> = run.requests["lead"]
        .last()
        .unwrap()
        .messages
        .iter()
        .map(results_of)
        .collect();
    assert!(
        answers.iter().any(|a| a.contains(
            "cannot follow up thread 2: this session's recorder cannot read its events back"
        )),
        "{answers:?}"
    );
}
