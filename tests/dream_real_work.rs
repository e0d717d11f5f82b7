//! Dreams over real work: eighteen missions of a `project` session whose team probes a
//! service (a `[tools]` command printing JSON), then deploys it with a strategy it
//! chooses (`[dreaming] choices = ["deploy.strategy"]`); a fact command says whether the
//! service is healthy afterwards. The dream must find the condition among what the probe
//! reported before the deploy (`probe.load`), not among the distractors it also reported
//! (`probe.region`, `probe.ticket`) nor what the health check reported after the deploy
//! (`health.healthy`) nor the facts measured after acting, and the remedy in the argument
//! the team chose. Once approved, the playbook steers a later mission.
//!
//! The team's script lives here, in the test: a stand-in for a model that picks its
//! strategy from the ticket number, and follows a rule only when one reaches its prompt.
//! Which loads make a plain deploy unhealthy is known only to the project's `check.py`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use lucid_core::model::scripted::ResponseBuilder;
use lucid_core::model::{ModelRequest, ModelResponse, Policy};
use lucid_core::world::rules::parse_rules;
use lucid_testkit::fake::wire::{openai_chunks, openai_request};
use lucid_testkit::fake::{FakeServer, Recorded, Reply};
use lucid_testkit::PolicyRouter;

const LEAD_PROMPT: &str = "You deploy the service. Probe it first, then deploy it with the strategy you judge best, then report.";

/// The session file of one mission (each mission has its own file and folder).
const SESSION: &str = r#"
name = "deployers"
task = "Deploy the service so that it stays healthy."

[environment]
kind = "project"
root = "service"
isolation = "copy"

[environment.facts.healthy]
command = "python3 check.py"
kind = "exit_ok"

[tools.probe]
description = "Report the service's current state as JSON."
command = ["cat", "status.json"]
[tools.probe.input]
type = "object"

[tools.deploy]
description = "Deploy the service with a strategy."
command = ["sh", "-c", "printf %s \"$1\" > deployed", "deploy", "{strategy}"]
[tools.deploy.input]
type = "object"
required = ["strategy"]
[tools.deploy.input.properties.strategy]
type = "string"
enum = ["rolling", "canary"]

[tools.health]
description = "Report whether the service is healthy, as JSON."
command = ["python3", "check.py", "--json"]
[tools.health.input]
type = "object"

[dreaming]
choices = ["deploy.strategy"]

[agents.lead]
lead = true
model = "loop"
prompt = "PROMPT"
tools = ["probe", "deploy", "health"]
max_turns = 5

[outcome]
max_iterations = 1

[[outcome.criteria]]
id = "healthy"
description = "The service is healthy after the deploy."
check = "healthy"
"#;

/// What the service's health check knows and the team does not: a plain rolling deploy
/// fails under high load.
const CHECK: &str = r#"
import json, sys
load = json.load(open("status.json"))["load"]
strategy = open("deployed").read().strip()
healthy = not (load >= 0.65 and strategy != "canary")
if "--json" in sys.argv:
    print(json.dumps({"healthy": healthy}))
    sys.exit(0)
sys.exit(0 if healthy else 1)
"#;

/// The JSON a `[tools]` command printed, out of its rendered result.
fn printed(result: &str) -> Map<String, Value> {
    let json = result
        .split_once("stdout:\n")
        .map_or(result, |(_, rest)| rest);
    serde_json::from_str(json.trim()).unwrap_or_default()
}

/// The lead: probe, deploy, report. Its strategy comes from the ticket number, unless a
/// rule in its prompt whose condition the probe's fields meet sets one.
struct Lead;

impl Policy for Lead {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let done = support::tool_results(request);
        let builder = ResponseBuilder::new(format!("lead{}", done.len()));
        match done.len() {
            0 => builder.tool("probe", json!({})),
            1 => {
                let seen: std::collections::BTreeMap<String, Value> = printed(&done[0])
                    .into_iter()
                    .map(|(field, value)| (format!("probe.{field}"), value))
                    .collect();
                let ticket = seen["probe.ticket"].as_u64().unwrap_or(0);
                let mut strategy = if ticket % 3 == 0 { "canary" } else { "rolling" };
                for rule in parse_rules(&request.system) {
                    if rule.applies(&seen) {
                        if let Some(word) = rule.word("deploy.strategy") {
                            strategy = if word == "canary" {
                                "canary"
                            } else {
                                "rolling"
                            };
                        }
                    }
                }
                builder.tool("deploy", json!({ "strategy": strategy }))
            }
            // After the deploy: a check whose JSON answer measures the result, which
            // a dream must never take for a condition.
            2 => builder.tool("health", json!({})),
            _ => builder.text("Deployed."),
        }
        .build()
    }
}

