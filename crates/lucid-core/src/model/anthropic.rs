//! Claude through Anthropic's Messages API (`POST {base_url}/v1/messages`).
//!
//! Builds the request body (system prompt, messages with `tool_use` / `tool_result`
//! blocks, tools with `input_schema`, `tool_choice`, sampling parameters only where
//! the API version allows them) and decodes the answer, streamed (`message_start`,
//! `content_block_*`, `message_delta`, `message_stop`, `ping`, `error`) or whole.
//! Retries, timeouts and the key's secrecy are `http`'s job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

use super::http::{self, Call, Decoder, Fault, WholeFallback};
use super::{
    ContentBlock, Message, ModelDelta, ModelError, ModelRequest, ModelResponse, Provider, Role,
    StopReason, ToolChoice, Usage,
};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_VERSION: &str = "2023-06-01";
pub const DEFAULT_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// From this API version on, `temperature`, `top_p` and `top_k` are rejected.
const NO_SAMPLING_FROM: &str = "2026-10-21";

/// How to reach one Claude model.
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    pub base_url: String,
    pub model: String,
    pub api_key: String,
    pub version: String,
    pub timeout: Duration,
    /// The whole attempt's deadline and the answer's byte cap.
    pub bounds: super::TurnBounds,
    pub max_retries: u32,
    pub streaming: bool,
}

/// A Claude model.
pub struct AnthropicProvider {
    config: AnthropicConfig,
    client: reqwest::Client,
    /// `{base_url}/v1/messages`, parsed once.
    endpoint: Result<reqwest::Url, ModelError>,
    /// Set once the server answered a streamed request with nothing: from then on this
    /// provider asks for whole answers.
    unstreamable: Arc<AtomicBool>,
}

impl AnthropicProvider {
    pub fn new(config: AnthropicConfig, client: reqwest::Client) -> Self {
        AnthropicProvider {
            endpoint: http::endpoint(&config.base_url, "/v1/messages"),
            config,
            client,
            unstreamable: Arc::default(),
        }
    }

    fn headers(&self) -> Result<HeaderMap, ModelError> {
        let mut headers = HeaderMap::new();
        let mut key = HeaderValue::from_str(&self.config.api_key).map_err(|_| {
            ModelError::Refused("the API key holds characters a header cannot carry".into())
        })?;
        key.set_sensitive(true);
        headers.insert(HeaderName::from_static("x-api-key"), key);
        let version = HeaderValue::from_str(&self.config.version).map_err(|_| {
            ModelError::Refused(format!(
                "api_version `{}` is not a valid header value",
                self.config.version
            ))
        })?;
        headers.insert(HeaderName::from_static("anthropic-version"), version);
        Ok(headers)
    }
}

impl Provider for AnthropicProvider {
    fn label(&self) -> String {
        format!("anthropic:{}", self.config.model)
    }

    fn stream(&self, request: ModelRequest) -> BoxStream<'static, Result<ModelDelta, ModelError>> {
        let headers = match self.headers() {
            Ok(headers) => headers,
            Err(err) => return http::failed(err),
        };
        let url = match self.endpoint.clone() {
            Ok(url) => url,
            Err(err) => return http::failed(err),
        };
        // A server that ended a streamed answer empty is asked for whole answers: at
        // once for that request (the fallback), and for every request after it.
        let streaming = self.config.streaming && !self.unstreamable.load(Ordering::SeqCst);
        let config = AnthropicConfig {
            streaming,
            ..self.config.clone()
        };
        let fallback = streaming.then(|| WholeFallback {
            taken: Arc::clone(&self.unstreamable),
        });
        let call = Call {
            client: self.client.clone(),
            url,
            headers,
            body: Box::new(move |streaming| {
                request_body(
                    &AnthropicConfig {
                        streaming,
                        ..config.clone()
                    },
                    &request,
                )
                .to_string()
            }),
            timeout: self.config.timeout,
            turn_timeout: self.config.bounds.turn_timeout,
            max_response_bytes: self.config.bounds.max_response_bytes,
            max_retries: self.config.max_retries,
            streaming,
            secret: Some(self.config.api_key.clone()),
            server: "Anthropic",
            fallback,
        };
        http::run(call, StreamDecoder::default, whole_answer)
    }
}

