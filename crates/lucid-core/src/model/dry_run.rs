//! The built-in `test` profile: a dry run of any session file, offline.
//!
//! [`DryRun`] answers a fresh context by calling every offered tool once, with arguments
//! built from each tool's JSON schema ([`example_arguments`]), and answers the next turn
//! with a line per call saying how it went. A forced tool (the grader's
//! `submit_verdicts`) is called with arguments from its schema; an array of objects whose
//! items carry an `enum` property gets one item per enum value, so each listed criterion
//! gets a verdict. It knows nothing about any environment: everything it does comes from
//! the request, so it exercises tools, MCP servers, delegation and grading of any team.

use serde_json::{json, Map, Value};

use super::scripted::ResponseBuilder;
use super::{ContentBlock, ModelRequest, ModelResponse, Policy, Role, ToolChoice};

/// How deep nested schemas are followed.
const MAX_DEPTH: usize = 8;

/// The `test` profile's policy.
pub struct DryRun;

impl Policy for DryRun {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        if let ToolChoice::Tool { name } = &request.tool_choice {
            if let Some(tool) = request.tools.iter().find(|t| &t.name == name) {
                return ResponseBuilder::new("dry")
                    .tool(name, example_arguments(&tool.input_schema))
                    .build();
            }
        }
        let called = request.messages.iter().any(|m| m.role == Role::Assistant);
        if !called && !request.tools.is_empty() {
            let mut builder = ResponseBuilder::new("dry");
            for tool in request.tools.iter() {
                builder = builder.tool(&tool.name, example_arguments(&tool.input_schema));
            }
            return builder.build();
        }
        ResponseBuilder::new("dry").text(summary(request)).build()
    }
}

/// One line per tool result in the context: the tool's call id and whether it failed.
fn summary(request: &ModelRequest) -> String {
    let mut lines = vec!["Dry run (the `test` profile):".to_string()];
    let mut names = std::collections::HashMap::new();
    for message in request.messages.iter() {
        for block in &message.content {
            match block {
                ContentBlock::ToolUse { id, name, .. } => {
                    names.insert(id.clone(), name.clone());
                }
                ContentBlock::ToolResult {
                    tool_use_id,
                    is_error,
                    content,
                } => {
                    let name = names.get(tool_use_id).map_or("?", String::as_str);
                    let first = content.lines().next().unwrap_or("");
                    let first: String = first.chars().take(100).collect();
                    lines.push(format!(
                        "- {name}: {} ({first})",
                        if *is_error { "error" } else { "ok" }
                    ));
                }
                ContentBlock::Text { .. } => {}
            }
        }
    }
    if lines.len() == 1 {
        lines.push("no tools were offered.".into());
    }
    lines.join("\n")
}

/// Arguments that fit a JSON schema: every property, example values by type.
pub fn example_arguments(schema: &Value) -> Value {
    example(schema, 0)
}

fn example(schema: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(value) = schema.get("default").or_else(|| schema.get("const")) {
        return value.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return example(first, depth + 1);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => {
            let mut out = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    out.insert(name.clone(), example(property, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            Value::Array(array_items(&items, depth))
        }
        "integer" => schema.get("minimum").cloned().unwrap_or(json!(1)),
        "number" => schema.get("minimum").cloned().unwrap_or(json!(1.0)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String("test".into()),
    }
}

/// One item; or, for objects with an `enum` property, one item per enum value.
fn array_items(items: &Value, depth: usize) -> Vec<Value> {
    let keyed = items
        .get("properties")
        .and_then(Value::as_object)
        .and_then(|properties| {
            properties.iter().find_map(|(name, property)| {
                property
                    .get("enum")
                    .and_then(Value::as_array)
                    .map(|values| (name.clone(), values.clone()))
            })
        });
    match keyed {
        Some((name, values)) if !values.is_empty() => values
            .into_iter()
            .map(|value| {
                let mut item = example(items, depth + 1);
                if let Value::Object(fields) = &mut item {
                    fields.insert(name.clone(), value);
                }
                item
            })
            .collect(),
        _ => vec![example(items, depth + 1)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Message, ToolSpec};

    fn tool(name: &str, schema: Value) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            input_schema: schema,
        }
    }

    #[test]
    fn arguments_follow_the_schema() {
        let schema = json!({"type": "object", "properties": {
            "path": {"type": "string"},
            "lines": {"type": "integer", "minimum": 3},
            "mode": {"enum": ["fast", "slow"]},
            "deep": {"type": "object", "properties": {"on": {"type": "boolean"}}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "limit": {"type": "integer", "default": 50}
        }});
        assert_eq!(
            example_arguments(&schema),
            json!({"path": "test", "lines": 3, "mode": "fast", "deep": {"on": true}, "tags": ["test"], "limit": 50})
        );
    }

    #[test]
    fn a_fresh_context_calls_every_tool_then_answers() {
        let request = ModelRequest {
            system: String::new(),
            messages: vec![Message::user_text("go")].into(),
            tools: vec![
                tool("a", json!({"type": "object"})),
                tool("b", json!({"type": "object"})),
            ]
            .into(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 100,
            temperature: None,
        };
        let first = DryRun.respond(&request);
        let names: Vec<&str> = first.tool_uses().map(|(_, name, _)| name).collect();
        assert_eq!(names, vec!["a", "b"]);
        let mut next = request.clone();
        std::sync::Arc::make_mut(&mut next.messages).push(Message {
            role: Role::Assistant,
            content: first.content.clone(),
        });
        std::sync::Arc::make_mut(&mut next.messages).push(Message {
            role: Role::User,
            content: first
                .tool_uses()
                .map(|(id, _, _)| ContentBlock::ToolResult {
                    tool_use_id: id.into(),
                    content: "fine".into(),
                    is_error: id.ends_with('2'),
                })
                .collect(),
        });
        let answer = DryRun.respond(&next);
        assert_eq!(answer.tool_uses().count(), 0);
        assert!(
            answer.text().contains("- a: ok (fine)\n- b: error (fine)"),
            "{}",
            answer.text()
        );
    }

    #[test]
    fn a_forced_verdict_tool_gets_one_item_per_criterion() {
        let schema = json!({"type": "object", "properties": {"verdicts": {"type": "array", "items": {
            "type": "object",
            "properties": {"criterion": {"type": "string", "enum": ["a", "b"]}, "passed": {"type": "boolean"}}
        }}}});
        let request = ModelRequest {
            system: String::new(),
            messages: vec![Message::user_text("judge")].into(),
            tools: vec![tool("submit_verdicts", schema)].into(),
            tool_choice: ToolChoice::Tool {
                name: "submit_verdicts".into(),
            },
            max_tokens: 100,
            temperature: None,
        };
        let answer = DryRun.respond(&request);
        let (_, _, input) = answer.tool_uses().next().unwrap();
        assert_eq!(
            input,
            &json!({"verdicts": [{"criterion": "a", "passed": true}, {"criterion": "b", "passed": true}]})
        );
    }
}
