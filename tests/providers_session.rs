//! Whole Lumara sessions through the real `lucid` binary and a loopback model server of
//! each protocol. Behind the server, Lumara's own scripted policies play the model, so
//! a run over HTTP must reach exactly the verdicts of the offline run: everything in
//! between (request encoding, streaming, tool-call assembly, retries) is the real path.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use lucid_core::event::EventKind;
use lucid_core::model::{ContentBlock, ModelRequest, Policy};
use lucid_testkit::fake::wire::{
    anthropic_events, anthropic_request, openai_chunks, openai_request,
};
use lucid_testkit::fake::{FakeServer, Recorded, Reply, Responder};

const KEY_VAR: &str = "LUCID_TEST_PROVIDER_KEY";
const KEY: &str = "sk-live-DO-NOT-STORE-7f3a9c";

#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Anthropic,
    OpenAi,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Anthropic => "anthropic",
            Protocol::OpenAi => "openai",
        }
    }
}

/// Which of Lumara's roles a request is for, from the agent's prompt.
fn role_of(request: &ModelRequest) -> &'static str {
    if request.system.starts_with("You are an advisor") {
        "advisor"
    } else if request.system.starts_with("You are an independent grader") {
        "grader"
    } else if request.system.contains("mission commander") {
        "commander"
    } else if request.system.contains("terrain detector") {
        "detector"
    } else if request.system.contains("navigator") {
        "navigator"
    } else {
        panic!("unknown agent prompt: {}", request.system)
    }
}

/// The scripted policy for a role.
type Policies = Arc<dyn Fn(&str) -> Arc<dyn Policy> + Send + Sync>;

fn policies() -> Policies {
    let spec =
        lucid_core::spec::load(Path::new("sessions/lumara.toml"), &lucid_envs::catalog()).unwrap();
    let env = lucid_envs::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    )
    .unwrap();
    Arc::new(move |role| env.policy(role).unwrap())
}

fn hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// A server whose model is Lumara's scripted team. With `faults`, 3 requests in 10
/// (chosen by the request's content) first fail with a 429, a 529, a 500 or a stream
/// cut mid-answer, and succeed when retried.
fn brain(protocol: Protocol, faults: bool, first: Option<Reply>) -> Responder {
    brain_at(protocol, faults, first.map(|reply| (0, reply)))
}

