//! The offline model: a deterministic policy answers each request.
//!
//! A [`Policy`] receives exactly what an LLM would (system prompt with rendered
//! playbooks, messages, tool schemas) and answers with the same response types. The
//! provider streams that answer in small pieces so everything downstream runs the real
//! collecting code. Policies live with their environments; this module only runs them.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};

use super::collect::to_deltas;
use super::{ContentBlock, ModelDelta, ModelError, ModelRequest, ModelResponse, Provider};
use super::{StopReason, Usage};

/// A deterministic stand-in for a language model in one role.
pub trait Policy: Send + Sync {
    /// Answers one request. Must depend on nothing but the request.
    fn respond(&self, request: &ModelRequest) -> ModelResponse;
}

/// Runs a [`Policy`] behind the [`Provider`] interface.
pub struct ScriptedProvider {
    role: String,
    policy: Arc<dyn Policy>,
    latency: Duration,
}

impl ScriptedProvider {
    pub fn new(role: impl Into<String>, policy: Arc<dyn Policy>) -> Self {
        ScriptedProvider {
            role: role.into(),
            policy,
            latency: Duration::ZERO,
        }
    }

    /// Takes this long over each answer, like a remote model would: the answer streams
    /// in small pieces spread evenly over the time.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

impl Provider for ScriptedProvider {
    fn label(&self) -> String {
        format!("scripted:{}", self.role)
    }

    fn stream(&self, request: ModelRequest) -> BoxStream<'static, Result<ModelDelta, ModelError>> {
        let mut response = self.policy.respond(&request);
        response.usage = estimate_usage(&request, &response);
        let latency = self.latency;
        if latency.is_zero() {
            return stream::iter(to_deltas(&response, 48).into_iter().map(Ok)).boxed();
        }
        // Each piece is due at its share of the latency from the request, so the whole
        // answer takes the latency however long the pauses between pieces run over.
        let deltas = to_deltas(&response, PACED_PIECE);
        let count = u32::try_from(deltas.len()).unwrap_or(u32::MAX).max(1);
        let start = tokio::time::Instant::now();
        stream::iter(deltas.into_iter().zip(1..))
            .then(move |(delta, n)| async move {
                tokio::time::sleep_until(start + latency * n.min(count) / count).await;
                Ok(delta)
            })
            .boxed()
    }
}

/// Characters of each piece of a paced answer: about the few tokens a remote model sends
/// at a time.
const PACED_PIECE: usize = 12;

/// Token counts as a real tokenizer would roughly give them: four characters a token.
pub fn estimate_usage(request: &ModelRequest, response: &ModelResponse) -> Usage {
    let mut chars_in = request.system.len();
    for message in request.messages.iter() {
        chars_in += message.content.iter().map(block_len).sum::<usize>();
    }
    for tool in request.tools.iter() {
        chars_in += tool.name.len() + tool.description.len() + json_len(&tool.input_schema);
    }
    let chars_out: usize = response.content.iter().map(block_len).sum();
    Usage {
        input_tokens: chars_in.div_ceil(4) as u64,
        output_tokens: chars_out.div_ceil(4) as u64,
    }
}

fn block_len(block: &ContentBlock) -> usize {
    match block {
        ContentBlock::Text { text } => text.len(),
        ContentBlock::ToolUse { name, input, .. } => name.len() + json_len(input),
        ContentBlock::ToolResult { content, .. } => content.len(),
    }
}

/// The length of `value` as compact JSON, counted as it is written out rather than
/// written to a string: a turn's estimate goes over the whole conversation.
fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Builds responses in policies without repeating the block plumbing.
#[derive(Default)]
pub struct ResponseBuilder {
    content: Vec<ContentBlock>,
    calls: usize,
    call_prefix: String,
}

impl ResponseBuilder {
    /// `call_prefix` keeps tool call ids unique within a conversation, e.g. `t3`.
    pub fn new(call_prefix: impl Into<String>) -> Self {
        ResponseBuilder {
            call_prefix: call_prefix.into(),
            ..Default::default()
        }
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.content.push(ContentBlock::Text { text: text.into() });
        self
    }

    pub fn tool(mut self, name: &str, input: serde_json::Value) -> Self {
        self.calls += 1;
        self.content.push(ContentBlock::ToolUse {
            id: format!("{}_{}", self.call_prefix, self.calls),
            name: name.to_string(),
            input,
        });
        self
    }

    pub fn build(self) -> ModelResponse {
        let stop = if self.calls > 0 {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        };
        ModelResponse {
            content: self.content,
            stop,
            usage: Usage::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{complete, Message, ToolChoice};

    #[test]
    fn json_is_counted_as_long_as_it_is_written() {
        let value = serde_json::json!({
            "task": "land at \"Mare\" — 3 tries\n",
            "n": [1, 2.5, -3, null, true],
            "nested": {"é": "🚀", "empty": {}},
        });
        assert_eq!(json_len(&value), value.to_string().len());
        assert_eq!(json_len(&serde_json::json!("")), 2);
    }

    struct Echo;

    impl Policy for Echo {
        fn respond(&self, request: &ModelRequest) -> ModelResponse {
            let last = request
                .messages
                .last()
                .map(Message::text)
                .unwrap_or_default();
            ResponseBuilder::new("t1")
                .text(format!("heard: {last}"))
                .build()
        }
    }

    fn request(text: &str) -> ModelRequest {
        ModelRequest {
            system: "You echo.".into(),
            messages: vec![Message::user_text(text)].into(),
            tools: vec![].into(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 100,
            temperature: None,
        }
    }

    #[tokio::test]
    async fn scripted_answers_stream_through_the_collector() {
        let provider = ScriptedProvider::new("echo", Arc::new(Echo));
        let long = "x".repeat(500);
        let response = complete(&provider, request(&long)).await.unwrap();
        assert_eq!(response.text(), format!("heard: {long}"));
        assert_eq!(response.stop, StopReason::EndTurn);
        assert!(response.usage.input_tokens > 100);
        assert!(response.usage.output_tokens > 100);
    }

    #[tokio::test]
    async fn a_paced_answer_streams_its_pieces_spread_over_the_latency() {
        use futures::FutureExt;
        let paced =
            ScriptedProvider::new("echo", Arc::new(Echo)).with_latency(Duration::from_millis(3000));
        let mut stream = paced.stream(request(&"y".repeat(40)));
        assert!(stream.next().now_or_never().is_none(), "nothing at once");
        let first = stream.next().await.unwrap().unwrap();
        assert!(matches!(&first, ModelDelta::Text(text) if text.len() == PACED_PIECE));
        // The next piece is a share of the latency (hundreds of ms) away, not at once.
        assert!(
            stream.next().now_or_never().is_none(),
            "one piece at a time"
        );
        let full = ScriptedProvider::new("echo", Arc::new(Echo));
        let mut stream = full.stream(request("y"));
        assert!(
            stream.next().now_or_never().is_some(),
            "no latency, no wait"
        );
    }
}
