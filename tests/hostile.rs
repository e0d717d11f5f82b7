//! The real `lucid` binary against a hostile model server of each protocol: escape
//! sequences in error bodies, text, tool names and arguments never reach stdout or
//! stderr; an endless, a ping-only and a huge answer each end the run with a clear
//! error instead of holding it; 5,000 tool calls in one turn spawn at most
//! `max_agents` agents; and no 8-character prefix of the API key, in any case, reaches
//! the store, stdout or stderr, even when the server echoes it in a 200 or a 401.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lucid_core::event::EventKind;
use lucid_testkit::hostile::{Hostile, HostileServer, Mode, Protocol};

const KEY_VAR: &str = "LUCID_HOSTILE_TEST_KEY";
const KEY: &str = "hk-7Qz9Xw3LmN5pR2tV8yB4cD6fG";

/// The hostile session (see [`HostileServer::session_toml`]): three lead turns, at most
/// 40 agents, `extra` keys on the profile.
fn session_file(dir: &Path, server: &HostileServer, extra: &str) -> PathBuf {
    let text = server.session_toml(
        KEY_VAR,
        &format!("timeout_s = 5\n{extra}"),
        3,
        "max_agents = 40",
    );
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text).unwrap();
    path
}

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

/// Runs the session headless (with `--json` or without) against a fresh server.
fn run(hostile: Hostile, extra: &str, json: bool) -> (tempfile::TempDir, Output) {
    let server = HostileServer::start_blocking(hostile);
    let dir = tempfile::tempdir().unwrap();
    // No retries unless a test asks for them: each attack fails its turn at once.
    let extra = if extra.contains("max_retries") {
        extra.to_string()
    } else {
        format!("max_retries = 0\n{extra}")
    };
    let spec = session_file(dir.path(), &server, &extra);
    let mut args = vec!["run", spec.to_str().unwrap(), "--headless"];
    if json {
        args.push("--json");
    }
    let output = lucid(dir.path(), &args);
    (dir, output)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// No ESC, BEL or 8-bit CSI in what lucid printed.
fn assert_no_controls(output: &Output, what: &str) {
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\u{9b}']),
            "{what}: a control character reached {name}:\n{}",
            text.escape_debug()
        );
    }
}

/// Every file under `dir`, as bytes, lower-cased.
fn tree_bytes(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push(bytes.to_ascii_lowercase());
        }
    }
    out
}

fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if let Ok(meta) = std::fs::metadata(&path) {
            total += meta.len();
        }
    }
    total
}

/// No 8-character prefix of the key, in any case, in `bytes` (every longer prefix holds
/// it).
fn holds_key(bytes: &[u8]) -> bool {
    let needle = KEY[..8].to_ascii_lowercase();
    bytes
        .to_ascii_lowercase()
        .windows(8)
        .any(|w| w == needle.as_bytes())
}

fn events(dir: &Path) -> Vec<lucid_core::event::Event> {
    let store = lucid_core::store::Store::open(&dir.join("store")).unwrap();
    let session = store.sessions().unwrap()[0].id;
    store.events(session).unwrap()
}

#[test]
fn escapes_in_error_bodies_never_reach_the_terminal() {
    for protocol in Protocol::ALL {
        for json in [false, true] {
            let (_dir, output) = run(
                Hostile::new(Mode::EscapesInError, protocol),
                "max_retries = 1",
                json,
            );
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(3), "{protocol:?}: {err}");
            assert!(
                err.contains("the run failed:") && err.contains("from a hostile server"),
                "{protocol:?}: {err}"
            );
            assert!(err.contains(" retry 1 in "), "the 529 was retried: {err}");
            assert_no_controls(&output, &format!("{protocol:?} json={json}"));
        }
    }
}

#[test]
fn escapes_in_text_tool_names_and_arguments_never_reach_the_terminal() {
    for protocol in Protocol::ALL {
        for json in [false, true] {
            let (dir, output) = run(Hostile::new(Mode::EscapesInText, protocol), "", json);
            assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
            assert_no_controls(&output, &format!("{protocol:?} json={json}"));
            // The record keeps what the model said; only what is shown is cleaned.
            let recorded = events(dir.path());
            assert!(recorded.iter().any(|e| matches!(
                &e.kind,
                EventKind::ToolCalled { tool, .. } if tool.contains('\u{1b}')
            )));
        }
    }
}

