//! Any server that speaks OpenAI's Chat Completions (`POST {base_url}/chat/completions`):
//! OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter.
//!
//! Builds the request (system message, `tools` / `tool_calls` with arguments as JSON
//! strings, `role: "tool"` answers with `tool_call_id`, `stream_options.include_usage`)
//! and decodes the answer. Real servers differ in how they stream tool calls, so the
//! decoder is tolerant: a call is found by its id when the id is repeated, else by its
//! `index`, else it is the latest call; comment lines, integer error codes, a usage chunk
//! with `choices: []` and a missing `[DONE]` after a finish reason are all accepted.
//! Retries, timeouts and the key's secrecy are `http`'s job.

use std::time::Duration;

use futures::stream::BoxStream;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};

use super::http::{self, Call, Decoder, Fault};
use super::{
    ContentBlock, ModelDelta, ModelError, ModelRequest, ModelResponse, Provider, Role, StopReason,
    ToolChoice, Usage,
};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_KEY_ENV: &str = "OPENAI_API_KEY";

/// How to reach one OpenAI-compatible model.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    pub base_url: String,
    pub model: String,
    /// `None` for local servers that need no key.
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub streaming: bool,
}

/// A model behind an OpenAI-compatible server.
pub struct OpenAiProvider {
    config: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig, client: reqwest::Client) -> Self {
        OpenAiProvider { config, client }
    }
}

impl Provider for OpenAiProvider {
    fn label(&self) -> String {
        format!("openai:{}", self.config.model)
    }

    fn stream(&self, request: ModelRequest) -> BoxStream<'static, Result<ModelDelta, ModelError>> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.config.api_key {
            match HeaderValue::from_str(&format!("Bearer {key}")) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    headers.insert(AUTHORIZATION, value);
                }
                Err(_) => {
                    let err = ModelError::Refused(
                        "the API key holds characters a header cannot carry".into(),
                    );
                    return Box::pin(futures::stream::once(async move { Err(err) }));
                }
            }
        }
        let call = Call {
            client: self.client.clone(),
            url: format!(
                "{}/chat/completions",
                self.config.base_url.trim_end_matches('/')
            ),
            headers,
            body: request_body(&self.config, &request),
            timeout: self.config.timeout,
            max_retries: self.config.max_retries,
            streaming: self.config.streaming,
            secret: self.config.api_key.clone(),
            server: "OpenAI-compatible",
        };
        http::run(call, StreamDecoder::default, whole_answer)
    }
}

