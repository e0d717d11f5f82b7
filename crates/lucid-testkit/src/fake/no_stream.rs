//! A fake OpenAI-compatible server that cannot stream tool calls, like llama-cpp-python's
//! `chatml-function-calling` with automatic tool choice: asked to stream an answer to a
//! request that offers tools, it answers `200` and ends the stream without sending a byte;
//! asked for the whole answer (or to stream one without tools), it gives it.

use std::sync::Arc;

use lucid_core::model::{ModelRequest, ModelResponse};

use super::wire::{openai_chunks, openai_request};
use super::{Recorded, Reply, Responder};
use crate::wire::{encode_whole, wants_stream};

/// Answers a decoded request.
pub type Answer = Arc<dyn Fn(&ModelRequest) -> ModelResponse + Send + Sync>;

/// A responder that answers with `answer`, except that a streamed request offering tools
/// gets an empty stream.
pub fn cannot_stream_tools(answer: Answer) -> Responder {
    Arc::new(move |recorded: &Recorded, _| {
        let offers_tools = recorded
            .body
            .get("tools")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|tools| !tools.is_empty());
        let streamed = wants_stream(&recorded.body);
        if streamed && offers_tools {
            return Reply::Stream {
                pieces: Vec::new(),
                cut_after: None,
            };
        }
        let response = answer(&openai_request(&recorded.body));
        if streamed {
            Reply::Stream {
                pieces: openai_chunks(&response, 8),
                cut_after: None,
            }
        } else {
            Reply::status(200, &encode_whole(&response, "fake").to_string())
        }
    })
}

/// Whether a recorded request asked for a streamed answer.
pub fn was_streamed(recorded: &Recorded) -> bool {
    wants_stream(&recorded.body)
}