/// Whether this API version still accepts `temperature`.
pub fn allows_sampling(version: &str) -> bool {
    version < NO_SAMPLING_FROM
}

/// The JSON body of a Messages API call.
pub fn request_body(config: &AnthropicConfig, request: &ModelRequest) -> Value {
    let mut body = json!({
        "model": config.model,
        "max_tokens": request.max_tokens,
        "messages": request.messages.iter().filter_map(message_json).collect::<Vec<_>>(),
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description, "input_schema": t.input_schema})
            })
            .collect();
        body["tool_choice"] = match &request.tool_choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::Any => json!({"type": "any"}),
            ToolChoice::Tool { name } => json!({"type": "tool", "name": name}),
        };
    }
    if let Some(temperature) = request.temperature {
        if allows_sampling(&config.version) {
            body["temperature"] = json!(temperature);
        }
    }
    if config.streaming {
        body["stream"] = json!(true);
    }
    body
}

fn message_json(message: &Message) -> Option<Value> {
    let content: Vec<Value> = message
        .content
        .iter()
        .filter_map(|block| match block {
            // The API rejects empty text blocks.
            ContentBlock::Text { text } if text.trim().is_empty() => None,
            ContentBlock::Text { text } => Some(json!({"type": "text", "text": text})),
            ContentBlock::ToolUse { id, name, input } => Some(json!({
                "type": "tool_use",
                "id": id,
                "name": name,
                // Arguments that were not a JSON object (kept as text so the agent could
                // answer with a tool error) cannot be echoed: `input` must be an object.
                "input": if input.is_object() { input.clone() } else { json!({}) },
            })),
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => Some(json!({
                "type": "tool_result",
                "tool_use_id": tool_use_id,
                "content": content,
                "is_error": is_error,
            })),
        })
        .collect();
    if content.is_empty() {
        return None;
    }
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    Some(json!({"role": role, "content": content}))
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "tool_use" => StopReason::ToolUse,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "refusal" => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

fn usage(value: &Value) -> Usage {
    let n = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("input_tokens")
            + n("cache_creation_input_tokens")
            + n("cache_read_input_tokens"),
        output_tokens: n("output_tokens"),
    }
}

/// An `error` event or error body: overloaded and server errors are worth a retry.
fn error_fault(error: &Value) -> Fault {
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("error");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    let text = format!("the Anthropic server reported {kind}: {message}");
    match kind {
        "overloaded_error" | "api_error" | "rate_limit_error" | "timeout_error" => {
            Fault::retryable(text)
        }
        _ => Fault::Fatal(ModelError::Refused(text)),
    }
}

fn malformed(what: &str) -> Fault {
    Fault::Fatal(ModelError::Malformed(format!(
        "the Anthropic stream sent {what}"
    )))
}

/// Decodes the Messages API's server-sent events.
#[derive(Default)]
pub struct StreamDecoder {
    stopped: bool,
    saw_stop_reason: bool,
    /// Whether the server sent any event at all.
    heard: bool,
}

