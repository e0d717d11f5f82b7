//! The loopback policy server driven through the real OpenAI provider: clean answers
//! (streamed and whole) equal the policy's, injected faults are retried to the same
//! answers with every retry reported, a server that stays down fails after bounded
//! retries and works again once it is back, and the router picks policies by system
//! prompt, then by tools.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use lucid_core::model::openai::{OpenAiConfig, OpenAiProvider};
use lucid_core::model::{
    collect_observed, ContentBlock, Message, ModelError, ModelRequest, ModelResponse, Policy,
    Provider, StopReason, ToolChoice, ToolSpec, Usage,
};
use lucid_testkit::{Fault, Faults, PolicyRouter, PolicyServer, ServeOptions};

/// Calls `lookup` until it has a tool result, then answers with what it learned.
struct Lookup;

impl Policy for Lookup {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let results: Vec<String> = request
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|b| match b {
                ContentBlock::ToolResult { content, .. } => Some(content.clone()),
                _ => None,
            })
            .collect();
        let asked = request
            .messages
            .first()
            .map(Message::text)
            .unwrap_or_default();
        let content = if results.is_empty() {
            vec![
                ContentBlock::Text {
                    text: format!(
                        "Looking up «{asked}» — one moment, this text is long enough to be split."
                    ),
                },
                ContentBlock::ToolUse {
                    id: "call_1".into(),
                    name: "lookup".into(),
                    input: json!({"query": asked, "limit": 3, "filters": {"kind": ["a", "b"]}}),
                },
            ]
        } else {
            vec![ContentBlock::Text {
                text: format!("Found: {}", results.join("; ")),
            }]
        };
        let stop = if results.is_empty() {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        };
        ModelResponse {
            content,
            stop,
            usage: Usage::default(),
        }
    }
}

/// Always says who it is.
struct Named(&'static str);

impl Policy for Named {
    fn respond(&self, _: &ModelRequest) -> ModelResponse {
        ModelResponse {
            content: vec![ContentBlock::Text {
                text: self.0.into(),
            }],
            stop: StopReason::EndTurn,
            usage: Usage::default(),
        }
    }
}

fn tool(name: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("the {name} tool"),
        input_schema: json!({"type": "object", "properties": {}}),
    }
}

