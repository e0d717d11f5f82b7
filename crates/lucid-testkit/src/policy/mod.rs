//! The loopback policy server: an OpenAI-compatible endpoint on 127.0.0.1 that answers
//! `/v1/chat/completions` (streamed SSE or whole JSON) with scripted [`Policy`]s, so an
//! offline environment runs end to end through the real network provider code.
//!
//! Each request is decoded into a [`ModelRequest`]; a [`PolicyRouter`] picks the policy
//! by the request's system prompt, falling back to the offered tool names; the answer
//! is encoded the way real servers do (text and tool arguments in several chunks, a
//! usage chunk with `choices: []`, `[DONE]`). Options: a fixed latency per answer,
//! deterministic fault injection ([`Faults`]: 429 with `retry-after`/`retry-after-ms`,
//! 529, 500, answers cut mid-way) and a "down" switch that answers 503 to everything.
//! Connections are kept alive between answers, as real servers do.
//!
//! HTTP itself (the listener, chunks, cuts) is the private `loopback` module's.
//!
//! [`Policy`]: lucid_core::model::Policy
//! [`ModelRequest`]: lucid_core::model::ModelRequest

mod faults;
mod router;
mod session;

pub use faults::{Fault, Faults};
pub use router::PolicyRouter;
pub use session::session_router;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use lucid_core::model::ModelResponse;

use crate::loopback::{self, Body, Cut, Loopback};
use crate::wire;

/// Characters of text or tool arguments per streamed chunk.
const PIECE_CHARS: usize = 16;

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Waited before every answer (also before faults, as a slow server would).
    pub latency: Duration,
    pub faults: Option<Faults>,
    /// Go down (as [`PolicyServer::set_down`]) when this many requests have arrived:
    /// an outage in the middle of a run.
    pub down_after: Option<u64>,
}

/// What the server has done so far.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub answered: AtomicU64,
    pub faults: AtomicU64,
    pub refused_down: AtomicU64,
    /// Requests no policy matched (answered 400).
    pub unmatched: AtomicU64,
}

struct Shared {
    router: PolicyRouter,
    options: ServeOptions,
    down: AtomicBool,
    counters: Counters,
}

/// A running policy server; it stops when dropped.
pub struct PolicyServer {
    shared: Arc<Shared>,
    loopback: Loopback,
}

impl PolicyServer {
    /// Binds a free loopback port and serves on the current tokio runtime.
    pub async fn start(router: PolicyRouter, options: ServeOptions) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            router,
            options,
            down: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let serving = Arc::clone(&shared);
        let loopback =
            Loopback::start(true, move |request| answer(Arc::clone(&serving), request)).await?;
        Ok(PolicyServer { shared, loopback })
    }

    /// The base URL a profile's `base_url` takes (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.loopback.addr())
    }

    /// While down, every request is answered 503.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }
}

/// A JSON error answer.
fn error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let body = json!({"error": {"type": kind, "message": message}}).to_string();
    loopback::response(status, "application/json", loopback::whole(body))
}

/// Answers one request.
async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Body>, Cut> {
    let n = shared.counters.requests.fetch_add(1, Ordering::SeqCst);
    let served = request.uri().path().ends_with("/chat/completions");
    let body = loopback::read_body(request).await?;
    if !served {
        return Ok(error(
            StatusCode::NOT_FOUND,
            "not_found",
            "only /v1/chat/completions is served",
        ));
    }
    if !shared.options.latency.is_zero() {
        tokio::time::sleep(shared.options.latency).await;
    }
    if shared.options.down_after == Some(n) {
        shared.down.store(true, Ordering::SeqCst);
    }
    if shared.down.load(Ordering::SeqCst) {
        shared.counters.refused_down.fetch_add(1, Ordering::SeqCst);
        return Ok(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the policy server is down",
        ));
    }
    let Some(decoded) = crate::request_body::decode(&body) else {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "the body is not JSON",
        ));
    };
    let model_request = decoded.request;
    let Some(policy) = shared.router.pick(&model_request) else {
        shared.counters.unmatched.fetch_add(1, Ordering::SeqCst);
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "no policy matches this system prompt or these tools",
        ));
    };
    let fault = shared
        .options
        .faults
        .and_then(|f| f.pick(n).map(|k| (f, k)));
    if let Some((faults, kind)) = fault {
        shared.counters.faults.fetch_add(1, Ordering::SeqCst);
        if let Some(refusal) = refusal(kind, faults.retry_after) {
            return Ok(refusal);
        }
    }
    let cut = matches!(fault, Some((_, Fault::Cut)));
    let mut response: ModelResponse = policy.respond(&model_request);
    response.usage = lucid_core::model::scripted::estimate_usage(&model_request, &response);
    let model = decoded.model.as_str();
    if !cut {
        shared.counters.answered.fetch_add(1, Ordering::SeqCst);
    }
    if decoded.stream {
        let mut events: Vec<Bytes> = wire::encode_stream(&response, model, PIECE_CHARS)
            .into_iter()
            .map(Bytes::from)
            .collect();
        if cut {
            events.truncate(events.len() / 2);
        }
        let mut answer = loopback::response(
            StatusCode::OK,
            "text/event-stream",
            loopback::pieces(events, cut),
        );
        answer
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(answer);
    }
    let whole = Bytes::from(wire::encode_whole(&response, model).to_string());
    if !cut {
        return Ok(loopback::response(
            StatusCode::OK,
            "application/json",
            loopback::whole(whole),
        ));
    }
    // The whole length is promised, half of it sent.
    let promised = HeaderValue::from(whole.len());
    let half = whole.slice(..whole.len() / 2);
    let mut answer = loopback::response(
        StatusCode::OK,
        "application/json",
        loopback::pieces(vec![half], true),
    );
    answer.headers_mut().insert(CONTENT_LENGTH, promised);
    Ok(answer)
}

/// The error answer for an injected fault; `None` for a cut, which answers 200.
fn refusal(kind: Fault, wait: Duration) -> Option<Response<Body>> {
    let (status, header): (StatusCode, Option<(HeaderName, String)>) = match kind {
        Fault::RateLimitedMs => (
            StatusCode::TOO_MANY_REQUESTS,
            Some((
                HeaderName::from_static("retry-after-ms"),
                wait.as_millis().to_string(),
            )),
        ),
        Fault::RateLimitedSeconds => (
            StatusCode::TOO_MANY_REQUESTS,
            Some((RETRY_AFTER, format!("{}", wait.as_secs_f64()))),
        ),
        // 529 is a valid code (100-999); the fallback is never taken.
        Fault::Overloaded => (
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            None,
        ),
        Fault::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, None),
        Fault::Cut => return None,
    };
    let mut answer = error(status, "injected_fault", "an injected fault; try again");
    if let Some((name, value)) = header {
        if let Ok(value) = HeaderValue::try_from(value) {
            answer.headers_mut().insert(name, value);
        }
    }
    Some(answer)
}