/// [`brain`], answering request number `n` with a given reply instead.
fn brain_at(protocol: Protocol, faults: bool, special: Option<(usize, Reply)>) -> Responder {
    let policy = policies();
    let seen: Arc<Mutex<HashSet<u64>>> = Arc::default();
    Arc::new(move |recorded: &Recorded, n| {
        if let Some((at, reply)) = &special {
            if *at == n {
                return reply.clone();
            }
        }
        let request = match protocol {
            Protocol::Anthropic => anthropic_request(&recorded.body),
            Protocol::OpenAi => openai_request(&recorded.body),
        };
        let mut response = policy(role_of(&request)).respond(&request);
        response.usage = lucid_core::model::Usage {
            input_tokens: 1000,
            output_tokens: 100,
        };
        let events = match protocol {
            Protocol::Anthropic => anthropic_events(&response, 7),
            Protocol::OpenAi => openai_chunks(&response, 7),
        };
        let h = hash(&recorded.body.to_string());
        if faults && h % 10 < 3 && seen.lock().unwrap().insert(h) {
            return match h / 10 % 4 {
                0 => Reply::status(429, r#"{"error":{"message":"rate limited"}}"#)
                    .with_header("retry-after-ms", "5"),
                1 => Reply::status(529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
                    .with_header("retry-after-ms", "5"),
                2 => Reply::status(500, "oops").with_header("retry-after-ms", "5"),
                _ => Reply::Stream {
                    cut_after: Some(events.len() / 2),
                    pieces: events,
                },
            };
        }
        Reply::Stream {
            pieces: events,
            cut_after: None,
        }
    })
}

/// Lumara's session file with a `fake` profile pointing at the server.
fn session_file(dir: &Path, protocol: Protocol, url: &str) -> std::path::PathBuf {
    let base = std::fs::read_to_string("sessions/lumara.toml").unwrap();
    let base_url = match protocol {
        Protocol::Anthropic => url.to_string(),
        Protocol::OpenAi => format!("{url}/v1"),
    };
    let text = format!(
        "{base}\n[models.fake]\nprovider = \"{}\"\nmodel = \"fake-model\"\nbase_url = \"{base_url}\"\napi_key_env = \"{KEY_VAR}\"\ntimeout_s = 10\nmax_retries = 3\ninput_price_per_mtok = 3.0\noutput_price_per_mtok = 15.0\n",
        protocol.name()
    );
    let path = dir.join("lumara-fake.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn lucid(db: &Path, args: &[&str], key: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CONFIG_HOME", db.join("no-config"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(db.join("store"))
        .args(args);
    match key {
        Some(key) => command.env(KEY_VAR, key),
        None => command.env_remove(KEY_VAR),
    };
    command.output().unwrap()
}

fn json(output: &Output) -> Value {
    support::stdout_json(output)
}

/// What must be the same offline and over HTTP: verdicts, and who did what.
fn essence(report: &Value) -> Value {
    serde_json::json!({"agents": support::agents_work(report), "outcome": report["outcome"]})
}

fn offline_essence() -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let output = lucid(
        dir.path(),
        &["run", "sessions/lumara.toml", "--json", "--quiet"],
        None,
    );
    (output.status.code(), essence(&json(&output)))
}

/// Every byte of the store directory, searched for the key.
fn store_holds(dir: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
    }
    false
}

/// Each assistant tool call is answered in the very next message, in order.
fn assert_tool_results_pair(protocol: Protocol, requests: &[Recorded]) {
    for recorded in requests {
        let request = match protocol {
            Protocol::Anthropic => anthropic_request(&recorded.body),
            Protocol::OpenAi => openai_request(&recorded.body),
        };
        let messages = &request.messages;
        for (i, message) in messages.iter().enumerate() {
            let uses: Vec<&str> = message
                .content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolUse { id, .. } => Some(id.as_str()),
                    _ => None,
                })
                .collect();
            if uses.is_empty() {
                continue;
            }
            let next = messages.get(i + 1).expect("a tool call is answered");
            let answered: Vec<&str> = next
                .content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolResult { tool_use_id, .. } => Some(tool_use_id.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(uses, answered);
        }
    }
}

fn run_through(protocol: Protocol, faults: bool) {
    let (offline_code, offline) = offline_essence();
    let server = FakeServer::start_blocking(brain(protocol, faults, None));
    let dir = tempfile::tempdir().unwrap();
    let spec = session_file(dir.path(), protocol, &server.url);
    let spec = spec.to_str().unwrap();
    let output = lucid(
        dir.path(),
        &["run", spec, "--model", "fake", "--json"],
        Some(KEY),
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), offline_code, "stderr:\n{stderr}");
    assert!(matches!(output.status.code(), Some(0 | 1)));
    let report = json(&output);
    assert_eq!(essence(&report), offline, "the same run as offline");
    let requests = server.requests();
    assert!(requests.len() > 10, "{} requests", requests.len());
    assert!(requests.iter().all(|r| r.body["model"] == "fake-model"));
    assert_tool_results_pair(protocol, &requests);
    if faults {
        assert!(
            stderr.contains(" retry 1 in "),
            "retries are shown:\n{stderr}"
        );
    }
    // The key went out in headers, and nowhere else.
    let header = match protocol {
        Protocol::Anthropic => "x-api-key",
        Protocol::OpenAi => "authorization",
    };
    assert!(requests
        .iter()
        .all(|r| r.header(header).unwrap().contains(KEY)));
    assert!(!stderr.contains(KEY) && !String::from_utf8_lossy(&output.stdout).contains(KEY));
    assert!(
        !store_holds(&dir.path().join("store"), KEY.as_bytes()),
        "the key is in the store"
    );
    // Retries are events in the store too, and each retried turn is recorded once.
    let store = lucid_core::store::Store::open(&dir.path().join("store")).unwrap();
    let session = store.sessions().unwrap()[0].id;
    let events = store.events(session).unwrap();
    let retries = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Retry { .. }))
        .count();
    let turns = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ModelTurn { .. }))
        .count();
    let costs: f64 = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ModelTurn { cost_usd, .. } => cost_usd,
            _ => None,
        })
        .sum();
    assert!(
        costs > 0.0,
        "turns carry a cost figure from the profile's prices"
    );
    if faults {
        assert!(retries * 10 >= turns, "{retries} retries for {turns} turns");
    } else {
        assert_eq!(retries, 0);
    }
    assert_eq!(report["retries"].as_u64().unwrap_or(0), retries as u64);
    let reported = report["cost_usd"].as_f64().unwrap();
    assert!(
        (reported - costs).abs() < 1e-9,
        "the report sums the turns' costs"
    );
    // 1,000 input and 100 output tokens a turn at $3 / $15 per million.
    assert!(
        (costs - turns as f64 * 0.0045).abs() < 1e-9,
        "{costs} for {turns} turns"
    );
}

