//! The commander's scripted policy for a document review: split the workspace's files
//! among reviewers (parallel delegations), merge their findings into one review, write
//! it to `review.md`, and answer with it; on grader feedback, take another pass.
//!
//! Stateless: every turn it re-reads the conversation, splits it into attempts at the
//! grader-feedback messages, and works out where the current attempt stands from its own
//! calls. The split balances line counts from the briefing's file list. The merge keeps
//! only findings whose `path:line` exists in that list, groups them by document, and
//! names every document reviewed. Cross-checking (asking reviewers for `CLAIM` lines and
//! listing settings that documents give different values) is off in the baseline; it is
//! switched on by grader feedback that mentions consistency or contradictions, or by a
//! `cross_check` rule in the prompt. A `reviewers` rule sets how many reviewers share
//! the work (default 2).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::text::{self, Exchange};
use super::tools::WRITE_FILE;
use lucid_core::model::{Message, ModelRequest, ModelResponse, Policy, ResponseBuilder, Role};
use lucid_core::spec::DELEGATE_TOOL;
use lucid_core::world::rules::{parse_rules, Directive};

const DEFAULT_REVIEWERS: usize = 2;
const MAX_REVIEWERS: usize = 8;
const REVIEW_FILE: &str = "review.md";

pub(super) struct Commander;

/// Words in grader feedback that ask for a comparison across documents.
const CROSS_CHECK_WORDS: [&str; 5] = [
    "consisten",
    "contradict",
    "cross-document",
    "across documents",
    "different documents",
];

impl Policy for Commander {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        if !text::has_tool(request, DELEGATE_TOOL) {
            return text::answer(
                request,
                "I have no reviewers to delegate to, so no review was made.",
            );
        }
        let specialists = text::schema_enum(request, DELEGATE_TOOL, "specialist");
        let reviewer = specialists
            .iter()
            .find(|s| s.contains("review"))
            .or_else(|| specialists.first())
            .cloned()
            .unwrap_or_else(|| "reviewer".into());
        let inventory = briefing_files(&text::first_user_text(request));
        let rules = parse_rules(&request.system);
        let feedback: Vec<String> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::User && m.text().contains("## Grader feedback"))
            .map(Message::text)
            .collect();
        let cross_check = rules.iter().any(|r| r.flag("cross_check") == Some(true))
            || feedback.iter().any(|f| {
                let lower = f.to_ascii_lowercase();
                CROSS_CHECK_WORDS.iter().any(|w| lower.contains(w))
            });
        let mut reviewers = DEFAULT_REVIEWERS as f64;
        for rule in &rules {
            if let Some(directive) = rule.number("reviewers") {
                reviewers = lucid_core::world::rules::apply(reviewers, directive);
                if let Directive::Set(_) = directive {
                    break;
                }
            }
        }
        let reviewers = (reviewers.round().max(1.0) as usize).min(MAX_REVIEWERS);
        // The current attempt: everything after the last feedback message.
        let start = request
            .messages
            .iter()
            .rposition(|m| m.role == Role::User && m.text().contains("## Grader feedback"))
            .unwrap_or(0);
        let exchanges: Vec<Exchange> = text::exchanges(&request.messages)
            .into_iter()
            .filter(|e| e.message > start)
            .collect();
        let attempt = feedback.len() + 1;
        let delegations: Vec<&Exchange> = exchanges
            .iter()
            .filter(|e| e.name == DELEGATE_TOOL)
            .collect();
        if delegations.is_empty() && inventory.is_empty() {
            return text::answer(
                request,
                "The briefing lists no text documents, so there is nothing to review.",
            );
        }
        if delegations.is_empty() {
            return delegate(
                request,
                &reviewer,
                &inventory,
                reviewers,
                cross_check,
                attempt,
            );
        }
        let review = merge(&inventory, &delegations, cross_check);
        let written = exchanges
            .iter()
            .any(|e| e.name == WRITE_FILE && e.result.is_some());
        if !written && text::has_tool(request, WRITE_FILE) {
            return ResponseBuilder::new(text::turn_prefix(request))
                .text(format!(
                    "The reviewers are done; I merge their findings into `{REVIEW_FILE}`."
                ))
                .tool(WRITE_FILE, json!({"path": REVIEW_FILE, "content": review}))
                .build();
        }
        text::answer(request, review)
    }
}

/// The text files the briefing lists, with their line counts.
fn briefing_files(briefing: &str) -> BTreeMap<String, usize> {
    briefing
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("- ")?;
            let (path, count) = rest.rsplit_once(" (")?;
            let lines = count.strip_suffix(" lines)")?.parse().ok()?;
            Some((path.to_string(), lines))
        })
        .collect()
}

