//! The triage tools, bound to one episode: `log_info`, `read_log`, `grep_log` to read a
//! log (every call costs one tool call for that log), and `report_cause` to file the
//! finding. The episode remembers which lines each log's reader saw, how many calls it
//! made, and the report; [`TriageEpisode::facts`] turns that into result facts: counts,
//! and one record per log with the grader's verdict on its finding (see `verdict`) —
//! never the log's hidden cause, which no tool answer shows either.
//!
//! Answers are a readable text followed by one machine line (`INFO …`, `REPORTED …`);
//! log lines are printed as `NUMBER| text`. Bad arguments are tool errors that say what
//! to change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use super::fleet::{phrase, Cause, Fleet};
use super::verdict::judge;
use lucid_core::event::Facts;
use lucid_core::tool::{parse_args, Tool, ToolOutput, ToolSpec};
use lucid_core::world::Episode;

pub const LOG_INFO: &str = "log_info";
pub const READ_LOG: &str = "read_log";
pub const GREP_LOG: &str = "grep_log";
pub const REPORT_CAUSE: &str = "report_cause";

/// Most lines one `read_log` call returns.
pub const MAX_READ_LINES: u32 = 40;
/// Most patterns one `grep_log` call takes, and hits it shows per pattern.
pub const MAX_PATTERNS: usize = 64;
const MAX_HITS: usize = 5;

/// Every fact an episode reports.
pub const FACT_NAMES: [&str; 10] = [
    "logs",
    "reported",
    "correct",
    "accuracy",
    "invalid_citations",
    "evidence_on_signature",
    "tool_calls",
    "tool_calls_per_log",
    "per_cause_precision",
    "cases",
];

/// What happened to one log in this attempt.
#[derive(Debug, Clone, Default)]
struct LogState {
    calls: u32,
    seen: BTreeSet<u32>,
    report: Option<(Cause, u32)>,
}

/// One attempt: the fleet and what the tools did with it.
#[derive(Clone)]
pub struct TriageEpisode {
    fleet: Arc<Fleet>,
    state: Arc<Mutex<BTreeMap<u32, LogState>>>,
}

impl TriageEpisode {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        TriageEpisode {
            fleet,
            state: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// The state, even if a tool panicked holding the lock (plain data, consistent
    /// between statements).
    fn state(&self) -> MutexGuard<'_, BTreeMap<u32, LogState>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count_call(&self, log: u32) -> u32 {
        let mut state = self.state();
        let entry = state.entry(log).or_default();
        entry.calls += 1;
        entry.calls
    }

    fn saw(&self, log: u32, lines: impl IntoIterator<Item = u32>) {
        self.state().entry(log).or_default().seen.extend(lines);
    }
}

fn log_schema() -> Value {
    json!({"type": "integer", "minimum": 1, "description": "The build log's id."})
}

fn cause_description() -> String {
    let parts: Vec<String> = Cause::ALL
        .iter()
        .map(|c| format!("{}: {}", c.name(), c.description()))
        .collect();
    format!("Why the build failed. {}.", parts.join("; "))
}

fn ready(output: ToolOutput) -> BoxFuture<'static, ToolOutput> {
    Box::pin(async move { output })
}

/// The four tools of an episode.
pub fn all(episode: &TriageEpisode) -> Vec<Arc<dyn Tool>> {
    [LOG_INFO, READ_LOG, GREP_LOG, REPORT_CAUSE]
        .into_iter()
        .map(|name| {
            Arc::new(LogTool {
                name,
                episode: episode.clone(),
            }) as Arc<dyn Tool>
        })
        .collect()
}

struct LogTool {
    name: &'static str,
    episode: TriageEpisode,
}

#[derive(Deserialize)]
struct LogArgs {
    log: u32,
}

#[derive(Deserialize)]
struct ReadArgs {
    from: u32,
    to: u32,
}

#[derive(Deserialize)]
struct GrepArgs {
    patterns: Vec<String>,
}

#[derive(Deserialize)]
struct ReportArgs {
    cause: String,
    line: u32,
}

