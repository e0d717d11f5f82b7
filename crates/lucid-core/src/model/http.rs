//! The HTTP side shared by the network providers: one POST per attempt, server-sent
//! events decoded by a protocol [`Decoder`], faults classified and retried as a whole
//! turn, each retry announced with a [`ModelDelta::Retry`] before the wait.
//!
//! An attempt is bounded three ways: the gap between pieces (`timeout`), the whole
//! attempt from request to last byte (`turn_timeout`) and the answer's bytes
//! (`max_response_bytes`, counted by `bounded`); each failure is retryable, with a
//! message naming the profile key. A protocol module (`anthropic`, `openai`) builds the
//! request body and headers and decodes the answer; it never retries by itself. A server
//! that ends a streamed answer without sending anything (llama-cpp-python cannot stream
//! tool calls with automatic tool choice) is asked once more for the whole answer, at
//! once (the call's [`WholeFallback`]), which also tells the provider to ask for whole
//! answers from then on. This module never looks inside a protocol's JSON. The API key travels only in headers; it
//! is registered as a secret ([`crate::event::register_secret`]) and every failure
//! message leaves here cleaned ([`crate::event::clean`]: every form of the key redacted,
//! terminal control sequences removed), so whoever prints one prints safe text.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use reqwest::header::HeaderMap;

use super::bounded::{self, BodyError};
use super::collect::to_deltas;
use super::retry;
use super::sse::{SseError, SseParser};
use super::{ModelDelta, ModelError, ModelResponse, RetryNotice};

/// Longest excerpt of a server's error body quoted in a message.
const ERROR_EXCERPT_CHARS: usize = 300;

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Worth another try (after the server's requested wait, if any).
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help.
    Fatal(ModelError),
    /// The server ended a streamed answer without sending anything: it may answer the
    /// same request whole.
    Unstreamable(String),
}

impl Fault {
    pub fn retryable(reason: impl Into<String>) -> Self {
        Fault::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// Turns one protocol's server-sent events into deltas.
pub trait Decoder: Send + 'static {
    /// Handles one event (`name` is `message` when the server sent none).
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<ModelDelta>, Fault>;
    /// Whether the answer is complete (nothing more needs reading).
    fn done(&self) -> bool;
    /// Called when the byte stream ends: the closing deltas, or a fault when the
    /// answer was cut short.
    fn end(&mut self) -> Result<Vec<ModelDelta>, Fault>;
}

/// Where a provider posts its calls: `base_url` with `path` appended, parsed once when
/// the provider is made (parsing a URL, its host through IDNA, cost a sixth of a fleet
/// client's instructions when done per request). A base that is not a URL is kept as a
/// refusal for the first call to report.
pub fn endpoint(base_url: &str, path: &str) -> Result<reqwest::Url, ModelError> {
    let joined = format!("{}{path}", base_url.trim_end_matches('/'));
    reqwest::Url::parse(&joined).map_err(|err| {
        ModelError::Refused(crate::event::clean(&format!(
            "the model profile's base_url `{base_url}` does not make a URL ({err})"
        )))
    })
}

/// A call that fails at once with `err`, before any request is made.
pub fn failed(err: ModelError) -> BoxStream<'static, Result<ModelDelta, ModelError>> {
    Box::pin(futures::stream::once(async move { Err(err) }))
}

/// Everything one model call needs, for every attempt.
pub struct Call {
    pub client: reqwest::Client,
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Body,
    /// Longest wait for the response headers and then for each piece of the body.
    pub timeout: Duration,
    /// Longest one attempt may take, from the request to the answer's last byte.
    pub turn_timeout: Duration,
    /// Most bytes of an answer's body lucid reads.
    pub max_response_bytes: usize,
    pub max_retries: u32,
    pub streaming: bool,
    /// Redacted from everything recorded or shown (the API key).
    pub secret: Option<String>,
    /// Names the server in messages, e.g. `Anthropic`.
    pub server: &'static str,
    /// What to do when a streamed answer comes back empty; `None`: retry as any fault.
    pub fallback: Option<WholeFallback>,
}

/// How a streamed call falls back to a whole answer when the server cannot stream (the
/// same request, its body asking for the whole answer).
pub struct WholeFallback {
    /// Set when the call fell back, so the provider stops asking this server to stream.
    pub taken: Arc<AtomicBool>,
}

