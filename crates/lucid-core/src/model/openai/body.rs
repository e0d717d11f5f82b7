//! The JSON body of a Chat Completions call, serialized straight from the request it
//! borrows: no intermediate `serde_json::Value`, so no copy of the system prompt, the
//! history or the tool schemas is made on the way to the bytes that are sent.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::{is_openai_itself, OpenAiConfig};
use crate::model::{ContentBlock, ModelRequest, Role, ToolChoice};

// Every object's keys are in sorted order, as the `serde_json::Value` this replaced
// wrote them: servers that render the tools' JSON into the model's prompt (llama.cpp's
// chat templates) see the same text, so small local models behave the same.

#[derive(Serialize)]
struct Body<'a> {
    // OpenAI's own service wants `max_completion_tokens` (its reasoning models reject
    // `max_tokens`); the servers that mimic it (Ollama, llama.cpp, vLLM) know `max_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    messages: Vec<Message<'a>>,
    model: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    /// Widened as the value it replaced widened it: the same digits go out.
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Choice<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: Vec<Tool<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Message<'a> {
    /// `content` is always a string, empty beside tool calls: some servers
    /// (llama-cpp-python) reject a null content and break on a missing one.
    Assistant {
        content: String,
        role: &'static str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<Call<'a>>,
    },
    Tool {
        content: Cow<'a, str>,
        role: &'static str,
        tool_call_id: &'a str,
    },
    /// The system prompt and the user's text.
    Said {
        content: Cow<'a, str>,
        role: &'static str,
    },
}

#[derive(Serialize)]
struct Call<'a> {
    function: CallFunction<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct CallFunction<'a> {
    arguments: Cow<'a, str>,
    name: &'a str,
}

#[derive(Serialize)]
struct Tool<'a> {
    function: ToolFunction<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ToolFunction<'a> {
    description: &'a str,
    name: &'a str,
    parameters: &'a Value,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Choice<'a> {
    Named(&'static str),
    Tool {
        function: ChoiceFunction<'a>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
struct ChoiceFunction<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The encoded JSON body of a Chat Completions call for `request`.
pub fn request_body(config: &OpenAiConfig, request: &ModelRequest) -> String {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(Message::Said {
            content: Cow::Borrowed(&request.system),
            role: "system",
        });
    }
    for message in request.messages.iter() {
        match message.role {
            Role::Assistant => {
                let tool_calls = message
                    .content
                    .iter()
                    .filter_map(|block| match block {
                        ContentBlock::ToolUse { id, name, input } => Some(Call {
                            function: CallFunction {
                                arguments: arguments(input),
                                name,
                            },
                            id,
                            kind: "function",
                        }),
                        _ => None,
                    })
                    .collect();
                messages.push(Message::Assistant {
                    content: message.text(),
                    role: "assistant",
                    tool_calls,
                });
            }
            Role::User => {
                // Tool answers come first, each its own `tool` message, in call order.
                let mut text = String::new();
                for block in &message.content {
                    match block {
                        ContentBlock::ToolResult {
                            tool_use_id,
                            content,
                            is_error,
                        } => messages.push(Message::Tool {
                            content: if *is_error {
                                Cow::Owned(format!("ERROR: {content}"))
                            } else {
                                Cow::Borrowed(content)
                            },
                            role: "tool",
                            tool_call_id: tool_use_id,
                        }),
                        ContentBlock::Text { text: t } => {
                            if !text.is_empty() {
                                text.push('\n');
                            }
                            text.push_str(t);
                        }
                        ContentBlock::ToolUse { .. } => {}
                    }
                }
                if !text.is_empty() {
                    messages.push(Message::Said {
                        content: Cow::Owned(text),
                        role: "user",
                    });
                }
            }
        }
    }
    let openai = is_openai_itself(&config.base_url);
    let tools: Vec<Tool> = request
        .tools
        .iter()
        .map(|t| Tool {
            function: ToolFunction {
                description: &t.description,
                name: &t.name,
                parameters: &t.input_schema,
            },
            kind: "function",
        })
        .collect();
    let tool_choice = (!tools.is_empty()).then(|| match &request.tool_choice {
        ToolChoice::Auto => Choice::Named("auto"),
        ToolChoice::Any => Choice::Named("required"),
        ToolChoice::Tool { name } => Choice::Tool {
            function: ChoiceFunction { name },
            kind: "function",
        },
    });
    let body = Body {
        max_completion_tokens: openai.then_some(request.max_tokens),
        max_tokens: (!openai).then_some(request.max_tokens),
        messages,
        model: &config.model,
        stream: config.streaming,
        stream_options: config.streaming.then_some(StreamOptions {
            include_usage: true,
        }),
        temperature: request.temperature.map(f64::from),
        tool_choice,
        tools,
    };
    // Only strings, numbers and JSON values go in: encoding cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// Tool arguments as the JSON string the protocol wants; text that never parsed is
/// echoed as the model wrote it.
fn arguments(input: &Value) -> Cow<'_, str> {
    match input {
        Value::String(raw) => Cow::Borrowed(raw),
        other => Cow::Owned(other.to_string()),
    }
}