impl Tool for LogTool {
    fn spec(&self) -> ToolSpec {
        let (description, schema) = match self.name {
            LOG_INFO => (
                "How long a build log is, with its first and last line.",
                json!({"type": "object", "properties": {"log": log_schema()}, "required": ["log"]}),
            ),
            READ_LOG => (
                "Lines `from`..=`to` of a build log (1-based, at most 40 lines a call).",
                json!({"type": "object", "properties": {
                    "log": log_schema(),
                    "from": {"type": "integer", "minimum": 1},
                    "to": {"type": "integer", "minimum": 1}
                }, "required": ["log", "from", "to"]}),
            ),
            GREP_LOG => (
                "Lines of a build log containing each of the given literal patterns (case-sensitive, at most 5 hits a pattern).",
                json!({"type": "object", "properties": {
                    "log": log_schema(),
                    "patterns": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_PATTERNS}
                }, "required": ["log", "patterns"]}),
            ),
            _ => (
                "File the cause of a build log's failure with the number of the line that shows it.",
                json!({"type": "object", "properties": {
                    "log": log_schema(),
                    "cause": {"type": "string", "enum": Cause::ALL.map(Cause::name), "description": cause_description()},
                    "line": {"type": "integer", "minimum": 1, "description": "The evidence line's number."}
                }, "required": ["log", "cause", "line"]}),
            ),
        };
        ToolSpec {
            name: self.name.to_string(),
            description: description.to_string(),
            input_schema: schema,
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        ready(match self.run(input) {
            Ok(text) => ToolOutput::ok(text),
            Err(error) => error,
        })
    }
}

