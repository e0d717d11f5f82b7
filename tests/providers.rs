//! Both network providers against a loopback fake server: the exact requests lucid
//! sends, streamed answers in many pieces, and every fault a real network has.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use lucid_core::model::anthropic::{AnthropicConfig, AnthropicProvider};
use lucid_core::model::openai::{OpenAiConfig, OpenAiProvider};
use lucid_core::model::{
    complete_observed, ContentBlock, Message, ModelError, ModelRequest, ModelResponse, Provider,
    RetryNotice, Role, StopReason, ToolChoice, ToolSpec, Usage,
};
use lucid_testkit::fake::wire::{anthropic_events, openai_chunks};
use lucid_testkit::fake::{FakeServer, Reply};

const KEY: &str = "sk-test-SECRET-0123456789";

fn claude(url: &str, max_retries: u32) -> AnthropicProvider {
    AnthropicProvider::new(
        AnthropicConfig {
            base_url: url.into(),
            model: "claude-test".into(),
            api_key: KEY.into(),
            version: "2023-06-01".into(),
            timeout: Duration::from_secs(2),
            bounds: lucid_core::model::TurnBounds::default(),
            max_retries,
            streaming: true,
        },
        reqwest::Client::new(),
    )
}

fn openai(url: &str, max_retries: u32) -> OpenAiProvider {
    OpenAiProvider::new(
        OpenAiConfig {
            base_url: format!("{url}/v1"),
            model: "gpt-test".into(),
            api_key: Some(KEY.into()),
            timeout: Duration::from_secs(2),
            bounds: lucid_core::model::TurnBounds::default(),
            max_retries,
            streaming: true,
        },
        reqwest::Client::new(),
    )
}

/// Text, then two tool calls in one message.
fn answer() -> ModelResponse {
    ModelResponse {
        content: vec![
            ContentBlock::Text {
                text: "Surveying both sites in parallel.".into(),
            },
            ContentBlock::ToolUse {
                id: "call_a".into(),
                name: "survey_site".into(),
                input: json!({"site": "A", "detail": {"depth": 3, "note": "east rim"}}),
            },
            ContentBlock::ToolUse {
                id: "call_b".into(),
                name: "survey_site".into(),
                input: json!({"site": "B", "detail": {"depth": 1, "note": "crater"}}),
            },
        ],
        stop: StopReason::ToolUse,
        usage: Usage {
            input_tokens: 321,
            output_tokens: 45,
        },
    }
}

/// A conversation with a finished tool round, so pairing can be checked.
fn request() -> ModelRequest {
    ModelRequest {
        system: "You survey sites.".into(),
        messages: vec![
            Message::user_text("Survey A and B."),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Text {
                        text: "First, status.".into(),
                    },
                    ContentBlock::ToolUse {
                        id: "call_s1".into(),
                        name: "status".into(),
                        input: json!({}),
                    },
                    ContentBlock::ToolUse {
                        id: "call_s2".into(),
                        name: "status".into(),
                        input: json!({"verbose": true}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::ToolResult {
                        tool_use_id: "call_s1".into(),
                        content: "ok".into(),
                        is_error: false,
                    },
                    ContentBlock::ToolResult {
                        tool_use_id: "call_s2".into(),
                        content: "no such flag".into(),
                        is_error: true,
                    },
                ],
            },
        ]
        .into(),
        tools: vec![ToolSpec {
            name: "survey_site".into(),
            description: "Survey one site.".into(),
            input_schema: json!({"type": "object", "properties": {"site": {"type": "string"}}}),
        }]
        .into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 512,
        temperature: Some(0.2),
    }
}

async fn ask(provider: &dyn Provider) -> (Result<ModelResponse, ModelError>, Vec<RetryNotice>) {
    let mut notices = Vec::new();
    let result = complete_observed(provider, request(), |n| notices.push(n.clone())).await;
    (result, notices)
}

