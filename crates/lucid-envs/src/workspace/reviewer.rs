//! The reviewer's scripted policy: review the documents its subtask names, using only
//! the tools, and report findings that cite `path:line`.
//!
//! Stateless like every policy: each turn it re-reads its conversation. Turn by turn it
//! lists the workspace and reads its documents (in parallel), pages through long ones,
//! searches the whole workspace for a definition of every abbreviation its documents
//! use, writes its findings with `write_file`, and answers with them. What it checks is
//! what a careful first-pass reviewer checks within its own documents: links to files
//! that do not exist, unfinished notes (TODO, FIXME, TBD, XXX) and abbreviations defined
//! nowhere. Asked for claims (`CLAIMS yes` in the subtask, or a `claims` rule in its
//! prompt), it also reports every numeric value its documents give a named setting, as
//! `CLAIM key=… value=… at=path:line` lines, so that the lead can compare documents.
//!
//! Subtask lines it reads: `FILES a.md,b.md` (default: every file), `OUTPUT path`
//! (default `findings.md`), `CLAIMS yes`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use super::text::{self, Exchange};
use super::tools::{LIST_FILES, READ_FILE, SEARCH, WRITE_FILE};
use lucid_core::model::{ModelRequest, ModelResponse, Policy, ResponseBuilder};
use lucid_core::world::rules::parse_rules;

/// Abbreviations a reader is expected to know.
const COMMON: [&str; 40] = [
    "API", "AWS", "CLI", "CPU", "CSV", "DNS", "FAQ", "FIXME", "GB", "GCP", "GPU", "HTML", "HTTP",
    "HTTPS", "ID", "IP", "JSON", "KB", "MB", "NOTE", "OK", "OS", "PDF", "RAM", "README", "S3",
    "SQL", "SSH", "TB", "TBD", "TCP", "TLS", "TODO", "TOML", "UDP", "UI", "URL", "USB", "UTC",
    "XXX",
];
/// Most abbreviations one reviewer looks up.
const MAX_TERMS: usize = 12;

static ABBREVIATION: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b[A-Z][A-Z0-9]{1,5}\b").ok());
static MARKER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b(TODO|FIXME|TBD|XXX)\b").ok());
static NUMBER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?:^|[^\w.])([0-9]+(?:\.[0-9]+)?)\b").ok());
static ASSIGNMENT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^\s*([a-z][a-z0-9_.]*)\s*[=:]\s*([0-9]+(?:\.[0-9]+)?)\s*$").ok());

pub(super) struct Reviewer;

/// What the subtask asks for.
struct Assignment {
    files: Vec<String>,
    output: String,
    claims: bool,
}

/// A document as read so far: its lines by number and its length.
#[derive(Default)]
struct Document {
    lines: BTreeMap<usize, String>,
    total: Option<usize>,
    error: Option<String>,
}

