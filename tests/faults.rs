//! Fault tolerance through the real OpenAI provider: Lumara and the fleet run against
//! the loopback policy server (`lucid_testkit`) while it injects 429, 529, 500 and cut
//! streams at 30 % of requests, and end with the same verdicts and facts as clean
//! runs, every retry recorded as a `retry` event. A server that goes down mid-run and
//! stays down ends the run with exit 3 after bounded retries, keeping what was
//! recorded, the session listed as `error`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::Value;

use lucid_core::event::EventKind;
use lucid_core::store::{SessionStatus, Store};
use lucid_testkit::{session_router, Faults, PolicyServer, ServeOptions};

/// Starts a policy server for `spec_path` on a thread of its own; it serves until the
/// test process ends.
fn serve(spec_path: &str, options: ServeOptions) -> Arc<PolicyServer> {
    let spec = lucid_core::spec::load_with(
        Path::new(spec_path),
        &lucid_envs::catalog(),
        &Default::default(),
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let env = lucid_envs::build(
                &spec.environment,
                spec.environment.seed,
                spec.environment.world,
            )
            .unwrap();
            let router = session_router(&spec, env.as_ref());
            let server = Arc::new(PolicyServer::start(router, options).await.unwrap());
            tx.send(Arc::clone(&server)).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

/// A user config file with a `loop` profile pointing at the server.
fn config(dir: &Path, server: &PolicyServer, max_retries: u32) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            // The fleet's lead delegates to all 100 workers in one turn.
            "[models.loop]\nprovider = \"openai\"\nmodel = \"policy\"\nbase_url = \"{}\"\ntimeout_s = 10\nmax_retries = {max_retries}\nmax_tool_calls_per_turn = 1000\n",
            server.base_url()
        ),
    )
    .unwrap();
    path
}

fn lucid(dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .arg("--db")
        .arg(dir.join("store"))
        .args(args);
    match config {
        Some(path) => command.env("LUCID_CONFIG", path),
        None => command.env_remove("LUCID_CONFIG"),
    };
    command.output().unwrap()
}

fn json(output: &Output) -> Value {
    support::stdout_json(output)
}

/// What must not change with faults: verdicts, facts, who did what.
fn essence(report: &Value) -> Value {
    serde_json::json!({
        "status": report["status"],
        "outcome": report["outcome"],
        "facts": report["facts"],
        "agents": support::agents_work(report),
    })
}

fn retry_events(dir: &Path) -> usize {
    let store = Store::open(&dir.join("store")).unwrap();
    let session = store.sessions().unwrap()[0].id;
    store
        .events(session)
        .unwrap()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Retry { .. }))
        .count()
}

/// A clean run and a run with 30 % faults, both over HTTP, against an offline run.
fn same_under_faults(spec: &str) {
    let offline_dir = tempfile::tempdir().unwrap();
    let offline = lucid(
        offline_dir.path(),
        None,
        &["run", spec, "--json", "--quiet"],
    );
    assert!(matches!(offline.status.code(), Some(0 | 1)));
    let offline_report = json(&offline);
    assert!(offline_report["outcome"]["iterations"].is_array());
    assert!(offline_report["facts"].is_object());

    for rate in [0.0, 0.3] {
        let mut faults = Faults::new(rate, 7);
        faults.retry_after = std::time::Duration::from_millis(10);
        let server = serve(
            spec,
            ServeOptions {
                faults: Some(faults),
                ..ServeOptions::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &server, 12);
        let output = lucid(
            dir.path(),
            Some(&config),
            &["run", spec, "--model", "loop", "--json", "--quiet"],
        );
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(
            output.status.code(),
            offline.status.code(),
            "rate {rate}: {stderr}"
        );
        let report = json(&output);
        assert_eq!(essence(&report), essence(&offline_report), "rate {rate}");
        let counters = server.counters();
        assert_eq!(
            counters.unmatched.load(Ordering::SeqCst),
            0,
            "every request found its policy"
        );
        let injected = counters.faults.load(Ordering::SeqCst) as usize;
        let retries = retry_events(dir.path());
        assert_eq!(
            retries, injected,
            "rate {rate}: one retry event per injected fault"
        );
        if let Some(reported) = report.get("retries").and_then(Value::as_u64) {
            assert_eq!(reported as usize, retries);
        }
        if rate > 0.0 {
            assert!(injected > 0, "{spec}: no fault was injected");
        }
    }
}

#[test]
fn lumara_has_the_same_verdicts_and_facts_with_30_percent_faults() {
    same_under_faults("sessions/lumara.toml");
}

#[test]
fn the_fleet_has_the_same_verdicts_and_facts_with_30_percent_faults() {
    same_under_faults("sessions/fleet.toml");
}

#[test]
fn a_server_that_stays_down_ends_the_run_with_exit_3_keeping_what_was_recorded() {
    let spec = "sessions/lumara.toml";
    let server = serve(
        spec,
        ServeOptions {
            down_after: Some(6),
            ..ServeOptions::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server, 2);
    let output = lucid(
        dir.path(),
        Some(&config),
        &["run", spec, "--model", "loop", "--json", "--quiet"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("503"), "the reason is shown: {stderr}");
    // bounded: each call tried once and retried twice
    let refused = server.counters().refused_down.load(Ordering::SeqCst);
    assert!(refused >= 3, "{refused}");
    let answered = server.counters().answered.load(Ordering::SeqCst);
    assert_eq!(answered, 6, "six answers before the outage");

    let store = Store::open(&dir.path().join("store")).unwrap();
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].status, SessionStatus::Error);
    let events = store.events(sessions[0].id).unwrap();
    let turns = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ModelTurn { .. }))
        .count();
    assert_eq!(turns, 6, "every answered turn is kept");
    assert!(
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Retry { .. }))
            .count()
            >= 2
    );
}

/// A provider outage ends the run with exit 3; once the server is back, `--resume`
/// continues the session that ended on the error.
#[test]
fn a_run_ended_by_an_outage_resumes_once_the_server_is_back() {
    let spec = "sessions/lumara.toml";
    let offline_dir = tempfile::tempdir().unwrap();
    let offline = lucid(
        offline_dir.path(),
        None,
        &["run", spec, "--json", "--quiet"],
    );
    let server = serve(
        spec,
        ServeOptions {
            down_after: Some(6),
            ..ServeOptions::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server, 1);
    let failed = lucid(
        dir.path(),
        Some(&config),
        &["run", spec, "--model", "loop", "--quiet"],
    );
    assert_eq!(failed.status.code(), Some(3));
    let id = Store::open(&dir.path().join("store"))
        .unwrap()
        .sessions()
        .unwrap()[0]
        .id
        .to_string();
    server.set_down(false);
    let resumed = lucid(
        dir.path(),
        Some(&config),
        &[
            "run", spec, "--model", "loop", "--resume", &id, "--json", "--quiet",
        ],
    );
    let stderr = String::from_utf8_lossy(&resumed.stderr).to_string();
    assert_eq!(resumed.status.code(), offline.status.code(), "{stderr}");
    let report = json(&resumed);
    // Completed, with the offline verdict. (The facts may differ: the resumed lead
    // replans from what was recorded, e.g. another survey; only completion is claimed.)
    assert_eq!(report["status"], json(&offline)["status"]);
    let sessions = Store::open(&dir.path().join("store"))
        .unwrap()
        .sessions()
        .unwrap();
    assert_eq!(sessions.len(), 1, "resumed in place");
    assert_ne!(sessions[0].status, SessionStatus::Error);
}
