//! Decoding a streamed Chat Completions answer, tolerant of real servers' quirks: a
//! tool call is found by its id when the id is repeated, else by its `index`, else it
//! is the latest call; a call's start waits for its name; comment lines, integer error
//! codes, a usage chunk with `choices: []` and a missing `[DONE]` after a finish reason
//! are all accepted.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::{error_fault, malformed, stop_reason, usage};
use crate::model::http::{Decoder, Fault};
use crate::model::{ModelDelta, StopReason};

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
    /// Where each call id first appears in `calls`: thousands of calls in one answer
    /// must not cost a scan each.
    ids: HashMap<String, usize>,
    finish: Option<StopReason>,
    done: bool,
    /// Whether any data arrived at all.
    heard: bool,
}

/// A chunk as most servers send it, read without building a JSON tree; a chunk that does
/// not fit (an error, a field of an unexpected type) is read as a `Value` instead.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default)]
    error: Option<IgnoredAny>,
    #[serde(default, borrow)]
    choices: Option<Vec<Choice<'a>>>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default, borrow)]
    delta: Option<ChunkDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChunkDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<CallDelta<'a>>>,
}

#[derive(Deserialize)]
struct CallDelta<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default, borrow)]
    function: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize)]
struct FunctionDelta<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// One piece of one tool call, however the chunk was read.
struct CallPiece<'a> {
    id: Option<&'a str>,
    server_index: Option<u64>,
    name: Option<&'a str>,
    fragment: &'a str,
}

impl<'a> CallPiece<'a> {
    fn of_value(delta: &'a Value) -> CallPiece<'a> {
        CallPiece {
            id: delta.get("id").and_then(Value::as_str),
            server_index: delta.get("index").and_then(Value::as_u64),
            name: delta.pointer("/function/name").and_then(Value::as_str),
            fragment: delta
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or(""),
        }
    }

    fn of_typed(delta: &'a CallDelta<'a>) -> CallPiece<'a> {
        let function = delta.function.as_ref();
        CallPiece {
            id: delta.id.as_deref(),
            server_index: delta.index,
            name: function.and_then(|f| f.name.as_deref()),
            fragment: function.and_then(|f| f.arguments.as_deref()).unwrap_or(""),
        }
    }
}

impl StreamDecoder {
    fn tool_call_delta(&mut self, piece: CallPiece<'_>) -> Vec<ModelDelta> {
        let id = piece.id.filter(|s| !s.is_empty());
        let server_index = piece.server_index;
        let name = piece.name.filter(|s| !s.is_empty());
        let fragment = piece.fragment;
        // Which call this piece belongs to: the id is the strongest sign, then the
        // index, then the latest call.
        let found = match id {
            Some(id) => self.ids.get(id).copied(),
            None => match server_index {
                Some(i) => self.calls.iter().rposition(|c| c.server_index == Some(i)),
                None => self.calls.len().checked_sub(1),
            },
        };
        let at = match found {
            Some(at) => at,
            None => {
                let n = self.calls.len();
                let id = id.map_or_else(|| format!("call_{n}"), str::to_string);
                self.ids.entry(id.clone()).or_insert(n);
                self.calls.push(OpenCall {
                    server_index,
                    id,
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

    /// The deltas of a chunk read without a JSON tree (the same as the `Value` path).
    fn typed_chunk(&mut self, chunk: Chunk<'_>) -> Vec<ModelDelta> {
        let mut out = Vec::new();
        if let Some(u) = chunk.usage.as_ref().filter(|u| u.is_object()) {
            out.push(ModelDelta::Usage(usage(u)));
        }
        let choices = chunk.choices.unwrap_or_default();
        let Some(choice) = choices.iter().find(|c| c.index.unwrap_or(0) == 0) else {
            return out;
        };
        if let Some(delta) = &choice.delta {
            if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                out.push(ModelDelta::Text(text.to_string()));
            }
            for call in delta.tool_calls.iter().flatten() {
                out.extend(self.tool_call_delta(CallPiece::of_typed(call)));
            }
        }
        if let Some(reason) = choice.finish_reason.as_deref() {
            self.finish = Some(stop_reason(reason));
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
        if let Ok(chunk) = serde_json::from_str::<Chunk>(data) {
            if chunk.error.is_none() {
                return Ok(self.typed_chunk(chunk));
            }
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
                out.extend(self.tool_call_delta(CallPiece::of_value(call)));
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
            // Some servers cannot stream tool calls (llama-cpp-python's
            // chatml-function-calling with automatic tool choice).
            Err(Fault::Unstreamable(
                "the OpenAI-compatible server ended the stream without sending anything".into(),
            ))
        } else {
            Err(Fault::retryable(
                "the OpenAI-compatible stream was cut before a finish reason",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{collect, ModelError, ModelResponse, Usage};
    use futures::stream;
    use serde_json::json;

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

    #[test]
    fn chunks_of_unexpected_shape_decode_as_the_usual_ones_do() {
        // The usual chunks are read without a JSON tree; the same chunks with fields of
        // odd types (a string index, a numeric finish reason beside the real one, an
        // array for `content`) fall back to reading a tree, with the same deltas.
        let usual = [
            r#"{"choices":[{"index":0,"delta":{"content":"Sur\u00e9 "}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"n\":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        ];
        let odd = [
            r#"{"choices":[{"index":"0","delta":{"content":"Sur\u00e9 "}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":[],"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"n\":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls","logprobs":7}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        ];
        let typed = decode(&usual);
        assert!(matches!(&typed[0], ModelDelta::Text(t) if t == "Suré "));
        assert_eq!(typed, decode(&odd));
        assert!(typed.contains(&ModelDelta::Stop(StopReason::ToolUse)));
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
        // Nothing at all: the server may answer whole instead.
        assert!(matches!(
            StreamDecoder::default().end(),
            Err(Fault::Unstreamable(_))
        ));
    }
}