fn stream_reply(pieces: Vec<String>) -> Reply {
    // Each event is also split in two TCP chunks, so frames straddle reads.
    let split = pieces
        .into_iter()
        .flat_map(|p| {
            let mid = p
                .char_indices()
                .nth(p.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            [p[..mid].to_string(), p[mid..].to_string()]
        })
        .filter(|p| !p.is_empty())
        .collect();
    Reply::Stream {
        pieces: split,
        cut_after: None,
    }
}

#[derive(Clone, Copy)]
enum Protocol {
    Anthropic,
    OpenAi,
}

impl Protocol {
    fn events(self, response: &ModelResponse) -> Vec<String> {
        match self {
            Protocol::Anthropic => anthropic_events(response, 3),
            Protocol::OpenAi => openai_chunks(response, 3),
        }
    }

    fn provider(self, url: &str, max_retries: u32) -> Box<dyn Provider> {
        match self {
            Protocol::Anthropic => Box::new(claude(url, max_retries)),
            Protocol::OpenAi => Box::new(openai(url, max_retries)),
        }
    }
}

const BOTH: [Protocol; 2] = [Protocol::Anthropic, Protocol::OpenAi];

async fn serve(protocol: Protocol, replies: Vec<Reply>) -> FakeServer {
    let replies = Arc::new(replies);
    FakeServer::start(Arc::new(move |_, n| {
        replies
            .get(n)
            .cloned()
            .unwrap_or_else(|| stream_reply(protocol.events(&answer())))
    }))
    .await
}

#[tokio::test]
async fn anthropic_requests_carry_headers_tools_and_paired_results() {
    let server = serve(Protocol::Anthropic, vec![]).await;
    let (result, notices) = ask(&claude(&server.url, 2)).await;
    assert_eq!(result.unwrap(), answer());
    assert!(notices.is_empty());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("authorization").is_none());
    let body = &r.body;
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["system"], "You survey sites.");
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 512);
    assert!((body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    let uses: Vec<&str> = messages[1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    let results: Vec<&str> = messages[2]["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(
                b["type"], "tool_result",
                "only tool results answer tool uses"
            );
            b["tool_use_id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        uses, results,
        "every tool_use is answered, in order, in the next user message"
    );
    assert_eq!(messages[2]["content"][1]["is_error"], true);
}

#[tokio::test]
async fn openai_requests_carry_auth_tools_and_tool_messages() {
    let server = serve(Protocol::OpenAi, vec![]).await;
    let (result, _) = ask(&openai(&server.url, 2)).await;
    assert_eq!(result.unwrap(), answer());
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = &r.body;
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["parameters"]["type"], "object");
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "tool"]);
    let calls = messages[2]["tool_calls"].as_array().unwrap();
    assert_eq!(calls[1]["function"]["arguments"], "{\"verbose\":true}");
    assert!(
        calls[1]["function"]["arguments"].is_string(),
        "arguments are JSON strings"
    );
    assert_eq!(messages[3]["tool_call_id"], "call_s1");
    assert_eq!(messages[4]["tool_call_id"], "call_s2");
    assert_eq!(messages[4]["content"], "ERROR: no such flag");
}

#[tokio::test]
async fn forced_tool_choice_maps_to_each_protocol() {
    for protocol in BOTH {
        let server = serve(protocol, vec![]).await;
        let mut req = request();
        req.tool_choice = ToolChoice::Tool {
            name: "survey_site".into(),
        };
        let provider = protocol.provider(&server.url, 0);
        lucid_core::model::complete(provider.as_ref(), req)
            .await
            .unwrap();
        let choice = server.requests()[0].body["tool_choice"].clone();
        let expected = match protocol {
            Protocol::Anthropic => json!({"type": "tool", "name": "survey_site"}),
            Protocol::OpenAi => json!({"type": "function", "function": {"name": "survey_site"}}),
        };
        assert_eq!(choice, expected);
    }
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_servers_wait() {
    for protocol in BOTH {
        let limited = Reply::status(429, r#"{"error":{"message":"slow down"}}"#)
            .with_header("retry-after", "1");
        let server = serve(protocol, vec![limited]).await;
        let started = Instant::now();
        let (result, notices) = ask(protocol.provider(&server.url, 2).as_ref()).await;
        assert_eq!(result.unwrap(), answer());
        assert!(
            started.elapsed() >= Duration::from_millis(950),
            "retry-after honoured"
        );
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].attempt, 1);
        assert_eq!(notices[0].delay_ms, 1000);
        assert!(notices[0].reason.contains("429"), "{}", notices[0].reason);
        assert_eq!(server.requests().len(), 2);
    }
}

