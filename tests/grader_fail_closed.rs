//! A grader that cannot judge a criterion fails it closed, and the session goes on.
//!
//! The doc-review team runs offline; its grader runs on a loopback OpenAI-compatible
//! server whose model answers the way a tiny real model does: the forced
//! `submit_verdicts` call leaves out a criterion (`grounded`), asked twice. The run must
//! not end with a runtime failure (exit 3): `grounded` fails as not judged, saying why,
//! the team revises, and after the last iteration the run ends with the rubric not met
//! (exit 1). The JSON report says which verdicts were not judged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{json, Value};

use lucid_core::model::{ContentBlock, ModelResponse, ToolChoice};
use lucid_testkit::fake::wire::{openai_chunks, openai_request};
use lucid_testkit::fake::{FakeServer, Recorded, Reply, Responder};

const SPEC: &str = "sessions/doc-review.toml";

/// How the fake grader model answers.
#[derive(Clone, Copy)]
enum Grader {
    /// Judges every criterion but `grounded`.
    LeavesOutGrounded,
    /// Answers in prose, never through its tool.
    Prose,
}

/// The workspace environment's scripted grader, spoiled as `how` says.
fn grader(how: Grader) -> Responder {
    let spec = lucid_core::spec::load(Path::new(SPEC), &lucid_envs::catalog()).unwrap();
    let env = lucid_envs::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    )
    .unwrap();
    Arc::new(move |recorded: &Recorded, _| {
        let mut request = openai_request(&recorded.body);
        assert!(
            request.system.starts_with("You are an independent grader"),
            "only the grader is on the fake server"
        );
        request.tool_choice = ToolChoice::Tool {
            name: lucid_core::outcome::grader::VERDICT_TOOL.into(),
        };
        let mut response = env.policy("grader").unwrap().respond(&request);
        match how {
            Grader::LeavesOutGrounded => {
                for block in &mut response.content {
                    if let ContentBlock::ToolUse { input, .. } = block {
                        let verdicts = input["verdicts"].as_array_mut().unwrap();
                        verdicts.retain(|v| v["criterion"] != "grounded");
                    }
                }
            }
            Grader::Prose => {
                response = ModelResponse {
                    content: vec![ContentBlock::Text {
                        text: "The review looks fine to me.".into(),
                    }],
                    stop: lucid_core::model::StopReason::EndTurn,
                    usage: response.usage,
                };
            }
        }
        Reply::Stream {
            pieces: openai_chunks(&response, 16),
            cut_after: None,
        }
    })
}

/// The doc-review session with its grader on the fake server and its output folder
/// inside `dir`.
fn spec_with_grader_at(dir: &Path, url: &str) -> String {
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
        )
        .replace("grader = \"offline\"", "grader = \"judge\"");
    assert!(text.contains("grader = \"judge\""));
    let text = format!(
        "{text}\n[models.judge]\nprovider = \"openai\"\nmodel = \"tiny\"\nbase_url = \"{url}/v1\"\nmax_retries = 0\n"
    );
    let path = dir.join("doc-review.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
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

/// Runs the session; returns the report, the exit code and the progress lines.
fn run(how: Grader) -> (Value, Option<i32>, String) {
    let server = FakeServer::start_blocking(grader(how));
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_with_grader_at(dir.path(), &server.url);
    let output = lucid(dir.path(), &["run", &spec, "--headless", "--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}); stderr:\n{stderr}"));
    // The stored session reports the same.
    let id = report["session_id"].as_str().unwrap();
    let shown = lucid(dir.path(), &["sessions", "show", id, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["outcome"], report["outcome"]);
    (report, output.status.code(), stderr)
}

#[test]
fn a_criterion_the_grader_leaves_out_fails_closed_and_the_team_revises() {
    let (report, code, stderr) = run(Grader::LeavesOutGrounded);
    assert_eq!(
        code,
        Some(1),
        "the rubric is not met, no runtime failure:\n{stderr}"
    );
    assert_eq!(report["status"], "failed");
    assert!(report.get("error").is_none(), "{}", report["error"]);
    let iterations = report["outcome"]["iterations"].as_array().unwrap();
    assert_eq!(iterations.len(), 3, "the team revised until max_iterations");
    for iteration in iterations {
        assert_eq!(iteration["passed"], false);
        assert_eq!(iteration["not_judged"], json!(["grounded"]));
        for criterion in iteration["criteria"].as_array().unwrap() {
            let judged = criterion["id"] != "grounded";
            assert_eq!(criterion["judged"], judged, "{criterion}");
            if !judged {
                assert_eq!(criterion["passed"], false);
                assert_eq!(
                    criterion["reason"],
                    "not judged: the grader's answer was malformed twice: no verdict for criterion `grounded`"
                );
            }
        }
    }
    // The team heard why, and the progress lines show it.
    assert!(
        stderr.contains("? grounded: not judged"),
        "progress marks the criterion:\n{stderr}"
    );
    assert!(stderr.contains("revising: iteration 2"), "{stderr}");
}

#[test]
fn a_grader_that_never_calls_its_tool_fails_every_model_graded_criterion_closed() {
    let (report, code, stderr) = run(Grader::Prose);
    assert_eq!(code, Some(1), "{stderr}");
    let iterations = report["outcome"]["iterations"].as_array().unwrap();
    assert_eq!(iterations.len(), 3);
    for iteration in iterations {
        assert_eq!(
            iteration["not_judged"],
            json!(["grounded", "actionable", "cross_document"])
        );
        // Criteria with a check are judged by their checks, as always.
        let checked: Vec<&Value> = iteration["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["judged"] == true)
            .collect();
        assert_eq!(checked.len(), 2, "{iteration}");
    }
    assert!(stderr.contains("no submit_verdicts call"), "{stderr}");
}
