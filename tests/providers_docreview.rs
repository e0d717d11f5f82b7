//! The doc-review session through the real `lucid` binary and a loopback model server
//! of each protocol, with its model-graded rubric judged over the wire. The network
//! profile comes from a user config file (`LUCID_CONFIG`), so the bundled session file
//! runs unchanged. Behind the server, the workspace environment's scripted policies play
//! the model: the run must reach the offline run's verdicts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;

use lucid_core::model::{ModelRequest, ToolChoice};
use lucid_testkit::fake::wire::{
    anthropic_events, anthropic_request, openai_chunks, openai_request,
};
use lucid_testkit::fake::{FakeServer, Recorded, Reply, Responder};

const SPEC: &str = "sessions/doc-review.toml";
const KEY_VAR: &str = "LUCID_TEST_DOCREVIEW_KEY";
const KEY: &str = "sk-docreview-NEVER-STORED-51c2";

#[derive(Clone, Copy)]
enum Protocol {
    Anthropic,
    OpenAi,
}

/// Which role a request is for, from its system prompt.
fn role_of(request: &ModelRequest) -> &'static str {
    let system = &request.system;
    if system.starts_with("You are an independent grader") {
        "grader"
    } else if system.starts_with("You are an advisor") {
        "advisor"
    } else if system.contains("You lead a documentation review") {
        "commander"
    } else if system.contains("You review documents") {
        "reviewer"
    } else {
        panic!("unknown agent prompt: {system}")
    }
}

fn brain(protocol: Protocol) -> Responder {
    let spec = lucid_core::spec::load(Path::new(SPEC), &lucid_envs::catalog()).unwrap();
    let env = lucid_envs::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    )
    .unwrap();
    Arc::new(move |recorded: &Recorded, n| {
        let mut request = match protocol {
            Protocol::Anthropic => anthropic_request(&recorded.body),
            Protocol::OpenAi => openai_request(&recorded.body),
        };
        let role = role_of(&request);
        if role == "grader" {
            request.tool_choice = ToolChoice::Tool {
                name: lucid_core::outcome::grader::VERDICT_TOOL.into(),
            };
        }
        let response = env.policy(role).unwrap().respond(&request);
        let events = match protocol {
            Protocol::Anthropic => anthropic_events(&response, 11),
            Protocol::OpenAi => openai_chunks(&response, 11),
        };
        // Every fifth request is first cut mid-answer.
        if n % 5 == 3 {
            return Reply::Stream {
                cut_after: Some(events.len() / 2),
                pieces: events,
            };
        }
        Reply::Stream {
            pieces: events,
            cut_after: None,
        }
    })
}

fn lucid(dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .env(KEY_VAR, KEY)
        .arg("--db")
        .arg(dir.join("store"))
        .args(args);
    match config {
        Some(config) => command.env("LUCID_CONFIG", config),
        None => command.env_remove("LUCID_CONFIG"),
    };
    command.output().unwrap()
}

fn verdicts(output: &Output) -> Value {
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    report["outcome"].clone()
}

/// The doc-review session with its output folder inside `dir`, so runs in parallel
/// never share (and clear) one output folder.
fn isolated_spec(dir: &Path) -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(manifest.join(SPEC))
        .unwrap()
        .replace(
            "root = \"docs\"",
            &format!(
                "root = {:?}",
                manifest.join("sessions/docs").display().to_string()
            ),
        )
        .replace(
            "output = \"review-out\"",
            &format!(
                "output = {:?}",
                dir.join("review-out").display().to_string()
            ),
        );
    assert!(text.contains("review-out\"") && !text.contains("output = \"review-out\""));
    let path = dir.join("doc-review.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn run_through(protocol: Protocol) {
    let offline_dir = tempfile::tempdir().unwrap();
    let offline_spec = isolated_spec(offline_dir.path());
    let offline = lucid(
        offline_dir.path(),
        None,
        &["run", &offline_spec, "--json", "--quiet"],
    );
    let server = FakeServer::start_blocking(brain(protocol));
    let dir = tempfile::tempdir().unwrap();
    let (provider, base_url) = match protocol {
        Protocol::Anthropic => ("anthropic", server.url.clone()),
        Protocol::OpenAi => ("openai", format!("{}/v1", server.url)),
    };
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[models.fake]\nprovider = \"{provider}\"\nmodel = \"fake\"\nbase_url = \"{base_url}\"\napi_key_env = \"{KEY_VAR}\"\nmax_retries = 3\n"),
    )
    .unwrap();
    let spec = isolated_spec(dir.path());
    let output = lucid(
        dir.path(),
        Some(&config),
        &["run", &spec, "--json", "--model", "fake"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), offline.status.code(), "{stderr}");
    assert!(matches!(output.status.code(), Some(0 | 1)));
    assert_eq!(
        verdicts(&output),
        verdicts(&offline),
        "the offline run's verdicts"
    );
    let requests = server.requests();
    let graded = requests
        .iter()
        .filter(|r| {
            let request = match protocol {
                Protocol::Anthropic => anthropic_request(&r.body),
                Protocol::OpenAi => openai_request(&r.body),
            };
            role_of(&request) == "grader"
        })
        .count();
    assert!(graded >= 1, "the model-graded criteria went over the wire");
    assert!(
        stderr.contains(" retry 1 in "),
        "cut streams were retried:\n{stderr}"
    );
    assert!(!stderr.contains(KEY));
}

#[test]
fn doc_review_runs_through_an_anthropic_server() {
    run_through(Protocol::Anthropic);
}

#[test]
fn doc_review_runs_through_an_openai_server() {
    run_through(Protocol::OpenAi);
}