#[test]
fn lumara_runs_through_an_anthropic_server() {
    run_through(Protocol::Anthropic, false);
}

#[test]
fn lumara_runs_through_an_openai_server() {
    run_through(Protocol::OpenAi, false);
}

#[test]
fn faults_at_30_percent_of_requests_do_not_stop_a_run() {
    run_through(Protocol::Anthropic, true);
    run_through(Protocol::OpenAi, true);
}

#[test]
fn a_missing_key_stops_the_run_before_it_starts() {
    let server = FakeServer::start_blocking(brain(Protocol::Anthropic, false, None));
    let dir = tempfile::tempdir().unwrap();
    let spec = session_file(dir.path(), Protocol::Anthropic, &server.url);
    let output = lucid(
        dir.path(),
        &["run", spec.to_str().unwrap(), "--model", "fake"],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(KEY_VAR), "names the variable: {stderr}");
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[test]
fn an_unauthorized_key_ends_the_run_with_exit_3_and_one_sentence() {
    for protocol in [Protocol::Anthropic, Protocol::OpenAi] {
        let denied = Reply::status(
            401,
            &format!(
                r#"{{"error":{{"type":"authentication_error","message":"invalid key {KEY}"}}}}"#
            ),
        );
        let server = FakeServer::start_blocking(brain(protocol, false, Some(denied)));
        let dir = tempfile::tempdir().unwrap();
        let spec = session_file(dir.path(), protocol, &server.url);
        let output = lucid(
            dir.path(),
            &["run", spec.to_str().unwrap(), "--model", "fake", "--quiet"],
            Some(KEY),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains("401") && last.contains("api_key_env"),
            "{stderr}"
        );
        assert!(!stderr.contains(KEY), "the key leaked: {stderr}");
        assert!(!store_holds(&dir.path().join("store"), KEY.as_bytes()));
        assert_eq!(server.requests().len(), 1, "a refusal is not retried");
    }
}

#[test]
fn profiles_come_from_the_user_config_file_under_the_sessions() {
    let server = FakeServer::start_blocking(brain(Protocol::OpenAi, false, None));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[models.mine]\nprovider = \"openai\"\nmodel = \"from-config\"\nbase_url = \"{}/v1\"\napi_key_env = \"{KEY_VAR}\"\n\n[models.offline]\nprovider = \"openai\"\nmodel = \"shadowed\"\n",
            server.url
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lucid"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("LUCID_CONFIG", &config)
            .env(KEY_VAR, KEY)
            .arg("--db")
            .arg(dir.path().join("store"))
            .args(args)
            .output()
            .unwrap()
    };
    // The session's own `offline` profile wins over the config's.
    let offline = run(&["run", "sessions/lumara.toml", "--quiet"]);
    assert!(matches!(offline.status.code(), Some(0 | 1)));
    assert!(server.requests().is_empty(), "the session's profile won");
    // A profile only the config file has is usable with --model.
    let mine = run(&["run", "sessions/lumara.toml", "--quiet", "--model", "mine"]);
    assert_eq!(
        mine.status.code(),
        offline.status.code(),
        "{}",
        String::from_utf8_lossy(&mine.stderr)
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.body["model"] == "from-config"));
    assert!(!server.requests().is_empty());
    // A bad key in the config file is an error naming file, line and column.
    std::fs::write(
        &config,
        "[models.mine]\nprovider = \"openai\"\nmodel = \"m\"\nbase = \"x\"\n",
    )
    .unwrap();
    let bad = run(&["run", "sessions/lumara.toml", "--quiet"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4:1:", config.display())),
        "{stderr}"
    );
}

