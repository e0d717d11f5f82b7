//! The scripted policies of build triage: a `commander` that fans out one `triager` per
//! log, all in one turn (so they run in parallel), and sums up their findings; and the
//! `triager`, which reads one log and files its cause.
//!
//! Both depend only on their request. The triager starts uninformed: it reads the whole
//! log in 40-line pages, takes the first line that looks like a failure (`error`,
//! `fail`, `fatal`, `killed`, …) as evidence, and guesses the cause whose description in
//! the `report_cause` schema shares the most words with that line. After grader feedback
//! the commander asks for a thorough reading: warnings and retried steps are set aside
//! and the line that names a cause most plainly wins over the first one. Playbook rules in its prompt — `{"when": {"log_contains": TEXT}, "then":
//! {"cause": CAUSE}}` — let it grep for known signatures first and skip reading when
//! one matches. No signature or cause is special to it except through such rules.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::tools::{GREP_LOG, LOG_INFO, MAX_PATTERNS, MAX_READ_LINES, READ_LOG, REPORT_CAUSE};
use super::{CAUSE_LABEL, LOG_FEATURE};
use lucid_core::model::{
    ContentBlock, Message, ModelRequest, ModelResponse, Policy, ResponseBuilder, Role,
};
use lucid_core::spec::DELEGATE_TOOL;
use lucid_core::world::rules::parse_rules;

/// Words that make a line look like a failure to an uninformed reader.
const FAILURE_CUES: [&str; 14] = [
    "error",
    "fail",
    "fatal",
    "killed",
    "exception",
    "timeout",
    "timed out",
    "abort",
    "could not",
    "cannot",
    "unable",
    "no space",
    "panicked",
    "exceeded",
];

/// Words that mark a line as a warning or a retried step rather than the failure.
const NOT_FATAL: [&str; 3] = ["warn", "retry", "deprecat"];

/// Words too common to tell causes apart.
const STOPWORDS: [&str; 12] = [
    "the", "and", "for", "not", "was", "its", "did", "ran", "out", "with", "this", "from",
];

/// The marker that asks triagers for a thorough reading.
pub const THOROUGH: &str = "MODE thorough";

fn prefix(request: &ModelRequest) -> String {
    let turns = request
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .count();
    format!("t{}", turns + 1)
}

fn answer(request: &ModelRequest, text: impl Into<String>) -> ModelResponse {
    ResponseBuilder::new(prefix(request)).text(text).build()
}

fn first_user_text(messages: &[Message]) -> String {
    messages
        .iter()
        .find(|m| m.role == Role::User)
        .map(Message::text)
        .unwrap_or_default()
}

/// The `key=value` word after `tag` on the first line starting with `tag`.
fn tagged_value(text: &str, tag: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix(tag))
        .flat_map(|rest| rest.split_whitespace())
        .find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
}

/// One tool call and its result, if any: `(name, input, Some((content, is_error)))`.
type Exchange = (String, Value, Option<(String, bool)>);

fn exchanges(messages: &[Message]) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for message in messages {
        for block in &message.content {
            match block {
                ContentBlock::ToolUse { id, name, input } => {
                    ids.push(id.clone());
                    out.push((name.clone(), input.clone(), None));
                }
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    if let Some(pos) = ids.iter().position(|id| id == tool_use_id) {
                        if let Some(exchange) = out.get_mut(pos) {
                            exchange.2 = Some((content.clone(), *is_error));
                        }
                    }
                }
                ContentBlock::Text { .. } => {}
            }
        }
    }
    out
}

/// Numbered log lines (`  42| text`) in a tool result.
fn numbered_lines(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|line| {
            let (number, rest) = line.split_once("| ")?;
            Some((number.trim().parse().ok()?, rest.to_string()))
        })
        .collect()
}

pub struct Commander;

