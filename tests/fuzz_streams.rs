//! Fuzzing the network providers' stream parsers: server-sent event bytes go through
//! the same pipeline the providers use (`eventsource-stream` over a byte stream, then
//! each protocol's `StreamDecoder`, then `collect`), split into arbitrary chunks.
//!
//! Properties: a valid stream split anywhere decodes to the same response, whose
//! content is the one the server encoded; cut, spliced, garbage-laden and arbitrary
//! streams never panic and never hang (every decode finishes within a timeout, with
//! an answer or an error). A short run is part of `cargo test`; raise
//! `PROPTEST_CASES` for a longer one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use proptest::prelude::*;
use serde_json::{json, Value};

use lucid_core::model::http::{Decoder, Fault};
use lucid_core::model::{anthropic, collect, openai, ContentBlock, ModelDelta, ModelError};
use lucid_core::model::{ModelResponse, StopReason, Usage};
use lucid_testkit::fake::wire;

#[derive(Debug, Clone, Copy)]
enum Protocol {
    Anthropic,
    OpenAi,
}

fn decoder(protocol: Protocol) -> Box<dyn Decoder> {
    match protocol {
        Protocol::Anthropic => Box::<anthropic::StreamDecoder>::default(),
        Protocol::OpenAi => Box::<openai::StreamDecoder>::default(),
    }
}

fn fault_error(fault: Fault) -> ModelError {
    match fault {
        Fault::Fatal(err) => err,
        Fault::Retryable { reason, .. } | Fault::Unstreamable(reason) => {
            ModelError::Malformed(format!("retryable: {reason}"))
        }
    }
}

/// Decodes `chunks` the way the providers' streaming loop does (see `model::http`):
/// events until the decoder is done, then `end()` when the bytes run out.
async fn decode_async(
    protocol: Protocol,
    chunks: Vec<Vec<u8>>,
) -> Result<ModelResponse, ModelError> {
    let bytes = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let mut events = bytes.eventsource();
    let mut decoder = decoder(protocol);
    let mut deltas: Vec<Result<ModelDelta, ModelError>> = Vec::new();
    loop {
        match events.next().await {
            None => {
                match decoder.end() {
                    Ok(closing) => deltas.extend(closing.into_iter().map(Ok)),
                    Err(fault) => deltas.push(Err(fault_error(fault))),
                }
                break;
            }
            Some(Err(err)) => {
                deltas.push(Err(ModelError::Malformed(err.to_string())));
                break;
            }
            Some(Ok(event)) => match decoder.event(&event.event, &event.data) {
                Ok(some) => deltas.extend(some.into_iter().map(Ok)),
                Err(fault) => {
                    deltas.push(Err(fault_error(fault)));
                    break;
                }
            },
        }
        if decoder.done() {
            break;
        }
    }
    collect(futures::stream::iter(deltas)).await
}

/// Decodes on a fresh runtime, failing the test if decoding takes longer than 5 s.
fn decode(protocol: Protocol, chunks: Vec<Vec<u8>>) -> Result<ModelResponse, ModelError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), decode_async(protocol, chunks))
            .await
            .expect("decoding hung")
    })
}

/// The whole encoded stream for `response`, text and arguments cut in `n`-char pieces.
fn encode(protocol: Protocol, response: &ModelResponse, n: usize) -> Vec<u8> {
    let events = match protocol {
        Protocol::Anthropic => wire::anthropic_events(response, n),
        Protocol::OpenAi => wire::openai_chunks(response, n),
    };
    events.concat().into_bytes()
}

/// Splits `bytes` at the given cut points (sorted, deduplicated, clamped).
fn split_at(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts {
        out.push(bytes[from..cut].to_vec());
        from = cut;
    }
    out.push(bytes[from..].to_vec());
    out
}

fn sample() -> ModelResponse {
    ModelResponse {
        content: vec![
            ContentBlock::Text {
                text: "Checking the ledger — «ünïcode» and \"quotes\"\nnext line".into(),
            },
            ContentBlock::ToolUse {
                id: "call_a".into(),
                name: "read_file".into(),
                input: json!({"path": "notes/ledger.md", "lines": [1, 2, 3]}),
            },
            ContentBlock::ToolUse {
                id: "call_b".into(),
                name: "grep".into(),
                input: json!({"pattern": "a\\b{2}", "nested": {"deep": [true, null]}}),
            },
        ],
        stop: StopReason::ToolUse,
        usage: Usage {
            input_tokens: 120,
            output_tokens: 45,
        },
    }
}

/// Only the content matters for the round trip: each protocol reports usage its own way.
fn same_content(decoded: &ModelResponse, sent: &ModelResponse) {
    assert_eq!(decoded.content, sent.content);
    assert_eq!(decoded.stop, sent.stop);
}

#[test]
fn a_valid_stream_split_at_every_byte_boundary_decodes_the_same() {
    let response = sample();
    for protocol in [Protocol::Anthropic, Protocol::OpenAi] {
        let bytes = encode(protocol, &response, 3);
        let whole = decode(protocol, vec![bytes.clone()]).expect("the whole stream decodes");
        same_content(&whole, &response);
        for at in 0..=bytes.len() {
            let split = decode(protocol, split_at(&bytes, &[at]))
                .unwrap_or_else(|err| panic!("{protocol:?} split at {at}: {err}"));
            assert_eq!(split, whole, "{protocol:?} split at byte {at}");
        }
        // and one byte per chunk
        let singles = bytes.iter().map(|b| vec![*b]).collect();
        assert_eq!(decode(protocol, singles).expect("byte by byte"), whole);
    }
}