#[test]
fn a_refused_specialist_ends_the_whole_run() {
    // Request 0 is the commander's; request 1 is the first specialist's.
    let denied = Reply::status(
        403,
        r#"{"error":{"type":"permission_error","message":"no access to this model"}}"#,
    );
    let server =
        FakeServer::start_blocking(brain_at(Protocol::Anthropic, false, Some((1, denied))));
    let dir = tempfile::tempdir().unwrap();
    let spec = session_file(dir.path(), Protocol::Anthropic, &server.url);
    let output = lucid(
        dir.path(),
        &["run", spec.to_str().unwrap(), "--model", "fake", "--quiet"],
        Some(KEY),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.lines().last().unwrap().contains("403"), "{stderr}");
}

#[test]
fn malformed_tool_arguments_go_back_to_the_model_as_a_tool_error() {
    let broken = lucid_core::model::ModelResponse {
        content: vec![ContentBlock::ToolUse {
            id: "call_broken".into(),
            name: "delegate".into(),
            input: Value::String("{\"specialist\": \"detector\", \"subtask\": ".into()),
        }],
        stop: lucid_core::model::StopReason::ToolUse,
        usage: Default::default(),
    };
    for protocol in [Protocol::Anthropic, Protocol::OpenAi] {
        let events = match protocol {
            Protocol::Anthropic => anthropic_events(&broken, 5),
            Protocol::OpenAi => openai_chunks(&broken, 5),
        };
        let first = Reply::Stream {
            pieces: events,
            cut_after: None,
        };
        let server = FakeServer::start_blocking(brain(protocol, false, Some(first)));
        let dir = tempfile::tempdir().unwrap();
        let spec = session_file(dir.path(), protocol, &server.url);
        let output = lucid(
            dir.path(),
            &["run", spec.to_str().unwrap(), "--model", "fake", "--quiet"],
            Some(KEY),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(matches!(output.status.code(), Some(0 | 1)), "{stderr}");
        // The commander's next request answers the broken call with a tool error.
        let second = server
            .requests()
            .into_iter()
            .map(|r| match protocol {
                Protocol::Anthropic => anthropic_request(&r.body),
                Protocol::OpenAi => openai_request(&r.body),
            })
            .find(|r| role_of(r) == "commander" && r.messages.len() > 1)
            .unwrap();
        let answer = second.messages[2]
            .content
            .iter()
            .find_map(|b| match b {
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } if tool_use_id == "call_broken" => Some((content.clone(), *is_error)),
                _ => None,
            })
            .expect("the broken call is answered");
        assert!(
            answer.1 && answer.0.contains("not valid JSON"),
            "{answer:?}"
        );
    }
}

