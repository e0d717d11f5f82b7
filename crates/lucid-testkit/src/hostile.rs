//! A hostile model server: a loopback HTTP/1.1 server that speaks both the Anthropic
//! Messages and the OpenAI Chat Completions protocol (streamed or whole, as the request
//! asks) and misbehaves on purpose, one [`Mode`] per attack, so tests and
//! `lucid bench hostile` can check that nothing from outside reaches a terminal, that a
//! model turn is bounded in time, bytes and tool calls, and that no key leaks.
//!
//! The modes:
//! - [`Mode::EscapesInError`]: the first request gets a 529 (retried) and every later one
//!   a 400, both with OSC 52 (clipboard write), `ESC[2J` and OSC 0 (title) in the message.
//! - [`Mode::EscapesInText`]: answers whose text, tool name and tool arguments carry the
//!   same escapes; once the request carries tool results, a last answer ends the turn.
//! - [`Mode::Endless`]: a stream that sends `.` every half second, for ever.
//! - [`Mode::PingOnly`]: a stream of keep-alives only (Anthropic `ping` events, OpenAI
//!   comment lines), for ever.
//! - [`Mode::Huge`]: a 100 MB answer, made as it is sent (the server holds none of it).
//! - [`Mode::ManyCalls`]: 5,000 `delegate` calls in one turn, to the first specialist the
//!   request's `delegate` tool names; a request without that tool (a specialist's) gets a
//!   short answer.
//! - [`Mode::KeyEcho`]: a 200 answer echoing the API key from the request's headers in
//!   its text and tool arguments: whole, upper-cased and cut to its first 12 characters.
//! - [`Mode::KeyEchoRefused`]: a 401 whose message holds the key upper-cased, then the
//!   key itself placed so that a 300-character excerpt cuts it.
//!
//! The escapes and the hostile behaviours are the server's business; what lucid must do
//! about them is the tests'.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use lucid_core::model::{ContentBlock, ModelResponse, StopReason, Usage};

use crate::fake::wire::{anthropic_events, openai_chunks};
use crate::loopback::{self, Body, Cut, Loopback};

/// OSC 52 (write the clipboard), ESC[2J (clear the screen), OSC 0 (set the title), BEL.
pub const ESCAPES: &str = "\u{1b}]52;c;aGFja2Vk\u{7}\u{1b}[2J\u{1b}]0;pwned\u{7}";

/// How many characters of an error body lucid quotes (its excerpt); the refused key echo
/// places the key across this boundary.
pub const EXCERPT_CHARS: usize = 300;

/// How many leading characters of the key the echoes cut it to.
pub const CUT_CHARS: usize = 12;

/// Which protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Anthropic,
    OpenAi,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Anthropic, Protocol::OpenAi];

    /// The profile's `provider`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Anthropic => "anthropic",
            Protocol::OpenAi => "openai",
        }
    }
}

/// One attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    EscapesInError,
    EscapesInText,
    Endless,
    PingOnly,
    Huge,
    ManyCalls,
    KeyEcho,
    KeyEchoRefused,
}

impl Mode {
    pub const ALL: [Mode; 8] = [
        Mode::EscapesInError,
        Mode::EscapesInText,
        Mode::Endless,
        Mode::PingOnly,
        Mode::Huge,
        Mode::ManyCalls,
        Mode::KeyEcho,
        Mode::KeyEchoRefused,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::EscapesInError => "escapes-in-error",
            Mode::EscapesInText => "escapes-in-text",
            Mode::Endless => "endless",
            Mode::PingOnly => "ping-only",
            Mode::Huge => "huge",
            Mode::ManyCalls => "many-calls",
            Mode::KeyEcho => "key-echo",
            Mode::KeyEchoRefused => "key-echo-401",
        }
    }
}

/// What the server does, with the sizes of its attacks.
#[derive(Debug, Clone, Copy)]
pub struct Hostile {
    pub mode: Mode,
    pub protocol: Protocol,
    /// How big a [`Mode::Huge`] answer is.
    pub huge_bytes: usize,
    /// How many calls a [`Mode::ManyCalls`] turn makes.
    pub calls: usize,
    /// How often an endless or ping-only stream sends its next piece.
    pub every: Duration,
}

impl Hostile {
    /// The attack at the issue's sizes: 100 MB, 5,000 calls, a piece every 0.5 s.
    pub fn new(mode: Mode, protocol: Protocol) -> Hostile {
        Hostile {
            mode,
            protocol,
            huge_bytes: 100 << 20,
            calls: 5_000,
            every: Duration::from_millis(500),
        }
    }
}

