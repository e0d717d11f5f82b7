//! Reading a model request the way a scripted policy does, for every environment's
//! policies: which turn it is, the task, the tools on offer, and the conversation's
//! tool exchanges matched with their results.
//!
//! Everything here is tolerant: garbled input yields "nothing found", never a panic.
//! It decides nothing; the policies do.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{
    ContentBlock, Message, ModelRequest, ModelResponse, ResponseBuilder, Role, ToolSpec,
};

/// The call-id prefix for this turn: `t{assistant messages so far + 1}`.
pub fn turn_prefix(request: &ModelRequest) -> String {
    let turns = request
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .count();
    format!("t{}", turns + 1)
}

/// A plain-text answer.
pub fn answer(request: &ModelRequest, text: impl Into<String>) -> ModelResponse {
    ResponseBuilder::new(turn_prefix(request))
        .text(text)
        .build()
}

/// The text of the first user message (the task or subtask).
pub fn first_user_text(request: &ModelRequest) -> String {
    request
        .messages
        .iter()
        .find(|m| m.role == Role::User)
        .map(Message::text)
        .unwrap_or_default()
}

/// The declaration of a tool on offer.
pub fn tool_spec<'a>(request: &'a ModelRequest, name: &str) -> Option<&'a ToolSpec> {
    request.tools.iter().find(|tool| tool.name == name)
}

/// The `enum` of a string property in a tool's input schema.
pub fn schema_enum(spec: &ToolSpec, property: &str) -> Vec<String> {
    spec.input_schema
        .pointer(&format!("/properties/{property}/enum"))
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// One tool call of the assistant and, if it arrived, its result.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub name: String,
    pub input: Value,
    /// Index of the assistant message that made the call.
    pub message: usize,
    /// The result's text and whether it was an error.
    pub result: Option<(String, bool)>,
}

impl Exchange {
    /// The result text when the call succeeded.
    pub fn ok(&self) -> Option<&str> {
        match &self.result {
            Some((content, false)) => Some(content),
            _ => None,
        }
    }

    pub fn input_str(&self, key: &str) -> Option<&str> {
        self.input.get(key).and_then(Value::as_str)
    }
}

