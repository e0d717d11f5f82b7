//! Fleet: a load environment for measuring orchestration, not a puzzle. The lead hands
//! one subtask to each of `workers` workers in a single turn (so they run in parallel,
//! bounded by `[limits] max_parallel`); each worker calls `tick` `steps` times, one call
//! a turn, then answers. Result facts count the ticks and the workers that finished.
//!
//! Options: `workers` (1–100,000, default 100), `steps` (1–1,000, default 3).
//! Roles: `lead`, `worker`. Tool: `tick`. Facts: `ticks`, `workers`, `workers_done`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use lucid_core::event::Facts;
use lucid_core::model::scripted::ResponseBuilder;
use lucid_core::model::{ContentBlock, ModelRequest, ModelResponse, Policy, Role};
use lucid_core::spec::EnvironmentCapabilities;
use lucid_core::tool::{Tool, ToolOutput, ToolSpec};
use lucid_core::world::{EnvError, Environment, Episode};

pub const KIND: &str = "fleet";

pub fn capabilities() -> EnvironmentCapabilities {
    lucid_core::world::capabilities(
        &["tick"],
        &["ticks", "workers", "workers_done"],
        &["lead", "worker"],
    )
}

/// The fleet for one session.
pub struct Fleet {
    workers: u64,
    steps: u64,
}

fn option(options: &toml::Table, key: &str, default: u64, max: u64) -> Result<u64, EnvError> {
    match options.get(key) {
        None => Ok(default),
        Some(toml::Value::Integer(n)) if *n >= 1 && (*n as u64) <= max => Ok(*n as u64),
        Some(other) => Err(EnvError::BadOption {
            key: key.to_string(),
            message: format!("must be a whole number from 1 to {max} (it was {other})"),
        }),
    }
}

impl Fleet {
    pub fn new(options: &toml::Table) -> Result<Self, EnvError> {
        if let Some(key) = options
            .keys()
            .find(|k| !["workers", "steps"].contains(&k.as_str()))
        {
            return Err(EnvError::BadOption {
                key: key.clone(),
                message: "unknown option for fleet; the options are `workers` and `steps`".into(),
            });
        }
        Ok(Fleet {
            workers: option(options, "workers", 100, 100_000)?,
            steps: option(options, "steps", 3, 1_000)?,
        })
    }
}

impl Environment for Fleet {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn briefing(&self) -> String {
        format!("WORKERS {} STEPS {}", self.workers, self.steps)
    }

    fn policy(&self, role: &str) -> Option<Arc<dyn Policy>> {
        match role {
            "lead" => Some(Arc::new(Lead)),
            "worker" => Some(Arc::new(Worker)),
            _ => None,
        }
    }

    fn episode(&self) -> Arc<dyn Episode> {
        Arc::new(FleetEpisode {
            workers: self.workers,
            ticks: Arc::new(AtomicU64::new(0)),
            done: Arc::new(AtomicU64::new(0)),
        })
    }
}

struct FleetEpisode {
    workers: u64,
    ticks: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
}

impl Episode for FleetEpisode {
    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(Tick {
            ticks: Arc::clone(&self.ticks),
            done: Arc::clone(&self.done),
        })]
    }

    fn facts(&self) -> Facts {
        let mut facts = Facts::new();
        facts.insert("ticks".into(), json!(self.ticks.load(Ordering::SeqCst)));
        facts.insert("workers".into(), json!(self.workers));
        facts.insert(
            "workers_done".into(),
            json!(self.done.load(Ordering::SeqCst)),
        );
        facts
    }
}

struct Tick {
    ticks: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
}

impl Tool for Tick {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "tick".into(),
            description: "Do one unit of work. Say `last: true` on your final one.".into(),
            input_schema: json!({"type": "object", "properties": {
                "step": {"type": "integer"}, "last": {"type": "boolean"}}, "required": ["step"]}),
        }
    }

    fn call(&self, input: serde_json::Value) -> BoxFuture<'static, ToolOutput> {
        let n = self.ticks.fetch_add(1, Ordering::SeqCst) + 1;
        if input.get("last").and_then(serde_json::Value::as_bool) == Some(true) {
            self.done.fetch_add(1, Ordering::SeqCst);
        }
        let step = input.get("step").cloned().unwrap_or(json!(null));
        Box::pin(async move { ToolOutput::ok(format!("tick {step} done ({n} in all)")) })
    }
}

/// A number after `label` in text, e.g. `WORKERS 100`.
fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = text.split(label).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

fn turn(request: &ModelRequest) -> usize {
    request
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .count()
        + 1
}

/// Fans out one delegation per worker, then reports.
struct Lead;

impl Policy for Lead {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let first = request
            .messages
            .first()
            .map(|m| m.text())
            .unwrap_or_default();
        let workers = number_after(&first, "WORKERS").unwrap_or(1);
        let steps = number_after(&first, "STEPS").unwrap_or(1);
        let t = turn(request);
        let reply = ResponseBuilder::new(format!("t{t}"));
        let answered = request.messages.last().is_some_and(|m| {
            m.content
                .iter()
                .any(|b| matches!(b, ContentBlock::ToolResult { .. }))
        });
        if answered {
            let done = request
                .messages
                .last()
                .map(|m| {
                    m.content
                        .iter()
                        .filter(|b| {
                            matches!(
                                b,
                                ContentBlock::ToolResult {
                                    is_error: false,
                                    ..
                                }
                            )
                        })
                        .count()
                })
                .unwrap_or(0);
            return reply
                .text(format!("{done} of {workers} workers reported."))
                .build();
        }
        let specialist = request
            .tools
            .iter()
            .find(|t| t.name == "delegate")
            .and_then(|t| t.input_schema["properties"]["specialist"]["enum"][0].as_str())
            .unwrap_or("worker")
            .to_string();
        let mut reply = reply.text(format!("Handing out {workers} subtasks."));
        for i in 0..workers {
            reply = reply.tool(
                "delegate",
                json!({"specialist": specialist, "subtask": format!("Job {i}: tick STEPS {steps} times."), "purpose": format!("job {i}")}),
            );
        }
        reply.build()
    }
}

/// Ticks once a turn until its job is done.
struct Worker;

impl Policy for Worker {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let job = request
            .messages
            .first()
            .map(|m| m.text())
            .unwrap_or_default();
        let steps = number_after(&job, "STEPS").unwrap_or(1);
        let t = turn(request) as u64;
        let reply = ResponseBuilder::new(format!("t{t}"));
        if t > steps {
            return reply.text(format!("Done: {steps} ticks.")).build();
        }
        reply
            .tool("tick", json!({"step": t, "last": t == steps}))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let table: toml::Table = toml::from_str("workers = 5\nsteps = 2").unwrap();
        let fleet = Fleet::new(&table).unwrap();
        assert_eq!((fleet.workers, fleet.steps), (5, 2));
        assert!(Fleet::new(&toml::from_str("workers = 0").unwrap()).is_err());
        assert!(Fleet::new(&toml::from_str("crew = 3").unwrap()).is_err());
    }
}