/// A running hostile server; it stops when dropped.
pub struct HostileServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    protocol: Protocol,
    requests: Arc<AtomicUsize>,
    /// `None` when the server runs on a thread of its own, until the process ends.
    loopback: Option<Loopback>,
}

impl HostileServer {
    /// Starts on a free loopback port, on the current tokio runtime.
    pub async fn start(hostile: Hostile) -> std::io::Result<HostileServer> {
        let requests = Arc::new(AtomicUsize::new(0));
        let counting = Arc::clone(&requests);
        let loopback = Loopback::start(false, move |request| {
            let number = counting.fetch_add(1, Ordering::SeqCst);
            answer(hostile, request, number)
        })
        .await?;
        Ok(HostileServer {
            url: format!("http://{}", loopback.addr()),
            protocol: hostile.protocol,
            requests,
            loopback: Some(loopback),
        })
    }

    /// Starts on a thread of its own (for tests that run the `lucid` binary); it serves
    /// until the process ends.
    ///
    /// # Panics
    ///
    /// When the thread's runtime cannot be built or no loopback port can be bound.
    pub fn start_blocking(hostile: Hostile) -> HostileServer {
        crate::loopback::serve_on_own_thread("hostile server", move || async move {
            let mut server = match HostileServer::start(hostile).await {
                Ok(server) => server,
                Err(err) => panic!("the hostile server cannot bind a loopback port: {err}"),
            };
            let serving = server.loopback.take();
            (server, serving)
        })
    }

    /// The profile's `base_url`: the server itself for Anthropic, `/v1` under it for an
    /// OpenAI-compatible client.
    pub fn base_url(&self) -> String {
        match self.protocol {
            Protocol::Anthropic => self.url.clone(),
            Protocol::OpenAi => format!("{}/v1", self.url),
        }
    }

    /// A session file whose every agent is on this server (profile `hostile`, key in
    /// `key_var`, with `profile_keys` added): a lead that may delegate to a worker in
    /// `lead_turns` turns, in a Lumara world, graded by a check (no grader model), with
    /// `limits` as its `[limits]` table's keys.
    pub fn session_toml(
        &self,
        key_var: &str,
        profile_keys: &str,
        lead_turns: u32,
        limits: &str,
    ) -> String {
        format!(
            r#"name = "hostile"
task = "Land somewhere."

[environment]
kind = "lumara"

[models.hostile]
provider = "{provider}"
model = "hostile-model"
base_url = "{url}"
api_key_env = "{key_var}"
{profile_keys}

[agents.lead]
lead = true
model = "hostile"
delegates = ["worker"]
max_turns = {lead_turns}

[agents.worker]
model = "hostile"
tools = ["survey_site"]
max_turns = 2

[outcome]
max_iterations = 1

[[outcome.criteria]]
id = "landed"
description = "The lander is down."
check = "landed"

[limits]
{limits}
"#,
            provider = self.protocol.name(),
            url = self.base_url(),
        )
    }

    /// How many requests arrived so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// What one request asked for, as far as the attacks care.
struct Asked {
    streaming: bool,
    /// The key from `x-api-key` or `Authorization: Bearer`.
    key: String,
    /// Whether the conversation already holds tool results.
    answered: bool,
    /// The first specialist the request's `delegate` tool names.
    specialist: Option<String>,
}

fn asked(protocol: Protocol, headers: &hyper::HeaderMap, body: &Value) -> Asked {
    let header = |value: Option<&HeaderValue>| {
        value
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_start_matches("Bearer ").to_string())
    };
    let key = header(headers.get("x-api-key"))
        .or_else(|| header(headers.get(AUTHORIZATION)))
        .unwrap_or_default();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let answered = messages.iter().any(|m| match protocol {
        Protocol::OpenAi => m["role"] == "tool",
        Protocol::Anthropic => m["content"]
            .as_array()
            .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result")),
    });
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    let specialist = tools.iter().find_map(|tool| {
        let (name, schema) = match protocol {
            Protocol::Anthropic => (&tool["name"], &tool["input_schema"]),
            Protocol::OpenAi => (&tool["function"]["name"], &tool["function"]["parameters"]),
        };
        (name == "delegate")
            .then(|| schema.pointer("/properties/specialist/enum/0")?.as_str())
            .flatten()
            .map(str::to_string)
    });
    Asked {
        streaming: body["stream"].as_bool().unwrap_or(false),
        key,
        answered,
        specialist,
    }
}