/// Every tool call in the conversation, in order, matched with its result by id (a
/// result answers the latest call with that id).
pub fn exchanges(messages: &[Message]) -> Vec<Exchange> {
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

/// Every message's text, joined: what a policy reads when it reads "the request".
pub fn request_text(request: &ModelRequest) -> String {
    request
        .messages
        .iter()
        .map(Message::text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sections of the grader's request (see `outcome::grader::grader_request`).
const GRADING_SECTIONS: [&str; 5] = ["Task", "Rubric", "Output", "Facts", "Criteria to judge"];

/// A grading request, read back: what a scripted grader judges from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GradingCase {
    /// Criterion id → description.
    pub rubric: BTreeMap<String, String>,
    /// The lead's output.
    pub output: String,
    pub facts: Map<String, Value>,
    /// The criteria to judge; every criterion of the rubric when the request lists none.
    pub criteria: Vec<String>,
}

/// The `## Section` bodies of `text`; the first heading of a name counts, so headings
/// inside the output do not cut it short.
fn sections(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match line.strip_prefix("## ").map(str::trim) {
            Some(name) if GRADING_SECTIONS.contains(&name) && !out.contains_key(name) => {
                current = Some(name.to_string());
                out.insert(name.to_string(), String::new());
            }
            _ => {
                if let Some(body) = current.as_ref().and_then(|name| out.get_mut(name)) {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    out
}

/// The `- item` lines of a section.
pub fn bullets(section: &str) -> Vec<String> {
    section
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- ").map(|b| b.trim().to_string()))
        .filter(|b| !b.is_empty())
        .collect()
}

/// Reads a grading request.
pub fn grading_case(request: &ModelRequest) -> GradingCase {
    let found = sections(&request_text(request));
    let section = |name: &str| found.get(name).cloned().unwrap_or_default();
    let rubric: BTreeMap<String, String> = bullets(&section("Rubric"))
        .into_iter()
        .map(|b| match b.split_once(':') {
            Some((id, description)) => (id.trim().to_string(), description.trim().to_string()),
            None => (b, String::new()),
        })
        .collect();
    let mut criteria: Vec<String> = bullets(&section("Criteria to judge"))
        .into_iter()
        .map(|b| b.split(':').next().unwrap_or("").trim().to_string())
        .filter(|b| !b.is_empty())
        .collect();
    if criteria.is_empty() {
        criteria = rubric.keys().cloned().collect();
    }
    GradingCase {
        output: section("Output").trim().to_string(),
        facts: serde_json::from_str::<Value>(section("Facts").trim())
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default(),
        rubric,
        criteria,
    }
}

/// The `## Question` section of an advisor request (the transcript after it would only
/// add unrelated detail), or the whole text when there is none.
pub fn advisor_question(text: &str) -> &str {
    let Some(start) = text.find("## Question") else {
        return text;
    };
    let body = &text[start + "## Question".len()..];
    match body.find("\n## ") {
        Some(end) => &body[..end],
        None => body,
    }
}

/// The grader's request exactly as the runner builds it (`outcome::grader`), for
/// testing scripted graders: every rubric criterion is model-graded and judged.
pub fn grading_request(
    task: &str,
    rubric: &[(&str, &str)],
    output: &str,
    facts: Value,
) -> ModelRequest {
    use crate::spec::{Criterion, Rubric};
    let rubric = Rubric {
        max_iterations: 1,
        grader: "scripted".into(),
        criteria: rubric
            .iter()
            .map(|(id, description)| Criterion {
                id: id.to_string(),
                description: description.to_string(),
                check: None,
            })
            .collect(),
    };
    let judged: Vec<&Criterion> = rubric.criteria.iter().collect();
    let facts: crate::event::Facts = facts
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    crate::outcome::grader::grader_request(task, &rubric, &judged, output, &facts, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ToolChoice;
    use serde_json::json;

    #[test]
    fn exchanges_pair_calls_with_results_and_turns_count() {
        let messages = vec![
            Message::user_text("task"),
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: "t1_1".into(),
                    name: "survey".into(),
                    input: json!({"site": "A"}),
                }],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "t1_1".into(),
                    content: "flat".into(),
                    is_error: false,
                }],
            },
        ];
        let found = exchanges(&messages);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].ok(), found[0].input_str("site")),
            (Some("flat"), Some("A"))
        );
        let request = ModelRequest {
            system: String::new(),
            messages: messages.into(),
            tools: vec![ToolSpec {
                name: "delegate".into(),
                description: String::new(),
                input_schema: json!({"properties": {"specialist": {"enum": ["a", "b"]}}}),
            }]
            .into(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 10,
            temperature: None,
        };
        assert_eq!(turn_prefix(&request), "t2");
        assert_eq!(first_user_text(&request), "task");
        let spec = tool_spec(&request, "delegate").unwrap();
        assert_eq!(schema_enum(spec, "specialist"), ["a", "b"]);
        assert!(tool_spec(&request, "nope").is_none());
    }

    #[test]
    fn grading_requests_and_advisor_questions_read_back() {
        let text = "## Task\nLand.\n\n## Rubric\n- soft: gentle\n- report: says the site\n\n## Output\nLanded at site C.\n## Task\nan output heading\n\n## Facts\n{\"site\": \"C\"}\n\n## Criteria to judge\n- report\n";
        let request = ModelRequest {
            system: String::new(),
            messages: vec![Message::user_text(text)].into(),
            tools: vec![].into(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 10,
            temperature: None,
        };
        let case = grading_case(&request);
        assert_eq!(case.rubric["report"], "says the site");
        assert_eq!(
            case.output, "Landed at site C.\n## Task\nan output heading",
            "a seen heading stays in the output"
        );
        assert_eq!(case.criteria, ["report"]);
        assert_eq!(case.facts["site"], "C");
        assert_eq!(
            advisor_question("## Question\nHow high?\n## Recent work\nx").trim(),
            "How high?"
        );
        assert_eq!(advisor_question("plain"), "plain");
    }
}