fn request(system: &str, question: &str, tools: &[&str]) -> ModelRequest {
    ModelRequest {
        system: system.into(),
        messages: vec![Message::user_text(question)].into(),
        tools: tools.iter().map(|t| tool(t)).collect(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 1024,
        temperature: None,
    }
}

/// The request after the tool answered.
fn follow_up(first: &ModelRequest, answer: &ModelResponse) -> ModelRequest {
    let mut next = first.clone();
    std::sync::Arc::make_mut(&mut next.messages).push(Message {
        role: lucid_core::model::Role::Assistant,
        content: answer.content.clone(),
    });
    std::sync::Arc::make_mut(&mut next.messages).push(Message {
        role: lucid_core::model::Role::User,
        content: vec![ContentBlock::ToolResult {
            tool_use_id: "call_1".into(),
            content: "42 rows".into(),
            is_error: false,
        }],
    });
    next
}

fn provider(server: &PolicyServer, streaming: bool, max_retries: u32) -> OpenAiProvider {
    OpenAiProvider::new(
        OpenAiConfig {
            base_url: server.base_url(),
            model: "policy".into(),
            api_key: Some("sk-loopback".into()),
            timeout: Duration::from_secs(10),
            bounds: lucid_core::model::TurnBounds::default(),
            max_retries,
            streaming,
        },
        reqwest::Client::new(),
    )
}

async fn call(
    provider: &OpenAiProvider,
    request: &ModelRequest,
) -> (Result<ModelResponse, ModelError>, u32) {
    let mut retries = 0;
    let answer = collect_observed(provider.stream(request.clone()), |_| retries += 1).await;
    (answer, retries)
}

const SYSTEM: &str = "You are the librarian.";

fn router() -> PolicyRouter {
    PolicyRouter::new().system(SYSTEM, Arc::new(Lookup))
}

#[tokio::test]
async fn clean_answers_streamed_and_whole_equal_the_policys() {
    let server = PolicyServer::start(router(), ServeOptions::default())
        .await
        .unwrap();
    let first = request(SYSTEM, "ledger", &["lookup"]);
    for streaming in [true, false] {
        let provider = provider(&server, streaming, 0);
        let (answer, retries) = call(&provider, &first).await;
        let answer = answer.unwrap();
        assert_eq!(retries, 0);
        assert_eq!(
            answer.content,
            Lookup.respond(&first).content,
            "streaming {streaming}"
        );
        assert_eq!(answer.stop, StopReason::ToolUse);
        assert!(answer.usage.input_tokens > 0 && answer.usage.output_tokens > 0);
        let next = follow_up(&first, &answer);
        let (last, _) = call(&provider, &next).await;
        let last = last.unwrap();
        assert_eq!(last.text(), "Found: 42 rows");
        assert_eq!(last.stop, StopReason::EndTurn);
    }
    assert_eq!(
        server
            .counters()
            .answered
            .load(std::sync::atomic::Ordering::SeqCst),
        4
    );
}

#[tokio::test]
async fn injected_faults_are_retried_to_the_same_answers_and_every_retry_is_reported() {
    let mut faults = Faults::new(0.3, 11);
    faults.retry_after = Duration::from_millis(5);
    let server = PolicyServer::start(
        router(),
        ServeOptions {
            latency: Duration::ZERO,
            faults: Some(faults),
            down_after: None,
        },
    )
    .await
    .unwrap();
    let mut total_retries = 0;
    for (i, streaming) in [true, false].into_iter().cycle().take(16).enumerate() {
        let provider = provider(&server, streaming, 10);
        let first = request(SYSTEM, &format!("question {i}"), &["lookup"]);
        let (answer, retries) = call(&provider, &first).await;
        assert_eq!(answer.unwrap().content, Lookup.respond(&first).content);
        total_retries += retries;
    }
    let counters = server.counters();
    let injected = counters.faults.load(std::sync::atomic::Ordering::SeqCst);
    assert!(injected > 0, "30 % of the requests should have failed");
    assert_eq!(
        u64::from(total_retries),
        injected,
        "one retry per injected fault"
    );
}

#[test]
fn faults_are_deterministic_hit_the_rate_and_cover_every_kind() {
    let faults = Faults::new(0.3, 42);
    let picks: Vec<Option<Fault>> = (0..2000).map(|n| faults.pick(n)).collect();
    let again: Vec<Option<Fault>> = (0..2000).map(|n| faults.pick(n)).collect();
    assert_eq!(picks, again);
    let hit = picks.iter().filter(|p| p.is_some()).count();
    assert!((500..700).contains(&hit), "{hit} of 2000 at 30 %");
    for kind in [
        Fault::RateLimitedMs,
        Fault::RateLimitedSeconds,
        Fault::Overloaded,
        Fault::ServerError,
        Fault::Cut,
    ] {
        assert!(picks.contains(&Some(kind)), "{kind:?} never injected");
    }
    assert_ne!(
        picks,
        (0..2000)
            .map(|n| Faults::new(0.3, 43).pick(n))
            .collect::<Vec<_>>()
    );
    assert!((0..100).all(|n| Faults::new(0.0, 1).pick(n).is_none()));
}

#[tokio::test]
async fn a_server_that_stays_down_fails_after_bounded_retries_then_recovers() {
    let server = PolicyServer::start(router(), ServeOptions::default())
        .await
        .unwrap();
    server.set_down(true);
    let provider = provider(&server, true, 2);
    let first = request(SYSTEM, "ledger", &["lookup"]);
    let (answer, retries) = call(&provider, &first).await;
    assert!(
        matches!(&answer, Err(ModelError::Unavailable(why)) if why.contains("503")),
        "{answer:?}"
    );
    assert_eq!(retries, 2);
    let refused = server
        .counters()
        .refused_down
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(refused, 3, "the first try and two retries");
    server.set_down(false);
    let (answer, _) = call(&provider, &first).await;
    assert_eq!(answer.unwrap().content, Lookup.respond(&first).content);
}

#[tokio::test]
async fn the_router_picks_by_system_prompt_then_by_tools() {
    let router = PolicyRouter::new()
        .system("You are the commander.", Arc::new(Named("commander")))
        .system("You are the grader.", Arc::new(Named("grader")))
        .tools(["read_file", "grep"], Arc::new(Named("reader")))
        .tools(["submit"], Arc::new(Named("submitter")));
    let server = PolicyServer::start(router, ServeOptions::default())
        .await
        .unwrap();
    let provider = provider(&server, true, 0);
    let cases = [
        (request("You are the grader.", "q", &[]), "grader"),
        // a rendered prompt with the agent's playbook appended
        (
            request("You are the commander.\n\n## Playbook\n…", "q", &["grep"]),
            "commander",
        ),
        (request("unknown", "q", &["grep", "read_file"]), "reader"),
        (request("unknown", "q", &["submit", "other"]), "submitter"),
    ];
    for (req, who) in cases {
        let (answer, _) = call(&provider, &req).await;
        assert_eq!(answer.unwrap().text(), who);
    }
    let (answer, _) = call(&provider, &request("unknown", "q", &["nothing"])).await;
    assert!(matches!(answer, Err(ModelError::Refused(_))), "{answer:?}");
}