impl Policy for Reviewer {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let subtask = text::first_user_text(request);
        let rules = parse_rules(&request.system);
        let exchanges = text::exchanges(&request.messages);
        let inventory = inventory(&exchanges);
        let mut assignment = Assignment {
            files: text::tagged_value(&subtask, "FILES")
                .map(|v| {
                    v.split(',')
                        .map(|f| f.trim().to_string())
                        .filter(|f| !f.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            output: text::tagged_value(&subtask, "OUTPUT").unwrap_or_else(|| "findings.md".into()),
            claims: text::tagged_value(&subtask, "CLAIMS").is_some_and(|v| v == "yes")
                || rules.iter().any(|r| r.flag("claims") == Some(true)),
        };
        let reply = ResponseBuilder::new(text::turn_prefix(request));
        // 1. See what exists, and start reading.
        let Some(inventory) = inventory else {
            let mut reply = reply
                .text("I list the workspace to see which files exist, and start reading mine.")
                .tool(LIST_FILES, json!({}));
            for file in &assignment.files {
                reply = reply.tool(READ_FILE, json!({"path": file}));
            }
            return reply.build();
        };
        if assignment.files.is_empty() {
            assignment.files = inventory.keys().cloned().collect();
        }
        let documents = documents(&exchanges, &assignment.files);
        // 2. Read what is still unread.
        let mut reads = Vec::new();
        for file in &assignment.files {
            let doc = documents.get(file);
            let pending = exchanges.iter().any(|e| {
                e.name == READ_FILE && e.input_str("path") == Some(file) && e.result.is_none()
            });
            match doc {
                _ if pending => {}
                None => reads.push(json!({"path": file})),
                Some(doc) if doc.error.is_some() => {}
                Some(doc) => {
                    let next = doc.lines.keys().next_back().map_or(1, |n| n + 1);
                    if doc.total.is_some_and(|total| next <= total) {
                        reads.push(json!({"path": file, "start_line": next}));
                    }
                }
            }
        }
        if !reads.is_empty() {
            let mut reply = reply.text("I read the rest of my documents.");
            for input in reads {
                reply = reply.tool(READ_FILE, input);
            }
            return reply.build();
        }
        // 3. Look up every abbreviation the documents use.
        let terms = abbreviations(&documents);
        let searched: BTreeSet<String> = exchanges
            .iter()
            .filter(|e| e.name == SEARCH)
            .filter_map(|e| e.input_str("pattern").map(term_of_pattern))
            .collect();
        let unsearched: Vec<&String> = terms.keys().filter(|t| !searched.contains(*t)).collect();
        if !unsearched.is_empty() && text::has_tool(request, SEARCH) {
            let mut reply = reply.text(
                "I search the whole workspace for a definition of each abbreviation my documents use.",
            );
            for term in unsearched {
                reply = reply.tool(SEARCH, json!({"pattern": format!(r"\b{term}\b")}));
            }
            return reply.build();
        }
        let findings = findings(&documents, &inventory, &terms, &exchanges);
        let claims = if assignment.claims {
            claims(&documents)
        } else {
            Vec::new()
        };
        let body = report_body(&assignment, &findings);
        // 4. Write the findings down, once.
        let written = exchanges
            .iter()
            .any(|e| e.name == WRITE_FILE && e.result.is_some());
        if !written && text::has_tool(request, WRITE_FILE) {
            return reply
                .text(format!(
                    "I write my {} findings to `{}`.",
                    findings.len(),
                    assignment.output
                ))
                .tool(
                    WRITE_FILE,
                    json!({"path": assignment.output, "content": body}),
                )
                .build();
        }
        // 5. Answer with them.
        let mut answer = body;
        if assignment.claims {
            answer.push_str("\nSettings with numeric values in my documents:\n");
            for claim in &claims {
                answer.push_str(claim);
                answer.push('\n');
            }
        }
        let read: Vec<&str> = assignment
            .files
            .iter()
            .filter(|f| documents.get(*f).is_some_and(|d| d.error.is_none()))
            .map(String::as_str)
            .collect();
        answer.push_str(&format!("READ {}\n", read.join(",")));
        text::answer(request, answer)
    }
}

/// The files `list_files` reported, with their line counts.
fn inventory(exchanges: &[Exchange]) -> Option<BTreeMap<String, usize>> {
    let listing = exchanges
        .iter()
        .rev()
        .find(|e| e.name == LIST_FILES)?
        .ok()?;
    Some(
        listing
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (path, rest) = line.split_once("  (")?;
                let lines = rest.split_whitespace().next()?.parse().unwrap_or(0);
                Some((path.trim().to_string(), lines))
            })
            .collect(),
    )
}

/// The documents as `read_file` showed them.
fn documents(exchanges: &[Exchange], files: &[String]) -> BTreeMap<String, Document> {
    let mut out: BTreeMap<String, Document> = BTreeMap::new();
    for exchange in exchanges.iter().filter(|e| e.name == READ_FILE) {
        let Some(path) = exchange.input_str("path") else {
            continue;
        };
        if !files.iter().any(|f| f == path) {
            continue;
        }
        let doc = out.entry(path.to_string()).or_default();
        match &exchange.result {
            Some((content, false)) => {
                let header = content.lines().next().unwrap_or("");
                doc.total = header
                    .rsplit_once(" of ")
                    .and_then(|(_, n)| n.trim_end_matches(':').parse().ok())
                    .or_else(|| header.contains("is empty").then_some(0));
                doc.lines.extend(text::numbered_lines(content));
            }
            Some((content, true)) => doc.error = Some(content.clone()),
            None => {}
        }
    }
    out
}