async fn answer(
    hostile: Hostile,
    request: Request<Incoming>,
    number: usize,
) -> Result<Response<Body>, Cut> {
    let headers = request.headers().clone();
    let body = loopback::read_body(request).await?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let asked = asked(hostile.protocol, &headers, &body);
    let protocol = hostile.protocol;
    Ok(match hostile.mode {
        Mode::EscapesInError => {
            let message = format!("bad request {ESCAPES} from a hostile server");
            if number == 0 {
                let mut reply = error(protocol, 529, "overloaded_error", &message);
                reply.headers_mut().insert(
                    hyper::header::HeaderName::from_static("retry-after-ms"),
                    HeaderValue::from_static("1"),
                );
                reply
            } else {
                error(protocol, 400, "invalid_request_error", &message)
            }
        }
        Mode::KeyEchoRefused => {
            let mut message = format!("invalid key {}, ", asked.key.to_uppercase());
            let room = EXCERPT_CHARS.saturating_sub(CUT_CHARS);
            while message.chars().count() < room {
                message.push('.');
            }
            message.push_str(&asked.key);
            error(protocol, 401, "authentication_error", &message)
        }
        Mode::EscapesInText | Mode::KeyEcho => {
            let (text, input) = if hostile.mode == Mode::EscapesInText {
                (
                    format!("plain {ESCAPES} text"),
                    json!({"text": format!("args {ESCAPES}")}),
                )
            } else {
                let key = &asked.key;
                let cut: String = key.chars().take(CUT_CHARS).collect();
                let upper = key.to_uppercase();
                (
                    format!("your key is {key}; shouted {upper}; cut {cut}"),
                    json!({"text": key, "upper": upper, "cut": cut}),
                )
            };
            let response = if asked.answered {
                reply(vec![text_block(&text)], StopReason::EndTurn)
            } else {
                let name = if hostile.mode == Mode::EscapesInText {
                    format!("note{ESCAPES}")
                } else {
                    "note".to_string()
                };
                let call = ContentBlock::ToolUse {
                    id: "call_hostile_1".into(),
                    name,
                    input,
                };
                reply(vec![text_block(&text), call], StopReason::ToolUse)
            };
            complete(protocol, asked.streaming, &response)
        }
        Mode::ManyCalls => {
            let response = match &asked.specialist {
                Some(specialist) => {
                    let calls = (0..hostile.calls)
                        .map(|n| ContentBlock::ToolUse {
                            id: format!("call_{n}"),
                            name: "delegate".into(),
                            input: json!({"specialist": specialist, "subtask": format!("flood {n}"), "purpose": "flood"}),
                        })
                        .collect();
                    reply(calls, StopReason::ToolUse)
                }
                None => reply(vec![text_block("done")], StopReason::EndTurn),
            };
            complete(protocol, asked.streaming, &response)
        }
        Mode::Endless => {
            let (head, piece) = if asked.streaming {
                (stream_head(protocol), text_piece(protocol, "."))
            } else {
                (vec![whole_head(protocol)], Bytes::from_static(b"."))
            };
            ok(asked.streaming, timed(head, piece, hostile.every))
        }
        Mode::PingOnly => {
            let (head, piece) = match (asked.streaming, protocol) {
                (false, _) => (vec![], Bytes::from_static(b" ")),
                (true, Protocol::Anthropic) => (
                    stream_head(protocol),
                    Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n"),
                ),
                (true, Protocol::OpenAi) => (vec![], Bytes::from_static(b": keep-alive\n\n")),
            };
            ok(asked.streaming, timed(head, piece, hostile.every))
        }
        Mode::Huge => ok(
            asked.streaming,
            huge(protocol, asked.streaming, hostile.huge_bytes),
        ),
    })
}

fn text_block(text: &str) -> ContentBlock {
    ContentBlock::Text {
        text: text.to_string(),
    }
}

fn reply(content: Vec<ContentBlock>, stop: StopReason) -> ModelResponse {
    ModelResponse {
        content,
        stop,
        usage: Usage {
            input_tokens: 10,
            output_tokens: 10,
        },
    }
}

fn ok(streaming: bool, body: Body) -> Response<Body> {
    let content_type = if streaming {
        "text/event-stream"
    } else {
        "application/json"
    };
    loopback::response(StatusCode::OK, content_type, body)
}

