//! Traces out, end to end: the real `lucid` binary runs the offline Lumara demo headless
//! with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a real OTLP/HTTP receiver (a Python
//! server that decodes each body with the official `opentelemetry-proto` package), and
//! the spans it got are checked against the session's stored events: the session root,
//! one `invoke_agent` span per thread under the agent that delegated to it, a `chat` span
//! per model turn with its recorded tokens, an `execute_tool` span per tool call, a grading
//! span per pass; the configured headers reach the receiver; `lucid sessions export ID
//! --format otlp` sends a past session; a collector that is down costs one sentence and
//! never the exit code. Needs python3 with `opentelemetry-proto` (the CI installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use lucid_core::event::{Event, EventKind};
use lucid_core::store::Store;

mod owner;
mod pty;

/// The OTEL variables a developer's shell may hold: every run here starts without them.
const OTEL_VARS: [&str; 8] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SERVICE_NAME",
];

/// The receiver, stopped when the test ends.
struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    fn start(dir: &Path) -> Receiver {
        let out = dir.join("received.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/receiver.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&out)
            .arg("300")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start python3 for the OTLP receiver ({err}); install python3 and `python3 -m pip install opentelemetry-proto protobuf`")
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the OTLP receiver did not start (it needs `python3 -m pip install opentelemetry-proto protobuf`): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        Receiver { child, port, out }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request the receiver decoded so far.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lucid(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::null());
    for var in OTEL_VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs Lumara headless; its JSON report.
fn run_lumara(db: &Path, env: &[(&str, &str)]) -> (Output, Value) {
    let output = lucid(
        db,
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--json",
            "--seed",
            "2",
        ],
        env,
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON document ({err}); stderr:\n{}",
            stderr(&output)
        )
    });
    (output, report)
}

fn outcome_code(report: &Value) -> i32 {
    if report["outcome"]["passed"].as_bool().unwrap() {
        0
    } else {
        1
    }
}

