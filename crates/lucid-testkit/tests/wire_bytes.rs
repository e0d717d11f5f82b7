//! What the loopback servers put on the wire, read with a raw TCP client so nothing
//! hides it: every streamed piece is an HTTP chunk of its own, a cut stream really stops
//! mid-answer (the pieces before it arrive, the closing chunk never does, the connection
//! ends), a cut whole answer falls short of its `Content-Length`, a stall closes without
//! a word, and the policy server keeps connections alive between clean answers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use lucid_core::model::{ContentBlock, ModelRequest, ModelResponse, Policy, StopReason, Usage};
use lucid_testkit::fake::{FakeServer, Reply};
use lucid_testkit::{Fault, Faults, PolicyRouter, PolicyServer, ServeOptions};

/// Sends one POST and reads until the server closes the connection.
async fn exchange(addr: &str, path: &str, body: &str) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

fn host(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches("/v1")
}

fn streamed(pieces: &[&str], cut_after: Option<usize>) -> Reply {
    Reply::Stream {
        pieces: pieces.iter().map(|p| p.to_string()).collect(),
        cut_after,
    }
}

#[tokio::test]
async fn each_piece_is_a_chunk_of_its_own_and_the_stream_ends_cleanly() {
    let server = FakeServer::start(Arc::new(|_, _| {
        streamed(&["data: {\"a\"", ":1}\n\n"], None)
    }))
    .await;
    let answer = exchange(host(&server.url), "/v1/messages", "{}").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("content-type: text/event-stream"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\nA\r\ndata: {\"a\"\r\n5\r\n:1}\n\n\r\n0\r\n\r\n"),
        "{answer:?}"
    );
    assert_eq!(server.requests()[0].path, "/v1/messages");
}

#[tokio::test]
async fn a_cut_stream_stops_after_its_pieces_without_the_closing_chunk() {
    let server = FakeServer::start(Arc::new(|_, _| {
        streamed(&["one\n\n", "two\n\n", "three\n\n"], Some(2))
    }))
    .await;
    let answer = exchange(host(&server.url), "/", "{}").await;
    assert!(
        answer.ends_with("\r\n\r\n5\r\none\n\n\r\n5\r\ntwo\n\n\r\n"),
        "{answer:?}"
    );
    assert!(!answer.contains("three"), "{answer:?}");
}

#[tokio::test]
async fn a_stall_closes_the_connection_unanswered() {
    let server = FakeServer::start(Arc::new(|_, _| Reply::Stall(Duration::from_millis(50)))).await;
    assert_eq!(exchange(host(&server.url), "/", "{}").await, "");
}

#[tokio::test]
async fn whole_replies_carry_any_status_and_headers() {
    let server = FakeServer::start(Arc::new(|_, _| {
        Reply::status(529, "{}").with_header("retry-after-ms", "7")
    }))
    .await;
    let answer = exchange(host(&server.url), "/", "{}").await;
    assert!(
        answer.starts_with("HTTP/1.1 529 Overloaded\r\n"),
        "{answer}"
    );
    assert!(answer.contains("retry-after-ms: 7\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n{}"), "{answer}");
}

/// Always answers the same few words.
struct Says;

impl Policy for Says {
    fn respond(&self, _: &ModelRequest) -> ModelResponse {
        ModelResponse {
            content: vec![ContentBlock::Text {
                text: "a clean answer that is long enough to take several chunks".into(),
            }],
            stop: StopReason::EndTurn,
            usage: Usage::default(),
        }
    }
}

fn policy_body(stream: bool) -> String {
    json!({"model": "policy", "stream": stream,
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]})
    .to_string()
}

/// A policy server that cuts every answer.
async fn cutting() -> PolicyServer {
    // The first seed whose first request is a cut.
    let seed = (0..)
        .find(|&seed| Faults::new(1.0, seed).pick(0) == Some(Fault::Cut))
        .unwrap();
    let options = ServeOptions {
        faults: Some(Faults::new(1.0, seed)),
        ..ServeOptions::default()
    };
    let router = PolicyRouter::new().system("sys", Arc::new(Says));
    PolicyServer::start(router, options).await.unwrap()
}

#[tokio::test]
async fn the_policy_server_cuts_a_stream_mid_way() {
    let server = cutting().await;
    let answer = exchange(
        host(&server.base_url()),
        "/v1/chat/completions",
        &policy_body(true),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("transfer-encoding: chunked"), "{answer}");
    assert!(answer.contains("\"role\":\"assistant\""), "{answer}");
    assert!(!answer.contains("[DONE]"), "{answer}");
    assert!(!answer.ends_with("0\r\n\r\n"), "{answer:?}");
}

#[tokio::test]
async fn the_policy_server_cuts_a_whole_answer_short_of_its_length() {
    let server = cutting().await;
    let answer = exchange(
        host(&server.base_url()),
        "/v1/chat/completions",
        &policy_body(false),
    )
    .await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let promised: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !body.is_empty() && body.len() < promised,
        "{} of {promised}",
        body.len()
    );
}

#[tokio::test]
async fn the_policy_server_streams_in_chunks_and_keeps_the_connection() {
    let router = PolicyRouter::new().system("sys", Arc::new(Says));
    let server = PolicyServer::start(router, ServeOptions::default())
        .await
        .unwrap();
    let addr = host(&server.base_url()).to_string();
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        let body = policy_body(true);
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.ends_with(b"\r\n0\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the connection closed after a clean answer");
            answer.extend_from_slice(&buf[..n]);
        }
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.contains("cache-control: no-cache"), "{answer}");
        let chunks = answer.matches("\r\ndata: ").count();
        assert!(chunks > 4, "{chunks} chunks: {answer}");
        assert!(answer.contains("\"choices\":[],"), "usage chunk: {answer}");
        assert!(answer.contains("data: [DONE]\n\n"), "{answer}");
    }
    let requests = server
        .counters()
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(requests, 2);
}