/// A call's JSON body, encoded: asking to stream the answer (`true`) or for it whole.
pub type Body = Box<dyn Fn(bool) -> String + Send + Sync>;

/// Runs a call with retries; yields the answer's deltas, a retry notice before each new
/// attempt, or one error. The attempts run as the stream is polled (on the reading
/// task, inside a tokio runtime); dropping the stream stops them.
pub fn run<D>(
    call: Call,
    decoder: fn() -> D,
    whole: fn(&str) -> Result<ModelResponse, Fault>,
) -> BoxStream<'static, Result<ModelDelta, ModelError>>
where
    D: Decoder,
{
    if let Some(secret) = &call.secret {
        crate::event::register_secret(secret);
    }
    let outbox = Arc::new(Outbox::default());
    let out = Arc::clone(&outbox);
    let mut call = call;
    let driver = async move {
        let mut retries = 0;
        // Notices sent, the fallback's included: each notice's number.
        let mut notices = 0;
        // Encoded once for every attempt (again only when falling back).
        let mut encoded = Bytes::from((call.body)(call.streaming));
        loop {
            let attempt = attempt(&call, &encoded, decoder(), whole, &out);
            let fault = match tokio::time::timeout(call.turn_timeout, attempt).await {
                Ok(Ok(())) => return,
                Ok(Err(fault)) => fault,
                Err(_) => Fault::retryable(format!(
                    "the {} server's answer did not end within turn_timeout_s ({} s)",
                    call.server,
                    call.turn_timeout.as_secs()
                )),
            };
            let (reason, server_asked) = match fault {
                Fault::Fatal(err) => {
                    out.push(Err(clean_error(err)));
                    return;
                }
                Fault::Unstreamable(reason) if call.streaming && call.fallback.is_some() => {
                    // Once, at once, and not counted against the retries: the same
                    // request, asking for the whole answer.
                    if let Some(fallback) = call.fallback.take() {
                        encoded = Bytes::from((call.body)(false));
                        call.streaming = false;
                        fallback.taken.store(true, Ordering::SeqCst);
                    }
                    notices += 1;
                    let notice = RetryNotice {
                        attempt: notices,
                        reason: format!(
                            "{}: asking for whole answers instead",
                            crate::event::clean(&reason)
                        ),
                        delay_ms: 0,
                    };
                    out.push(Ok(ModelDelta::Retry(notice)));
                    continue;
                }
                Fault::Unstreamable(reason) => (crate::event::clean(&reason), None),
                Fault::Retryable {
                    reason,
                    retry_after,
                } => (crate::event::clean(&reason), retry_after),
            };
            if retries >= call.max_retries {
                out.push(Err(ModelError::Unavailable(format!(
                    "{reason} (gave up after {retries} {})",
                    if retries == 1 { "retry" } else { "retries" }
                ))));
                return;
            }
            let delay = retry::delay(retries, server_asked);
            retries += 1;
            notices += 1;
            let notice = RetryNotice {
                attempt: notices,
                reason,
                delay_ms: delay.as_millis() as u64,
            };
            out.push(Ok(ModelDelta::Retry(notice)));
            // Dropping the stream drops this wait with it.
            tokio::time::sleep(delay).await;
        }
    };
    Driven {
        driver: Some(Box::pin(driver)),
        outbox,
    }
    .boxed()
}

/// One item of a call's stream.
type Item = Result<ModelDelta, ModelError>;

/// What the attempts produced and the stream has not handed out yet, in order. The
/// attempts only run inside the stream's own poll, so nothing waits on this and nothing
/// needs waking: each push or pop holds the lock for that alone.
#[derive(Default)]
struct Outbox(Mutex<VecDeque<Item>>);

/// Items the outbox holds before an attempt stops reading and waits for them to be
/// handed out (a read's deltas all go in, so it may hold one read's worth more).
const OUTBOX_ITEMS: usize = 64;

impl Outbox {
    fn push(&self, item: Item) {
        self.lock().push_back(item);
    }

    fn pop(&self) -> Option<Item> {
        self.lock().pop_front()
    }

