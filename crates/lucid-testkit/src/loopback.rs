//! The HTTP layer both loopback servers share: a hyper HTTP/1.1 listener on 127.0.0.1
//! that hands every request to an async handler, and the response bodies those handlers
//! send: whole, or in pieces that each leave as their own HTTP chunk, optionally cut.
//!
//! A cut is real, not a status: the pieces before it are flushed to the socket, then the
//! body fails and hyper drops the connection without the closing chunk (or short of the
//! declared `Content-Length`), which is what a client sees when a server dies mid-answer.
//! A handler that returns [`Cut`] closes the connection without answering at all.
//!
//! What to answer is the servers' business ([`crate::policy`], [`crate::fake`]), not
//! this module's.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Longest request body a server reads; a longer one closes the connection.
const MAX_REQUEST_BYTES: usize = 64 << 20;

/// A response body: its error is a cut.
pub(crate) type Body = UnsyncBoxBody<Bytes, Cut>;

/// The connection drops here: from a body, mid-answer; from a handler, unanswered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the loopback server cut the connection")
    }
}

impl std::error::Error for Cut {}

/// A body sent at once, with its `Content-Length`.
pub(crate) fn whole(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// `pieces`, each sent as its own chunk and flushed before the next; with `cut`, the
/// connection drops after the last of them.
pub(crate) fn pieces(pieces: Vec<Bytes>, cut: bool) -> Body {
    let frames = pieces.into_iter().map(Ok).chain(cut.then_some(Err(Cut)));
    let frames = futures::stream::iter(frames).then(|frame| async move {
        // Handing the connection back to hyper for a moment makes it flush what it has
        // buffered: every piece leaves in a write of its own, and a cut comes only after
        // the pieces before it reached the socket (hyper drops unflushed bytes when a
        // body fails).
        tokio::task::yield_now().await;
        frame.map(Frame::data)
    });
    StreamBody::new(frames).boxed_unsync()
}

/// A body of pieces as `stream` yields them (each its own chunk, flushed); an `Err` cuts
/// the connection. The stream may be endless: it stops when the client goes away.
pub(crate) fn streamed<S>(stream: S) -> Body
where
    S: futures::Stream<Item = Result<Bytes, Cut>> + Send + 'static,
{
    StreamBody::new(stream.map(|piece| piece.map(Frame::data))).boxed_unsync()
}

/// A response with `status` (529 reads "Overloaded", as Anthropic sends it) and a
/// `content-type`.
pub(crate) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: Body,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if status.as_u16() == 529 {
        response
            .extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(b"Overloaded"));
    }
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The whole request body; a failed or overlong read closes the connection.
pub(crate) async fn read_body(request: Request<Incoming>) -> Result<Bytes, Cut> {
    let collected = Limited::new(request.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
        .map_err(|_| Cut)?;
    Ok(collected.to_bytes())
}

/// A listener on a free loopback port, serving on its own task; it stops accepting when
/// dropped (connections already open finish on their own).
pub(crate) struct Loopback {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Loopback {
    /// Binds 127.0.0.1 on a free port and serves every request with `handle` on the
    /// current tokio runtime. Without `keep_alive`, each connection closes after one
    /// answer.
    pub(crate) async fn start<H, F>(keep_alive: bool, handle: H) -> std::io::Result<Loopback>
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
        F: Future<Output = Result<Response<Body>, Cut>> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let socket = match listener.accept().await {
                    Ok((socket, _)) => socket,
                    // Out of file descriptors, say: wait for some to close.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                };
                let _ = socket.set_nodelay(true);
                let handle = handle.clone();
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(TokioIo::new(socket), service_fn(handle))
                        .await;
                });
            }
        });
        Ok(Loopback { addr, task })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Starts a server on a thread of its own, with a runtime of its own, for tests that run
/// the `lucid` binary: `start` builds the server and hands back its handle and the
/// listener to keep, which serves until the process ends.
///
/// # Panics
///
/// When the thread's runtime cannot be built, or the thread ends before `start` returns
/// (e.g. `start` panicked because no loopback port could be bound).
pub(crate) fn serve_on_own_thread<S, F, Fut>(what: &'static str, start: F) -> S
where
    S: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = (S, Option<Loopback>)>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(err) => panic!("the {what}'s runtime: {err}"),
        };
        runtime.block_on(async move {
            let (server, serving) = start().await;
            let _ = tx.send(server);
            // Serve until the process ends.
            std::future::pending::<()>().await;
            drop(serving);
        });
    });
    match rx.recv() {
        Ok(server) => server,
        Err(_) => panic!("the {what}'s thread ended before it served"),
    }
}
