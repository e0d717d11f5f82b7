//! A loopback policy server: an OpenAI-compatible HTTP/1.1 endpoint on 127.0.0.1 that
//! answers `/v1/chat/completions` (streamed SSE or whole JSON) with scripted
//! [`Policy`]s, so an offline environment runs end to end through the real network
//! provider code.
//!
//! Each request is decoded into a [`ModelRequest`]; a [`PolicyRouter`] picks the policy
//! by the request's system prompt, falling back to the offered tool names; the answer
//! is encoded the way real servers do (text and tool arguments in several chunks, a
//! usage chunk with `choices: []`, `[DONE]`). Options: a fixed latency per answer,
//! deterministic fault injection ([`Faults`]: 429 with `retry-after`/`retry-after-ms`,
//! 529, 500, streams cut mid-way) and a "down" switch that answers 503 to everything.
//!
//! The server is hand-written on tokio's TCP: keep-alive connections, `Content-Length`
//! request bodies, chunked streamed answers.

mod router;
mod session;
pub mod wire;

pub use router::PolicyRouter;
pub use session::session_router;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use lucid_core::model::ModelResponse;

/// Longest request head or body the server accepts.
const MAX_REQUEST_BYTES: usize = 64 << 20;
/// Characters of text or tool arguments per streamed chunk.
const PIECE_CHARS: usize = 16;

/// Which fault a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 asking to wait with `retry-after-ms`.
    RateLimitedMs,
    /// 429 asking to wait with `retry-after` (seconds).
    RateLimitedSeconds,
    /// 529, Anthropic's "overloaded", which OpenAI-compatible gateways pass on.
    Overloaded,
    /// 500.
    ServerError,
    /// A 200 whose body stops half-way and the connection closes.
    Cut,
}

/// Deterministic fault injection: request number `n` gets a fault when a hash of
/// `(seed, n)` falls under `rate`; which fault is another hash of the same pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Share of requests that fail, in `[0, 1]`.
    pub rate: f64,
    pub seed: u64,
    /// The wait a 429 asks for.
    pub retry_after: Duration,
}

impl Faults {
    pub fn new(rate: f64, seed: u64) -> Self {
        Faults {
            rate,
            seed,
            retry_after: Duration::from_millis(20),
        }
    }

    /// The fault for the `n`-th request (0-based), if any.
    pub fn pick(&self, n: u64) -> Option<Fault> {
        let roll = splitmix(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let unit = (roll >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= self.rate {
            return None;
        }
        Some(match splitmix(roll) % 5 {
            0 => Fault::RateLimitedMs,
            1 => Fault::RateLimitedSeconds,
            2 => Fault::Overloaded,
            3 => Fault::ServerError,
            _ => Fault::Cut,
        })
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

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
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PolicyServer {
    /// Binds a free loopback port and serves on the current tokio runtime.
    pub async fn start(router: PolicyRouter, options: ServeOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            router,
            options,
            down: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let _ = socket.set_nodelay(true);
                let shared = Arc::clone(&serving);
                tokio::spawn(async move {
                    let _ = connection(socket, shared).await;
                });
            }
        });
        Ok(PolicyServer { addr, shared, task })
    }

    /// The base URL a profile's `base_url` takes (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// While down, every request is answered 503.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }
}

/// One parsed request.
struct Request {
    path: String,
    close: bool,
    body: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request from a keep-alive connection; `None` when the client closed it.
async fn read_request(
    socket: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Request>> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let mut length = 0usize;
    let mut close = false;
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if length > MAX_REQUEST_BYTES {
        return Err(std::io::Error::other("request body too long"));
    }
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Ok(Some(Request { path, close, body }))
}

async fn connection(mut socket: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut socket, &mut buf).await? {
        let keep = answer(&mut socket, &shared, &request).await?;
        if request.close || !keep {
            break;
        }
    }
    socket.shutdown().await
}

/// Writes a whole response; `Ok(false)` when the connection must close afterwards.
async fn write_whole(
    socket: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &str,
) -> std::io::Result<bool> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    socket.write_all(head.as_bytes()).await?;
    Ok(true)
}