fn serve() -> FakeServer {
    let router = PolicyRouter::new().system(LEAD_PROMPT, Arc::new(Lead));
    FakeServer::start_blocking(Arc::new(move |recorded: &Recorded, _| {
        let request = openai_request(&recorded.body);
        let Some(policy) = router.pick(&request) else {
            return Reply::status(400, r#"{"error":{"message":"no policy for this prompt"}}"#);
        };
        Reply::Stream {
            pieces: openai_chunks(&policy.respond(&request), 7),
            cut_after: None,
        }
    }))
}

/// Mission `i`: its own folder, session file and service state. Loads are spread evenly;
/// the region alternates and the ticket is a shuffle, both beside the point.
fn mission(dir: &Path, i: u64, load: f64) -> std::path::PathBuf {
    let folder = dir.join(format!("mission-{i:02}"));
    let service = folder.join("service");
    std::fs::create_dir_all(&service).unwrap();
    let region = ["eu", "us"][(i % 2) as usize];
    let status = json!({
        "load": load,
        "region": region,
        "ticket": 100 + (i * 7) % 18,
    });
    std::fs::write(service.join("status.json"), status.to_string()).unwrap();
    std::fs::write(service.join("check.py"), CHECK).unwrap();
    let spec = folder.join("deploy.toml");
    std::fs::write(&spec, SESSION.replace("PROMPT", LEAD_PROMPT)).unwrap();
    spec
}

fn lucid(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(dir)
        .env("LUCID_CONFIG", dir.join("config.toml"))
        .env("LUCID_TEST_LOOP_KEY", "sk-loop")
        .arg("--db")
        .arg(dir.join("store"))
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run(dir: &Path, spec: &Path) -> Output {
    lucid(
        dir,
        &[
            "run",
            spec.to_str().unwrap(),
            "--headless",
            "--model",
            "loop",
        ],
    )
}

#[test]
fn a_dream_learns_a_condition_from_tool_results_and_a_remedy_from_a_chosen_argument() {
    if lucid_core::sandbox::Sandbox::new(lucid_core::sandbox::SandboxPolicy::new("/tmp", "/tmp"))
        .is_err()
    {
        eprintln!("SKIPPED: no sandbox on this machine (neither Landlock nor bubblewrap)");
        return;
    }
    let server = serve();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[models.loop]\nprovider = \"openai\"\nmodel = \"policy\"\nbase_url = \"{}/v1\"\napi_key_env = \"LUCID_TEST_LOOP_KEY\"\nmax_retries = 0\n",
            server.url
        ),
    )
    .unwrap();
    let mut failed = 0;
    for i in 0..18 {
        let load = f64::from(i as u32 + 1) * 0.05;
        let spec = mission(dir.path(), i, (load * 100.0).round() / 100.0);
        let output = run(dir.path(), &spec);
        if !output.status.success() {
            failed += 1;
        }
    }
    // Four of the six busiest missions deployed plainly and failed.
    assert_eq!(failed, 4, "missions that failed");

    let dream = lucid(dir.path(), &["dream", "--team", "deployers", "--json"]);
    assert!(dream.status.success(), "{}", text(&dream));
    let report: Value = serde_json::from_slice(&dream.stdout).unwrap();
    let listed = lucid(dir.path(), &["memory", "list", "--json"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let memories: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let rules: Vec<&Value> = memories
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["rules"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(rules.len(), 1, "one rule: {rules:?}\n{report:#}");
    let rule = rules[0];
    // The condition is the probe's load, read before the deploy; the remedy the argument.
    assert_eq!(rule["when"], json!({"probe.load": {"min": 0.65}}), "{rule}");
    assert_eq!(rule["then"], json!({"deploy.strategy": "canary"}), "{rule}");

    // Approved, the playbook reaches the lead, which now deploys a busy service with a
    // canary although its ticket says otherwise.
    let playbook = memories
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["rules"].as_array().is_some_and(|r| !r.is_empty()))
        .unwrap();
    // It goes to the agent that makes the choice.
    assert_eq!(playbook["agent"], json!("lead"), "{playbook:#}");
    let id = playbook["id"].as_str().unwrap().to_string();
    // The playbook says it in the team's terms: what the tool reports, what to give it.
    let shown = text(&lucid(dir.path(), &["memory", "show", &id]));
    assert!(
        shown.contains("When probe.load at least 0.65, use deploy.strategy = canary"),
        "{shown}"
    );
    assert!(
        shown.contains("whenever `probe` reports `load` at least 0.65"),
        "{shown}"
    );
    assert!(
        shown.contains("Use `deploy`'s `strategy` = `canary` there."),
        "{shown}"
    );
    let approved = lucid(dir.path(), &["memory", "approve", &id]);
    assert!(approved.status.success(), "{}", text(&approved));
    let busy = mission(dir.path(), 30, 0.95);
    let output = run(dir.path(), &busy);
    assert!(output.status.success(), "{}", text(&output));
    let log = text(&output);
    assert!(log.contains(r#"deploy {"strategy":"canary"}"#), "{log}");
}
