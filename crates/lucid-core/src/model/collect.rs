//! Folds a stream of deltas into a whole response.

use futures::{Stream, StreamExt};

use super::{ContentBlock, ModelDelta, ModelError, ModelResponse, RetryNotice, Usage};

enum Partial {
    Text(String),
    Tool {
        index: usize,
        id: String,
        name: String,
        args: String,
    },
}

/// Collects a streamed answer. Text deltas in a row join into one block; tool-call
/// fragments are assembled by index and parsed as JSON once the stream ends (empty
/// arguments mean `{}`). A stream that ends without a stop reason is malformed. The
/// process's secrets are redacted from the whole answer (text, tool names and
/// arguments): a model that echoes a key cannot hand it to a tool, a record or a screen.
/// Retry notices reset what was collected so far and are ignored otherwise; use
/// [`collect_observed`] to see them.
pub async fn collect<S>(stream: S) -> Result<ModelResponse, ModelError>
where
    S: Stream<Item = Result<ModelDelta, ModelError>>,
{
    collect_observed(stream, |_| {}).await
}

/// [`collect`], calling `on_retry` for every retry notice as it arrives, so a caller can
/// show the retry while the provider waits. Everything collected before a notice is
/// dropped: the provider starts the turn over.
pub async fn collect_observed<S, F>(stream: S, mut on_retry: F) -> Result<ModelResponse, ModelError>
where
    S: Stream<Item = Result<ModelDelta, ModelError>>,
    F: FnMut(&RetryNotice),
{
    collect_watched(stream, |delta| {
        if let ModelDelta::Retry(notice) = delta {
            on_retry(notice);
        }
    })
    .await
}

/// [`collect`], showing `watch` every delta as it arrives, before it is folded in, so a
/// caller can show an answer's text while it streams (the pieces are raw: redact and
/// sanitize before anyone sees them) and each retry while the provider waits (after a
/// retry notice the pieces of the void attempt are dropped).
pub async fn collect_watched<S, F>(stream: S, mut watch: F) -> Result<ModelResponse, ModelError>
where
    S: Stream<Item = Result<ModelDelta, ModelError>>,
    F: FnMut(&ModelDelta),
{
    let mut stream = std::pin::pin!(stream);
    let mut parts: Vec<Partial> = Vec::new();
    let mut usage = Usage::default();
    let mut stop = None;
    while let Some(delta) = stream.next().await {
        let delta = delta?;
        watch(&delta);
        match delta {
            ModelDelta::Text(text) => match parts.last_mut() {
                Some(Partial::Text(open)) => open.push_str(&text),
                _ => parts.push(Partial::Text(text)),
            },
            ModelDelta::ToolCallStart { index, id, name } => parts.push(Partial::Tool {
                index,
                id,
                name,
                args: String::new(),
            }),
            ModelDelta::ToolCallArgs { index, fragment } => {
                let open = parts.iter_mut().rev().find_map(|part| match part {
                    Partial::Tool { index: i, args, .. } if *i == index => Some(args),
                    _ => None,
                });
                match open {
                    Some(args) => args.push_str(&fragment),
                    None => {
                        return Err(ModelError::Malformed(format!(
                            "arguments for tool call {index} arrived before the call started"
                        )))
                    }
                }
            }
            ModelDelta::Usage(u) => {
                usage.input_tokens = usage.input_tokens.max(u.input_tokens);
                usage.output_tokens = usage.output_tokens.max(u.output_tokens);
            }
            ModelDelta::Stop(reason) => stop = Some(reason),
            ModelDelta::Retry(_) => {
                parts.clear();
                usage = Usage::default();
                stop = None;
            }
        }
    }
    let stop = stop.ok_or_else(|| ModelError::Malformed("the stream ended early".into()))?;
    let content: Vec<ContentBlock> = parts
        .into_iter()
        .map(|part| match part {
            Partial::Text(text) => ContentBlock::Text { text },
            Partial::Tool { id, name, args, .. } => {
                // Unparseable arguments are passed on as a string; the agent loop answers
                // them with a tool error the model can correct.
                let input = if args.trim().is_empty() {
                    serde_json::Value::Object(Default::default())
                } else {
                    serde_json::from_str(&args).unwrap_or(serde_json::Value::String(args))
                };
                ContentBlock::ToolUse { id, name, input }
            }
        })
        .map(redacted)
        .collect();
    Ok(ModelResponse {
        content,
        stop,
        usage,
    })
}

/// A block with the process's secrets redacted.
fn redacted(mut block: ContentBlock) -> ContentBlock {
    use crate::event::{redact_in_place, redact_json};
    match &mut block {
        ContentBlock::Text { text } => redact_in_place(text),
        ContentBlock::ToolUse { name, input, .. } => {
            redact_in_place(name);
            redact_json(input);
        }
        ContentBlock::ToolResult { content, .. } => redact_in_place(content),
    }
    block
}