fn error(protocol: Protocol, status: u16, kind: &str, message: &str) -> Response<Body> {
    let body = match protocol {
        Protocol::Anthropic => {
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        Protocol::OpenAi => json!({"error": {"message": message, "type": kind, "code": status}}),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    loopback::response(
        status,
        "application/json",
        loopback::whole(body.to_string()),
    )
}

/// A whole answer, streamed or as one JSON body.
fn complete(protocol: Protocol, streaming: bool, response: &ModelResponse) -> Response<Body> {
    if streaming {
        let pieces = match protocol {
            Protocol::Anthropic => anthropic_events(response, 4096),
            Protocol::OpenAi => openai_chunks(response, 4096),
        };
        let pieces = pieces.into_iter().map(Bytes::from).collect();
        return ok(true, loopback::pieces(pieces, false));
    }
    let body = match protocol {
        Protocol::Anthropic => anthropic_whole(response),
        Protocol::OpenAi => openai_whole(response),
    };
    ok(false, loopback::whole(body.to_string()))
}

fn anthropic_whole(response: &ModelResponse) -> Value {
    let content: Vec<Value> = response
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text { text } => json!({"type": "text", "text": text}),
            ContentBlock::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
            ContentBlock::ToolResult { .. } => Value::Null,
        })
        .collect();
    json!({
        "id": "msg_hostile", "type": "message", "role": "assistant", "content": content,
        "stop_reason": response.stop.as_str(),
        "usage": {"input_tokens": response.usage.input_tokens, "output_tokens": response.usage.output_tokens},
    })
}

fn openai_whole(response: &ModelResponse) -> Value {
    let calls: Vec<Value> = response
        .tool_uses()
        .map(|(id, name, input)| {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": input.to_string()}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": response.text()});
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    json!({
        "id": "chatcmpl-hostile", "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": response.usage.input_tokens, "completion_tokens": response.usage.output_tokens},
    })
}

/// The opening of a streamed text answer, before its first text piece.
fn stream_head(protocol: Protocol) -> Vec<Bytes> {
    match protocol {
        Protocol::Anthropic => vec![
            Bytes::from_static(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_hostile\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"),
            Bytes::from_static(b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"),
        ],
        Protocol::OpenAi => vec![Bytes::from_static(
            b"data: {\"id\":\"chatcmpl-hostile\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        )],
    }
}

/// The end of a streamed text answer.
fn stream_tail(protocol: Protocol) -> Vec<Bytes> {
    match protocol {
        Protocol::Anthropic => vec![
            Bytes::from_static(b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"),
            Bytes::from_static(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":10}}\n\n"),
            Bytes::from_static(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        ],
        Protocol::OpenAi => vec![
            Bytes::from_static(b"data: {\"id\":\"chatcmpl-hostile\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"),
            Bytes::from_static(b"data: [DONE]\n\n"),
        ],
    }
}

/// One streamed text piece.
fn text_piece(protocol: Protocol, text: &str) -> Bytes {
    let event = match protocol {
        Protocol::Anthropic => format!(
            "event: content_block_delta\ndata: {}\n\n",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})
        ),
        Protocol::OpenAi => format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-hostile", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        ),
    };
    Bytes::from(event)
}

/// The opening of a whole text answer, up to the text's first character.
fn whole_head(protocol: Protocol) -> Bytes {
    match protocol {
        Protocol::Anthropic => Bytes::from_static(
            b"{\"id\":\"msg_hostile\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"",
        ),
        Protocol::OpenAi => Bytes::from_static(
            b"{\"id\":\"chatcmpl-hostile\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"",
        ),
    }
}

/// The end of a whole text answer, after the text's last character.
fn whole_tail(protocol: Protocol) -> Bytes {
    match protocol {
        Protocol::Anthropic => Bytes::from_static(
            b"\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":10,\"output_tokens\":10}}",
        ),
        Protocol::OpenAi => Bytes::from_static(
            b"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":10}}",
        ),
    }
}

/// `head`, then `piece` every `every`, for ever (until the client goes away).
fn timed(head: Vec<Bytes>, piece: Bytes, every: Duration) -> Body {
    let head = futures::stream::iter(head.into_iter().map(Ok));
    let tail = futures::stream::unfold(piece, move |piece| async move {
        tokio::time::sleep(every).await;
        Some((Ok(piece.clone()), piece))
    });
    loopback::streamed(head.chain(tail))
}

/// A text answer of about `bytes` bytes, made piece by piece as the client reads.
fn huge(protocol: Protocol, streaming: bool, bytes: usize) -> Body {
    const PIECE: usize = 64 << 10;
    let text = "x".repeat(PIECE);
    let (head, piece, tail) = if streaming {
        (
            stream_head(protocol),
            text_piece(protocol, &text),
            stream_tail(protocol),
        )
    } else {
        (
            vec![whole_head(protocol)],
            Bytes::from(text),
            vec![whole_tail(protocol)],
        )
    };
    let count = bytes.div_ceil(PIECE);
    let body = futures::stream::iter(head)
        .chain(futures::stream::iter(std::iter::repeat_n(piece, count)))
        .chain(futures::stream::iter(tail))
        .map(Ok);
    loopback::streamed(body)
}