impl Policy for Commander {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let Some(delegate) = request.tools.iter().find(|t| t.name == DELEGATE_TOOL) else {
            return answer(
                request,
                "I have no triage agents to delegate to; no log was triaged.",
            );
        };
        let specialist = delegate
            .input_schema
            .pointer("/properties/specialist/enum/0")
            .and_then(Value::as_str)
            .unwrap_or("triager")
            .to_string();
        let briefing = first_user_text(&request.messages);
        let count: u32 = tagged_value(&briefing, "LOGS", "count")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // The current attempt starts after the latest grader feedback.
        let start = request
            .messages
            .iter()
            .rposition(|m| m.role == Role::User && m.text().contains("## Grader feedback"));
        let revising = start.is_some();
        let current = &request.messages[start.unwrap_or(0)..];
        let calls = exchanges(current);
        if calls.iter().all(|(name, _, _)| name != DELEGATE_TOOL) {
            if count == 0 {
                return answer(request, "The briefing lists no logs; nothing to triage.");
            }
            let mut builder = ResponseBuilder::new(prefix(request)).text(if revising {
                format!("The grader found the triage not good enough. I send {count} triage agents back, one per log, and ask each for a thorough reading.")
            } else {
                format!("I fan out {count} triage agents, one per build log, in parallel.")
            });
            for id in 1..=count {
                let mut subtask = format!(
                    "Triage CI build log {id}: find why the build failed. Read the log with the log tools, \
                     call report_cause with the cause and the number of the line that shows it, then answer \
                     with one line: FINDING log={id} cause=… line=…\nLOG id={id}"
                );
                if revising {
                    subtask.push('\n');
                    subtask.push_str(THOROUGH);
                }
                builder = builder.tool(
                    DELEGATE_TOOL,
                    json!({"specialist": specialist, "subtask": subtask, "purpose": format!("Triage build log {id}")}),
                );
            }
            return builder.build();
        }
        let mut by_cause: BTreeMap<String, u32> = BTreeMap::new();
        let mut missing = Vec::new();
        for (_, input, result) in calls.iter().filter(|(n, _, _)| n == DELEGATE_TOOL) {
            let subtask = input.get("subtask").and_then(Value::as_str).unwrap_or("");
            let log = tagged_value(subtask, "LOG", "id").unwrap_or_default();
            match result {
                Some((text, false)) => match tagged_value(text, "FINDING", "cause") {
                    Some(cause) => *by_cause.entry(cause).or_default() += 1,
                    None => missing.push(log),
                },
                _ => missing.push(log),
            }
        }
        let found: u32 = by_cause.values().sum();
        let mut text = format!("Triage of {count} build logs: {found} findings filed.\n");
        for (cause, n) in &by_cause {
            text.push_str(&format!("- {cause}: {n}\n"));
        }
        if !missing.is_empty() {
            text.push_str(&format!("No finding for log(s) {}.\n", missing.join(", ")));
        }
        text.push_str(&format!("TRIAGE logs={count} findings={found}"));
        answer(request, text)
    }
}

pub struct Triager;

/// A signature rule: text to look for and the cause it means.
struct Signature {
    text: String,
    cause: String,
}