impl LogTool {
    fn run(&self, input: Value) -> Result<String, ToolOutput> {
        let name = self.name;
        let fleet = &self.episode.fleet;
        let LogArgs { log: log_id } = parse_args(name, input.clone())?;
        let Some(log) = fleet.log(log_id) else {
            return Err(ToolOutput::error(format!(
                "{name}: there is no log {log_id}; the logs are 1 to {}",
                fleet.logs.len()
            )));
        };
        let total = log.lines.len() as u32;
        let numbered = |n: u32| format!("{n:>4}| {}", log.line(n).unwrap_or(""));
        match name {
            LOG_INFO => {
                self.episode.count_call(log.id);
                self.episode.saw(log.id, [1, total]);
                Ok(format!(
                    "Log {} has {total} lines.\n{}\n{}\nINFO log={} lines={total}",
                    log.id,
                    numbered(1),
                    numbered(total),
                    log.id
                ))
            }
            READ_LOG => {
                let args: ReadArgs = parse_args(name, input)?;
                if args.from == 0 || args.from > args.to || args.from > total {
                    return Err(ToolOutput::error(format!(
                        "{name}: lines {}..={} are not a range of log {} (it has lines 1 to {total})",
                        args.from, args.to, log.id
                    )));
                }
                if args.to - args.from + 1 > MAX_READ_LINES {
                    return Err(ToolOutput::error(format!(
                        "{name}: at most {MAX_READ_LINES} lines a call; ask for {}..={}",
                        args.from,
                        args.from + MAX_READ_LINES - 1
                    )));
                }
                let to = args.to.min(total);
                self.episode.count_call(log.id);
                self.episode.saw(log.id, args.from..=to);
                let body: Vec<String> = (args.from..=to).map(numbered).collect();
                Ok(format!(
                    "{}\nREAD log={} from={} to={to} lines={total}",
                    body.join("\n"),
                    log.id,
                    args.from
                ))
            }
            GREP_LOG => {
                let args: GrepArgs = parse_args(name, input)?;
                if args.patterns.is_empty()
                    || args.patterns.len() > MAX_PATTERNS
                    || args.patterns.iter().any(|p| p.trim().is_empty())
                {
                    return Err(ToolOutput::error(format!(
                        "{name}: give 1 to {MAX_PATTERNS} non-empty patterns"
                    )));
                }
                self.episode.count_call(log.id);
                let mut out = Vec::new();
                for pattern in &args.patterns {
                    let hits: Vec<u32> = (1..=total)
                        .filter(|n| log.line(*n).is_some_and(|l| l.contains(pattern.as_str())))
                        .take(MAX_HITS)
                        .collect();
                    self.episode.saw(log.id, hits.iter().copied());
                    out.push(format!(
                        "pattern {pattern:?}: {} hit(s)",
                        if hits.is_empty() {
                            "no".to_string()
                        } else {
                            hits.len().to_string()
                        }
                    ));
                    out.extend(hits.iter().map(|n| numbered(*n)));
                }
                Ok(out.join("\n"))
            }
            _ => {
                let args: ReportArgs = parse_args(name, input)?;
                let Some(cause) = Cause::parse(args.cause.trim()) else {
                    return Err(ToolOutput::error(format!(
                        "{name}: unknown cause `{}`; use one of {}",
                        args.cause,
                        Cause::ALL.map(Cause::name).join(", ")
                    )));
                };
                self.episode.count_call(log.id);
                let mut state = self.episode.state();
                state.entry(log.id).or_default().report = Some((cause, args.line));
                let note = if args.line == 0 || args.line > total {
                    format!(
                        " Note: log {} has no line {} (it has 1 to {total}).",
                        log.id, args.line
                    )
                } else {
                    String::new()
                };
                Ok(format!(
                    "Recorded: log {} failed because of {}, evidence line {}.{note}\nREPORTED log={} cause={} line={}",
                    log.id,
                    cause.name(),
                    args.line,
                    log.id,
                    cause.name(),
                    args.line
                ))
            }
        }
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

impl Episode for TriageEpisode {
    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        all(self)
    }

    fn facts(&self) -> Facts {
        let state = self.state();
        let fleet = &self.fleet;
        let n = fleet.logs.len().max(1) as f64;
        let mut reported = 0u32;
        let mut correct = 0u32;
        let mut invalid = 0u32;
        let mut on_signature = 0u32;
        let mut calls = 0u32;
        // Per cause the team filed: (judged right, filed).
        let mut per_cause: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        let mut cases = Vec::new();
        for log in &fleet.logs {
            let entry = state.get(&log.id).cloned().unwrap_or_default();
            calls += entry.calls;
            let verdict = judge(log, entry.report);
            if let Some((cause, line)) = entry.report {
                reported += 1;
                if log.line(line).is_none() {
                    invalid += 1;
                }
                if verdict.cites_failure {
                    on_signature += 1;
                }
                let tally = per_cause.entry(cause.name()).or_default();
                tally.1 += 1;
                if verdict.right {
                    correct += 1;
                    tally.0 += 1;
                }
            }
            let mut observed: Vec<String> = entry
                .seen
                .iter()
                .filter_map(|n| log.line(*n).and_then(phrase))
                .collect();
            observed.sort();
            observed.dedup();
            // The grader's verdict, not the log's hidden cause: see `verdict`.
            cases.push(json!({
                "log": log.id,
                "observed": observed,
                "chosen": entry.report.map_or("", |(c, _)| c.name()),
                "line": entry.report.map(|(_, line)| line),
                "verdict": verdict.word(),
                "reason": verdict.reason,
                "tool_calls": entry.calls,
            }));
        }
        let per_cause_precision: serde_json::Map<String, Value> = per_cause
            .into_iter()
            .map(|(cause, (ok, all))| {
                (
                    cause.to_string(),
                    json!(round(f64::from(ok) / f64::from(all.max(1)), 3)),
                )
            })
            .collect();
        let mut facts = Facts::new();
        let mut put = |name: &str, value: Value| {
            facts.insert(name.to_string(), value);
        };
        put("logs", json!(fleet.logs.len()));
        put("reported", json!(reported));
        put("correct", json!(correct));
        put("accuracy", json!(round(f64::from(correct) / n, 3)));
        put("invalid_citations", json!(invalid));
        put("evidence_on_signature", json!(on_signature));
        put("tool_calls", json!(calls));
        put("tool_calls_per_log", json!(round(f64::from(calls) / n, 2)));
        put("per_cause_precision", Value::Object(per_cause_precision));
        put("cases", Value::Array(cases));
        facts
    }
}