fn stored_events(db: &Path, session: &str) -> Vec<Event> {
    let store = Store::open(db).unwrap();
    let summary = store.find_session(session).unwrap().unwrap();
    store.events(summary.id).unwrap()
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

/// Checks one session's spans, as received, against its stored events.
fn check_spans(spans: &[Value], events: &[Event], report: &Value) {
    let session = report["session_id"].as_str().unwrap();
    let trace = spans[0]["trace_id"].as_str().unwrap();
    assert!(spans.iter().all(|s| s["trace_id"] == trace), "one trace");
    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["span_id"].as_str().unwrap(), s))
        .collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");

    // The root: the session.
    let roots: Vec<&Value> = spans.iter().filter(|s| s["parent_span_id"] == "").collect();
    assert_eq!(roots.len(), 1, "one root span");
    let root = roots[0];
    assert_eq!(root["name"], "lucid session lumara-landing");
    assert_eq!(attr(root, "lucid.session.id"), session);
    assert_eq!(attr(root, "lucid.team"), "lumara-landing");
    assert_eq!(attr(root, "lucid.environment"), "lumara");
    assert_eq!(attr(root, "lucid.seed"), 2);
    assert_eq!(attr(root, "lucid.world"), 1);
    assert_eq!(
        attr(root, "lucid.outcome.passed"),
        &report["outcome"]["passed"]
    );
    let iterations = report["outcome"]["iterations"].as_array().unwrap().len();
    assert_eq!(attr(root, "lucid.iterations"), iterations as u64);
    let root_id = root["span_id"].as_str().unwrap();
    for span in spans {
        assert!(
            span["start_ns"].as_u64() <= span["end_ns"].as_u64(),
            "{span}"
        );
        assert!(
            span["start_ns"].as_u64() >= root["start_ns"].as_u64(),
            "{span}"
        );
        assert!(span["end_ns"].as_u64() <= root["end_ns"].as_u64(), "{span}");
    }

    // One invoke_agent span per thread, under the agent that delegated to it.
    let agents: BTreeMap<u64, &Value> = spans
        .iter()
        .filter(|s| attr(s, "gen_ai.operation.name") == "invoke_agent")
        .map(|s| {
            (
                attr(s, "gen_ai.agent.id")
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
                s,
            )
        })
        .collect();
    let reported = report["agents"].as_array().unwrap();
    assert_eq!(agents.len(), reported.len(), "one span per agent thread");
    assert!(reported.len() >= 3, "a commander and its specialists");
    for agent in reported {
        let span = agents[&agent["id"].as_u64().unwrap()];
        assert_eq!(
            span["name"],
            format!("invoke_agent {}", agent["name"].as_str().unwrap())
        );
        assert_eq!(attr(span, "gen_ai.agent.name"), &agent["name"]);
        assert_eq!(attr(span, "gen_ai.provider.name"), "scripted");
        let parent = match agent["parent"].as_u64() {
            Some(parent) => agents[&parent]["span_id"].as_str().unwrap(),
            None => root_id,
        };
        assert_eq!(span["parent_span_id"], parent, "{span}");
    }

    // A chat span per model turn, with the recorded tokens.
    let chats: Vec<&Value> = spans
        .iter()
        .filter(|s| attr(s, "gen_ai.operation.name") == "chat")
        .collect();
    let mut turns = 0;
    for event in events {
        if let EventKind::ModelTurn {
            turn,
            tokens_in,
            tokens_out,
            ..
        } = &event.kind
        {
            turns += 1;
            let agent = agents[&u64::from(event.agent.unwrap().0)];
            let matching: Vec<&&Value> = chats
                .iter()
                .filter(|c| {
                    c["parent_span_id"] == agent["span_id"] && attr(c, "lucid.turn") == *turn
                })
                .collect();
            assert_eq!(
                matching.len(),
                1,
                "one chat span for turn {turn} of {agent}"
            );
            let chat = matching[0];
            assert_eq!(chat["name"], "chat offline");
            assert_eq!(chat["kind"], 3, "a client span");
            assert_eq!(attr(chat, "gen_ai.request.model"), "offline");
            assert_eq!(attr(chat, "gen_ai.provider.name"), "scripted");
            assert_eq!(attr(chat, "gen_ai.usage.input_tokens"), *tokens_in);
            assert_eq!(attr(chat, "gen_ai.usage.output_tokens"), *tokens_out);
            assert_eq!(chat["end_ns"].as_u64().unwrap(), event.at_ms * 1_000_000);
        }
    }
    assert!(turns > 0);
    assert_eq!(chats.len(), turns, "no chat span without a model turn");

    // An execute_tool span per tool call, under its agent, with the call's id (ids are
    // the model's: unique within a thread's turn, not across threads).
    let tools: Vec<&Value> = spans
        .iter()
        .filter(|s| attr(s, "gen_ai.operation.name") == "execute_tool")
        .collect();
    let tool_span = |event: &Event, call_id: &str, time: &str| -> &Value {
        let agent = agents[&u64::from(event.agent.unwrap().0)];
        let found: Vec<&&Value> = tools
            .iter()
            .filter(|s| {
                s["parent_span_id"] == agent["span_id"]
                    && attr(s, "gen_ai.tool.call.id") == call_id
                    && s[time].as_u64().unwrap() == event.at_ms * 1_000_000
            })
            .collect();
        assert_eq!(found.len(), 1, "one span for call {call_id} of {agent}");
        found[0]
    };
    let mut calls = 0;
    for event in events {
        match &event.kind {
            EventKind::ToolCalled { call_id, tool, .. } => {
                calls += 1;
                let span = tool_span(event, call_id, "start_ns");
                assert_eq!(span["name"], format!("execute_tool {tool}"));
                assert_eq!(attr(span, "gen_ai.tool.name"), tool.as_str());
            }
            EventKind::ToolReturned {
                call_id, is_error, ..
            } => {
                let span = tool_span(event, call_id, "end_ns");
                let code = if *is_error { 2 } else { 0 };
                assert_eq!(span["status"]["code"], code, "{span}");
            }
            _ => {}
        }
    }
    assert!(calls > 0);
    assert_eq!(tools.len(), calls);
    assert!(tools
        .iter()
        .any(|s| attr(s, "gen_ai.tool.name") == "delegate"));

    // A grading span per pass, under the session.
    let gradings: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("grade iteration "))
        .collect();
    assert_eq!(gradings.len(), iterations);
    for (grading, reported) in gradings
        .iter()
        .zip(report["outcome"]["iterations"].as_array().unwrap())
    {
        assert_eq!(grading["parent_span_id"], root_id);
        assert_eq!(
            grading["name"],
            format!("grade iteration {}", reported["iteration"])
        );
        assert_eq!(attr(grading, "lucid.grading.passed"), &reported["passed"]);
        let criteria = reported["criteria"].as_array().unwrap();
        let passed = criteria.iter().filter(|c| c["passed"] == true).count();
        assert_eq!(
            attr(grading, "lucid.grading.criteria"),
            criteria.len() as u64
        );
        assert_eq!(
            attr(grading, "lucid.grading.criteria_passed"),
            passed as u64
        );
    }

    // Everything is one of those.
    assert_eq!(
        spans.len(),
        1 + agents.len() + chats.len() + tools.len() + gradings.len()
    );
}