/// Splits the files into groups of similar size and delegates one group per reviewer.
fn delegate(
    request: &ModelRequest,
    reviewer: &str,
    inventory: &BTreeMap<String, usize>,
    reviewers: usize,
    cross_check: bool,
    attempt: usize,
) -> ModelResponse {
    let groups = reviewers.min(inventory.len()).max(1);
    let mut by_size: Vec<(&String, &usize)> = inventory.iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut split: Vec<(usize, Vec<String>)> = vec![(0, Vec::new()); groups];
    for (path, lines) in by_size {
        if let Some(lightest) = split
            .iter_mut()
            .min_by_key(|(total, files)| (*total, files.len()))
        {
            lightest.0 += lines + 1;
            lightest.1.push(path.clone());
        }
    }
    let intro = if attempt == 1 {
        format!(
            "I split the {} documents among {groups} reviewers so they work in parallel{}.",
            inventory.len(),
            if cross_check {
                ", and ask each for the settings its documents state so I can compare them across documents"
            } else {
                ""
            }
        )
    } else if cross_check {
        "The grader asks for a comparison across documents: the reviewers go over their documents again and also report every setting value they state, which I compare across all documents.".to_string()
    } else {
        "The grader's feedback says the review fell short; the reviewers take another, careful pass.".to_string()
    };
    let mut reply = ResponseBuilder::new(text::turn_prefix(request)).text(intro);
    for (index, (_, mut files)) in split.into_iter().enumerate() {
        if files.is_empty() {
            continue;
        }
        files.sort();
        let part = index + 1;
        let mut subtask = format!(
            "Review these documents of the workspace: {}. Read each one in full with read_file. Report \
             links to files that do not exist, unfinished notes (TODO, FIXME, TBD) and abbreviations \
             that are defined nowhere in the workspace (search for a definition before reporting one). \
             Write your findings with write_file to `reviews/part-{part}.md`, one bullet per finding that \
             cites path:line, says what is wrong and how to fix it; then answer with the same findings.",
            files.join(", ")
        );
        if cross_check {
            subtask.push_str(
                " Also list every setting your documents give a numeric value, one line each: \
                 CLAIM key=<setting> value=<number> at=<path:line>.",
            );
        }
        subtask.push_str(&format!(
            "\nFILES {}\nOUTPUT reviews/part-{part}.md",
            files.join(",")
        ));
        if cross_check {
            subtask.push_str("\nCLAIMS yes");
        }
        reply = reply.tool(
            DELEGATE_TOOL,
            json!({"specialist": reviewer, "subtask": subtask, "purpose": format!("Review {}", files.join(", "))}),
        );
    }
    reply.build()
}

/// The values documents state for one setting, each with the places (path, line).
type ValuesStated = BTreeMap<String, BTreeSet<(String, usize)>>;

