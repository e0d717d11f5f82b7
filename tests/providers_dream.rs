//! The dreamer on a network model: its forced `propose_memories` call goes over the
//! wire, and the provider's retries and its tokens and cost are recorded in the dream's
//! own session, under the dreamer's role.

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
        usage: Usage {
            input_tokens: 20_000,
            output_tokens: 1_000,
        },
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
                "\n[models.claude]\nprovider = \"anthropic\"\nmodel = \"fake\"\nbase_url = \"{}\"\napi_key_env = \"{KEY_VAR}\"\ninput_price_per_mtok = 3.0\noutput_price_per_mtok = 15.0\n",
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
    drop(store);

    // The dream's session reports what its dreamer used and cost: 20,000 tokens in at $3
    // and 1,000 out at $15 per million.
    let dreams = lucid(dir.path(), &["sessions", "list", "--json"]);
    let dreams: serde_json::Value = serde_json::from_slice(&dreams.stdout).unwrap();
    let dream_id = dreams
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["environment"] == "dream")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = lucid(dir.path(), &["sessions", "show", &dream_id, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let usage = &report["usage_by_role"]["dreamer"];
    assert_eq!(usage["calls"], 1, "{report:#}");
    assert_eq!(usage["tokens_in"], 20_000);
    assert!(
        (usage["cost_usd"].as_f64().unwrap() - 0.075).abs() < 1e-9,
        "{usage}"
    );
    assert!((report["cost_usd"].as_f64().unwrap() - 0.075).abs() < 1e-9);
}
