//! A model's text streams into live views while the turn is still coming: each provider
//! surfaces text pieces as they arrive, and a window watching a run through the owner's
//! socket sees a turn's text grow before the turn is whole, while the store keeps only
//! whole turns. The fake server holds its answer mid-way until the test has looked, so
//! nothing depends on timing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use lucid_core::event::EventKind;
use lucid_core::model::anthropic::{AnthropicConfig, AnthropicProvider};
use lucid_core::model::openai::{OpenAiConfig, OpenAiProvider};
use lucid_core::model::{
    ContentBlock, Message, ModelDelta, ModelRequest, ModelResponse, Provider, StopReason,
    ToolChoice, Usage,
};
use lucid_core::store::Store;
use lucid_server::client::Client;
use lucid_testkit::fake::wire::{anthropic_events, openai_chunks, openai_request};
use lucid_testkit::fake::{FakeServer, Gate, Recorded, Reply};
use lucid_tui::backend::{News, RemoteSessions, StartRequest};

/// How long a test waits for something that must come before it gives up; only a guard
/// against hanging, never a measure.
const GUARD: Duration = Duration::from_secs(60);

const TEXT: &str = "Surveying both sites in parallel.";

/// The index just past the piece carrying the answer's second text fragment.
fn after_second_fragment(pieces: &[String]) -> usize {
    let second: String = TEXT.chars().skip(7).take(7).collect();
    1 + pieces
        .iter()
        .position(|p| p.contains(&second))
        .expect("the text is in the pieces")
}

fn request() -> ModelRequest {
    ModelRequest {
        system: "You survey sites.".into(),
        messages: vec![Message::user_text("Survey A and B.")].into(),
        tools: vec![].into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 100,
        temperature: None,
    }
}

fn provider(anthropic: bool, url: &str) -> Box<dyn Provider> {
    let timeout = Duration::from_secs(30);
    if anthropic {
        Box::new(AnthropicProvider::new(
            AnthropicConfig {
                base_url: url.into(),
                model: "claude-test".into(),
                api_key: "sk-test-stream-0123456789".into(),
                version: "2023-06-01".into(),
                timeout,
                bounds: lucid_core::model::TurnBounds::default(),
                max_retries: 0,
                streaming: true,
            },
            reqwest::Client::new(),
        ))
    } else {
        Box::new(OpenAiProvider::new(
            OpenAiConfig {
                base_url: format!("{url}/v1"),
                model: "gpt-test".into(),
                api_key: None,
                timeout,
                bounds: lucid_core::model::TurnBounds::default(),
                max_retries: 0,
                streaming: true,
            },
            reqwest::Client::new(),
        ))
    }
}

#[tokio::test]
async fn each_protocol_surfaces_text_pieces_while_the_answer_is_still_coming() {
    let response = ModelResponse {
        content: vec![ContentBlock::Text { text: TEXT.into() }],
        stop: StopReason::EndTurn,
        usage: Usage {
            input_tokens: 12,
            output_tokens: 8,
        },
    };
    for anthropic in [false, true] {
        let pieces = if anthropic {
            anthropic_events(&response, 7)
        } else {
            openai_chunks(&response, 7)
        };
        let gate = Gate::default();
        let reply = Reply::Held {
            holds: vec![(after_second_fragment(&pieces), gate.clone())],
            pieces,
        };
        let server = FakeServer::start(Arc::new(move |_: &Recorded, _| reply.clone())).await;
        let provider = provider(anthropic, &server.url);
        let mut stream = provider.stream(request());
        // The server holds the rest of the answer: these pieces can only have come
        // before the answer's end.
        let mut early = Vec::new();
        while early.len() < 2 {
            let delta = tokio::time::timeout(GUARD, stream.next())
                .await
                .expect("the text surfaces while the server holds the rest")
                .expect("the stream goes on")
                .unwrap();
            if let ModelDelta::Text(text) = delta {
                early.push(text);
            }
        }
        assert_eq!(early.concat(), TEXT[..14], "anthropic: {anthropic}");
        gate.open();
        let mut text = early.concat();
        while let Some(delta) = stream.next().await {
            if let ModelDelta::Text(piece) = delta.unwrap() {
                text.push_str(&piece);
            }
        }
        assert_eq!(text, TEXT);
    }
}

/// Which of Lumara's roles a request is for, from the agent's prompt.
fn role_of(request: &ModelRequest) -> &'static str {
    if request.system.starts_with("You are an advisor") {
        "advisor"
    } else if request.system.contains("mission commander") {
        "commander"
    } else if request.system.contains("terrain detector") {
        "detector"
    } else {
        "navigator"
    }
}