    /// Ready once the outbox holds fewer than [`OUTBOX_ITEMS`]. It registers no waker:
    /// the stream polls the attempts again as soon as it has handed out everything (see
    /// [`Driven`]), and only then can there be room.
    fn room(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |_| {
            if self.lock().len() < OUTBOX_ITEMS {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Item>> {
        // Single pushes and pops: a poisoned queue is still whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The attempts, driven on the task that reads their deltas: a poll hands out what the
/// attempts have produced, and only when there is nothing lets them go as far as they
/// can (reading the answer into the outbox until it is full). No task of their own and
/// no channel, so no hop between tasks and no wake-up per piece of the answer; dropping
/// the stream drops the attempts. Each item handed out spends the task's scheduling
/// budget, as a channel's receive did, so a long answer still lets other tasks run.
struct Driven<F> {
    driver: Option<Pin<Box<F>>>,
    outbox: Arc<Outbox>,
}

impl<F: Future<Output = ()>> Stream for Driven<F> {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let budget = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        if let Some(item) = self.outbox.pop() {
            budget.made_progress();
            return Poll::Ready(Some(item));
        }
        if let Some(driver) = self.driver.as_mut() {
            if driver.as_mut().poll(cx).is_ready() {
                self.driver = None;
            }
        }
        match self.outbox.pop() {
            Some(item) => {
                budget.made_progress();
                Poll::Ready(Some(item))
            }
            // The attempts are over and all they produced handed out.
            None if self.driver.is_none() => {
                budget.made_progress();
                Poll::Ready(None)
            }
            // The attempts wait on the network or a timer, which wakes this task.
            None => Poll::Pending,
        }
    }
}

/// One attempt: `Ok` when the whole answer was forwarded.
async fn attempt<D: Decoder>(
    call: &Call,
    body: &Bytes,
    mut decoder: D,
    whole: fn(&str) -> Result<ModelResponse, Fault>,
    out: &Outbox,
) -> Result<(), Fault> {
    let request = call
        .client
        .post(call.url.clone())
        .headers(call.headers.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            reqwest::header::ACCEPT,
            if call.streaming {
                "text/event-stream"
            } else {
                "application/json"
            },
        )
        // Shared with the attempt before, not copied.
        .body(body.clone())
        .send();
    let response = match tokio::time::timeout(call.timeout, request).await {
        Err(_) => {
            return Err(Fault::retryable(format!(
                "the {} server did not answer within {} s",
                call.server,
                call.timeout.as_secs()
            )))
        }
        Ok(Err(err)) => {
            return Err(Fault::retryable(format!(
                "cannot reach the {} server at {}: {}",
                call.server,
                call.url,
                error_chain(&err)
            )))
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if !status.is_success() {
        return Err(status_fault(call, response).await);
    }
    if !call.streaming {
        let body = match bounded::text(response, call.max_response_bytes, call.timeout).await {
            Ok(body) => body,
            Err(BodyError::TooLarge { .. }) => return Err(too_large(call)),
            Err(err) => return Err(cut(call, &err.to_string())),
        };
        let answer = whole(&body)?;
        for delta in to_deltas(&answer, usize::MAX) {
            out.push(Ok(delta));
        }
        return Ok(());
    }
    let mut body = std::pin::pin!(bounded::counted(response, call.max_response_bytes));
    let mut events = SseParser::default();
    let mut deltas = Vec::new();
    loop {
        let next = match tokio::time::timeout(call.timeout, body.next()).await {
            Ok(next) => next,
            Err(_) => return Err(cut(call, "no data within the timeout")),
        };
        let ended = next.is_none();
        match next {
            None => deltas.extend(decoder.end()?),
            Some(Err(BodyError::TooLarge { .. })) => return Err(too_large(call)),
            Some(Err(err)) => return Err(cut(call, &err.to_string())),
            Some(Ok(bytes)) => {
                // The events this read completed; none after the answer's end.
                let read = events.feed(bytes.as_ref(), |name, data| {
                    if !decoder.done() {
                        deltas.extend(decoder.event(name, data)?);
                    }
                    Ok(())
                });
                let fault = match read {
                    Ok(()) => None,
                    Err(SseError::Event(fault)) => Some(fault),
                    Err(SseError::Utf8(err)) => {
                        Some(cut(call, &format!("a line that is not UTF-8: {err}")))
                    }
                };
                if let Some(fault) = fault {
                    // What the events before it said still reaches the live view.
                    for delta in deltas.drain(..) {
                        out.push(Ok(delta));
                    }
                    return Err(fault);
                }
            }
        }
        for delta in deltas.drain(..) {
            out.push(Ok(delta));
        }
        out.room().await;
        if ended || decoder.done() {
            return Ok(());
        }
    }
}

fn too_large(call: &Call) -> Fault {
    Fault::retryable(format!(
        "the {} server's answer passed max_response_bytes ({} bytes); lucid stopped reading it",
        call.server, call.max_response_bytes
    ))
}

fn cut(call: &Call, why: &str) -> Fault {
    Fault::retryable(format!(
        "the {} stream was cut before the answer ended ({why})",
        call.server
    ))
}

/// Classifies an unsuccessful response, quoting the server's message.
async fn status_fault(call: &Call, response: reqwest::Response) -> Fault {
    let status = response.status();
    let headers = response.headers().clone();
    let body = bounded::error_text(response, call.timeout).await;
    // Redacted before the excerpt is cut, so no piece of the key survives the cut.
    let detail = error_message(&crate::event::redact(&body));
    let what = format!(
        "the {} server answered {}{}",
        call.server,
        status.as_u16(),
        status
            .canonical_reason()
            .map(|r| format!(" {r}"))
            .unwrap_or_default()
    );
    let what = if detail.is_empty() {
        what
    } else {
        format!("{what}: {detail}")
    };
    if retry::should_retry(status.as_u16(), &headers) {
        return Fault::Retryable {
            reason: what,
            retry_after: retry::retry_after(&headers),
        };
    }
    let hint = match status.as_u16() {
        401 | 403 => " (check the API key and the profile's api_key_env)",
        404 => " (check the profile's base_url and model)",
        _ => "",
    };
    Fault::Fatal(ModelError::Refused(format!("{what}{hint}")))
}

/// The human part of an error body: `error.message` (both protocols) or the raw text.
pub fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("error").filter(|e| e.is_string()))
                .or_else(|| v.get("detail"))
        })
        .map(|m| match m {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| body.trim().to_string());
    let mut short: String = message.chars().take(ERROR_EXCERPT_CHARS).collect();
    if short.len() < message.len() {
        short.push('…');
    }
    short.replace(['\n', '\r'], " ")
}

/// An error with its causes, e.g. `error sending request: connection refused`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A failure as it leaves this module: secrets redacted, control sequences removed.
fn clean_error(err: ModelError) -> ModelError {
    use crate::event::clean;
    match err {
        ModelError::Malformed(m) => ModelError::Malformed(clean(&m)),
        ModelError::Unavailable(m) => ModelError::Unavailable(clean(&m)),
        ModelError::Refused(m) => ModelError::Refused(clean(&m)),
        ModelError::Cancelled => ModelError::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_hands_out_everything_in_order_and_holds_a_bounded_amount() {
        let outbox = Arc::new(Outbox::default());
        let out = Arc::clone(&outbox);
        // An attempt that produces far faster than anyone reads, in bursts of 10.
        let driver = async move {
            for burst in 0..100 {
                for i in 0..10 {
                    out.push(Ok(ModelDelta::Text(format!("{}", burst * 10 + i))));
                }
                out.room().await;
            }
            out.push(Err(ModelError::Unavailable("the end".into())));
        };
        let mut stream = Driven {
            driver: Some(Box::pin(driver)),
            outbox: Arc::clone(&outbox),
        };
        let mut seen = 0;
        while let Some(item) = stream.next().await {
            assert!(outbox.lock().len() < OUTBOX_ITEMS + 10);
            match item {
                Ok(ModelDelta::Text(text)) => {
                    assert_eq!(text, seen.to_string());
                    seen += 1;
                }
                Err(err) => {
                    assert_eq!(seen, 1000, "the error comes after every delta");
                    assert!(err.to_string().contains("the end"));
                    seen += 1;
                }
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, 1001);
    }

    #[test]
    fn error_messages_come_from_either_protocol_and_are_short() {
        let anthropic = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(error_message(anthropic), "invalid x-api-key");
        let openai = r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":401}}"#;
        assert_eq!(error_message(openai), "Incorrect API key");
        assert_eq!(error_message("Bad\ngateway"), "Bad gateway");
        assert!(error_message(&"x".repeat(1000)).chars().count() <= ERROR_EXCERPT_CHARS + 1);
    }

    #[test]
    fn failures_leave_cleaned() {
        crate::event::register_secret("sk-http-test-0123456789");
        let err = clean_error(ModelError::Refused(
            "key SK-HTTP-TEST-0123 bad \u{1b}]0;title\u{7}x".into(),
        ));
        assert_eq!(err, ModelError::Refused("key [redacted] bad x".into()));
    }
}
