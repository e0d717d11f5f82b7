//! How much of a model server's answer lucid reads: bodies counted as they arrive, so an
//! answer past its profile's `max_response_bytes` is dropped after that many bytes
//! instead of being held (whatever its framing: an endless line holds no event to stop
//! at), and error bodies read only as far as lucid quotes them. The time bounds (the gap
//! between pieces, the whole attempt's deadline) are `http`'s.

use std::time::Duration;

use futures::{Stream, StreamExt};
use reqwest::Response;

/// How long one attempt at a turn may take and how many bytes its answer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnBounds {
    /// From the request to the answer's last byte (`turn_timeout_s`).
    pub turn_timeout: Duration,
    /// Bytes of the answer's body (`max_response_bytes`).
    pub max_response_bytes: usize,
}

/// `turn_timeout_s`'s default.
pub const DEFAULT_TURN_TIMEOUT_S: u64 = 600;
/// `max_response_bytes`'s default: 4 MiB, far above any real answer of `max_tokens`.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 4 << 20;

impl Default for TurnBounds {
    fn default() -> Self {
        TurnBounds {
            turn_timeout: Duration::from_secs(DEFAULT_TURN_TIMEOUT_S),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES as usize,
        }
    }
}

/// The most of an error body lucid reads (it quotes a few hundred characters of it).
pub const MAX_ERROR_BODY: usize = 64 << 10;

/// Why a body could not be read whole.
#[derive(Debug)]
pub enum BodyError {
    /// The connection failed.
    Transport(reqwest::Error),
    /// The body passed the byte cap.
    TooLarge { limit: usize },
    /// No piece arrived within the gap timeout.
    Silent,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Transport(err) => write!(f, "{}", super::http::error_chain(err)),
            BodyError::TooLarge { limit } => write!(f, "the answer passed {limit} bytes"),
            BodyError::Silent => f.write_str("no data within the timeout"),
        }
    }
}

impl std::error::Error for BodyError {}

/// The body's pieces, failing with [`BodyError::TooLarge`] at the first piece that
/// takes the total past `limit`.
pub fn counted(
    response: Response,
    limit: usize,
) -> impl Stream<Item = Result<impl AsRef<[u8]>, BodyError>> {
    response
        .bytes_stream()
        .scan((0usize, false), move |(total, over), piece| {
            let next = if *over {
                None
            } else {
                Some(match piece {
                    Ok(bytes) => {
                        *total = total.saturating_add(bytes.len());
                        if *total > limit {
                            *over = true;
                            Err(BodyError::TooLarge { limit })
                        } else {
                            Ok(bytes)
                        }
                    }
                    Err(err) => Err(BodyError::Transport(err)),
                })
            };
            futures::future::ready(next)
        })
}

/// The whole body as text, read piece by piece: each piece within `gap`, at most `limit`
/// bytes in all.
pub async fn text(response: Response, limit: usize, gap: Duration) -> Result<String, BodyError> {
    let mut body = Vec::new();
    let mut pieces = std::pin::pin!(counted(response, limit));
    loop {
        match tokio::time::timeout(gap, pieces.next()).await {
            Err(_) => return Err(BodyError::Silent),
            Ok(None) => break,
            Ok(Some(piece)) => body.extend_from_slice(piece?.as_ref()),
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The start of an error body, at most [`MAX_ERROR_BODY`] bytes; whatever cannot be read
/// in time is left out.
pub async fn error_text(response: Response, gap: Duration) -> String {
    let mut body = Vec::new();
    let mut pieces = std::pin::pin!(response.bytes_stream());
    while body.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(gap, pieces.next()).await {
            Ok(Some(Ok(piece))) => body.extend_from_slice(&piece),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}