/// Lumara's session file with a `fake` profile (an OpenAI-compatible server of the
/// user's own: no key) and every seat on it.
fn session_file(dir: &Path, url: &str) -> std::path::PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::fs::read_to_string(repo.join("sessions/lumara.toml")).unwrap();
    let text = format!(
        "{base}\n[models.fake]\nprovider = \"openai\"\nmodel = \"fake-model\"\nbase_url = \"{url}/v1\"\ntimeout_s = 60\nmax_retries = 0\n"
    );
    let path = dir.join("lumara-fake.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_watching_through_the_owner_sees_a_turn_grow_and_the_store_keeps_it_whole() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec =
        lucid_core::spec::load(&repo.join("sessions/lumara.toml"), &lucid_envs::catalog()).unwrap();
    let env = lucid_envs::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    )
    .unwrap();
    // Lumara's scripted team plays the model. The first answer (the commander's first
    // turn) is held before its text until the window watches (a late watcher gets whole
    // turns only), then after its second text piece until the test has seen both.
    let (watching, seen) = (Gate::default(), Gate::default());
    let gates = (watching.clone(), seen.clone());
    let responder = Arc::new(move |recorded: &Recorded, n: usize| {
        let request = openai_request(&recorded.body);
        let mut response = env.policy(role_of(&request)).unwrap().respond(&request);
        response.usage = Usage {
            input_tokens: 100,
            output_tokens: 10,
        };
        let pieces = openai_chunks(&response, 7);
        if n > 0 {
            return Reply::Stream {
                pieces,
                cut_after: None,
            };
        }
        let first = response.text();
        let fragment: String = first.chars().take(7).collect();
        let text_at = pieces.iter().position(|p| p.contains(&fragment)).unwrap();
        Reply::Held {
            pieces,
            holds: vec![(text_at, gates.0.clone()), (text_at + 2, gates.1.clone())],
        }
    });
    let server = FakeServer::start(responder).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let owner = lucid_server::start(store.clone(), lucid_envs::worlds()).unwrap();
    let sessions = RemoteSessions::new(Client::new(store.path()));
    let request = StartRequest {
        model: Some("fake".into()),
        ..StartRequest::file(session_file(dir.path(), &server.url))
    };
    let mut feed = sessions.start_run(request).await.unwrap();
    // Any event on the feed means the window's stream is subscribed to the live run.
    match tokio::time::timeout(GUARD, feed.next()).await.unwrap() {
        News::Event(_) => watching.open(),
        News::Ended(ending) => panic!("the run ended first: {ending:?}"),
    }

    // Two pieces of the commander's first turn reach the window before the turn is whole.
    let mut pieces = Vec::new();
    let mut lead = None;
    while pieces.len() < 2 {
        let news = tokio::time::timeout(GUARD, feed.next())
            .await
            .expect("the turn's text streams to the window while the model holds the rest");
        match news {
            News::Event(event) => match event.kind {
                EventKind::TextDelta { turn, at, text } => {
                    assert_eq!(turn, 1);
                    lead = event.agent;
                    assert_eq!(at as usize, pieces.iter().map(String::len).sum::<usize>());
                    pieces.push(text);
                }
                EventKind::ModelTurn { .. } => {
                    panic!("the turn was whole before its text streamed")
                }
                _ => {}
            },
            News::Ended(ending) => panic!("the run ended first: {ending:?}"),
        }
    }
    seen.open();
    let mut whole = None;
    // The rest of the turn as a live view folds it, and the tool calls the turn made.
    let mut live = pieces.concat();
    let mut calls = Vec::new();
    let mut lead_turns = 0;
    let ending = loop {
        match feed.next().await {
            News::Event(event) => {
                if event.agent != lead {
                    continue;
                }
                match &event.kind {
                    EventKind::Text { text } if whole.is_none() => whole = Some(text.clone()),
                    EventKind::TextDelta { turn: 1, at, text } => {
                        live.truncate(*at as usize);
                        live.push_str(text);
                    }
                    EventKind::ModelTurn { .. } => lead_turns += 1,
                    EventKind::ToolCalled { tool, input, .. } if lead_turns == 1 => {
                        calls.push(format!(
                            "» {tool} {}",
                            serde_json::to_string(input).unwrap()
                        ));
                    }
                    _ => {}
                }
            }
            News::Ended(ending) => break ending,
        }
    };
    let whole = whole.expect("the turn's whole text followed");
    assert!(whole.starts_with(&pieces.concat()), "{whole} / {pieces:?}");
    // The turn's tool calls streamed too, each on its own line with its arguments.
    assert!(!calls.is_empty(), "the commander's first turn delegates");
    assert!(live.starts_with(&whole), "{live}");
    for call in &calls {
        assert!(live.contains(&format!("\n{call}")), "{call} in {live}");
    }
    assert!(
        matches!(ending, lucid_tui::backend::Ending::There(ref end) if end.error.is_none()),
        "{ending:?}"
    );
    owner.stop().await;

    // The store has whole turns only, numbered without gaps.
    let summary = store.sessions().unwrap().pop().unwrap();
    let events = store.events(summary.id).unwrap();
    assert!(events.iter().all(|e| !e.kind.is_live_only()));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
    assert!(events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Text { text } if *text == whole)));
}