/// The spans of the one request the receiver got, after checking the request itself.
fn one_request(receiver: &Receiver) -> (Value, Vec<Value>) {
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "one export request: {requests:?}");
    let request = requests.into_iter().next().unwrap();
    assert_eq!(request["path"], "/v1/traces");
    assert_eq!(request["headers"]["content-type"], "application/x-protobuf");
    assert_eq!(request["resources"][0]["service.name"], "lucid");
    let spans = request["spans"].as_array().unwrap().clone();
    (request, spans)
}

#[test]
fn a_headless_run_sends_its_session_as_genai_spans() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let receiver = Receiver::start(dir.path());
    let endpoint = receiver.endpoint();
    let (output, report) = run_lumara(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer xyz"),
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(outcome_code(&report)),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("spans of session"),
        "the run says it sent its spans: {}",
        stderr(&output)
    );
    let (request, spans) = one_request(&receiver);
    assert_eq!(request["headers"]["authorization"], "Bearer xyz");
    assert!(!stderr(&output).contains("Bearer xyz"));
    let session = report["session_id"].as_str().unwrap();
    let events = stored_events(&db, session);
    check_spans(&spans, &events, &report);
}

#[test]
fn sessions_export_sends_a_past_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    // Recorded with no collector: nothing is sent, nothing is said about traces.
    let (output, report) = run_lumara(&db, &[]);
    assert_eq!(output.status.code(), Some(outcome_code(&report)));
    assert!(!stderr(&output).contains("spans"), "{}", stderr(&output));
    let session = report["session_id"].as_str().unwrap();

    // Without a collector, export says what to set.
    let output = lucid(
        &db,
        &["sessions", "export", session, "--format", "otlp"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{}",
        stderr(&output)
    );

    let receiver = Receiver::start(dir.path());
    let traces_endpoint = format!("{}/v1/traces", receiver.endpoint());
    let env = [(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        traces_endpoint.as_str(),
    )];
    // An unknown id is the user's to fix.
    let output = lucid(
        &db,
        &["sessions", "export", "0000", "--format", "otlp"],
        &env,
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(receiver.requests().is_empty());

    // A unique prefix is enough.
    let output = lucid(
        &db,
        &["sessions", "export", &session[..12], "--format", "otlp"],
        &env,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains(session), "{}", stderr(&output));
    let (request, spans) = one_request(&receiver);
    assert!(request["headers"].get("authorization").is_none());
    let events = stored_events(&db, session);
    check_spans(&spans, &events, &report);
}

#[test]
fn a_collector_that_is_down_costs_one_sentence_not_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let (output, report) = run_lumara(&db, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    assert_eq!(
        output.status.code(),
        Some(outcome_code(&report)),
        "{}",
        stderr(&output)
    );
    let text = stderr(&output);
    let said: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("traces were not exported"))
        .collect();
    assert_eq!(said.len(), 1, "{text}");
    assert!(said[0].contains("sessions export"), "{}", said[0]);
    // The session is on record all the same.
    let session = report["session_id"].as_str().unwrap();
    assert!(!stored_events(&db, session).is_empty());
}

#[test]
fn through_a_store_owner_the_client_sends_the_spans() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let serving = owner::Serving::start(&db, &[]);
    let receiver = Receiver::start(dir.path());
    let endpoint = receiver.endpoint();
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
    // The owner runs the session; this client, whose environment names the collector,
    // sends it.
    let (output, report) = run_lumara(&db, &env);
    assert_eq!(
        output.status.code(),
        Some(outcome_code(&report)),
        "{}",
        stderr(&output)
    );
    let (_, spans) = one_request(&receiver);
    let session = report["session_id"].as_str().unwrap().to_string();
    // And a past session, read through the owner.
    let output = lucid(
        &db,
        &["sessions", "export", &session, "--format", "otlp"],
        &env,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1]["spans"],
        Value::from(spans.clone()),
        "the same trace"
    );
    drop(serving);
    check_spans(&spans, &stored_events(&db, &session), &report);
}

#[test]
fn a_run_watched_in_the_tui_is_sent_when_the_window_closes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let receiver = Receiver::start(dir.path());
    let endpoint = receiver.endpoint();
    let mut tui = pty::Tui::spawn_with_env(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &db,
        &config,
        &["run", "sessions/lumara.toml", "--seed", "2"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    );
    tui.wait_for(&["rubric met"]);
    assert!(
        receiver.requests().is_empty(),
        "sent when the window closes"
    );
    tui.press("q");
    assert!(tui.wait(), "the rubric is met, so lucid exits 0");
    let (_, spans) = one_request(&receiver);
    let root = spans.iter().find(|s| s["parent_span_id"] == "").unwrap();
    assert_eq!(root["name"], "lucid session lumara-landing");
    assert_eq!(attr(root, "lucid.outcome.passed"), true);
    assert!(spans
        .iter()
        .any(|s| attr(s, "gen_ai.operation.name") == "chat"));
}
