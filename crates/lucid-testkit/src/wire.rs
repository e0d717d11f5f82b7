//! The Chat Completions wire format as a server sees it: a request body decoded into
//! lucid's [`ModelRequest`], and a [`ModelResponse`] encoded as server-sent chunks or
//! as one JSON answer.

use serde::Serialize;
use serde_json::{json, Value};

use lucid_core::model::{
    text_pieces, ContentBlock, Message, ModelRequest, ModelResponse, Role, StopReason, ToolChoice,
    ToolSpec,
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
                    content.push(tool_use(
                        str_at(call, "/id"),
                        str_at(call, "/function/name"),
                        call.pointer("/function/arguments").and_then(Value::as_str),
                    ));
                }
                messages.push(Message {
                    role: Role::Assistant,
                    content,
                });
            }
            "tool" => add_tool_result(
                &mut messages,
                str_at(m, "/tool_call_id"),
                text_of(&m["content"]),
            ),
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
        messages: messages.into(),
        tools,
        tool_choice: ToolChoice::Auto,
        max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
        temperature: None,
    }
}

/// A tool call as lucid's block: its arguments parsed as JSON, or kept as the text the
/// model wrote when they do not parse (`{}` when there are none).
pub(crate) fn tool_use(id: &str, name: &str, arguments: Option<&str>) -> ContentBlock {
    let arguments = arguments.unwrap_or("{}");
    ContentBlock::ToolUse {
        id: id.into(),
        name: name.into(),
        input: serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.into())),
    }
}

/// Adds a tool's answer (`ERROR: ` marks a failed call) to the conversation: to the user
/// message of answers it follows, else as a new one (each `tool` message is one answer;
/// lucid sends them together).
pub(crate) fn add_tool_result(messages: &mut Vec<Message>, tool_use_id: &str, answer: String) {
    let (content, is_error) = match answer.strip_prefix("ERROR: ") {
        Some(rest) => (rest.to_string(), true),
        None => (answer, false),
    };
    let block = ContentBlock::ToolResult {
        tool_use_id: tool_use_id.into(),
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

// One streamed chunk, serialized straight from borrowed parts (a JSON tree per chunk was
// most of the policy server's work). Fields are in sorted order, as the `json!` values
// this replaced wrote them: the bytes on the wire are the same.

#[derive(Serialize)]
struct Chunk<'a> {
    choices: &'a [ChunkChoice<'a>],
    id: &'static str,
    model: &'a str,
    object: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Delta<'a> {
    Opening {
        content: &'static str,
        role: &'static str,
    },
    Text {
        content: &'a str,
    },
    CallOpening {
        tool_calls: [CallOpening<'a>; 1],
    },
    CallArguments {
        tool_calls: [CallArguments<'a>; 1],
    },
    Closing {},
}

#[derive(Serialize)]
struct CallOpening<'a> {
    function: NamedFunction<'a>,
    id: &'a str,
    index: usize,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct NamedFunction<'a> {
    arguments: &'static str,
    name: &'a str,
}

#[derive(Serialize)]
struct CallArguments<'a> {
    function: ArgumentsOnly<'a>,
    index: usize,
}

#[derive(Serialize)]
struct ArgumentsOnly<'a> {
    arguments: &'a str,
}

#[derive(Serialize)]
struct Usage {
    completion_tokens: u64,
    prompt_tokens: u64,
    total_tokens: u64,
}