#[tokio::test]
async fn overloaded_and_server_errors_are_retried_with_backoff() {
    for protocol in BOTH {
        let server = serve(
            protocol,
            vec![
                Reply::status(529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
                Reply::status(500, "internal").with_header("retry-after-ms", "20"),
            ],
        )
        .await;
        let (result, notices) = ask(protocol.provider(&server.url, 2).as_ref()).await;
        assert_eq!(result.unwrap(), answer());
        assert_eq!(notices.len(), 2);
        assert!(notices[0].reason.contains("529") && notices[0].reason.contains("Overloaded"));
        assert!(
            (375..=500).contains(&notices[0].delay_ms),
            "backoff: {}",
            notices[0].delay_ms
        );
        assert_eq!(notices[1].delay_ms, 20, "retry-after-ms honoured");
        assert_eq!(server.requests().len(), 3);
    }
}

#[tokio::test]
async fn a_cut_stream_is_retried_as_a_whole_turn() {
    for protocol in BOTH {
        let events = protocol.events(&answer());
        let cut = Reply::Stream {
            cut_after: Some(events.len() / 2),
            pieces: events,
        };
        let server = serve(protocol, vec![cut]).await;
        let (result, notices) = ask(protocol.provider(&server.url, 2).as_ref()).await;
        // Nothing of the cut attempt survives: the text is not doubled.
        assert_eq!(result.unwrap(), answer());
        assert_eq!(notices.len(), 1);
        assert!(notices[0].reason.contains("cut"), "{}", notices[0].reason);
    }
}

#[tokio::test]
async fn retries_are_bounded() {
    for protocol in BOTH {
        let busy = Reply::status(503, "busy").with_header("retry-after-ms", "1");
        let server = serve(protocol, vec![busy.clone(), busy.clone(), busy]).await;
        let (result, notices) = ask(protocol.provider(&server.url, 2).as_ref()).await;
        let err = result.unwrap_err();
        assert!(matches!(err, ModelError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("gave up after 2 retries"), "{err}");
        assert_eq!(notices.len(), 2);
        assert_eq!(server.requests().len(), 3);
    }
}

#[tokio::test]
async fn x_should_retry_false_stops_retrying() {
    let server = serve(
        Protocol::OpenAi,
        vec![Reply::status(503, "busy").with_header("x-should-retry", "false")],
    )
    .await;
    let (result, notices) = ask(&openai(&server.url, 2)).await;
    assert!(matches!(result, Err(ModelError::Refused(_))));
    assert!(notices.is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unauthorized_request_fails_at_once_without_the_key() {
    for protocol in BOTH {
        let body = format!(
            r#"{{"type":"error","error":{{"type":"authentication_error","message":"invalid x-api-key {KEY}"}}}}"#
        );
        let server = serve(protocol, vec![Reply::status(401, &body)]).await;
        let (result, notices) = ask(protocol.provider(&server.url, 2).as_ref()).await;
        let err = result.unwrap_err();
        assert!(matches!(err, ModelError::Refused(_)), "{err}");
        let message = err.to_string();
        assert!(message.contains("401"), "{message}");
        assert!(!message.contains(KEY), "the key leaked: {message}");
        assert!(notices.is_empty());
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn malformed_arguments_reach_the_agent_as_text() {
    for protocol in BOTH {
        let broken = ModelResponse {
            content: vec![ContentBlock::ToolUse {
                id: "call_x".into(),
                name: "survey_site".into(),
                input: Value::String("{\"site\": \"A\",".into()),
            }],
            stop: StopReason::ToolUse,
            usage: Usage::default(),
        };
        let server = serve(protocol, vec![stream_reply(protocol.events(&broken))]).await;
        let (result, _) = ask(protocol.provider(&server.url, 0).as_ref()).await;
        let response = result.unwrap();
        let (_, _, input) = response.tool_uses().next().unwrap();
        assert_eq!(input, &Value::String("{\"site\": \"A\",".into()));
        let output =
            lucid_core::tool::parse_args::<Value>("survey_site", input.clone()).unwrap_err();
        assert!(output.is_error && output.content.contains("not valid JSON"));
    }
}

#[tokio::test]
async fn a_silent_server_times_out_and_is_retried() {
    for protocol in BOTH {
        let server = serve(protocol, vec![Reply::Stall(Duration::from_secs(5))]).await;
        let (result, notices) = ask(protocol.provider(&server.url, 1).as_ref()).await;
        assert_eq!(result.unwrap(), answer());
        assert_eq!(notices.len(), 1);
        assert!(
            notices[0].reason.contains("within"),
            "{}",
            notices[0].reason
        );
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (result, notices) = ask(&claude(&url, 1)).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ModelError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("cannot reach"), "{err}");
    assert_eq!(notices.len(), 1);
}

#[tokio::test]
async fn whole_answers_work_without_streaming() {
    let body = json!({
        "content": [{"type": "text", "text": "Hi"}, {"type": "tool_use", "id": "t1", "name": "survey_site", "input": {"site": "C"}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 6}
    });
    let server = serve(
        Protocol::Anthropic,
        vec![Reply::status(200, &body.to_string())],
    )
    .await;
    let provider = AnthropicProvider::new(
        AnthropicConfig {
            base_url: server.url.clone(),
            model: "m".into(),
            api_key: KEY.into(),
            version: "2026-10-21".into(),
            timeout: Duration::from_secs(2),
            bounds: lucid_core::model::TurnBounds::default(),
            max_retries: 0,
            streaming: false,
        },
        reqwest::Client::new(),
    );
    let (result, _) = ask(&provider).await;
    let response = result.unwrap();
    assert_eq!(response.text(), "Hi");
    assert_eq!(response.usage.output_tokens, 6);
    let sent = &server.requests()[0].body;
    assert!(sent.get("stream").is_none());
    assert!(
        sent.get("temperature").is_none(),
        "2026-10-21 takes no sampling parameters"
    );
}
