//! A tiny test environment, "workshop", whose scripted policies record every request
//! they receive, so tests can check what each context held.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use lucid_core::event::Facts;
use lucid_core::model::scripted::ResponseBuilder;
use lucid_core::model::{ContentBlock, ModelRequest, ModelResponse, Policy, Role};
use lucid_core::spec::{EnvironmentCapabilities, EnvironmentCatalog, SessionSpec};
use lucid_core::tool::{Tool, ToolOutput, ToolSpec};
use lucid_core::world::{Environment, Episode};

pub const LEAD_SECRET: &str = "LEAD-SECRET-CONTEXT";
pub const WORKER_THOUGHT: &str = "WORKER-PRIVATE-THOUGHT";
pub const LEAD_THOUGHT: &str = "LEAD-PRIVATE-THOUGHT";

/// Every request each role received.
#[derive(Default, Clone)]
pub struct Recorder(pub Arc<Mutex<BTreeMap<String, Vec<ModelRequest>>>>);

impl Recorder {
    fn record(&self, role: &str, request: &ModelRequest) {
        self.0
            .lock()
            .unwrap()
            .entry(role.to_string())
            .or_default()
            .push(request.clone());
    }

    pub fn requests(&self, role: &str) -> Vec<ModelRequest> {
        self.0
            .lock()
            .unwrap()
            .get(role)
            .cloned()
            .unwrap_or_default()
    }
}

pub fn request_text(request: &ModelRequest) -> String {
    let mut text = request.system.clone();
    for message in request.messages.iter() {
        for block in &message.content {
            match block {
                ContentBlock::Text { text: t } => text.push_str(t),
                ContentBlock::ToolUse { input, .. } => text.push_str(&input.to_string()),
                ContentBlock::ToolResult { content, .. } => text.push_str(content),
            }
        }
    }
    text
}

/// The workshop: one tool, `note`, that counts notes. Facts: `notes`, `words`.
pub struct Workshop {
    pub recorder: Recorder,
}

struct Notes(Mutex<Vec<String>>);

struct NoteTool(Arc<Notes>);

impl Tool for NoteTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "note".into(),
            description: "Write a note.".into(),
            input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        }
    }
    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        let text = input
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_string);
        let out = match text {
            Some(text) => {
                self.0 .0.lock().unwrap().push(text.clone());
                ToolOutput::ok(format!("noted: {text}"))
            }
            None => ToolOutput::error("note needs `text`"),
        };
        Box::pin(async move { out })
    }
}

struct WorkshopEpisode(Arc<Notes>);

impl Episode for WorkshopEpisode {
    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(NoteTool(Arc::clone(&self.0)))]
    }
    fn facts(&self) -> Facts {
        let notes = self.0 .0.lock().unwrap();
        let mut facts = Facts::new();
        facts.insert("notes".into(), json!(notes.len()));
        facts.insert(
            "words".into(),
            json!(notes.join(" ").split_whitespace().count()),
        );
        facts
    }
}

impl Environment for Workshop {
    fn kind(&self) -> &'static str {
        "workshop"
    }
    fn briefing(&self) -> String {
        format!("The workshop is open. {LEAD_SECRET}")
    }
    fn policy(&self, role: &str) -> Option<Arc<dyn Policy>> {
        let recorder = self.recorder.clone();
        let role = role.to_string();
        match role.as_str() {
            "lead" | "worker" | "grader" | "advisor" => {
                Some(Arc::new(WorkshopPolicy { role, recorder }))
            }
            _ => None,
        }
    }
    fn episode(&self) -> Arc<dyn Episode> {
        Arc::new(WorkshopEpisode(Arc::new(Notes(Mutex::new(Vec::new())))))
    }
}

pub fn catalog() -> EnvironmentCatalog {
    let mut catalog = EnvironmentCatalog::new();
    catalog.insert(
        "workshop".into(),
        EnvironmentCapabilities {
            tools: vec!["note".into()],
            facts: vec!["notes".into(), "words".into()],
            roles: vec![
                "lead".into(),
                "worker".into(),
                "grader".into(),
                "advisor".into(),
            ],
            ..EnvironmentCapabilities::default()
        },
    );
    catalog
}

