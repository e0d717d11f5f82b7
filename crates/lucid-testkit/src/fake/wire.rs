//! Both protocols' JSON, as a server sees it: requests decoded into lucid's types (so a
//! scripted policy can answer them) and answers encoded as server-sent events, one
//! event per piece (a test may split pieces further to cut events in two).

use serde_json::{json, Value};

use lucid_core::model::{
    ContentBlock, Message, ModelRequest, ModelResponse, Role, ToolChoice, ToolSpec,
};

use crate::wire::text_of;

/// Splits text into pieces of at most `n` characters.
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// An Anthropic Messages stream for `response`, text and arguments cut in `n`-char pieces.
pub fn anthropic_events(response: &ModelResponse, n: usize) -> Vec<String> {
    let mut out = vec![sse(
        Some("message_start"),
        &json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "usage": {"input_tokens": response.usage.input_tokens, "output_tokens": 1}}}),
    )];
    for (index, block) in response.content.iter().enumerate() {
        match block {
            ContentBlock::Text { text } => {
                out.push(sse(Some("content_block_start"), &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
                out.push(sse(Some("ping"), &json!({"type": "ping"})));
                for piece in pieces(text, n) {
                    out.push(sse(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}})));
                }
            }
            ContentBlock::ToolUse { id, name, input } => {
                out.push(sse(Some("content_block_start"), &json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
                let args = match input {
                    Value::String(raw) => raw.clone(),
                    other => other.to_string(),
                };
                for piece in pieces(&args, n) {
                    out.push(sse(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}})));
                }
            }
            ContentBlock::ToolResult { .. } => continue,
        }
        out.push(sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    out.push(sse(Some("message_delta"), &json!({"type": "message_delta", "delta": {"stop_reason": response.stop.as_str(), "stop_sequence": null}, "usage": {"output_tokens": response.usage.output_tokens}})));
    out.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
    out
}

/// An OpenAI Chat Completions stream for `response`, with real servers' quirks: the
/// call id repeated in every chunk, a comment line, a usage chunk with `choices: []`.
pub fn openai_chunks(response: &ModelResponse, n: usize) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        sse(
            None,
            &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let mut out = vec![
        ": keep-alive comment\n\n".to_string(),
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    ];
    let mut call = 0;
    for block in &response.content {
        match block {
            ContentBlock::Text { text } => {
                for piece in pieces(text, n) {
                    out.push(chunk(json!({"content": piece}), Value::Null));
                }
            }
            ContentBlock::ToolUse { id, name, input } => {
                let args = match input {
                    Value::String(raw) => raw.clone(),
                    other => other.to_string(),
                };
                out.push(chunk(json!({"tool_calls": [{"index": call, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}), Value::Null));
                for piece in pieces(&args, n) {
                    out.push(chunk(json!({"tool_calls": [{"index": call, "id": id, "function": {"arguments": piece}}]}), Value::Null));
                }
                call += 1;
            }
            ContentBlock::ToolResult { .. } => {}
        }
    }
    let finish = match response.stop.as_str() {
        "tool_use" => "tool_calls",
        "max_tokens" => "length",
        _ => "stop",
    };
    out.push(chunk(json!({}), json!(finish)));
    out.push(sse(None, &json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": response.usage.input_tokens, "completion_tokens": response.usage.output_tokens}})));
    out.push("data: [DONE]\n\n".to_string());
    out
}

fn anthropic_tools(tools: Option<&Value>) -> Vec<ToolSpec> {
    tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| ToolSpec {
            name: t["name"].as_str().unwrap_or_default().into(),
            description: t["description"].as_str().unwrap_or_default().into(),
            input_schema: t["input_schema"].clone(),
        })
        .collect()
}

/// The string at `key`, which a Messages request must have there.
fn required(value: &Value, key: &str) -> String {
    match value[key].as_str() {
        Some(text) => text.into(),
        None => panic!("not a Messages request: no string `{key}` in {value}"),
    }
}

fn anthropic_block(block: &Value) -> ContentBlock {
    match block["type"].as_str() {
        Some("text") => ContentBlock::Text {
            text: required(block, "text"),
        },
        Some("tool_use") => ContentBlock::ToolUse {
            id: required(block, "id"),
            name: required(block, "name"),
            input: block["input"].clone(),
        },
        Some("tool_result") => ContentBlock::ToolResult {
            tool_use_id: required(block, "tool_use_id"),
            content: text_of(&block["content"]),
            is_error: block["is_error"].as_bool().unwrap_or(false),
        },
        other => panic!("unexpected block type {other:?}"),
    }
}

/// An Anthropic request body as lucid's request.
///
/// # Panics
///
/// When `body` is not a Messages request (no `messages` list, a block of an unknown
/// type or without its fields): lucid sent what a real server would refuse, and the
/// answer the test waits for never comes.
pub fn anthropic_request(body: &Value) -> ModelRequest {
    let Some(listed) = body["messages"].as_array() else {
        panic!("not a Messages request: no `messages` list in {body}");
    };
    let messages = listed
        .iter()
        .map(|m| {
            let role = if m["role"] == "assistant" {
                Role::Assistant
            } else {
                Role::User
            };
            let content = match &m["content"] {
                Value::String(s) => vec![ContentBlock::Text { text: s.clone() }],
                Value::Array(blocks) => blocks.iter().map(anthropic_block).collect(),
                other => panic!("unexpected content {other}"),
            };
            Message { role, content }
        })
        .collect::<Vec<_>>();
    let max_tokens = body["max_tokens"].as_u64().unwrap_or(0);
    ModelRequest {
        system: body["system"].as_str().unwrap_or_default().into(),
        messages: messages.into(),
        tools: anthropic_tools(body.get("tools")).into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
        temperature: None,
    }
}

/// An OpenAI request body as lucid's request: `tool` messages fold back into one user
/// message of tool results.
pub fn openai_request(body: &Value) -> ModelRequest {
    // The policy server's decoder reads the same wire format; one copy serves both.
    crate::wire::decode_request(body)
}