/// Splits a whole response into the deltas a streaming provider would send, with text
/// and tool arguments cut into small pieces. Used by the scripted provider so offline
/// runs exercise the same collecting code as real ones.
pub fn to_deltas(response: &ModelResponse, piece: usize) -> Vec<ModelDelta> {
    let piece = piece.max(1);
    let mut deltas = Vec::new();
    let mut tool_index = 0;
    for block in &response.content {
        match block {
            ContentBlock::Text { text } => {
                deltas.extend(text_pieces(text, piece).map(|p| ModelDelta::Text(p.to_string())));
            }
            ContentBlock::ToolUse { id, name, input } => {
                deltas.push(ModelDelta::ToolCallStart {
                    index: tool_index,
                    id: id.clone(),
                    name: name.clone(),
                });
                let args = input.to_string();
                deltas.extend(
                    text_pieces(&args, piece).map(|fragment| ModelDelta::ToolCallArgs {
                        index: tool_index,
                        fragment: fragment.to_string(),
                    }),
                );
                tool_index += 1;
            }
            ContentBlock::ToolResult { .. } => {}
        }
    }
    deltas.push(ModelDelta::Usage(response.usage));
    deltas.push(ModelDelta::Stop(response.stop));
    deltas
}

/// `text` in pieces of `n` characters (the last may be shorter; a piece is one character
/// at least): how a streamed answer's text and arguments are cut, here and by the
/// loopback servers.
pub fn text_pieces(text: &str, n: usize) -> impl Iterator<Item = &str> {
    let n = n.max(1);
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.char_indices().nth(n).map_or(rest.len(), |(at, _)| at);
        let (head, tail) = rest.split_at(end);
        rest = tail;
        Some(head)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StopReason;
    use futures::stream;
    use serde_json::json;

    #[test]
    fn text_is_cut_in_pieces_of_whole_characters() {
        fn pieces(text: &str, n: usize) -> Vec<&str> {
            text_pieces(text, n).collect()
        }
        assert_eq!(pieces("abcdefg", 3), ["abc", "def", "g"]);
        assert_eq!(pieces("abcdef", 3), ["abc", "def"]);
        assert_eq!(pieces("é🚀ü✓x", 2), ["é🚀", "ü✓", "x"]);
        assert!(pieces("", 4).is_empty());
        assert_eq!(
            pieces("ab", 0),
            ["a", "b"],
            "a piece is one character at least"
        );
    }

    fn sample() -> ModelResponse {
        ModelResponse {
            content: vec![
                ContentBlock::Text {
                    text: "Surveying both halves.".into(),
                },
                ContentBlock::ToolUse {
                    id: "call_1".into(),
                    name: "delegate".into(),
                    input: json!({"specialist": "detector", "subtask": "Survey sites A, B and C"}),
                },
                ContentBlock::ToolUse {
                    id: "call_2".into(),
                    name: "delegate".into(),
                    input: json!({"specialist": "detector", "subtask": "Survey sites D, E and F"}),
                },
            ],
            stop: StopReason::ToolUse,
            usage: Usage {
                input_tokens: 120,
                output_tokens: 40,
            },
        }
    }

    #[tokio::test]
    async fn deltas_collect_back_into_the_same_response() {
        let response = sample();
        for piece in [1, 3, 1000] {
            let deltas = to_deltas(&response, piece).into_iter().map(Ok);
            let collected = collect(stream::iter(deltas)).await.unwrap();
            assert_eq!(collected, response, "piece size {piece}");
        }
    }

    #[tokio::test]
    async fn a_retry_voids_the_partial_answer_and_is_reported() {
        let mut deltas = vec![
            ModelDelta::Text("half an ans".into()),
            ModelDelta::ToolCallStart {
                index: 0,
                id: "lost".into(),
                name: "delegate".into(),
            },
            ModelDelta::Retry(RetryNotice {
                attempt: 1,
                reason: "the stream was cut".into(),
                delay_ms: 500,
            }),
        ];
        deltas.extend(to_deltas(&sample(), 5));
        let mut seen = Vec::new();
        let collected = collect_observed(stream::iter(deltas.into_iter().map(Ok)), |n| {
            seen.push(n.clone())
        })
        .await
        .unwrap();
        assert_eq!(collected, sample());
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].attempt, 1);
    }

    #[tokio::test]
    async fn a_watcher_sees_every_delta_in_order_as_it_is_folded() {
        let deltas = to_deltas(&sample(), 4);
        let mut seen = Vec::new();
        let collected = collect_watched(stream::iter(deltas.clone().into_iter().map(Ok)), |d| {
            seen.push(d.clone())
        })
        .await
        .unwrap();
        assert_eq!(collected, sample());
        assert_eq!(seen, deltas);
    }

    #[tokio::test]
    async fn a_stream_without_a_stop_is_malformed() {
        let deltas = vec![Ok(ModelDelta::Text("half".into()))];
        let err = collect(stream::iter(deltas)).await.unwrap_err();
        assert!(matches!(err, ModelError::Malformed(_)));
    }

    #[tokio::test]
    async fn broken_tool_arguments_are_kept_as_text() {
        let deltas = vec![
            Ok(ModelDelta::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "survey_site".into(),
            }),
            Ok(ModelDelta::ToolCallArgs {
                index: 0,
                fragment: "{\"site\": ".into(),
            }),
            Ok(ModelDelta::Stop(StopReason::ToolUse)),
        ];
        let response = collect(stream::iter(deltas)).await.unwrap();
        let (_, _, input) = response.tool_uses().next().unwrap();
        assert_eq!(input, &json!("{\"site\": "));
    }
}