#[test]
fn the_advisor_answers_over_the_network_from_a_compact_transcript() {
    let server = FakeServer::start_blocking(brain(Protocol::OpenAi, false, None));
    let dir = tempfile::tempdir().unwrap();
    let spec = session_file(dir.path(), Protocol::OpenAi, &server.url);
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "[agents.navigator]\n",
        "[agents.navigator]\nadvisor = \"offline\"\n",
    );
    std::fs::write(&spec, text).unwrap();
    // Seed 3's first descent lands hard, so the navigator asks its advisor.
    let spec = spec.to_str().unwrap();
    let offline = lucid(dir.path(), &["run", spec, "--quiet", "--seed", "3"], None);
    let output = lucid(
        dir.path(),
        &["run", spec, "--quiet", "--seed", "3", "--model", "fake"],
        Some(KEY),
    );
    assert_eq!(
        output.status.code(),
        offline.status.code(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let asked: Vec<ModelRequest> = server
        .requests()
        .iter()
        .map(|r| openai_request(&r.body))
        .filter(|r| role_of(r) == "advisor")
        .collect();
    assert!(!asked.is_empty(), "the navigator consulted its advisor");
    for request in &asked {
        assert!(request.tools.is_empty(), "the advisor gets no tools");
        let question = request.messages[0].text();
        assert!(
            question.contains("## Question") && question.contains("## Recent work"),
            "{question}"
        );
        assert!(
            question.len() < 6000,
            "a compact view, not the whole transcript"
        );
    }
}

/// The grader's and the advisor's calls are priced and attributed to their roles, and
/// the session's cost and tokens count them with the agents' turns.
#[test]
fn the_grader_and_the_advisor_are_counted_in_the_cost_by_role() {
    let server = FakeServer::start_blocking(brain(Protocol::OpenAi, false, None));
    let dir = tempfile::tempdir().unwrap();
    let spec = session_file(dir.path(), Protocol::OpenAi, &server.url);
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "[agents.navigator]\n",
        "[agents.navigator]\nadvisor = \"offline\"\n",
    ) + "\n[[outcome.criteria]]\nid = \"report_names_site\"\ndescription = \"The mission report names the landing site.\"\n";
    std::fs::write(&spec, text).unwrap();
    let spec = spec.to_str().unwrap();
    let output = lucid(
        dir.path(),
        &["run", spec, "--seed", "3", "--model", "fake", "--json"],
        Some(KEY),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{stderr}");
    let report = json(&output);
    let asked = |role: &str| {
        server
            .requests()
            .iter()
            .filter(|r| role_of(&openai_request(&r.body)) == role)
            .count() as u64
    };
    // Every call of the brain uses 1,000 input and 100 output tokens at $3 / $15 per
    // million: $0.0045 a call.
    let mut calls = 0;
    for role in ["grader", "advisor"] {
        let usage = &report["usage_by_role"][role];
        let n = usage["calls"].as_u64().unwrap_or(0);
        assert!(
            n > 0 && n == asked(role),
            "{role}: {usage} for {} requests",
            asked(role)
        );
        assert_eq!(usage["tokens_in"].as_u64(), Some(1000 * n), "{role}");
        assert_eq!(usage["tokens_out"].as_u64(), Some(100 * n), "{role}");
        let cost = usage["cost_usd"].as_f64().unwrap();
        assert!((cost - 0.0045 * n as f64).abs() < 1e-9, "{role}: {cost}");
        calls += n;
    }
    let turns: u64 = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["turns"].as_u64().unwrap())
        .sum();
    let total = report["cost_usd"].as_f64().unwrap();
    assert!(
        (total - 0.0045 * (turns + calls) as f64).abs() < 1e-9,
        "{total} for {turns} turns and {calls} other calls"
    );
    assert_eq!(report["tokens_in"].as_u64(), Some(1000 * (turns + calls)));
    // Each agent carries its own cost, and the progress lines show the grader's.
    for agent in report["agents"].as_array().unwrap() {
        let turns = agent["turns"].as_u64().unwrap() as f64;
        assert!((agent["cost_usd"].as_f64().unwrap() - 0.0045 * turns).abs() < 1e-9);
    }
    assert!(
        stderr.contains("grader answered · 1000/100 tok · $0.0045"),
        "{stderr}"
    );
    // The session lists carry the same tokens and cost, every role included.
    let listed = json(&lucid(dir.path(), &["sessions", "list", "--json"], None));
    let summary = &listed[0];
    assert_eq!(summary["tokens_in"].as_u64(), Some(1000 * (turns + calls)));
    assert!(
        (summary["cost_usd"].as_f64().unwrap() - total).abs() < 1e-9,
        "{summary}"
    );
    let table = lucid(dir.path(), &["sessions", "list"], None);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&lucid_core::event::format_dollars(total)),
        "{table}"
    );
}