/// Lines outside fenced code blocks, per document.
fn prose(doc: &Document) -> Vec<(usize, &str)> {
    let mut inside = false;
    let mut out = Vec::new();
    for (number, line) in &doc.lines {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        if !inside {
            out.push((*number, line.as_str()));
        }
    }
    out
}

/// Abbreviations used in the documents' prose, with their first use.
fn abbreviations(documents: &BTreeMap<String, Document>) -> BTreeMap<String, (String, usize)> {
    let mut out: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let Some(re) = ABBREVIATION.as_ref() else {
        return out;
    };
    for (path, doc) in documents {
        for (number, line) in prose(doc) {
            for m in re.find_iter(line) {
                let term = m.as_str();
                if COMMON.contains(&term) || (out.len() >= MAX_TERMS && !out.contains_key(term)) {
                    continue;
                }
                out.entry(term.to_string())
                    .or_insert((path.clone(), number));
            }
        }
    }
    out
}

/// The abbreviation a `\bX\b` search pattern looks for.
fn term_of_pattern(pattern: &str) -> String {
    pattern.replace(r"\b", "")
}

/// Whether a search hit line defines `term`.
fn defines(line: &str, term: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    line.contains(&format!("({term})"))
        || line.contains(&format!("**{term}**"))
        || line.contains(&format!("{term} ("))
        || line.contains(&format!("| {term} |"))
        || lower.contains(&format!("{} stands for", term.to_ascii_lowercase()))
        || lower.contains(&format!("{} means", term.to_ascii_lowercase()))
}

/// The findings, one bullet each, ordered by document and line.
fn findings(
    documents: &BTreeMap<String, Document>,
    inventory: &BTreeMap<String, usize>,
    terms: &BTreeMap<String, (String, usize)>,
    exchanges: &[Exchange],
) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    for (path, doc) in documents {
        if let Some(error) = &doc.error {
            out.push((
                path.clone(),
                0,
                format!("- {path} could not be read: {error}"),
            ));
            continue;
        }
        for (number, line) in prose(doc) {
            for (label, target) in text::links(line) {
                let bare = target.split('#').next().unwrap_or("");
                if bare.is_empty() || bare.contains("://") || bare.starts_with("mailto:") {
                    continue;
                }
                let problem = match text::join_relative(path, bare) {
                    None => format!("points to `{bare}`, outside the workspace"),
                    Some(resolved) if !inventory.contains_key(&resolved) => {
                        format!("points to `{resolved}`, which is not in the workspace")
                    }
                    Some(_) => continue,
                };
                out.push((path.clone(), number, format!(
                    "- {path}:{number} — broken link: [{label}]({target}) {problem}. Fix: add the file or correct the link."
                )));
            }
            if let Some(marker) = MARKER.as_ref().and_then(|re| re.find(line)) {
                out.push((path.clone(), number, format!(
                    "- {path}:{number} — unfinished text ({}): \"{}\". Fix: finish or remove the note before publishing.",
                    marker.as_str(),
                    line.trim().trim_end_matches('.')
                )));
            }
        }
    }
    for (term, (path, number)) in terms {
        let hits: Vec<&str> = exchanges
            .iter()
            .filter(|e| {
                e.name == SEARCH
                    && e.input_str("pattern").map(term_of_pattern).as_deref() == Some(term)
            })
            .filter_map(Exchange::ok)
            .flat_map(|r| r.lines().skip(1))
            .collect();
        let searched = exchanges.iter().any(|e| {
            e.name == SEARCH
                && e.ok().is_some()
                && e.input_str("pattern").map(term_of_pattern).as_deref() == Some(term)
        });
        if searched && !hits.iter().any(|hit| defines(hit, term)) {
            out.push((path.clone(), *number, format!(
                "- {path}:{number} — undefined term: `{term}` is used but defined nowhere in the workspace. Fix: spell it out on first use or add it to the glossary."
            )));
        }
    }
    out.sort();
    out
}

