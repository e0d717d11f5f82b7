//! Models: the provider trait and its request/response types, the stream collector, and
//! the offline providers (`scripted`, the `test` dry run, and [`replay`] of a recorded
//! session).
//!
//! Streaming is the primitive: a provider yields [`ModelDelta`]s and [`collect`] folds
//! them into a [`ModelResponse`]. The network providers ([`anthropic`], [`openai`])
//! share the HTTP, retry and fault handling of [`http`] and [`retry`]; a retry shows up
//! in the stream as [`ModelDelta::Retry`] so callers can record it. This module does not
//! know about agents, tools' behaviour or the store.

pub mod anthropic;
pub mod bounded;
mod collect;
pub mod dry_run;
pub mod http;
pub mod openai;
pub mod replay;
pub mod retry;
pub mod scripted;
pub mod sse;
mod types;

pub use bounded::TurnBounds;
pub use collect::{collect, collect_observed, collect_watched, text_pieces};
pub use scripted::{Policy, ResponseBuilder, ScriptedProvider};
pub use types::{
    ContentBlock, Message, ModelDelta, ModelRequest, ModelResponse, RetryNotice, Role, StopReason,
    ToolChoice, ToolSpec, Usage,
};

use futures::stream::BoxStream;

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("the model's answer was malformed: {0}")]
    Malformed(String),
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the request was refused: {0}")]
    Refused(String),
    #[error("the call was cancelled")]
    Cancelled,
}

/// A language model (or a stand-in for one).
pub trait Provider: Send + Sync {
    /// A short label for logs and events, e.g. `scripted:navigator`.
    fn label(&self) -> String;

    /// Streams the answer to one request.
    fn stream(&self, request: ModelRequest) -> BoxStream<'static, Result<ModelDelta, ModelError>>;
}

/// Asks a provider for a whole answer.
pub async fn complete(
    provider: &dyn Provider,
    request: ModelRequest,
) -> Result<ModelResponse, ModelError> {
    collect(provider.stream(request)).await
}

/// Asks a provider for a whole answer, calling `on_retry` for each retry as it happens.
pub async fn complete_observed<F>(
    provider: &dyn Provider,
    request: ModelRequest,
    on_retry: F,
) -> Result<ModelResponse, ModelError>
where
    F: FnMut(&RetryNotice),
{
    collect_observed(provider.stream(request), on_retry).await
}