/// The streamed answer as SSE events (each `data: …\n\n`), text and tool arguments
/// split in `n`-character pieces, then a usage chunk with `choices: []` and `[DONE]`.
pub fn encode_stream(response: &ModelResponse, model: &str, n: usize) -> Vec<String> {
    let event = |chunk: &Chunk| {
        let mut bytes = b"data: ".to_vec();
        // Strings and numbers only: encoding cannot fail.
        let _ = serde_json::to_writer(&mut bytes, chunk);
        bytes.extend_from_slice(b"\n\n");
        String::from_utf8(bytes).unwrap_or_default()
    };
    let chunk = |delta: Delta, finish_reason: Option<&'static str>| {
        event(&Chunk {
            choices: &[ChunkChoice {
                delta,
                finish_reason,
                index: 0,
            }],
            id: "chatcmpl-lucid",
            model,
            object: "chat.completion.chunk",
            usage: None,
        })
    };
    let mut out = vec![chunk(
        Delta::Opening {
            content: "",
            role: "assistant",
        },
        None,
    )];
    let mut call = 0;
    for block in &response.content {
        match block {
            ContentBlock::Text { text } => {
                for piece in text_pieces(text, n) {
                    out.push(chunk(Delta::Text { content: piece }, None));
                }
            }
            ContentBlock::ToolUse { id, name, input } => {
                let opening = CallOpening {
                    function: NamedFunction {
                        arguments: "",
                        name,
                    },
                    id,
                    index: call,
                    kind: "function",
                };
                out.push(chunk(
                    Delta::CallOpening {
                        tool_calls: [opening],
                    },
                    None,
                ));
                for piece in text_pieces(&arguments(input), n) {
                    let arguments = CallArguments {
                        function: ArgumentsOnly { arguments: piece },
                        index: call,
                    };
                    out.push(chunk(
                        Delta::CallArguments {
                            tool_calls: [arguments],
                        },
                        None,
                    ));
                }
                call += 1;
            }
            ContentBlock::ToolResult { .. } => {}
        }
    }
    out.push(chunk(Delta::Closing {}, Some(finish_reason(response.stop))));
    let (i, o) = (response.usage.input_tokens, response.usage.output_tokens);
    out.push(event(&Chunk {
        choices: &[],
        id: "chatcmpl-lucid",
        model,
        object: "chat.completion.chunk",
        usage: Some(Usage {
            completion_tokens: o,
            prompt_tokens: i,
            total_tokens: i + o,
        }),
    }));
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

#[cfg(test)]
mod tests {
    use super::*;
    use lucid_core::model::Usage as TokenUsage;

    /// The encoding this module used before: a `json!` value per chunk.
    fn encoded_as_values(response: &ModelResponse, model: &str, n: usize) -> Vec<String> {
        let pieces = |text: &str| -> Vec<String> {
            let chars: Vec<char> = text.chars().collect();
            chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
        };
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
                    for piece in pieces(text) {
                        out.push(chunk(json!({"content": piece}), Value::Null));
                    }
                }
                ContentBlock::ToolUse { id, name, input } => {
                    out.push(chunk(
                        json!({"tool_calls": [{"index": call, "id": id, "type": "function",
                            "function": {"name": name, "arguments": ""}}]}),
                        Value::Null,
                    ));
                    for piece in pieces(&arguments(input)) {
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

    #[test]
    fn streamed_chunks_are_the_bytes_the_json_values_made() {
        let response = ModelResponse {
            content: vec![
                ContentBlock::Text {
                    text: "Landing at \"B\": 2 µs, naïve ünïcödé, \u{1}\n done".into(),
                },
                ContentBlock::ToolUse {
                    id: "t1_1".into(),
                    name: "delegate".into(),
                    input: json!({"subtask": "Job 0: tick STEPS 3 times.", "n": 3}),
                },
                ContentBlock::ToolUse {
                    id: "t1_2".into(),
                    name: "tick".into(),
                    input: json!("{broken"),
                },
            ],
            stop: StopReason::ToolUse,
            usage: TokenUsage {
                input_tokens: 120,
                output_tokens: 45,
            },
        };
        for n in [1, 3, 16, 1000] {
            assert_eq!(
                encode_stream(&response, "policy", n),
                encoded_as_values(&response, "policy", n),
                "pieces of {n}"
            );
        }
        let empty = ModelResponse {
            content: Vec::new(),
            stop: StopReason::EndTurn,
            usage: TokenUsage::default(),
        };
        assert_eq!(
            encode_stream(&empty, "m", 8),
            encoded_as_values(&empty, "m", 8)
        );
    }
}