/// `CLAIM key=… value=… at=path:line` for every setting given a number.
fn claims(documents: &BTreeMap<String, Document>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, doc) in documents {
        let mut inside = false;
        for (number, line) in &doc.lines {
            if line.trim_start().starts_with("```") {
                inside = !inside;
                continue;
            }
            let found = if inside {
                ASSIGNMENT
                    .as_ref()
                    .and_then(|re| re.captures(line))
                    .and_then(|c| {
                        Some((
                            c.get(1)?.as_str().to_string(),
                            c.get(2)?.as_str().to_string(),
                        ))
                    })
                    .into_iter()
                    .collect()
            } else {
                prose_claims(line)
            };
            for (key, value) in found {
                out.push(format!("CLAIM key={key} value={value} at={path}:{number}"));
            }
        }
    }
    out
}

/// Claims in a prose line: a backticked setting name and the nearest bare number (after
/// it, else before it), or a backticked `name = number`.
fn prose_claims(line: &str) -> Vec<(String, String)> {
    let pieces: Vec<&str> = line.split('`').collect();
    let mut out = Vec::new();
    // Odd pieces are inside backticks.
    for (i, piece) in pieces.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        if let Some(c) = ASSIGNMENT.as_ref().and_then(|re| re.captures(piece)) {
            if let (Some(k), Some(v)) = (c.get(1), c.get(2)) {
                out.push((k.as_str().to_string(), v.as_str().to_string()));
            }
            continue;
        }
        let is_name = piece.contains('_')
            && piece
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !is_name {
            continue;
        }
        let bare = |range: &mut dyn Iterator<Item = usize>| {
            range
                .filter_map(|j| pieces.get(j).map(|p| (j, *p)))
                .filter(|(j, _)| j % 2 == 0)
                .find_map(|(_, p)| {
                    NUMBER
                        .as_ref()
                        .and_then(|re| re.captures(p))
                        .and_then(|c| c.get(1))
                        .map(|m| m.as_str().to_string())
                })
        };
        let after = bare(&mut ((i + 1)..pieces.len()));
        let before = || bare(&mut (0..i).rev());
        if let Some(value) = after.or_else(before) {
            out.push((piece.to_string(), value));
        }
    }
    out
}

/// The findings file: a heading, the documents, one bullet per finding.
fn report_body(assignment: &Assignment, findings: &[(String, usize, String)]) -> String {
    let mut body = format!(
        "# Findings\n\nDocuments reviewed: {}. {} finding{}.\n\n",
        assignment.files.join(", "),
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    for (_, _, bullet) in findings {
        body.push_str(bullet);
        body.push('\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_come_from_backticked_settings_and_assignments() {
        assert_eq!(
            prose_claims("The page listens on port 8420 (`listen_port`)."),
            vec![("listen_port".to_string(), "8420".to_string())]
        );
        assert_eq!(
            prose_claims("| `retention_days` | 14 | Days kept. |"),
            vec![("retention_days".to_string(), "14".to_string())]
        );
        assert_eq!(
            prose_claims("Kept 30 days (`retention_days = 30`) by default."),
            vec![("retention_days".to_string(), "30".to_string())]
        );
        assert!(prose_claims("| `schedule` | `0 2 * * *` |").is_empty());
        assert!(prose_claims("Version 2.4 of `tidewater`.").is_empty());
    }

    #[test]
    fn definitions_are_recognised() {
        assert!(defines(
            "- **RTO** (recovery time objective): how long",
            "RTO"
        ));
        assert!(defines(
            "A key in your Key Management Service (KMS).",
            "KMS"
        ));
        assert!(!defines("Plan for an RPO of one day.", "RPO"));
    }
}
