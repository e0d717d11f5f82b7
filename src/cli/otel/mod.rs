//! Traces out: a recorded session sent to an OpenTelemetry collector as OTLP/HTTP spans
//! (GenAI semantic conventions), built after the fact from the session's stored events —
//! so a finished run, a resumed one and a past one export alike (`spans`), and sent with
//! the standard `OTEL_EXPORTER_OTLP_*` variables (`send`).
//!
//! Two doors: after `lucid run` finishes, when a collector is configured ([`after_run`]),
//! and `lucid sessions export ID --format otlp` ([`export_recorded`]). A failed export is
//! one sentence on stderr; it never changes a run's exit code and never touches the store.

mod models;
mod send;
mod spans;

use std::time::Instant;

use lucid_core::event::{sanitize, Event};
use lucid_core::store::SessionSummary;

pub use models::Models;
pub use send::configured;

use super::exit;

/// What an export sent.
struct Sent {
    spans: usize,
    /// The trace id (the session id's 128 bits, in hex).
    trace: String,
    elapsed_ms: u128,
}

/// Builds the session's spans and sends them.
async fn export(events: &[Event], models: &Models) -> Result<Sent, send::SendError> {
    let started = Instant::now();
    let spans = spans::spans(events, models);
    let count = spans.len();
    let trace = events
        .first()
        .map(|e| format!("{:032x}", e.session.0))
        .unwrap_or_default();
    send::send(spans).await?;
    Ok(Sent {
        spans: count,
        trace,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// After a run: sends its spans when a collector is configured. Says how it went on
/// stderr (only a failure when `quiet`); the run's exit code does not depend on it.
pub async fn after_run(events: &[Event], models: &Models, quiet: bool) {
    if !configured() {
        return;
    }
    let session = events
        .first()
        .map(|e| e.session.to_string())
        .unwrap_or_default();
    match export(events, models).await {
        Ok(sent) if !quiet => say!(
            "lucid: sent {} spans of session {session} to the OTLP collector (trace {}, {} ms)",
            sent.spans,
            sent.trace,
            sent.elapsed_ms
        ),
        Ok(_) => {}
        Err(err) => say!(
            "lucid: the session's traces were not exported ({}); the session is saved, send it again with `lucid sessions export {session} --format otlp`",
            sanitize(&err.to_string())
        ),
    }
}

/// `lucid sessions export ID --format otlp`: sends a recorded session's spans. The model
/// profiles come from its session file when it is still there (for provider and model
/// names); without it, spans name the profiles.
pub async fn export_recorded(
    summary: &SessionSummary,
    events: &[Event],
) -> Result<(), (u8, String)> {
    if !configured() {
        return Err((exit::USAGE, send::SendError::NotConfigured.to_string()));
    }
    let models = lucid_core::session::load(
        lucid_envs::worlds().as_ref(),
        std::path::Path::new(&summary.spec_path),
        None,
        None,
        None,
    )
    .map(|spec| Models::of(&spec.models))
    .unwrap_or_default();
    let sent = export(events, &models)
        .await
        .map_err(|err| (exit::RUNTIME, sanitize(&err.to_string())))?;
    say!(
        "lucid: sent {} spans of session {} to the OTLP collector (trace {}, {} ms)",
        sent.spans,
        summary.id,
        sent.trace,
        sent.elapsed_ms
    );
    Ok(())
}
