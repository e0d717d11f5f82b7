//! The Chat Completions wire format as a server sees it: a request body decoded into
//! lucid's [`ModelRequest`], and a [`ModelResponse`] encoded as server-sent chunks or
//! as one JSON answer.

use serde_json::{json, Value};

use lucid_core::model::{
    ContentBlock, Message, ModelRequest, ModelResponse, Role, StopReason, ToolChoice, ToolSpec,
};

/// Text of a message's `content`: a string, or the `text` of each part (both
/// protocols write content this way).
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A Chat Completions request body as lucid's request. Anything missing decodes as
/// empty: the policy answers whatever it is given.
pub fn decode_request(body: &Value) -> ModelRequest {
    let mut system = String::new();
    let mut messages: Vec<Message> = Vec::new();
    let listed = body.get("messages").and_then(Value::as_array);
    for m in listed.into_iter().flatten() {
        match m.get("role").and_then(Value::as_str).unwrap_or("user") {
            "system" | "developer" => system = text_of(&m["content"]),
            "assistant" => {
                let mut content = Vec::new();
                let text = text_of(&m["content"]);
                if !text.is_empty() {
                    content.push(ContentBlock::Text { text });
                }
                let calls = m.get("tool_calls").and_then(Value::as_array);
                for call in calls.into_iter().flatten() {
                    let args = call
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}");
                    content.push(ContentBlock::ToolUse {
                        id: str_at(call, "/id").into(),
                        name: str_at(call, "/function/name").into(),
                        input: serde_json::from_str(args)
                            .unwrap_or_else(|_| Value::String(args.into())),
                    });
                }
                messages.push(Message {
                    role: Role::Assistant,
                    content,
                });
            }
            "tool" => {
                let raw = text_of(&m["content"]);
                let (content, is_error) = match raw.strip_prefix("ERROR: ") {
                    Some(rest) => (rest.to_string(), true),
                    None => (raw, false),
                };
                let block = ContentBlock::ToolResult {
                    tool_use_id: str_at(m, "/tool_call_id").into(),
                    content,
                    is_error,
                };
                match messages.last_mut() {
                    Some(last)
                        if last.role == Role::User
                            && last
                                .content
                                .iter()
                                .all(|b| matches!(b, ContentBlock::ToolResult { .. })) =>
                    {
                        last.content.push(block)
                    }
                    _ => messages.push(Message {
                        role: Role::User,
                        content: vec![block],
                    }),
                }
            }
            _ => messages.push(Message::user_text(text_of(&m["content"]))),
        }
    }
    let tools = body.get("tools").and_then(Value::as_array);
    let tools = tools
        .into_iter()
        .flatten()
        .map(|t| ToolSpec {
            name: str_at(t, "/function/name").into(),
            description: str_at(t, "/function/description").into(),
            input_schema: t
                .pointer("/function/parameters")
                .cloned()
                .unwrap_or(Value::Null),
        })
        .collect();
    let max_tokens = ["max_tokens", "max_completion_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .unwrap_or(0);
    ModelRequest {
        system,
        messages,
        tools,
        tool_choice: ToolChoice::Auto,
        max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
        temperature: None,
    }
}

/// Whether the request asks for a streamed answer.
pub fn wants_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::ToolUse => "tool_calls",
        StopReason::MaxTokens => "length",
        StopReason::Refusal => "content_filter",
        StopReason::EndTurn | StopReason::StopSequence => "stop",
    }
}

fn arguments(input: &Value) -> String {
    match input {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// Splits text into pieces of at most `n` characters.
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// The streamed answer as SSE events (each `data: …\n\n`), text and tool arguments
/// split in `n`-character pieces, then a usage chunk with `choices: []` and `[DONE]`.
pub fn encode_stream(response: &ModelResponse, model: &str, n: usize) -> Vec<String> {
    let sse = |value: Value| format!("data: {value}\n\n");
    let chunk = |delta: Value, finish: Value| {
        sse(
            json!({"id": "chatcmpl-lucid", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let mut call = 0;
    for block in &response.content {
        match block {
            ContentBlock::Text { text } => {
                for piece in pieces(text, n) {
                    out.push(chunk(json!({"content": piece}), Value::Null));
                }
            }
            ContentBlock::ToolUse { id, name, input } => {
                out.push(chunk(
                    json!({"tool_calls": [{"index": call, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ));
                for piece in pieces(&arguments(input), n) {
                    out.push(chunk(
                        json!({"tool_calls": [{"index": call, "function": {"arguments": piece}}]}),
                        Value::Null,
                    ));
                }
                call += 1;
            }
            ContentBlock::ToolResult { .. } => {}
        }
    }
    out.push(chunk(json!({}), json!(finish_reason(response.stop))));
    out.push(sse(
        json!({"id": "chatcmpl-lucid", "object": "chat.completion.chunk",
        "model": model, "choices": [], "usage": usage(response)}),
    ));
    out.push("data: [DONE]\n\n".to_string());
    out
}

fn usage(response: &ModelResponse) -> Value {
    let (i, o) = (response.usage.input_tokens, response.usage.output_tokens);
    json!({"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o})
}

/// The non-streamed answer.
pub fn encode_whole(response: &ModelResponse, model: &str) -> Value {
    let text: String = response
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let calls: Vec<Value> = response
        .tool_uses()
        .map(|(id, name, input)| {
            json!({"id": id, "type": "function",
                "function": {"name": name, "arguments": arguments(input)}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    json!({"id": "chatcmpl-lucid", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": message,
            "finish_reason": finish_reason(response.stop)}],
        "usage": usage(response)})
}
