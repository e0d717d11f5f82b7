//! Sending spans: the OTLP/HTTP exporter (protobuf bodies) that `opentelemetry-otlp`
//! builds from the standard variables — `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` plus `/v1/traces`; `OTEL_EXPORTER_OTLP_HEADERS` (and the
//! traces-only form) — bounded by `OTEL_EXPORTER_OTLP_TIMEOUT` (10 s by default, at most a
//! minute). Header values are secrets: they go only into the request, and are registered
//! for redaction so no line lucid writes can show them. This module does not know events.

use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;

/// The variables that name where traces go.
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The default bound of one export, and the most any setting may give it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Spans per request: a long session goes in several bounded bodies.
const BATCH: usize = 2048;

/// Why spans were not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no OTLP collector is configured: set {ENDPOINT} (or {TRACES_ENDPOINT}) to its URL")]
    NotConfigured,
    #[error("cannot set up the OTLP exporter: {0}")]
    Setup(String),
    #[error("the OTLP collector did not take the spans: {0}")]
    Refused(String),
    #[error("the OTLP collector did not answer within {} s", .0.as_secs_f64())]
    TimedOut(Duration),
}

/// Whether the environment names a collector for traces (and does not turn them off).
pub fn configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim() == "true")
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
    (set(ENDPOINT) || set(TRACES_ENDPOINT)) && !disabled
}

/// Sends the spans to the configured collector, in one bounded time.
pub async fn send(spans: Vec<SpanData>) -> Result<(), SendError> {
    if !configured() {
        return Err(SendError::NotConfigured);
    }
    protect_headers();
    // reqwest's rustls has no provider of its own; ring is lucid's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let timeout = timeout();
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .build()
        .map_err(|err| SendError::Setup(err.to_string()))?;
    exporter.set_resource(&resource());
    let sending = async {
        let mut spans = spans;
        while !spans.is_empty() {
            let rest = spans.split_off(spans.len().min(BATCH));
            exporter
                .export(spans)
                .await
                .map_err(|err| SendError::Refused(err.to_string()))?;
            spans = rest;
        }
        Ok(())
    };
    let result = match tokio::time::timeout(timeout, sending).await {
        Ok(result) => result,
        Err(_) => Err(SendError::TimedOut(timeout)),
    };
    // Nothing is buffered: shutting down only lets the client go.
    let _ = exporter.shutdown();
    result
}

/// The bound of one export: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or
/// `OTEL_EXPORTER_OTLP_TIMEOUT` in milliseconds, 10 s by default, at most a minute.
fn timeout() -> Duration {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok()?.trim().parse::<u64>().ok())
    .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
    .clamp(Duration::from_millis(1), MAX_TIMEOUT)
}

/// Registers every header value of the OTLP header variables as a secret, so that no
/// line lucid writes (an error quoting a request, say) shows one.
fn protect_headers() {
    for name in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    ] {
        let Ok(headers) = std::env::var(name) else {
            continue;
        };
        for pair in headers.split(',') {
            if let Some((_, value)) = pair.split_once('=') {
                let value = value.trim();
                lucid_core::event::register_secret(value);
                // Values may be percent-encoded (`Bearer%20xyz`); the part after a space
                // is the token itself.
                if let Some((_, token)) = value.split_once("%20").or_else(|| value.split_once(' '))
                {
                    lucid_core::event::register_secret(token.trim());
                }
            }
        }
    }
}

/// The resource the spans come from: lucid (unless `OTEL_SERVICE_NAME` or
/// `OTEL_RESOURCE_ATTRIBUTES` names the service) and its version, with what the standard
/// variables add.
fn resource() -> Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name"));
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if named {
        builder.build()
    } else {
        builder.with_service_name("lucid").build()
    }
}