pub fn spec(source: &str) -> SessionSpec {
    lucid_core::spec::parse(Path::new("workshop.toml"), source, &catalog()).unwrap()
}

struct WorkshopPolicy {
    role: String,
    recorder: Recorder,
}

fn turn(request: &ModelRequest) -> usize {
    request
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .count()
        + 1
}

/// Tool results so far in the conversation, oldest first.
pub fn tool_results(request: &ModelRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .filter_map(|b| match b {
            ContentBlock::ToolResult { content, .. } => Some(content.clone()),
            _ => None,
        })
        .collect()
}

impl Policy for WorkshopPolicy {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        self.recorder.record(&self.role, request);
        let t = turn(request);
        let reply = ResponseBuilder::new(format!("t{t}"));
        let last_user = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.text())
            .unwrap_or_default();
        match self.role.as_str() {
            // The lead fans out one worker per wanted note, in one turn; after grader
            // feedback it asks for more notes than before.
            "lead" => {
                // With an advisor, the lead asks it once before anything else.
                let has_advisor = request.tools.iter().any(|t| t.name == "ask_advisor");
                if has_advisor && t == 1 {
                    return reply
                        .tool(
                            "ask_advisor",
                            json!({"question": "How long should notes be?"}),
                        )
                        .build();
                }
                let feedback_rounds = request
                    .messages
                    .iter()
                    .filter(|m| m.role == Role::User && m.text().contains("Grader feedback"))
                    .count();
                let last_is_results = request.messages.last().is_some_and(|m| {
                    m.content
                        .iter()
                        .any(|b| matches!(b, ContentBlock::ToolResult { .. }))
                });
                let advice_only = has_advisor && t == 2;
                if last_is_results && !advice_only {
                    let results = tool_results(request);
                    return reply
                        .text(format!(
                            "All done. {}",
                            results.last().cloned().unwrap_or_default()
                        ))
                        .build();
                }
                let wanted = 2 + feedback_rounds;
                let mut reply = reply.text(format!("{LEAD_THOUGHT}: splitting into {wanted}"));
                for i in 0..wanted {
                    reply = reply.tool(
                        "delegate",
                        json!({"specialist": "worker", "subtask": format!("write note {i}"), "purpose": format!("note {i}")}),
                    );
                }
                reply.build()
            }
            "worker" => {
                if t == 1 {
                    reply
                        .text(format!("{WORKER_THOUGHT} about {last_user}"))
                        .tool("note", json!({"text": last_user}))
                        .build()
                } else {
                    reply
                        .text(format!("finished {}", tool_results(request).join(",")))
                        .build()
                }
            }
            "advisor" => reply.text("Advice: keep notes short.").build(),
            "grader" => {
                let ids: Vec<String> = last_user
                    .split("## Criteria to judge")
                    .nth(1)
                    .unwrap_or("")
                    .lines()
                    .filter_map(|l| l.strip_prefix("- ").map(str::to_string))
                    .collect();
                let verdicts: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({"criterion": id, "passed": last_user.contains("All done"), "reason": "the output says whether it is done", "fix": "say All done"}))
                    .collect();
                reply
                    .tool("submit_verdicts", json!({"verdicts": verdicts}))
                    .build()
            }
            _ => reply.text("?").build(),
        }
    }
}

/// A session file for the workshop; `extra` is appended.
pub fn workshop_toml(criteria: &str, max_iterations: u32, worker_latency_ms: u64) -> String {
    format!(
        r#"
name = "workshop-team"
task = "Write notes."

[environment]
kind = "workshop"

[models.slow]
provider = "scripted"
latency_ms = {worker_latency_ms}

[agents.lead]
lead = true
delegates = ["worker"]
prompt = "You lead."

[agents.worker]
model = "slow"
tools = ["note"]
prompt = "You write notes."

[outcome]
max_iterations = {max_iterations}
{criteria}
"#
    )
}

/// A command's stdout as the one JSON document `--json` promises.
pub fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Who did what in a `run --json` report: each agent's name, purpose, status, tool
/// calls and turns, in order.
pub fn agents_work(report: &Value) -> Vec<Value> {
    report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            json!([
                a["name"],
                a["purpose"],
                a["status"],
                a["tool_calls"],
                a["turns"]
            ])
        })
        .collect()
}