/// The JSON body of a Chat Completions call.
pub fn request_body(config: &OpenAiConfig, request: &ModelRequest) -> Value {
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        match message.role {
            Role::Assistant => {
                let text = message.text();
                let calls: Vec<Value> = message
                    .content
                    .iter()
                    .filter_map(|block| match block {
                        ContentBlock::ToolUse { id, name, input } => Some(json!({
                            "id": id,
                            "type": "function",
                            "function": {"name": name, "arguments": arguments(input)},
                        })),
                        _ => None,
                    })
                    .collect();
                // `content` is always a string, empty beside tool calls: some servers
                // (llama-cpp-python) reject a null content and break on a missing one.
                let mut out = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    out["tool_calls"] = json!(calls);
                }
                messages.push(out);
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
                        } => messages.push(json!({
                            "role": "tool",
                            "tool_call_id": tool_use_id,
                            "content": if *is_error { format!("ERROR: {content}") } else { content.clone() },
                        })),
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
                    messages.push(json!({"role": "user", "content": text}));
                }
            }
        }
    }
    let mut body = json!({
        "model": config.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
        body["tool_choice"] = match &request.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Any => json!("required"),
            ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
        };
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if config.streaming {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// Tool arguments as the JSON string the protocol wants; text that never parsed is
/// echoed as the model wrote it.
fn arguments(input: &Value) -> String {
    match input {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

fn usage(value: &Value) -> Usage {
    let n = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("prompt_tokens"),
        output_tokens: n("completion_tokens"),
    }
}

/// An `error` object in a body or a stream chunk; codes may be integers or strings.
fn error_fault(error: &Value) -> Fault {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| error.to_string());
    let code = match error.get("code") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
    let text = format!(
        "the OpenAI-compatible server reported an error{}: {message}",
        if code.is_empty() {
            String::new()
        } else {
            format!(" ({code})")
        }
    );
    let numeric = code.parse::<u16>().ok();
    let retryable = numeric.is_some_and(super::retry::status_is_retryable)
        || ["rate_limit", "server_error", "overloaded", "timeout"]
            .iter()
            .any(|k| kind.contains(k) || code.contains(k));
    if retryable {
        Fault::retryable(text)
    } else {
        Fault::Fatal(ModelError::Refused(text))
    }
}

fn malformed(what: &str) -> Fault {
    Fault::Fatal(ModelError::Malformed(format!(
        "the OpenAI-compatible server sent {what}"
    )))
}

/// A tool call being streamed.
struct OpenCall {
    /// The server's `index`, if it sent one.
    server_index: Option<u64>,
    id: String,
    name: String,
    /// Whether `ToolCallStart` went out (it waits for the name).
    started: bool,
    /// Argument text received before the start went out.
    pending: String,
}

/// Decodes Chat Completions chunks.
#[derive(Default)]
pub struct StreamDecoder {
    calls: Vec<OpenCall>,
    finish: Option<StopReason>,
    done: bool,
    /// Whether any data arrived at all.
    heard: bool,
}

impl StreamDecoder {
    fn tool_call_delta(&mut self, delta: &Value) -> Vec<ModelDelta> {
        let id = delta
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let server_index = delta.get("index").and_then(Value::as_u64);
        let name = delta
            .pointer("/function/name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let fragment = delta
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        // Which call this piece belongs to: the id is the strongest sign, then the
        // index, then the latest call.
        let found = match id {
            Some(id) => self.calls.iter().position(|c| c.id == id),
            None => match server_index {
                Some(i) => self.calls.iter().rposition(|c| c.server_index == Some(i)),
                None => self.calls.len().checked_sub(1),
            },
        };
        let at = match found {
            Some(at) => at,
            None => {
                let n = self.calls.len();
                self.calls.push(OpenCall {
                    server_index,
                    id: id.map_or_else(|| format!("call_{n}"), str::to_string),
                    name: String::new(),
                    started: false,
                    pending: String::new(),
                });
                n
            }
        };
        let call = &mut self.calls[at];
        let mut out = Vec::new();
        if let Some(name) = name {
            if !call.started {
                call.name = name.to_string();
            }
        }
        if !call.started && !call.name.is_empty() {
            call.started = true;
            out.push(ModelDelta::ToolCallStart {
                index: at,
                id: call.id.clone(),
                name: call.name.clone(),
            });
            if !call.pending.is_empty() {
                out.push(ModelDelta::ToolCallArgs {
                    index: at,
                    fragment: std::mem::take(&mut call.pending),
                });
            }
        }
        if !fragment.is_empty() {
            if call.started {
                out.push(ModelDelta::ToolCallArgs {
                    index: at,
                    fragment: fragment.to_string(),
                });
            } else {
                call.pending.push_str(fragment);
            }
        }
        out
    }

    fn closing(&mut self) -> Vec<ModelDelta> {
        let mut out = Vec::new();
        // A call whose name never came still goes out, so the agent can tell the model.
        for (at, call) in self.calls.iter_mut().enumerate() {
            if !call.started {
                call.started = true;
                out.push(ModelDelta::ToolCallStart {
                    index: at,
                    id: call.id.clone(),
                    name: call.name.clone(),
                });
                out.push(ModelDelta::ToolCallArgs {
                    index: at,
                    fragment: std::mem::take(&mut call.pending),
                });
            }
        }
        let stop = match self.finish {
            // Some servers finish tool calls with "stop".
            Some(StopReason::EndTurn) | None if !self.calls.is_empty() => StopReason::ToolUse,
            Some(reason) => reason,
            None => StopReason::EndTurn,
        };
        out.push(ModelDelta::Stop(stop));
        out
    }
}

impl Decoder for StreamDecoder {
    fn event(&mut self, _name: &str, data: &str) -> Result<Vec<ModelDelta>, Fault> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(vec![]);
        }
        self.heard = true;
        if data == "[DONE]" {
            self.done = true;
            return Ok(self.closing());
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|err| malformed(&format!("a chunk that is not JSON ({err})")))?;
        if let Some(error) = chunk.get("error") {
            return Err(error_fault(error));
        }
        let mut out = Vec::new();
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            out.push(ModelDelta::Usage(usage(u)));
        }
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| {
                choices
                    .iter()
                    .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
            });
        let Some(choice) = choice else {
            return Ok(out);
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                out.push(ModelDelta::Text(text.to_string()));
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                out.extend(self.tool_call_delta(call));
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(stop_reason(reason));
        }
        Ok(out)
    }

    fn done(&self) -> bool {
        self.done
    }

    fn end(&mut self) -> Result<Vec<ModelDelta>, Fault> {
        if self.done {
            Ok(vec![])
        } else if self.finish.is_some() {
            self.done = true;
            Ok(self.closing())
        } else if !self.heard {
            Err(Fault::retryable(
                "the OpenAI-compatible server ended the stream without sending anything (some \
                 servers cannot stream tool calls, e.g. llama-cpp-python's \
                 chatml-function-calling with automatic tool choice: set stream = false in the \
                 model profile)",
            ))
        } else {
            Err(Fault::retryable(
                "the OpenAI-compatible stream was cut before a finish reason",
            ))
        }
    }
}

