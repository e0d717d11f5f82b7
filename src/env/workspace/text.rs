//! Reading text for the workspace's facts and scripted policies: `path:line` citations,
//! the conversation's tool exchanges, `TAG key=value` lines, and Markdown links.
//!
//! Everything here is tolerant: garbled text yields "nothing found", never a panic. This
//! module decides nothing; the episode and the policies do.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::model::{ContentBlock, Message, ModelRequest, ModelResponse, ResponseBuilder, Role};

/// `path/to/file.ext:12` (optionally `:12-14`), the way findings cite a location.
static CITATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z0-9_][A-Za-z0-9_./-]*\.[A-Za-z0-9]+):([0-9]+)(?:-[0-9]+)?").ok()
});

/// `[text](target)` in Markdown.
static LINK: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\[([^\]]*)\]\(([^)\s]+)(?:\s+[^)]*)?\)").ok());

/// A location a finding cites.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Citation {
    pub path: String,
    pub line: usize,
}

/// Every `path:line` citation in a text, in order. URLs (`https://host:443`) are not
/// citations.
pub(super) fn citations(text: &str) -> Vec<Citation> {
    let Some(re) = CITATION.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(text)
        .filter(|c| {
            let start = c.get(0).map_or(0, |m| m.start());
            !text[..start].ends_with("//") && !text[..start].ends_with('/')
        })
        .filter_map(|c| {
            Some(Citation {
                path: c.get(1)?.as_str().trim_start_matches("./").to_string(),
                line: c.get(2)?.as_str().parse().ok()?,
            })
        })
        .filter(|c| c.line > 0)
        .collect()
}

/// Every Markdown link of a line: (text, target).
pub(super) fn links(line: &str) -> Vec<(String, String)> {
    let Some(re) = LINK.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(line)
        .filter_map(|c| {
            Some((
                c.get(1)?.as_str().to_string(),
                c.get(2)?.as_str().to_string(),
            ))
        })
        .collect()
}

/// The call-id prefix for this turn: `t{assistant messages so far + 1}`.
pub(super) fn turn_prefix(request: &ModelRequest) -> String {
    let turns = request
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .count();
    format!("t{}", turns + 1)
}

/// A plain-text answer.
pub(super) fn answer(request: &ModelRequest, text: impl Into<String>) -> ModelResponse {
    ResponseBuilder::new(turn_prefix(request))
        .text(text)
        .build()
}

/// The text of the first user message (the task or subtask).
pub(super) fn first_user_text(request: &ModelRequest) -> String {
    request
        .messages
        .iter()
        .find(|m| m.role == Role::User)
        .map(Message::text)
        .unwrap_or_default()
}

pub(super) fn has_tool(request: &ModelRequest, name: &str) -> bool {
    request.tools.iter().any(|tool| tool.name == name)
}

/// The `enum` of a string property in a tool's input schema.
pub(super) fn schema_enum(request: &ModelRequest, tool: &str, property: &str) -> Vec<String> {
    request
        .tools
        .iter()
        .find(|t| t.name == tool)
        .and_then(|t| {
            t.input_schema
                .pointer(&format!("/properties/{property}/enum"))
                .and_then(Value::as_array)
                .cloned()
        })
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// One tool call of the assistant and, if it arrived, its result.
#[derive(Debug, Clone)]
pub(super) struct Exchange {
    pub name: String,
    pub input: Value,
    /// Index of the assistant message that made the call.
    pub message: usize,
    /// The result's text and whether it was an error.
    pub result: Option<(String, bool)>,
}

impl Exchange {
    /// The result text when the call succeeded.
    pub(super) fn ok(&self) -> Option<&str> {
        match &self.result {
            Some((content, false)) => Some(content),
            _ => None,
        }
    }

    pub(super) fn input_str(&self, key: &str) -> Option<&str> {
        self.input.get(key).and_then(Value::as_str)
    }
}

/// Every tool call in the conversation, in order, matched with its result by id.
pub(super) fn exchanges(messages: &[Message]) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        for block in &message.content {
            match block {
                ContentBlock::ToolUse { id, name, input } if message.role == Role::Assistant => {
                    ids.push(id.clone());
                    out.push(Exchange {
                        name: name.clone(),
                        input: input.clone(),
                        message: index,
                        result: None,
                    });
                }
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    if let Some(pos) = ids.iter().rposition(|id| id == tool_use_id) {
                        if let Some(exchange) = out.get_mut(pos) {
                            exchange.result = Some((content.clone(), *is_error));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The value of `KEY value…` on the first line starting with `KEY ` (e.g. `FILES a.md,b.md`).
pub(super) fn tagged_value(text: &str, tag: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(tag)?;
        rest.starts_with(char::is_whitespace)
            .then(|| rest.trim().to_string())
    })
}

/// `key=value` pairs of a line (values end at whitespace).
pub(super) fn pairs(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The numbered lines of a `read_file` result: (line number, text).
pub(super) fn numbered_lines(result: &str) -> Vec<(usize, String)> {
    result
        .lines()
        .filter_map(|line| {
            let (number, text) = line.split_once(" | ")?;
            let number = number.trim().parse().ok()?;
            Some((number, text.to_string()))
        })
        .collect()
}

/// Resolves a link target relative to the folder of `from`, lexically; `None` when it
/// climbs above the root.
pub(super) fn join_relative(from: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_name_files_and_lines_but_not_urls() {
        let found = citations(
            "- README.md:12 and docs/setup.md:3-5, see https://example.com:443/x.html:9 or `ops.md:7`.",
        );
        let cited: Vec<(String, usize)> = found.into_iter().map(|c| (c.path, c.line)).collect();
        assert_eq!(
            cited,
            vec![
                ("README.md".into(), 12),
                ("docs/setup.md".into(), 3),
                ("ops.md".into(), 7)
            ]
        );
    }

    #[test]
    fn links_and_relative_targets() {
        assert_eq!(
            links("See [the guide](guide/setup.md#top) and [site](https://x.io)."),
            vec![
                ("the guide".into(), "guide/setup.md#top".into()),
                ("site".into(), "https://x.io".into())
            ]
        );
        assert_eq!(join_relative("a/b.md", "../c.md"), Some("c.md".into()));
        assert_eq!(join_relative("b.md", "./x/y.md"), Some("x/y.md".into()));
        assert_eq!(join_relative("b.md", "../y.md"), None);
    }

    #[test]
    fn numbered_lines_and_tags() {
        let read = "a.md, lines 1-2 of 2:\n   1 | # Title\n   2 | text | with bar\n";
        assert_eq!(
            numbered_lines(read),
            vec![(1, "# Title".into()), (2, "text | with bar".into())]
        );
        assert_eq!(
            tagged_value("x\nFILES a.md,b.md\n", "FILES").as_deref(),
            Some("a.md,b.md")
        );
        assert_eq!(pairs("CLAIM key=port value=80")["value"], "80");
    }
}