impl Decoder for StreamDecoder {
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<ModelDelta>, Fault> {
        if data.trim().is_empty() {
            return Ok(vec![]);
        }
        self.heard = true;
        if name == "ping" {
            return Ok(vec![]);
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|err| malformed(&format!("an event that is not JSON ({err})")))?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or(name);
        let index = || value.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        Ok(match kind {
            "message_start" => {
                vec![ModelDelta::Usage(usage(
                    value.pointer("/message/usage").unwrap_or(&Value::Null),
                ))]
            }
            "content_block_start" => match value.get("content_block") {
                Some(block) if block.get("type").and_then(Value::as_str) == Some("tool_use") => {
                    let text = |key: &str| {
                        block
                            .get(key)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    vec![ModelDelta::ToolCallStart {
                        index: index(),
                        id: text("id"),
                        name: text("name"),
                    }]
                }
                Some(block) if block.get("type").and_then(Value::as_str) == Some("text") => {
                    match block.get("text").and_then(Value::as_str) {
                        Some(text) if !text.is_empty() => vec![ModelDelta::Text(text.into())],
                        _ => vec![],
                    }
                }
                Some(_) => vec![],
                None => return Err(malformed("a content block start without a block")),
            },
            "content_block_delta" => {
                let delta = value.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").and_then(Value::as_str).unwrap_or("");
                        vec![ModelDelta::Text(text.into())]
                    }
                    Some("input_json_delta") => {
                        let fragment = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        vec![ModelDelta::ToolCallArgs {
                            index: index(),
                            fragment: fragment.into(),
                        }]
                    }
                    // thinking, signatures, citations: not part of the answer we keep
                    _ => vec![],
                }
            }
            "content_block_stop" => vec![],
            "message_delta" => {
                let mut deltas = Vec::new();
                if let Some(u) = value.get("usage") {
                    deltas.push(ModelDelta::Usage(usage(u)));
                }
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.saw_stop_reason = true;
                    deltas.push(ModelDelta::Stop(stop_reason(reason)));
                }
                deltas
            }
            "message_stop" => {
                self.stopped = true;
                if self.saw_stop_reason {
                    vec![]
                } else {
                    vec![ModelDelta::Stop(StopReason::EndTurn)]
                }
            }
            "error" => return Err(error_fault(value.get("error").unwrap_or(&value))),
            // Unknown event types are allowed by the API's versioning policy.
            _ => vec![],
        })
    }

    fn done(&self) -> bool {
        self.stopped
    }

    fn end(&mut self) -> Result<Vec<ModelDelta>, Fault> {
        if self.stopped {
            Ok(vec![])
        } else if !self.heard {
            Err(Fault::Unstreamable(
                "the Anthropic server ended the stream without sending anything".into(),
            ))
        } else {
            Err(Fault::retryable(
                "the Anthropic stream was cut before message_stop",
            ))
        }
    }
}