impl Policy for Triager {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let subtask = first_user_text(&request.messages);
        let Some(log) = tagged_value(&subtask, "LOG", "id").and_then(|id| id.parse::<u64>().ok())
        else {
            return answer(
                request,
                "The subtask names no log (a `LOG id=N` line), so I cannot triage anything.",
            );
        };
        let thorough = subtask.lines().any(|l| l.trim() == THOROUGH);
        let Some(report) = request.tools.iter().find(|t| t.name == REPORT_CAUSE) else {
            return answer(
                request,
                format!("I cannot file a cause for log {log}: no report_cause tool."),
            );
        };
        let causes = cause_vocabulary(&report.input_schema);
        let signatures: Vec<Signature> = parse_rules(&request.system)
            .into_iter()
            .filter_map(|rule| {
                let text = rule.when.get(LOG_FEATURE)?.as_str()?.to_string();
                let cause = rule.word(CAUSE_LABEL)?.to_string();
                (rule.when.len() == 1 && causes.iter().any(|(name, _)| *name == cause))
                    .then_some(Signature { text, cause })
            })
            .collect();
        let calls = exchanges(&request.messages);
        let step = ResponseBuilder::new(prefix(request));
        if let Some((_, input, result)) = calls.iter().rev().find(|(n, _, _)| n == REPORT_CAUSE) {
            return match result {
                Some((_, false)) => answer(
                    request,
                    format!(
                        "FINDING log={log} cause={} line={}",
                        input.get("cause").and_then(Value::as_str).unwrap_or(""),
                        input.get("line").and_then(Value::as_u64).unwrap_or(0)
                    ),
                ),
                _ => answer(request, format!("I could not file the cause of log {log}.")),
            };
        }
        // With known signatures, look for them first.
        if !signatures.is_empty() {
            let grep = calls.iter().find(|(n, _, _)| n == GREP_LOG);
            let Some((_, _, result)) = grep else {
                let mut patterns: Vec<&str> = Vec::new();
                for s in &signatures {
                    if !patterns.contains(&s.text.as_str()) && patterns.len() < MAX_PATTERNS {
                        patterns.push(&s.text);
                    }
                }
                return step
                    .text(format!(
                        "Log {log}: checking the known failure signatures first."
                    ))
                    .tool(GREP_LOG, json!({"log": log, "patterns": patterns}))
                    .build();
            };
            if let Some((text, false)) = result {
                let hits = numbered_lines(text);
                if let Some((signature, line)) = signatures.iter().find_map(|s| {
                    hits.iter()
                        .find(|(_, l)| l.contains(&s.text))
                        .map(|(n, _)| (s, *n))
                }) {
                    return step
                        .text(format!(
                            "Line {line} shows a known signature (\"{}\").",
                            signature.text
                        ))
                        .tool(
                            REPORT_CAUSE,
                            json!({"log": log, "cause": signature.cause, "line": line}),
                        )
                        .build();
                }
            }
        }
        // Uninformed: read the whole log, page by page.
        let info = calls
            .iter()
            .find_map(|(n, _, r)| (n == LOG_INFO).then_some(r.as_ref()).flatten());
        let Some((info, false)) = info else {
            return step.tool(LOG_INFO, json!({"log": log})).build();
        };
        let total: u32 = tagged_value(info, "INFO", "lines")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut lines: BTreeMap<u32, String> = BTreeMap::new();
        for (name, _, result) in &calls {
            if let (true, Some((text, false))) = (name == READ_LOG, result) {
                lines.extend(numbered_lines(text));
            }
        }
        let next = (1..=total).find(|n| !lines.contains_key(n));
        if let Some(from) = next {
            let to = (from + MAX_READ_LINES - 1).min(total);
            return step
                .tool(READ_LOG, json!({"log": log, "from": from, "to": to}))
                .build();
        }
        let candidates: Vec<(u32, &String)> = lines
            .iter()
            .filter(|(_, text)| {
                let lower = text.to_ascii_lowercase();
                FAILURE_CUES.iter().any(|cue| lower.contains(cue))
            })
            .map(|(n, t)| (*n, t))
            .collect();
        let chosen = if thorough {
            // Warnings and retried steps rarely break a build: weigh the rest by how
            // plainly they name a cause, the earliest on a tie.
            candidates
                .iter()
                .filter(|(_, text)| {
                    let lower = text.to_ascii_lowercase();
                    !NOT_FATAL.iter().any(|cue| lower.contains(cue))
                })
                .max_by_key(|(n, text)| (best_cause(text, &causes).1, std::cmp::Reverse(*n)))
                .or(candidates.first())
                .copied()
        } else {
            candidates.first().copied()
        };
        let empty = String::new();
        let (line, text) = chosen
            .or_else(|| lines.iter().next_back().map(|(n, t)| (*n, t)))
            .unwrap_or((1, &empty));
        let (cause, _) = best_cause(text, &causes);
        step.text(format!("Line {line} looks like the failure: {text}"))
            .tool(
                REPORT_CAUSE,
                json!({"log": log, "cause": cause, "line": line}),
            )
            .build()
    }
}

/// Each cause in the report schema's enum with the words of its name and description.
fn cause_vocabulary(schema: &Value) -> Vec<(String, Vec<String>)> {
    let names: Vec<String> = schema
        .pointer("/properties/cause/enum")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let description = schema
        .pointer("/properties/cause/description")
        .and_then(Value::as_str)
        .unwrap_or("");
    names
        .into_iter()
        .map(|name| {
            let described = description
                .split(';')
                .find_map(|part| part.trim().strip_prefix(&format!("{name}:")))
                .unwrap_or("");
            let words = words(described);
            (name, words)
        })
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && !STOPWORDS.contains(w))
        .map(str::to_string)
        .collect()
}

fn same_word(a: &str, b: &str) -> bool {
    a == b || (a.len() >= 4 && b.len() >= 4 && a[..4] == b[..4])
}

/// The cause whose words the line shares most (the first on a tie) and how many.
fn best_cause(line: &str, causes: &[(String, Vec<String>)]) -> (String, usize) {
    let seen = words(line);
    let mut best = (String::new(), 0usize);
    for (name, vocabulary) in causes {
        let score = seen
            .iter()
            .filter(|w| vocabulary.iter().any(|v| same_word(w, v)))
            .count();
        if best.0.is_empty() || score > best.1 {
            best = (name.clone(), score);
        }
    }
    best
}
