//! Fake model providers for tests: a loopback HTTP/1.1 server that records every request
//! lucid sends and answers with whatever the test's [`Responder`] says, byte for byte
//! where it matters: each streamed piece is one HTTP chunk of its own (so a piece may end
//! mid-event and the client must reassemble), a stream can be cut after any piece or held
//! mid-answer until the test opens a [`Gate`], a
//! reply can be any status with any headers, or silence ([`no_stream`]: a server that
//! cannot stream tool calls). [`wire`] translates between the
//! Anthropic and OpenAI JSON and lucid's own request/response types, so a scripted policy
//! can play the model behind the server.
//!
//! It stands on hyper like the policy server; raw TCP is not needed for the bytes that
//! matter, because hyper writes each body frame as one chunk and drops the connection
//! when a body fails (see `loopback`). Every connection closes after one answer. A reply
//! hyper cannot send (a status outside 100-999, a bad header) closes the connection
//! unanswered, so the test fails rather than seeing some other answer.

pub mod no_stream;
pub mod wire;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use crate::loopback::{self, Body, Cut, Loopback};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The JSON body; `Null` when it is not JSON.
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A streamed answer: each piece is written and flushed as its own chunk; with
    /// `cut_after` the connection drops after that many pieces, mid-answer.
    Stream {
        pieces: Vec<String>,
        cut_after: Option<usize>,
    },
    /// A whole response with a status, extra headers and a body.
    Whole {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Accept the request, then say nothing for this long and close.
    Stall(Duration),
    /// A streamed answer that stops before piece `at` until the test opens `gate`, for
    /// each of `holds`, then goes on: a model caught mid-answer, for as long as a test
    /// looks.
    Held {
        pieces: Vec<String>,
        holds: Vec<(usize, Gate)>,
    },
}

/// Where a [`Reply::Held`] stream waits; open it once and every stream held at it goes on
/// (now and later). It works across runtimes, so a test can open a gate of a server on
/// a thread of its own.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }
}

impl Gate {
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn passed(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`: the wait ends only when the gate opens.
        let _ = open.wait_for(|open| *open).await;
    }
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Whole {
            status,
            headers: vec![],
            body: body.to_string(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Whole {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Reply::Whole {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

/// Gets each request and its 0-based number; says what to answer.
pub type Responder = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

type Requests = Arc<Mutex<Vec<Recorded>>>;

/// A running fake server; it stops when dropped.
pub struct FakeServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    requests: Requests,
    /// `None` when the server runs on a thread of its own, until the process ends.
    loopback: Option<Loopback>,
}

impl FakeServer {
    /// Starts on a free loopback port, on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound: the test cannot run.
    pub async fn start(respond: Responder) -> FakeServer {
        let requests = Requests::default();
        let recording = Arc::clone(&requests);
        let started = Loopback::start(false, move |request| {
            answer(request, Arc::clone(&respond), Arc::clone(&recording))
        })
        .await;
        let loopback = match started {
            Ok(loopback) => loopback,
            Err(err) => panic!("the fake server cannot bind a loopback port: {err}"),
        };
        FakeServer {
            url: format!("http://{}", loopback.addr()),
            requests,
            loopback: Some(loopback),
        }
    }

    /// Starts on a thread of its own (for tests that run the `lucid` binary); it serves
    /// until the process ends.
    ///
    /// # Panics
    ///
    /// When the thread's runtime cannot be built or no loopback port can be bound.
    pub fn start_blocking(respond: Responder) -> FakeServer {
        crate::loopback::serve_on_own_thread("fake server", move || async move {
            let mut server = FakeServer::start(respond).await;
            let serving = server.loopback.take();
            (server, serving)
        })
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Records one request and sends the responder's reply.
async fn answer(
    request: Request<Incoming>,
    respond: Responder,
    requests: Requests,
) -> Result<Response<Body>, Cut> {
    let method = request.method().to_string();
    let path = request.uri().to_string();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect();
    let body = loopback::read_body(request).await?;
    let recorded = Recorded {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let number = {
        let mut all = requests.lock().unwrap_or_else(PoisonError::into_inner);
        all.push(recorded.clone());
        all.len() - 1
    };
    match respond(&recorded, number) {
        Reply::Whole {
            status,
            headers,
            body,
        } => {
            let status = StatusCode::from_u16(status).map_err(|_| Cut)?;
            let mut answer = loopback::response(status, "application/json", loopback::whole(body));
            for (name, value) in headers {
                let name = HeaderName::try_from(name).map_err(|_| Cut)?;
                let value = HeaderValue::try_from(value).map_err(|_| Cut)?;
                answer.headers_mut().insert(name, value);
            }
            Ok(answer)
        }
        Reply::Stream { pieces, cut_after } => {
            let mut pieces: Vec<Bytes> = pieces.into_iter().map(Bytes::from).collect();
            // A cut at or past the end is no cut: the stream ends cleanly.
            let cut = cut_after.is_some_and(|at| at < pieces.len());
            if let Some(at) = cut_after {
                pieces.truncate(at);
            }
            Ok(loopback::response(
                StatusCode::OK,
                "text/event-stream",
                loopback::pieces(pieces, cut),
            ))
        }
        Reply::Held { pieces, holds } => {
            let pieces =
                futures::stream::iter(pieces.into_iter().enumerate()).then(move |(n, piece)| {
                    let gates: Vec<Gate> = holds
                        .iter()
                        .filter(|(at, _)| *at == n)
                        .map(|(_, gate)| gate.clone())
                        .collect();
                    async move {
                        for gate in gates {
                            gate.passed().await;
                        }
                        // As in `loopback::pieces`: each piece leaves in a write of its own.
                        tokio::task::yield_now().await;
                        Ok(Bytes::from(piece))
                    }
                });
            Ok(loopback::response(
                StatusCode::OK,
                "text/event-stream",
                loopback::streamed(pieces),
            ))
        }
        Reply::Stall(time) => {
            tokio::time::sleep(time).await;
            Err(Cut)
        }
    }
}
