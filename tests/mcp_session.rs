//! MCP servers inside whole sessions, through the `lucid` binary: a server that cannot
//! start and a server that crashes mid-call each end the run cleanly with exit 3, the
//! session recorded as `error` with a message naming the server and its stderr; an agent
//! that lists a server's tools calls them under `SERVER__TOOL` names.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use lucid_core::event::EventKind;
use lucid_core::store::{SessionStatus, Store};

/// The Lumara demo with an MCP server `fault` (the in-repo fault server in `mode`) whose
/// `tools` the commander lists.
fn session(dir: &Path, mode: &str, tools: &str) -> std::path::PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::fs::read_to_string(repo.join("sessions/lumara.toml")).unwrap();
    let server = repo.join("tests/fixtures/mcp_fault_server.py");
    let text = base.replacen(
        "[agents.commander]\nlead = true",
        &format!("[agents.commander]\nlead = true\ntools = [{tools}]"),
        1,
    );
    assert!(
        text.contains(&format!("tools = [{tools}]")),
        "the template moved"
    );
    let text = format!(
        "{text}\n[mcp_servers.fault]\ncommand = \"python3\"\nargs = [\"{}\"]\nenv = {{ MCP_FAULT_MODE = \"{mode}\" }}\nstartup_timeout_s = 20\ntool_timeout_s = 5\n",
        server.display()
    );
    let path = dir.join("lumara-mcp.toml");
    std::fs::write(&path, text).unwrap();
    path
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

fn only_session(dir: &Path) -> (SessionStatus, Vec<EventKind>) {
    let store = Store::open(&dir.join("store")).unwrap();
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    let events = store.events(sessions[0].id).unwrap();
    (
        sessions[0].status,
        events.into_iter().map(|e| e.kind).collect(),
    )
}

fn errors(events: &[EventKind]) -> Vec<String> {
    events
        .iter()
        .filter_map(|k| match k {
            EventKind::Error { message } => Some(message.clone()),
            EventKind::SessionFinished {
                error: Some(error), ..
            } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_server_that_cannot_start_ends_the_run_with_exit_3_on_record() {
    let dir = tempfile::tempdir().unwrap();
    let spec = session(dir.path(), "exit_at_start", "\"fault.*\"");
    let run = lucid(dir.path(), &["run", spec.to_str().unwrap(), "--headless"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("MCP server `fault` could not start"),
        "{stderr}"
    );
    assert!(
        stderr.contains("refusing to start (exit_at_start)"),
        "{stderr}"
    );
    let (status, events) = only_session(dir.path());
    assert_eq!(status, SessionStatus::Error);
    let recorded = errors(&events);
    assert!(
        recorded.iter().any(|m| m.contains("refusing to start")),
        "{recorded:?}"
    );
}

#[test]
fn a_server_crashing_mid_call_ends_the_run_with_exit_3_on_record() {
    let dir = tempfile::tempdir().unwrap();
    // The dry-run profile calls every offered tool once: the commander calls `crash`.
    let spec = session(dir.path(), "", "\"fault.crash\"");
    let run = lucid(
        dir.path(),
        &[
            "run",
            spec.to_str().unwrap(),
            "--headless",
            "--model",
            "test",
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("fault__crash"),
        "the model saw the MCP name: {stderr}"
    );
    let (status, events) = only_session(dir.path());
    assert_eq!(status, SessionStatus::Error);
    let recorded = errors(&events);
    assert!(
        recorded
            .iter()
            .any(|m| m.contains("`fault`") && m.contains("crashing on purpose")),
        "{recorded:?}"
    );
    assert!(
        !events
            .iter()
            .any(|k| matches!(k, EventKind::ToolReturned { tool, .. } if tool == "fault__crash")),
        "a crashed call returns no result"
    );
}

#[test]
fn an_agent_calls_mcp_tools_under_their_model_names() {
    let dir = tempfile::tempdir().unwrap();
    let spec = session(dir.path(), "", "\"fault.ok\"");
    let run = lucid(
        dir.path(),
        &[
            "run",
            spec.to_str().unwrap(),
            "--headless",
            "--model",
            "test",
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{stderr}");
    let (_, events) = only_session(dir.path());
    let answered = events.iter().find_map(|k| match k {
        EventKind::ToolReturned { tool, output, .. } if tool == "fault__ok" => Some(output.clone()),
        _ => None,
    });
    assert_eq!(answered.as_deref(), Some("ok: test"), "{events:#?}");
}
