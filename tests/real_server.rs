//! A real OpenAI-compatible server with a real (tiny) model: llama-cpp-python serving
//! SmolLM2-135M-Instruct, as `.ci/run` sets it up. The model is not clever, so the test
//! asserts protocol facts only: text streams in pieces, a streamed tool call assembles
//! into valid arguments, a whole session's tool calls round-trip, and the run ends with
//! exit 0 or 1 (never 3, never a panic).
//!
//! Without `LUCID_REAL_OPENAI_URL` (e.g. `http://127.0.0.1:8765/v1`) every test here
//! prints that it was skipped and passes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use lucid_core::event::EventKind;
use lucid_core::model::openai::{OpenAiConfig, OpenAiProvider};
use lucid_core::model::{
    collect, Message, ModelDelta, ModelRequest, Provider, ToolChoice, ToolSpec,
};

const URL_VAR: &str = "LUCID_REAL_OPENAI_URL";

/// One test at a time: llama-cpp-python serves one request at a time and, unless told
/// otherwise, cuts a stream short when another request arrives.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The server's URL, or a visible skip notice.
fn server(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Written to the real stderr, past the test harness's capture.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED real_server::{test}: set {URL_VAR} to an OpenAI-compatible server (see .ci/run)"
            );
            None
        }
    }
}

fn provider(url: &str, streaming: bool) -> OpenAiProvider {
    OpenAiProvider::new(
        OpenAiConfig {
            base_url: url.into(),
            model: "smollm2".into(),
            api_key: None,
            timeout: Duration::from_secs(120),
            bounds: lucid_core::model::TurnBounds::default(),
            max_retries: 2,
            streaming,
        },
        reqwest::Client::new(),
    )
}

fn request(text: &str) -> ModelRequest {
    ModelRequest {
        system: "You are a helpful assistant.".into(),
        messages: vec![Message::user_text(text)].into(),
        tools: vec![].into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 48,
        temperature: Some(0.0),
    }
}

#[tokio::test]
async fn text_streams_in_pieces() {
    let Some(url) = server("text_streams_in_pieces") else {
        return;
    };
    let _one_at_a_time = SERVER.lock().await;
    let deltas: Vec<ModelDelta> = provider(&url, true)
        .stream(request("Name three colours."))
        .map(|d| d.unwrap())
        .collect()
        .await;
    let texts = deltas
        .iter()
        .filter(|d| matches!(d, ModelDelta::Text(_)))
        .count();
    assert!(texts >= 2, "text arrives in pieces: {deltas:?}");
    assert!(matches!(deltas.last(), Some(ModelDelta::Stop(_))));
}

#[tokio::test]
async fn a_forced_tool_call_streams_and_assembles() {
    let Some(url) = server("a_forced_tool_call_streams_and_assembles") else {
        return;
    };
    let _one_at_a_time = SERVER.lock().await;
    let mut req = request("Survey site A.");
    req.tools = vec![ToolSpec {
        name: "survey_site".into(),
        description: "Survey one landing site.".into(),
        input_schema: json!({"type": "object", "properties": {"site": {"type": "string"}}, "required": ["site"]}),
    }].into();
    req.tool_choice = ToolChoice::Tool {
        name: "survey_site".into(),
    };
    let deltas: Vec<ModelDelta> = provider(&url, true)
        .stream(req)
        .map(|d| d.unwrap())
        .collect()
        .await;
    let fragments = deltas
        .iter()
        .filter(|d| matches!(d, ModelDelta::ToolCallArgs { .. }))
        .count();
    assert!(fragments >= 2, "arguments stream in pieces: {deltas:?}");
    let response = collect(futures::stream::iter(deltas.into_iter().map(Ok)))
        .await
        .unwrap();
    let (id, name, input) = response.tool_uses().next().expect("a tool call");
    assert!(!id.is_empty());
    assert_eq!(name, "survey_site");
    assert!(
        input.is_object(),
        "grammar-constrained arguments parse: {input}"
    );
}

#[test]
fn a_lumara_session_runs_on_a_real_model() {
    let Some(url) = server("a_lumara_session_runs_on_a_real_model") else {
        return;
    };
    let _one_at_a_time = SERVER.blocking_lock();
    let base = std::fs::read_to_string("sessions/lumara.toml").unwrap();
    // A short session keeps a 135M model on 2 cores quick: one iteration, three model
    // turns (the commander delegates, the detector calls a tool and sees its result).
    // llama-cpp-python ignores max_tokens when the model answers in prose with automatic
    // tool choice, so a long session could spend minutes on one rambling answer.
    let text = base
        .replace("max_iterations = 3", "max_iterations = 1")
        .replace("max_total_turns = 200", "max_total_turns = 3");
    // The profile streams (the default): the server cannot stream tool calls, and the
    // first turn falls back to whole answers for the rest of the session.
    let text = format!(
        "{text}\n{}",
        real_profile(&url).replace("stream = false\n", "")
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("lumara-real.toml");
    std::fs::write(&spec, text).unwrap();
    let events = run_on_real_model(
        dir.path(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &spec,
        "real-model session",
    );
    let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    let turns = count(|k| matches!(k, EventKind::ModelTurn { .. }));
    let called = count(|k| matches!(k, EventKind::ToolCalled { .. }));
    let returned = count(|k| matches!(k, EventKind::ToolReturned { .. }));
    assert!(turns >= 2, "{turns} model turns");
    assert!(called >= 1, "the model called a tool");
    assert_eq!(called, returned, "every tool call got its result");
    let tokens: u64 = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ModelTurn { tokens_in, .. } => Some(tokens_in),
            _ => None,
        })
        .sum();
    assert!(tokens > 0, "the server's usage is recorded");
    let fallbacks = events
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::Retry { reason, .. } if reason.contains("asking for whole answers"))
        })
        .count();
    assert_eq!(fallbacks, 1, "one fallback to whole answers, remembered");
}

