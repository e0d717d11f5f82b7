//! Helpers shared by the store's tests: temporary stores and short event builders.

use tempfile::TempDir;

use super::{Store, StoreError};
use crate::event::{AgentId, Event, EventKind, SessionId};

/// A store in a fresh temporary directory, at `<dir>/store`.
pub fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open_in(&dir).expect("open a fresh store");
    (dir, store)
}

/// Opens (again) the store of a [`temp_store`] directory.
pub fn open_in(dir: &TempDir) -> Result<Store, StoreError> {
    Store::open(&dir.path().join("store"))
}

pub fn event(session: SessionId, seq: u64, kind: EventKind) -> Event {
    Event {
        session,
        seq,
        at_ms: 1_700_000_000_000 + seq,
        agent: Some(AgentId(1)),
        kind,
    }
}

pub fn started(team: &str) -> EventKind {
    EventKind::SessionStarted {
        team: team.into(),
        spec_path: "sessions/demo.toml".into(),
        task: "map the ridge".into(),
        environment: "lumara".into(),
        seed: 7,
        world: 3,
        max_iterations: 4,
    }
}

pub fn spawned(name: &str) -> EventKind {
    EventKind::AgentSpawned {
        name: name.into(),
        role: "specialist".into(),
        parent: None,
        model: "scripted".into(),
        purpose: None,
        iteration: 1,
    }
}

pub fn tool_called(tool: &str) -> EventKind {
    EventKind::ToolCalled {
        call_id: format!("call-{tool}"),
        tool: tool.into(),
        input: serde_json::json!({ "depth": 3 }),
    }
}

pub fn turn(tokens_in: u64, tokens_out: u64) -> EventKind {
    EventKind::ModelTurn {
        turn: 1,
        tokens_in,
        tokens_out,
        stop: "end_turn".into(),
        cost_usd: None,
        tool_calls: None,
    }
}

pub fn graded(iteration: u32, passed: bool) -> EventKind {
    EventKind::GradingFinished {
        iteration,
        passed,
        facts: Default::default(),
    }
}

pub fn finished(passed: bool, error: Option<&str>) -> EventKind {
    EventKind::SessionFinished {
        passed,
        iterations: 2,
        duration_ms: 1_234,
        error: error.map(str::to_string),
        cancelled: false,
    }
}