fn error_body(kind: &str, message: &str) -> String {
    json!({"error": {"type": kind, "message": message}}).to_string()
}

/// Answers one request; `Ok(false)` when the connection must close afterwards.
async fn answer(
    socket: &mut TcpStream,
    shared: &Shared,
    request: &Request,
) -> std::io::Result<bool> {
    let n = shared.counters.requests.fetch_add(1, Ordering::SeqCst);
    if !request.path.ends_with("/chat/completions") {
        let body = error_body("not_found", "only /v1/chat/completions is served");
        return write_whole(socket, 404, &[], &body).await;
    }
    if !shared.options.latency.is_zero() {
        tokio::time::sleep(shared.options.latency).await;
    }
    if shared.options.down_after == Some(n) {
        shared.down.store(true, Ordering::SeqCst);
    }
    if shared.down.load(Ordering::SeqCst) {
        shared.counters.refused_down.fetch_add(1, Ordering::SeqCst);
        let body = error_body("service_unavailable", "the policy server is down");
        return write_whole(socket, 503, &[], &body).await;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        let body = error_body("invalid_request_error", "the body is not JSON");
        return write_whole(socket, 400, &[], &body).await;
    };
    let model_request = wire::decode_request(&body);
    let Some(policy) = shared.router.pick(&model_request) else {
        shared.counters.unmatched.fetch_add(1, Ordering::SeqCst);
        let body = error_body(
            "invalid_request_error",
            "no policy matches this system prompt or these tools",
        );
        return write_whole(socket, 400, &[], &body).await;
    };
    let fault = shared
        .options
        .faults
        .and_then(|f| f.pick(n).map(|k| (f, k)));
    if let Some((faults, kind)) = fault {
        shared.counters.faults.fetch_add(1, Ordering::SeqCst);
        let wait = faults.retry_after;
        let (status, headers) = match kind {
            Fault::RateLimitedMs => (429, vec![("retry-after-ms", wait.as_millis().to_string())]),
            Fault::RateLimitedSeconds => (
                429,
                vec![("retry-after", format!("{}", wait.as_secs_f64()))],
            ),
            Fault::Overloaded => (529, vec![]),
            Fault::ServerError => (500, vec![]),
            Fault::Cut => (200, vec![]),
        };
        if kind != Fault::Cut {
            let body = error_body("injected_fault", "an injected fault; try again");
            return write_whole(socket, status, &headers, &body).await;
        }
    }
    let cut = matches!(fault, Some((_, Fault::Cut)));
    let mut response: ModelResponse = policy.respond(&model_request);
    response.usage = lucid_core::model::scripted::estimate_usage(&model_request, &response);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("policy");
    if wire::wants_stream(&body) {
        stream(
            socket,
            &wire::encode_stream(&response, model, PIECE_CHARS),
            cut,
        )
        .await?;
    } else {
        let whole = wire::encode_whole(&response, model).to_string();
        if cut {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                whole.len()
            );
            socket.write_all(head.as_bytes()).await?;
            socket
                .write_all(&whole.as_bytes()[..whole.len() / 2])
                .await?;
        } else {
            write_whole(socket, 200, &[], &whole).await?;
        }
    }
    if !cut {
        shared.counters.answered.fetch_add(1, Ordering::SeqCst);
    }
    Ok(!cut)
}

/// Writes SSE events as HTTP chunks, one flush per event; when `cut`, stops half-way
/// without the closing chunk.
async fn stream(socket: &mut TcpStream, events: &[String], cut: bool) -> std::io::Result<()> {
    socket
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .await?;
    let upto = if cut { events.len() / 2 } else { events.len() };
    for event in &events[..upto] {
        let framed = format!("{:x}\r\n{event}\r\n", event.len());
        socket.write_all(framed.as_bytes()).await?;
    }
    if !cut {
        socket.write_all(b"0\r\n\r\n").await?;
    }
    socket.flush().await
}