/// The merged review.
fn merge(
    inventory: &BTreeMap<String, usize>,
    delegations: &[&Exchange],
    cross_check: bool,
) -> String {
    let valid =
        |path: &str, line: usize| inventory.get(path).is_some_and(|n| line >= 1 && line <= *n);
    let mut by_file: BTreeMap<String, BTreeSet<(usize, String)>> = BTreeMap::new();
    let mut claims: BTreeMap<String, ValuesStated> = BTreeMap::new();
    let mut read: BTreeSet<String> = BTreeSet::new();
    let mut failed = Vec::new();
    let mut dropped = 0;
    for delegation in delegations {
        let answer = match &delegation.result {
            Some((answer, false)) => answer,
            Some((error, true)) => {
                failed.push(error.lines().next().unwrap_or("").to_string());
                continue;
            }
            None => continue,
        };
        for line in answer.lines() {
            let line = line.trim();
            if let Some(files) = line.strip_prefix("READ ") {
                read.extend(
                    files
                        .split(',')
                        .map(|f| f.trim().to_string())
                        .filter(|f| !f.is_empty()),
                );
            } else if line.starts_with("CLAIM ") {
                let pairs = text::pairs(line);
                let at = pairs
                    .get("at")
                    .map(|a| text::citations(a))
                    .unwrap_or_default();
                if let (Some(key), Some(value), Some(at)) =
                    (pairs.get("key"), pairs.get("value"), at.first())
                {
                    if valid(&at.path, at.line) {
                        claims
                            .entry(key.clone())
                            .or_default()
                            .entry(value.clone())
                            .or_default()
                            .insert((at.path.clone(), at.line));
                    }
                }
            } else if line.starts_with("- ") {
                let cited = text::citations(line);
                match cited.first() {
                    Some(first) if cited.iter().all(|c| valid(&c.path, c.line)) => {
                        by_file
                            .entry(first.path.clone())
                            .or_default()
                            .insert((first.line, line.to_string()));
                    }
                    _ => dropped += 1,
                }
            }
        }
    }
    let count: usize = by_file.values().map(BTreeSet::len).sum();
    let reviewed: Vec<&str> = inventory
        .keys()
        .filter(|f| read.contains(*f))
        .map(String::as_str)
        .collect();
    let mut review = format!(
        "# Documentation review\n\nReviewed {} of {} documents with {} reviewer{}: {}. {count} finding{}.\n",
        reviewed.len(),
        inventory.len(),
        delegations.len(),
        if delegations.len() == 1 { "" } else { "s" },
        reviewed.join(", "),
        if count == 1 { "" } else { "s" },
    );
    let unread: Vec<&str> = inventory
        .keys()
        .filter(|f| !read.contains(*f))
        .map(String::as_str)
        .collect();
    if !unread.is_empty() {
        review.push_str(&format!("Not reviewed: {}.\n", unread.join(", ")));
    }
    if !failed.is_empty() {
        review.push_str(&format!("Reviewers that failed: {}.\n", failed.join("; ")));
    }
    if dropped > 0 {
        review.push_str(&format!(
            "{dropped} reported finding(s) cited locations that do not exist and were left out.\n"
        ));
    }
    review.push_str("\n## Findings by document\n");
    for (file, findings) in &by_file {
        review.push_str(&format!("\n### {file}\n"));
        for (_, bullet) in findings {
            review.push_str(bullet);
            review.push('\n');
        }
    }
    if by_file.is_empty() {
        review.push_str("\nNo problems were found.\n");
    }
    if cross_check {
        let disagreements: Vec<(&String, &ValuesStated)> = claims
            .iter()
            .filter(|(_, values)| values.len() > 1)
            .collect();
        review.push_str(&format!(
            "\n## Cross-document consistency\n\nCompared the values of {} setting{} stated across the documents; {} disagree.\n",
            claims.len(),
            if claims.len() == 1 { "" } else { "s" },
            disagreements.len()
        ));
        for (key, values) in &disagreements {
            let sides: Vec<String> = values
                .iter()
                .map(|(value, places)| {
                    let at: Vec<String> = places.iter().map(|(p, l)| format!("{p}:{l}")).collect();
                    format!("{value} at {}", at.join(", "))
                })
                .collect();
            review.push_str(&format!(
                "- `{key}` is given different values: {}. Fix: decide the correct value and state it the same way in every document.\n",
                sides.join("; ")
            ));
        }
        if disagreements.is_empty() {
            review.push_str("No setting is given different values in different documents.\n");
        }
    }
    review
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucid_core::model::{ToolChoice, ToolSpec};

    const BRIEFING: &str = "Review.\n\n## Briefing\nThe workspace holds 3 files:\n- a.md (100 lines)\n- b.md (60 lines)\n- c.md (50 lines)\n- logo.png (9 bytes, not text)\n";

    fn request(messages: Vec<Message>) -> ModelRequest {
        ModelRequest {
            system: "You lead.".into(),
            messages: messages.into(),
            tools: vec![ToolSpec {
                name: DELEGATE_TOOL.into(),
                description: String::new(),
                input_schema: json!({"properties": {"specialist": {"enum": ["reviewer"]}}}),
            }]
            .into(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 1000,
            temperature: None,
        }
    }

    #[test]
    fn the_files_are_split_by_size_into_parallel_delegations() {
        let response = Commander.respond(&request(vec![Message::user_text(BRIEFING)]));
        let subtasks: Vec<String> = response
            .tool_uses()
            .map(|(_, name, input)| {
                assert_eq!(name, DELEGATE_TOOL);
                input["subtask"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(subtasks.len(), 2);
        assert!(subtasks[0].contains("\nFILES a.md\n"), "{}", subtasks[0]);
        assert!(
            subtasks[1].contains("\nFILES b.md,c.md\n"),
            "{}",
            subtasks[1]
        );
        assert!(
            subtasks.iter().all(|s| !s.contains("CLAIMS")),
            "no cross-check at first"
        );
        let nothing = Commander.respond(&request(vec![Message::user_text("Review.")]));
        assert!(nothing.text().contains("nothing to review"));
    }

    #[test]
    fn the_merge_keeps_real_locations_and_compares_claims() {
        let answer = |text: &str| Exchange {
            name: DELEGATE_TOOL.into(),
            input: json!({}),
            message: 1,
            result: Some((text.to_string(), false)),
        };
        let first = answer("- a.md:3 — TODO. Fix: finish.\n- a.md:300 — past the end.\nCLAIM key=port value=80 at=a.md:5\nREAD a.md");
        let second = answer("- b.md:2 — broken link. Fix: add it.\nCLAIM key=port value=8080 at=b.md:9\nCLAIM key=days value=3 at=b.md:1\nREAD b.md,c.md");
        let inventory = briefing_files(BRIEFING);
        assert_eq!(inventory.len(), 3, "binary files are not documents");
        let review = merge(&inventory, &[&first, &second], true);
        assert!(review.contains("Reviewed 3 of 3 documents with 2 reviewers"));
        assert!(review.contains("### a.md\n- a.md:3 — TODO. Fix: finish.\n"));
        assert!(!review.contains("a.md:300"));
        assert!(review.contains("1 reported finding(s) cited locations that do not exist"));
        assert!(
            review.contains("- `port` is given different values: 80 at a.md:5; 8080 at b.md:9.")
        );
        assert!(!review.contains("`days` is given"));
        let plain = merge(&inventory, &[&first, &second], false);
        assert!(!plain.contains("Cross-document"));
    }
}