/// The `real` profile on the server at `url`. llama-cpp-python's
/// chatml-function-calling cannot stream with automatic tool choice, so it asks for whole
/// answers (without `stream = false`, lucid finds that out on the first turn).
fn real_profile(url: &str) -> String {
    format!(
        "[models.real]\nprovider = \"openai\"\nmodel = \"smollm2\"\nbase_url = \"{url}\"\nmax_tokens = 160\ntemperature = 0.0\ntimeout_s = 300\nstream = false\n"
    )
}

/// Runs `spec` headless with every agent on the `real` profile, in `cwd`, with a store in
/// `dir`; asserts the run ended with a verdict (exit 0 or 1) and returns its events.
fn run_on_real_model(
    dir: &Path,
    cwd: &Path,
    spec: &Path,
    label: &str,
) -> Vec<lucid_core::event::Event> {
    let db = dir.join("store");
    let output = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(&db)
        .args([
            "run",
            spec.to_str().unwrap(),
            "--model",
            "real",
            "--headless",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let _ = writeln!(std::io::stderr(), "{label}:\n{stderr}");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "exit {:?}:\n{stderr}",
        output.status.code()
    );
    let store = lucid_core::store::Store::open(&db).unwrap();
    let session = store.sessions().unwrap()[0].id;
    store.events(session).unwrap()
}

/// Every file under `dir` with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_fix_tests_session_runs_on_a_real_model_in_a_copy() {
    let Some(url) = server("the_fix_tests_session_runs_on_a_real_model_in_a_copy") else {
        return;
    };
    let _one_at_a_time = SERVER.blocking_lock();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions");
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("fix-tests");
    std::fs::create_dir_all(&project).unwrap();
    for name in ["stats.py", "test_stats.py", ".gitignore"] {
        std::fs::copy(repo.join("fix-tests").join(name), project.join(name)).unwrap();
    }
    // One iteration and a few turns keep a 135M model on 2 cores quick. The
    // model-graded criterion goes: a 135M model cannot answer a grader's forced call, and
    // the `tests_pass` check is what this test is about.
    let full = std::fs::read_to_string(repo.join("fix-tests.toml")).unwrap();
    let (rubric, _model_graded) = full
        .split_once("\n[[outcome.criteria]]\nid = \"code_not_tests\"")
        .unwrap();
    let text = rubric.replace("max_iterations = 3", "max_iterations = 1");
    let text = format!(
        "{text}\n[limits]\nmax_total_turns = 4\n\n{}",
        real_profile(&url)
    );
    let spec = dir.path().join("fix-tests.toml");
    std::fs::write(&spec, text).unwrap();
    let before = snapshot(&project);
    let events = run_on_real_model(
        dir.path(),
        dir.path(),
        &spec,
        "real-model fix-tests session",
    );
    assert_eq!(
        snapshot(&project),
        before,
        "nothing outside the copy changed"
    );
    let called: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolCalled { tool, .. } => Some(tool.as_str()),
            _ => None,
        })
        .collect();
    let returned = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ToolReturned { .. }))
        .count();
    assert!(!called.is_empty(), "the model called a tool");
    assert_eq!(
        called.len(),
        returned,
        "every tool call got its result: {called:?}"
    );
    // The grader ran the project's own tests in the copy after the attempt.
    let graded = events.iter().any(|e| {
        matches!(&e.kind, EventKind::GradingFinished { facts, .. } if facts.contains_key("tests_pass"))
    });
    assert!(graded, "tests_pass was evaluated");
}

#[test]
fn a_grader_that_cannot_judge_fails_closed_on_a_real_model() {
    let Some(url) = server("a_grader_that_cannot_judge_fails_closed_on_a_real_model") else {
        return;
    };
    let _one_at_a_time = SERVER.blocking_lock();
    // Lumara with a model-graded criterion. A 135M model rarely answers the grader's
    // forced call well; whatever it answers, the run must end with a verdict (exit 0 or
    // 1, never 3), and a criterion it could not judge fails closed, saying so.
    let base = std::fs::read_to_string("sessions/lumara.toml").unwrap();
    let text = base
        .replace("max_iterations = 3", "max_iterations = 1")
        .replace("max_total_turns = 200", "max_total_turns = 2");
    let text = format!(
        "{text}\n[[outcome.criteria]]\nid = \"grounded\"\ndescription = \"The mission report states the touchdown speed it relies on.\"\n\n{}",
        real_profile(&url)
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("lumara-graded.toml");
    std::fs::write(&spec, text).unwrap();
    let events = run_on_real_model(
        dir.path(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &spec,
        "real-model grader",
    );
    let grounded: Vec<(bool, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CriterionJudged {
                criterion,
                judged,
                reason,
                ..
            } if criterion == "grounded" => Some((*judged, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(grounded.len(), 1, "the criterion has a verdict");
    let (judged, reason) = &grounded[0];
    if !judged {
        assert!(reason.starts_with("not judged: "), "{reason}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "real-model grader: `grounded` judged = {judged}: {reason}"
    );
}