/// Decodes a non-streamed answer.
pub fn whole_answer(body: &str) -> Result<ModelResponse, Fault> {
    let value: Value = serde_json::from_str(body)
        .map_err(|err| malformed(&format!("an answer that is not JSON ({err})")))?;
    if value.get("type").and_then(Value::as_str) == Some("error") {
        return Err(error_fault(value.get("error").unwrap_or(&value)));
    }
    let blocks = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("an answer without content"))?;
    let content = blocks
        .iter()
        .filter_map(|block| match block.get("type").and_then(Value::as_str) {
            Some("text") => Some(ContentBlock::Text {
                text: block.get("text")?.as_str()?.to_string(),
            }),
            Some("tool_use") => Some(ContentBlock::ToolUse {
                id: block.get("id")?.as_str()?.to_string(),
                name: block.get("name")?.as_str()?.to_string(),
                input: block.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            _ => None,
        })
        .collect();
    Ok(ModelResponse {
        content,
        stop: stop_reason(
            value
                .get("stop_reason")
                .and_then(Value::as_str)
                .unwrap_or("end_turn"),
        ),
        usage: usage(value.get("usage").unwrap_or(&Value::Null)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{collect, ToolSpec};
    use futures::stream;

    fn config(version: &str) -> AnthropicConfig {
        AnthropicConfig {
            base_url: DEFAULT_BASE_URL.into(),
            model: "claude-test".into(),
            api_key: "k".into(),
            version: version.into(),
            timeout: Duration::from_secs(5),
            bounds: crate::model::TurnBounds::default(),
            max_retries: 2,
            streaming: true,
        }
    }

    fn request() -> ModelRequest {
        ModelRequest {
            system: "Be brief.".into(),
            messages: vec![
                Message::user_text("Survey A"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::Text { text: "".into() },
                        ContentBlock::ToolUse {
                            id: "toolu_1".into(),
                            name: "survey_site".into(),
                            input: json!({"site": "A"}),
                        },
                        ContentBlock::ToolUse {
                            id: "toolu_2".into(),
                            name: "survey_site".into(),
                            input: json!("{\"site\": "),
                        },
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![
                        ContentBlock::ToolResult {
                            tool_use_id: "toolu_1".into(),
                            content: "slope 3".into(),
                            is_error: false,
                        },
                        ContentBlock::ToolResult {
                            tool_use_id: "toolu_2".into(),
                            content: "not JSON".into(),
                            is_error: true,
                        },
                    ],
                },
            ]
            .into(),
            tools: vec![ToolSpec {
                name: "survey_site".into(),
                description: "Survey".into(),
                input_schema: json!({"type": "object"}),
            }]
            .into(),
            tool_choice: ToolChoice::Tool {
                name: "survey_site".into(),
            },
            max_tokens: 100,
            temperature: Some(0.5),
        }
    }

    #[test]
    fn the_body_carries_tools_results_and_choice() {
        let body = request_body(&config(DEFAULT_VERSION), &request());
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["stream"], true);
        assert_eq!(
            body["tool_choice"],
            json!({"type": "tool", "name": "survey_site"})
        );
        assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(
            messages[1]["content"].as_array().unwrap().len(),
            2,
            "empty text dropped"
        );
        assert_eq!(messages[1]["content"][1]["input"], json!({}));
        assert_eq!(messages[2]["content"][1]["tool_use_id"], "toolu_2");
        assert_eq!(messages[2]["content"][1]["is_error"], true);
    }

    #[test]
    fn newer_versions_get_no_sampling_parameters() {
        let body = request_body(&config("2026-10-21"), &request());
        assert!(body.get("temperature").is_none());
        assert!(allows_sampling("2023-06-01"));
    }

    #[tokio::test]
    async fn a_streamed_answer_decodes_into_text_and_tool_calls() {
        let events = [
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"survey_site","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"si"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"te\": \"B\"}"}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ];
        let mut decoder = StreamDecoder::default();
        let mut deltas = Vec::new();
        for (name, data) in events {
            deltas.extend(decoder.event(name, data).unwrap());
        }
        assert!(decoder.done());
        let response = collect(stream::iter(deltas.into_iter().map(Ok)))
            .await
            .unwrap();
        assert_eq!(response.text(), "Checking");
        assert_eq!(response.stop, StopReason::ToolUse);
        assert_eq!(
            response.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 30
            }
        );
        let (id, _, input) = response.tool_uses().next().unwrap();
        assert_eq!((id, input), ("toolu_9", &json!({"site": "B"})));
    }

    #[test]
    fn overloaded_is_retried_and_bad_requests_are_not() {
        let mut decoder = StreamDecoder::default();
        let err = decoder
            .event(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .unwrap_err();
        assert!(matches!(err, Fault::Retryable { .. }));
        let err = decoder
            .event(
                "error",
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#,
            )
            .unwrap_err();
        assert!(matches!(err, Fault::Fatal(ModelError::Refused(_))));
        // A stream cut after a ping is cut; one with nothing at all may be answered whole.
        let mut pinged = StreamDecoder::default();
        pinged.event("ping", r#"{"type":"ping"}"#).unwrap();
        assert!(matches!(pinged.end(), Err(Fault::Retryable { .. })));
        assert!(matches!(
            StreamDecoder::default().end(),
            Err(Fault::Unstreamable(_))
        ));
    }

    #[test]
    fn a_whole_answer_decodes() {
        let body = r#"{"content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"t","name":"n","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}"#;
        let response = whole_answer(body).unwrap();
        assert_eq!(response.content.len(), 2);
        assert_eq!(response.stop, StopReason::ToolUse);
    }
}
