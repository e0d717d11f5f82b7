//! The dreamer on a network model: its forced `propose_memories` call goes over the
//! wire, and the provider's retries are recorded in the dream's own session.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::json;

use lucid_core::event::EventKind;
use lucid_core::model::{ContentBlock, ModelResponse, StopReason, Usage};
use lucid_testkit::fake::wire::anthropic_events;
use lucid_testkit::fake::{FakeServer, Reply};

const KEY_VAR: &str = "LUCID_TEST_DREAM_KEY";
const KEY: &str = "sk-dream-NEVER-STORED-90ab";

fn lucid(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .env_remove("LUCID_CONFIG")
        .env(KEY_VAR, KEY)
        .arg("--db")
        .arg(dir.join("store"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_dreamers_retries_are_recorded() {
    let proposals = ModelResponse {
        content: vec![ContentBlock::ToolUse {
            id: "toolu_dream".into(),
            name: "propose_memories".into(),
            input: json!({"proposals": []}),
        }],
        stop: StopReason::ToolUse,
        usage: Usage::default(),
    };
    let answer = anthropic_events(&proposals, 9);
    let server = FakeServer::start_blocking(Arc::new(move |_, n| {
        if n == 0 {
            Reply::status(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .with_header("retry-after-ms", "1")
        } else {
            Reply::Stream {
                pieces: answer.clone(),
                cut_after: None,
            }
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string("sessions/lumara.toml").unwrap();
    let spec = dir.path().join("lumara-dream.toml");
    std::fs::write(
        &spec,
        base.replace("[dreaming]\nmodel = \"offline\"", "[dreaming]\nmodel = \"claude\"")
            + &format!(
                "\n[models.claude]\nprovider = \"anthropic\"\nmodel = \"fake\"\nbase_url = \"{}\"\napi_key_env = \"{KEY_VAR}\"\n",
                server.url
            ),
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let run = lucid(dir.path(), &["run", spec, "--quiet"]);
    assert!(matches!(run.status.code(), Some(0 | 1)));
    let dream = lucid(dir.path(), &["dream", "--spec", spec]);
    let stderr = String::from_utf8_lossy(&dream.stderr);
    assert_eq!(dream.status.code(), Some(0), "{stderr}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one overloaded answer, one retry");
    assert_eq!(
        requests[1].body["tool_choice"],
        json!({"type": "tool", "name": "propose_memories"})
    );
    let store = lucid_core::store::Store::open(&dir.path().join("store")).unwrap();
    let retries: usize = store
        .sessions()
        .unwrap()
        .iter()
        .map(|s| {
            store
                .events(s.id)
                .unwrap()
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Retry { .. }))
                .count()
        })
        .sum();
    assert_eq!(retries, 1, "the dreamer's retry is an event");
}