#[test]
fn a_stream_cut_at_every_byte_never_panics_and_a_cut_before_the_end_is_an_error() {
    let response = sample();
    for protocol in [Protocol::Anthropic, Protocol::OpenAi] {
        let bytes = encode(protocol, &response, 4);
        let whole = decode(protocol, vec![bytes.clone()]).expect("the whole stream decodes");
        // Anything cut before the stop reason went out cannot be a whole answer.
        let stop_marker: &[u8] = match protocol {
            Protocol::Anthropic => b"\"stop_reason\"",
            Protocol::OpenAi => b"\"finish_reason\":\"tool_calls\"",
        };
        let stop_at = bytes
            .windows(stop_marker.len())
            .position(|w| w == stop_marker)
            .expect("the stream carries a stop reason");
        for at in 0..bytes.len() {
            let cut = decode(protocol, vec![bytes[..at].to_vec()]);
            if at <= stop_at {
                assert!(cut.is_err(), "{protocol:?} cut at {at} decoded: {cut:?}");
            } else if let Ok(answer) = cut {
                // a stream cut after its stop may be accepted, but only whole
                same_content(&answer, &whole);
            }
        }
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 .,:;!?\\n\\t\"'{}\\[\\]\\\\-]{0,40}",
        any::<String>().prop_map(|s| s.chars().take(30).collect()),
    ]
}

fn json_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        text_strategy().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    })
}

fn response_strategy() -> impl Strategy<Value = ModelResponse> {
    let text = text_strategy()
        .prop_filter("non-empty", |t| !t.is_empty())
        .prop_map(|text| ContentBlock::Text { text });
    let tools = prop::collection::vec(
        (
            "[a-z_]{1,12}",
            json_strategy().prop_filter("object", Value::is_object),
        ),
        0..3,
    );
    (prop::option::of(text), tools, 0u64..10_000, 0u64..10_000).prop_map(
        |(text, tools, input_tokens, output_tokens)| {
            let stop = if tools.is_empty() {
                StopReason::EndTurn
            } else {
                StopReason::ToolUse
            };
            let mut content: Vec<ContentBlock> = text.into_iter().collect();
            content.extend(tools.into_iter().enumerate().map(|(i, (name, input))| {
                ContentBlock::ToolUse {
                    id: format!("call_{i}"),
                    name,
                    input,
                }
            }));
            ModelResponse {
                content,
                stop,
                usage: Usage {
                    input_tokens,
                    output_tokens,
                },
            }
        },
    )
}

fn protocol_strategy() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Anthropic), Just(Protocol::OpenAi)]
}

/// Lines a confused proxy or server might slip between events.
fn garbage_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(": comment".to_string()),
        Just("data: {not json".to_string()),
        Just("data: [DONE]".to_string()),
        Just("event: error".to_string()),
        Just("data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}".to_string()),
        Just("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":7}]}}]}".to_string()),
        Just("retry: 10".to_string()),
        Just("id: 5".to_string()),
        Just(String::new()),
        "[ -~]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_valid_stream_split_anywhere_round_trips(
        protocol in protocol_strategy(),
        response in response_strategy(),
        piece in 1usize..8,
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let bytes = encode(protocol, &response, piece);
        let whole = decode(protocol, vec![bytes.clone()]);
        prop_assert!(whole.is_ok(), "{:?}: {:?}", protocol, whole);
        let whole = whole.unwrap();
        prop_assert_eq!(&whole.content, &response.content);
        prop_assert_eq!(whole.stop, response.stop);
        let split = decode(protocol, split_at(&bytes, &cuts));
        prop_assert_eq!(split.ok(), Some(whole));
    }

    #[test]
    fn cut_and_spliced_streams_never_panic_or_hang(
        first in (protocol_strategy(), response_strategy()),
        second in (protocol_strategy(), response_strategy()),
        cut in any::<usize>(),
        resume in any::<usize>(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        decode_as in protocol_strategy(),
    ) {
        let a = encode(first.0, &first.1, 3);
        let b = encode(second.0, &second.1, 5);
        let mut spliced = a[..cut % (a.len() + 1)].to_vec();
        spliced.extend_from_slice(&b[resume % (b.len() + 1)..]);
        let _ = decode(decode_as, split_at(&spliced, &cuts));
    }

    #[test]
    fn garbage_lines_between_events_never_panic_or_hang(
        protocol in protocol_strategy(),
        response in response_strategy(),
        inserts in prop::collection::vec((any::<usize>(), garbage_line()), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        crlf in any::<bool>(),
    ) {
        let text = String::from_utf8(encode(protocol, &response, 4)).expect("encoded as UTF-8");
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        for (at, line) in inserts {
            let at = at % (lines.len() + 1);
            lines.insert(at, line);
        }
        let joined = lines.join(if crlf { "\r\n" } else { "\n" });
        let _ = decode(protocol, split_at(joined.as_bytes(), &cuts));
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_hang(
        protocol in protocol_strategy(),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = decode(protocol, split_at(&bytes, &cuts));
    }

    #[test]
    fn arbitrary_sse_shaped_text_never_panics_or_hangs(
        protocol in protocol_strategy(),
        lines in prop::collection::vec(
            prop_oneof![
                garbage_line(),
                json_strategy().prop_map(|v| format!("data: {v}")),
                "(message_start|content_block_start|content_block_delta|message_delta|message_stop|ping)"
                    .prop_map(|e| format!("event: {e}")),
            ],
            0..24,
        ),
    ) {
        let text = lines.join("\n");
        let _ = decode(protocol, vec![text.into_bytes()]);
    }

    #[test]
    fn whole_answers_never_panic(body in any::<String>(), value in json_strategy()) {
        let _ = anthropic::whole_answer(&body);
        let _ = openai::whole_answer(&body);
        let _ = anthropic::whole_answer(&value.to_string());
        let _ = openai::whole_answer(&value.to_string());
    }
}
