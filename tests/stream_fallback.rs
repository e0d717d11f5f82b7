//! A server that cannot stream tool calls (it ends the stream without sending anything,
//! as llama-cpp-python's `chatml-function-calling` does with automatic tool choice) is
//! asked once for the whole answer, at once, and from then on every seat on that profile
//! asks for whole answers: the run needs no `stream = false` by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use lucid_core::model::openai::{OpenAiConfig, OpenAiProvider};
use lucid_core::model::{
    collect, ContentBlock, Message, ModelDelta, ModelRequest, ModelResponse, Provider, StopReason,
    ToolChoice, ToolSpec, Usage,
};
use lucid_testkit::fake::no_stream::{cannot_stream_tools, was_streamed};
use lucid_testkit::fake::FakeServer;

fn survey_request() -> ModelRequest {
    ModelRequest {
        system: "You survey sites.".into(),
        messages: vec![Message::user_text("Survey site A.")].into(),
        tools: vec![ToolSpec {
            name: "survey_site".into(),
            description: "Survey one site.".into(),
            input_schema: json!({"type": "object", "properties": {"site": {"type": "string"}}}),
        }]
        .into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 64,
        temperature: None,
    }
}

#[tokio::test]
async fn an_empty_stream_falls_back_to_a_whole_answer_once_and_for_good() {
    let server = FakeServer::start(cannot_stream_tools(Arc::new(|_| ModelResponse {
        content: vec![ContentBlock::ToolUse {
            id: "call_1".into(),
            name: "survey_site".into(),
            input: json!({"site": "A"}),
        }],
        stop: StopReason::ToolUse,
        usage: Usage::default(),
    })))
    .await;
    let provider = OpenAiProvider::new(
        OpenAiConfig {
            base_url: format!("{}/v1", server.url),
            model: "tiny".into(),
            api_key: None,
            timeout: Duration::from_secs(5),
            // No retries to spend: the fallback is not one of them.
            max_retries: 0,
            streaming: true,
            bounds: lucid_core::model::TurnBounds::default(),
        },
        reqwest::Client::new(),
    );
    let deltas: Vec<ModelDelta> = provider
        .stream(survey_request())
        .map(|d| d.unwrap())
        .collect()
        .await;
    let notices: Vec<&str> = deltas
        .iter()
        .filter_map(|d| match d {
            ModelDelta::Retry(notice) => Some(notice.reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{deltas:?}");
    assert!(
        notices[0].contains("ended the stream without sending anything")
            && notices[0].contains("asking for whole answers instead"),
        "{}",
        notices[0]
    );
    let answer = collect(futures::stream::iter(deltas.into_iter().map(Ok)))
        .await
        .unwrap();
    let (_, name, input) = answer.tool_uses().next().expect("the whole answer's call");
    assert_eq!((name, input), ("survey_site", &json!({"site": "A"})));

    // The provider remembers: the next request asks for the whole answer straight away.
    let again = lucid_core::model::complete(&provider, survey_request())
        .await
        .unwrap();
    assert_eq!(again.tool_uses().count(), 1);
    let streamed: Vec<bool> = server.requests().iter().map(was_streamed).collect();
    assert_eq!(streamed, [true, false, false]);
    let second = &server.requests()[1].body;
    assert!(second.get("stream_options").is_none(), "{second}");
}

fn lucid(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(dir.join("store"))
        .args(args)
        .output()
        .unwrap()
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

#[test]
fn a_whole_session_on_a_server_that_cannot_stream_tools_needs_no_setting() {
    let offline_dir = tempfile::tempdir().unwrap();
    let offline = lucid(
        offline_dir.path(),
        &["run", "sessions/lumara.toml", "--json", "--quiet"],
    );
    let spec =
        lucid_core::spec::load(Path::new("sessions/lumara.toml"), &lucid_envs::catalog()).unwrap();
    let env = lucid_envs::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    )
    .unwrap();
    let server = FakeServer::start_blocking(cannot_stream_tools(Arc::new(move |request| {
        env.policy(role_of(request)).unwrap().respond(request)
    })));
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string("sessions/lumara.toml").unwrap();
    // No `stream = false`: the profile streams, as every profile does by default.
    let text = format!(
        "{base}\n[models.llama]\nprovider = \"openai\"\nmodel = \"tiny\"\nbase_url = \"{}/v1\"\nmax_retries = 0\n",
        server.url
    );
    let file = dir.path().join("lumara-llama.toml");
    std::fs::write(&file, text).unwrap();
    let output = lucid(
        dir.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--headless",
            "--model",
            "llama",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), offline.status.code(), "{stderr}");
    let report: Value = support::stdout_json(&output);
    let offline: Value = support::stdout_json(&offline);
    assert_eq!(
        report["outcome"], offline["outcome"],
        "the offline run's verdicts"
    );
    // One streamed request came back empty; every later one, from every agent on the
    // profile, asked for the whole answer.
    let streamed: Vec<bool> = server.requests().iter().map(was_streamed).collect();
    assert!(streamed.len() > 5, "{streamed:?}");
    assert!(streamed[0], "the first turn streams");
    assert!(streamed[1..].iter().all(|s| !s), "{streamed:?}");
    assert_eq!(
        stderr.matches("asking for whole answers instead").count(),
        1,
        "the fallback is shown once:\n{stderr}"
    );
    assert_eq!(report["retries"], 1, "{}", report["retries"]);
}