#[test]
fn a_dream_whose_model_answers_with_escapes_fails_cleanly() {
    for protocol in Protocol::ALL {
        let server = HostileServer::start_blocking(Hostile::new(Mode::EscapesInError, protocol));
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::read_to_string("sessions/lumara.toml").unwrap();
        let spec = dir.path().join("lumara-dream.toml");
        std::fs::write(
            &spec,
            base.replace(
                "[dreaming]\nmodel = \"offline\"",
                "[dreaming]\nmodel = \"hostile\"",
            ) + &format!(
                "\n[models.hostile]\nprovider = \"{}\"\nmodel = \"m\"\nbase_url = \"{}\"\napi_key_env = \"{KEY_VAR}\"\nmax_retries = 1\n",
                protocol.name(),
                server.base_url()
            ),
        )
        .unwrap();
        let spec = spec.to_str().unwrap();
        let offline = lucid(dir.path(), &["run", spec, "--quiet"]);
        assert!(matches!(offline.status.code(), Some(0 | 1)));
        let dream = lucid(dir.path(), &["dream", "--spec", spec]);
        let err = stderr(&dream);
        assert_eq!(dream.status.code(), Some(3), "{err}");
        assert!(err.contains("dreaming for team"), "{err}");
        assert!(err.contains("from a hostile server"), "{err}");
        assert_no_controls(&dream, &format!("dream {protocol:?}"));
    }
}

#[test]
fn an_endless_or_ping_only_stream_ends_at_the_turn_deadline() {
    for protocol in Protocol::ALL {
        for mode in [Mode::Endless, Mode::PingOnly] {
            let (dir, output) = run(Hostile::new(mode, protocol), "turn_timeout_s = 2", false);
            let err = stderr(&output);
            assert_eq!(
                output.status.code(),
                Some(3),
                "{mode:?} {protocol:?}: {err}"
            );
            assert!(
                err.contains("turn_timeout_s"),
                "{mode:?} {protocol:?}: {err}"
            );
            assert!(size_of(&dir.path().join("store")) < 8 << 20);
        }
    }
}

#[test]
fn a_huge_answer_ends_at_max_response_bytes_streamed_or_whole() {
    for protocol in Protocol::ALL {
        for stream in ["true", "false"] {
            let extra = format!("max_response_bytes = 1048576\nstream = {stream}");
            let (dir, output) = run(Hostile::new(Mode::Huge, protocol), &extra, false);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(3), "{protocol:?}: {err}");
            assert!(err.contains("max_response_bytes"), "{protocol:?}: {err}");
            let size = size_of(&dir.path().join("store"));
            assert!(size < 8 << 20, "the store grew to {size} bytes");
        }
    }
}

#[test]
fn five_thousand_calls_in_one_turn_spawn_at_most_max_agents() {
    for protocol in Protocol::ALL {
        let (dir, output) = run(Hostile::new(Mode::ManyCalls, protocol), "", true);
        let err = stderr(&output);
        assert!(matches!(output.status.code(), Some(1)), "{err}");
        let recorded = events(dir.path());
        let spawned = recorded
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::AgentSpawned {
                        parent: Some(_),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(spawned, 40, "max_agents = 40");
        let called = recorded
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ToolCalled { .. }))
            .count();
        // Three lead turns of at most 64 calls each (the default cap).
        assert!(called <= 3 * 64, "{called} calls recorded");
        let messages: Vec<&str> = recorded
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Error { message } => Some(message.as_str()),
                EventKind::ToolReturned { output, .. } => Some(output.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("max_tool_calls_per_turn")),
            "the cut is said"
        );
        assert!(
            messages.iter().any(|m| m.contains("max_agents")),
            "the agent budget is said"
        );
        let size = size_of(&dir.path().join("store"));
        assert!(size < 16 << 20, "the store grew to {size} bytes");
    }
}

#[test]
fn an_echoed_key_never_reaches_the_store_or_the_terminal() {
    for protocol in Protocol::ALL {
        for (mode, stream, code) in [
            (Mode::KeyEcho, "true", 1),
            (Mode::KeyEcho, "false", 1),
            (Mode::KeyEchoRefused, "true", 3),
        ] {
            let what = format!("{mode:?} {protocol:?} stream={stream}");
            let (dir, output) = run(
                Hostile::new(mode, protocol),
                &format!("stream = {stream}"),
                true,
            );
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(code), "{what}: {err}");
            assert!(!holds_key(&output.stdout), "{what}: the key is on stdout");
            assert!(
                !holds_key(&output.stderr),
                "{what}: the key is on stderr: {err}"
            );
            let needle = KEY[..8].to_ascii_lowercase();
            for file in tree_bytes(&dir.path().join("store")) {
                assert!(
                    !file.windows(8).any(|w| w == needle.as_bytes()),
                    "{what}: the key is in the store"
                );
            }
            assert!(
                err.contains("[redacted]") || mode == Mode::KeyEcho,
                "{what}: {err}"
            );
        }
    }
}
