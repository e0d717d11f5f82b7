//! The grader on both real protocols: its forced `submit_verdicts` call maps to each
//! protocol's tool choice, a malformed answer is re-asked once with the error paired to
//! the call, and the provider's retries are recorded as events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use lucid_core::model::anthropic::{AnthropicConfig, AnthropicProvider};
use lucid_core::model::openai::{OpenAiConfig, OpenAiProvider};
use lucid_core::model::{ContentBlock, ModelResponse, Provider, StopReason, Usage};
use lucid_testkit::fake::wire::{anthropic_events, openai_chunks};
use lucid_testkit::fake::{FakeServer, Reply};

#[derive(Clone, Copy)]
enum Protocol {
    Anthropic,
    OpenAi,
}

const BOTH: [Protocol; 2] = [Protocol::Anthropic, Protocol::OpenAi];

impl Protocol {
    fn events(self, response: &ModelResponse) -> Vec<String> {
        match self {
            Protocol::Anthropic => anthropic_events(response, 4),
            Protocol::OpenAi => openai_chunks(response, 4),
        }
    }

    fn provider(self, url: &str, max_retries: u32) -> Box<dyn Provider> {
        let timeout = Duration::from_secs(2);
        match self {
            Protocol::Anthropic => Box::new(AnthropicProvider::new(
                AnthropicConfig {
                    base_url: url.into(),
                    model: "judge".into(),
                    api_key: "k".into(),
                    version: "2023-06-01".into(),
                    timeout,
                    bounds: lucid_core::model::TurnBounds::default(),
                    max_retries,
                    streaming: true,
                },
                reqwest::Client::new(),
            )),
            Protocol::OpenAi => Box::new(OpenAiProvider::new(
                OpenAiConfig {
                    base_url: format!("{url}/v1"),
                    model: "judge".into(),
                    api_key: None,
                    timeout,
                    bounds: lucid_core::model::TurnBounds::default(),
                    max_retries,
                    streaming: true,
                },
                reqwest::Client::new(),
            )),
        }
    }
}

fn stream_reply(pieces: Vec<String>) -> Reply {
    Reply::Stream {
        pieces,
        cut_after: None,
    }
}

async fn serve(replies: Vec<Reply>) -> FakeServer {
    let replies = Arc::new(replies);
    FakeServer::start(Arc::new(move |_, n| {
        replies
            .get(n)
            .cloned()
            .unwrap_or_else(|| Reply::status(500, "no more answers"))
    }))
    .await
}

/// A grader verdict call as a model would make it.
fn verdicts(call_id: &str, verdicts: Value) -> ModelResponse {
    ModelResponse {
        content: vec![ContentBlock::ToolUse {
            id: call_id.into(),
            name: lucid_core::outcome::grader::VERDICT_TOOL.into(),
            input: json!({ "verdicts": verdicts }),
        }],
        stop: StopReason::ToolUse,
        usage: Usage::default(),
    }
}

#[tokio::test]
async fn the_grader_forces_its_tool_reasks_once_and_records_retries() {
    use lucid_core::event::{EventBus, EventKind, NullSink, SessionId};
    use lucid_core::outcome::Grader;
    use lucid_core::spec::{Criterion, Rubric};

    for protocol in BOTH {
        // 1: overloaded (retried); 2: one criterion missing (re-asked); 3: valid.
        let incomplete = verdicts(
            "call_v1",
            json!([{"criterion": "clear", "passed": true, "reason": "The review is clear.", "fix": ""}]),
        );
        let complete = verdicts(
            "call_v2",
            json!([
                {"criterion": "clear", "passed": true, "reason": "The review is clear.", "fix": ""},
                {"criterion": "cited", "passed": false, "reason": "No line is cited.", "fix": "Cite lines."}
            ]),
        );
        let server = serve(vec![
            Reply::status(529, "overloaded").with_header("retry-after-ms", "1"),
            stream_reply(protocol.events(&incomplete)),
            stream_reply(protocol.events(&complete)),
        ])
        .await;
        let bus = Arc::new(EventBus::new(SessionId::generate(), Arc::new(NullSink)));
        let mut events = bus.subscribe();
        let rubric = Rubric {
            max_iterations: 1,
            grader: "judge".into(),
            criteria: ["clear", "cited"]
                .iter()
                .map(|id| Criterion {
                    id: id.to_string(),
                    description: format!("The review is {id}."),
                    check: None,
                })
                .collect(),
        };
        let model: Arc<dyn Provider> = Arc::from(protocol.provider(&server.url, 2));
        let grader = Grader::new(
            "Review the docs.".into(),
            rubric,
            Some(model),
            Arc::clone(&bus),
        );
        let verdict = grader
            .judge(1, "A review.", &Default::default(), &[])
            .await
            .unwrap();
        assert_eq!(verdict.criteria.len(), 2);
        assert!(verdict.criteria[0].passed && !verdict.criteria[1].passed);
        assert_eq!(verdict.criteria[1].fix, "Cite lines.");

        let requests = server.requests();
        assert_eq!(requests.len(), 3);
        let first = &requests[1].body;
        let reask = &requests[2].body;
        match protocol {
            Protocol::Anthropic => {
                assert_eq!(
                    first["tool_choice"],
                    json!({"type": "tool", "name": "submit_verdicts"})
                );
                let last = reask["messages"]
                    .as_array()
                    .unwrap()
                    .last()
                    .unwrap()
                    .clone();
                assert_eq!(last["role"], "user");
                assert_eq!(last["content"][0]["type"], "tool_result");
                assert_eq!(last["content"][0]["tool_use_id"], "call_v1");
                assert_eq!(last["content"][0]["is_error"], true);
                assert!(last["content"][1]["text"]
                    .as_str()
                    .unwrap()
                    .contains("cited"));
            }
            Protocol::OpenAi => {
                assert_eq!(
                    first["tool_choice"],
                    json!({"type": "function", "function": {"name": "submit_verdicts"}})
                );
                let messages = reask["messages"].as_array().unwrap();
                let roles: Vec<&str> = messages
                    .iter()
                    .map(|m| m["role"].as_str().unwrap())
                    .collect();
                assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
                assert_eq!(messages[3]["tool_call_id"], "call_v1");
            }
        }
        let schema = &first["tools"][0];
        let schema = schema
            .get("input_schema")
            .unwrap_or(&schema["function"]["parameters"]);
        assert_eq!(
            schema["properties"]["verdicts"]["items"]["properties"]["criterion"]["enum"],
            json!(["clear", "cited"])
        );
        drop(grader);
        drop(bus);
        let mut retries = 0;
        while let Some(event) = events.recv().await {
            if matches!(event.kind, EventKind::Retry { .. }) {
                retries += 1;
            }
        }
        assert_eq!(retries, 1, "the grader's retry is an event");
    }
}
