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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};

mod body;
mod stream;

pub use body::request_body;
pub use stream::StreamDecoder;

use super::http::{self, Call, Fault, WholeFallback};
use super::{
    ContentBlock, ModelDelta, ModelError, ModelRequest, ModelResponse, Provider, StopReason, Usage,
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
    /// The whole attempt's deadline and the answer's byte cap.
    pub bounds: super::TurnBounds,
    pub max_retries: u32,
    pub streaming: bool,
}

/// A model behind an OpenAI-compatible server.
pub struct OpenAiProvider {
    config: OpenAiConfig,
    client: reqwest::Client,
    /// `{base_url}/chat/completions`, parsed once.
    endpoint: Result<reqwest::Url, ModelError>,
    /// Set once the server answered a streamed request with nothing (llama-cpp-python
    /// with tools): from then on this provider asks for whole answers.
    unstreamable: Arc<AtomicBool>,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig, client: reqwest::Client) -> Self {
        OpenAiProvider {
            endpoint: http::endpoint(&config.base_url, "/chat/completions"),
            config,
            client,
            unstreamable: Arc::default(),
        }
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
                    return http::failed(err);
                }
            }
        }
        let url = match self.endpoint.clone() {
            Ok(url) => url,
            Err(err) => return http::failed(err),
        };
        // A server that ended a streamed answer empty is asked for whole answers: at
        // once for that request (the fallback), and for every request after it.
        let streaming = self.config.streaming && !self.unstreamable.load(Ordering::SeqCst);
        let config = OpenAiConfig {
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
                    &OpenAiConfig {
                        streaming,
                        ..config.clone()
                    },
                    &request,
                )
            }),
            timeout: self.config.timeout,
            turn_timeout: self.config.bounds.turn_timeout,
            max_response_bytes: self.config.bounds.max_response_bytes,
            max_retries: self.config.max_retries,
            streaming,
            secret: self.config.api_key.clone(),
            server: "OpenAI-compatible",
            fallback,
        };
        http::run(call, StreamDecoder::default, whole_answer)
    }
}

pub(crate) fn is_openai_itself(base_url: &str) -> bool {
    base_url.trim_end_matches('/') == DEFAULT_BASE_URL
}

pub(crate) fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

pub(crate) fn usage(value: &Value) -> Usage {
    let n = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("prompt_tokens"),
        output_tokens: n("completion_tokens"),
    }
}

/// An `error` object in a body or a stream chunk; codes may be integers or strings.
pub(crate) fn error_fault(error: &Value) -> Fault {
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

pub(crate) fn malformed(what: &str) -> Fault {
    Fault::Fatal(ModelError::Malformed(format!(
        "the OpenAI-compatible server sent {what}"
    )))
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
    use crate::model::{Message, Role, ToolChoice, ToolSpec};

    #[test]
    fn the_body_pairs_tool_answers_with_their_calls() {
        let config = OpenAiConfig {
            base_url: DEFAULT_BASE_URL.into(),
            model: "m".into(),
            api_key: None,
            timeout: Duration::from_secs(1),
            bounds: crate::model::TurnBounds::default(),
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
            ]
            .into(),
            tools: vec![ToolSpec {
                name: "f".into(),
                description: "d".into(),
                input_schema: json!({"type": "object"}),
            }]
            .into(),
            tool_choice: ToolChoice::Any,
            max_tokens: 10,
            temperature: None,
        };
        let body: Value = serde_json::from_str(&request_body(&config, &request)).unwrap();
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
        assert_eq!(body["max_completion_tokens"], 10, "OpenAI itself");
        let local = OpenAiConfig {
            base_url: "http://127.0.0.1:11434/v1".into(),
            ..config
        };
        let text = request_body(&local, &request);
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["max_tokens"], 10, "a local server");
        assert!(body.get("max_completion_tokens").is_none());
        // Every object's keys sorted, as the JSON value it replaced wrote them: the same
        // bytes reach servers that render tools into prompts.
        assert_eq!(text, body.to_string());
    }

    #[tokio::test]
    async fn a_base_url_that_makes_no_url_is_refused_at_once_and_the_endpoint_is_parsed_once() {
        let config = |base_url: &str| OpenAiConfig {
            base_url: base_url.into(),
            model: "m".into(),
            api_key: None,
            timeout: Duration::from_secs(1),
            bounds: crate::model::TurnBounds::default(),
            max_retries: 3,
            streaming: true,
        };
        let provider = OpenAiProvider::new(config("not a url"), reqwest::Client::new());
        let request = ModelRequest {
            system: String::new(),
            messages: vec![Message::user_text("go")].into(),
            tools: Arc::default(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 16,
            temperature: None,
        };
        let started = std::time::Instant::now();
        let answer = crate::model::collect(provider.stream(request)).await;
        match answer {
            Err(ModelError::Refused(message)) => {
                assert!(message.contains("base_url `not a url`"), "{message}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(1), "no retries");

        let provider =
            OpenAiProvider::new(config("http://127.0.0.1:9/v1/"), reqwest::Client::new());
        assert_eq!(
            provider.endpoint.as_ref().map(|u| u.as_str()),
            Ok("http://127.0.0.1:9/v1/chat/completions")
        );
    }

    #[test]
    fn a_whole_answer_decodes() {
        let body = r#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
        let r = whole_answer(body).unwrap();
        assert_eq!(r.tool_uses().next().unwrap().2, &json!({"a": 1}));
        assert_eq!(r.usage.output_tokens, 2);
    }
}