/// Decodes a non-streamed answer.
pub fn whole_answer(body: &str) -> Result<ModelResponse, Fault> {
    let value: Value = serde_json::from_str(body)
        .map_err(|err| malformed(&format!("an answer that is not JSON ({err})")))?;
    if let Some(error) = value.get("error") {
        return Err(error_fault(error));
    }
    let choice = value
        .pointer("/choices/0")
        .ok_or_else(|| malformed("an answer without choices"))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    if let Some(text) = message.get("content").and_then(Value::as_str) {
        if !text.is_empty() {
            content.push(ContentBlock::Text {
                text: text.to_string(),
            });
        }
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for (n, call) in calls.into_iter().flatten().enumerate() {
        let args = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        content.push(ContentBlock::ToolUse {
            id: call
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{n}"), str::to_string),
            name: call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            input: if args.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(args).unwrap_or_else(|_| Value::String(args.to_string()))
            },
        });
    }
    let has_calls = content
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolUse { .. }));
    let stop = match choice.get("finish_reason").and_then(Value::as_str) {
        Some(reason) => stop_reason(reason),
        None => StopReason::EndTurn,
    };
    Ok(ModelResponse {
        content,
        stop: if has_calls && stop == StopReason::EndTurn {
            StopReason::ToolUse
        } else {
            stop
        },
        usage: usage(value.get("usage").unwrap_or(&Value::Null)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{collect, Message, ToolSpec};
    use futures::stream;

    fn decode(chunks: &[&str]) -> Vec<ModelDelta> {
        let mut decoder = StreamDecoder::default();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(decoder.event("message", chunk).unwrap());
        }
        out.extend(decoder.end().unwrap());
        out
    }

    async fn response(chunks: &[&str]) -> ModelResponse {
        collect(stream::iter(decode(chunks).into_iter().map(Ok)))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn ids_repeated_in_every_chunk_and_parallel_calls() {
        let r = response(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Two sites."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"survey_site","arguments":"{\"si"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"survey_site","arguments":"{\"site\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"arguments":"te\":\"A\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"arguments":"\"B\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":7}}"#,
            "[DONE]",
        ])
        .await;
        let calls: Vec<_> = r.tool_uses().collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].0, "a");
        assert_eq!(calls[0].2, &json!({"site": "A"}));
        assert_eq!(calls[1].2, &json!({"site": "B"}));
        assert_eq!(r.text(), "Two sites.");
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 9,
                output_tokens: 7
            }
        );
        assert_eq!(r.stop, StopReason::ToolUse);
    }

    #[tokio::test]
    async fn a_reused_or_missing_index_is_tolerated() {
        // Two calls both at index 0 (distinct ids), then fragments with no index at all.
        let r = response(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"x","function":{"name":"f","arguments":"{\"n\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"y","function":{"name":"g","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\"n\":2}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
        ])
        .await;
        let calls: Vec<_> = r.tool_uses().collect();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].1, calls[0].2), ("f", &json!({"n": 1})));
        assert_eq!((calls[1].1, calls[1].2), ("g", &json!({"n": 2})));
        assert_eq!(
            r.stop,
            StopReason::ToolUse,
            "stop with calls means tool use"
        );
    }

    #[test]
    fn errors_in_the_stream_and_cuts() {
        let mut decoder = StreamDecoder::default();
        let err = decoder
            .event("message", r#"{"error":{"message":"busy","code":503}}"#)
            .unwrap_err();
        assert!(matches!(err, Fault::Retryable { .. }));
        let err = decoder
            .event("message", r#"{"error":{"message":"bad model","code":400}}"#)
            .unwrap_err();
        assert!(matches!(err, Fault::Fatal(ModelError::Refused(_))));
        let mut decoder = StreamDecoder::default();
        decoder
            .event("message", r#"{"choices":[{"delta":{"content":"hal"}}]}"#)
            .unwrap();
        assert!(matches!(decoder.end(), Err(Fault::Retryable { .. })));
    }

    #[test]
    fn the_body_pairs_tool_answers_with_their_calls() {
        let config = OpenAiConfig {
            base_url: DEFAULT_BASE_URL.into(),
            model: "m".into(),
            api_key: None,
            timeout: Duration::from_secs(1),
            max_retries: 0,
            streaming: true,
        };
        let request = ModelRequest {
            system: "sys".into(),
            messages: vec![
                Message::user_text("go"),
                Message {
                    role: Role::Assistant,
                    content: vec![ContentBlock::ToolUse {
                        id: "c1".into(),
                        name: "f".into(),
                        input: json!("{broken"),
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![
                        ContentBlock::ToolResult {
                            tool_use_id: "c1".into(),
                            content: "not JSON".into(),
                            is_error: true,
                        },
                        ContentBlock::Text {
                            text: "fix it".into(),
                        },
                    ],
                },
            ],
            tools: vec![ToolSpec {
                name: "f".into(),
                description: "d".into(),
                input_schema: json!({"type": "object"}),
            }],
            tool_choice: ToolChoice::Any,
            max_tokens: 10,
            temperature: None,
        };
        let body = request_body(&config, &request);
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{broken"
        );
        assert_eq!(body["messages"][2]["content"], "");
        assert_eq!(body["messages"][3]["tool_call_id"], "c1");
        assert_eq!(body["tool_choice"], "required");
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn a_whole_answer_decodes() {
        let body = r#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
        let r = whole_answer(body).unwrap();
        assert_eq!(r.tool_uses().next().unwrap().2, &json!({"a": 1}));
        assert_eq!(r.usage.output_tokens, 2);
    }
}
