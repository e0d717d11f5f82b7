//! Models: the provider trait and its request/response types, the stream collector, and
//! the offline `scripted` provider.
//!
//! Streaming is the primitive: a provider yields [`ModelDelta`]s and [`collect`] folds
//! them into a [`ModelResponse`]. Real network providers come with the real-models
//! work; this module does not know about agents, tools' behaviour or the store.

mod collect;
pub mod scripted;
mod types;

pub use collect::collect;
pub use scripted::{Policy, ResponseBuilder, ScriptedProvider};
pub use types::{
    ContentBlock, Message, ModelDelta, ModelRequest, ModelResponse, Role, StopReason, ToolChoice,
    ToolSpec, Usage,
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
