//! A loopback HTTP/1.1 model server for tests, written on raw tokio TCP so a test has
//! exact control of every byte: chunk boundaries, cut streams, statuses and headers.
//! It records every request lucid sends. `wire` translates between the two protocols'
//! JSON and lucid's own request/response types, so a scripted policy can play the model
//! behind the server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod wire;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
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

pub type Responder = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

/// A running fake server; it stops when dropped.
pub struct FakeServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl FakeServer {
    /// Starts on a free loopback port; `respond` gets each request and its 0-based number.
    pub async fn start(respond: Responder) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let respond = Arc::clone(&respond);
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let _ = serve(socket, respond, recorded).await;
                });
            }
        });
        FakeServer {
            url,
            requests,
            task: Some(task),
        }
    }

    /// Starts on a thread of its own (for tests that run the `lucid` binary).
    pub fn start_blocking(respond: Responder) -> FakeServer {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let server = FakeServer::start(respond).await;
                tx.send((server.url.clone(), Arc::clone(&server.requests)))
                    .unwrap();
                // Serve until the process ends.
                std::future::pending::<()>().await;
                drop(server);
            });
        });
        let (url, requests) = rx.recv().unwrap();
        FakeServer {
            url,
            requests,
            task: None,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    mut socket: TcpStream,
    respond: Responder,
    recorded: Arc<Mutex<Vec<Recorded>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[header_end..]).unwrap_or(Value::Null);
    let request = Recorded {
        method,
        path,
        headers,
        body,
    };
    let number = {
        let mut all = recorded.lock().unwrap();
        all.push(request.clone());
        all.len() - 1
    };
    match respond(&request, number) {
        Reply::Whole {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Status\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            socket.write_all(head.as_bytes()).await?;
            socket.write_all(body.as_bytes()).await?;
        }
        Reply::Stream { pieces, cut_after } => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")
                .await?;
            for (i, piece) in pieces.iter().enumerate() {
                if cut_after == Some(i) {
                    socket.flush().await?;
                    return Ok(());
                }
                socket
                    .write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())
                    .await?;
                socket.flush().await?;
            }
            socket.write_all(b"0\r\n\r\n").await?;
        }
        Reply::Stall(time) => {
            tokio::time::sleep(time).await;
        }
    }
    socket.flush().await?;
    let _ = socket.shutdown().await;
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
