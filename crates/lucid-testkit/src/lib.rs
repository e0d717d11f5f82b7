//! Loopback servers for testing and benchmarking lucid, so the real network provider
//! code runs with no network and no API key:
//!
//! - [`policy`]: an OpenAI-compatible policy server whose answers come from scripted
//!   policies, with latency, fault injection and an outage switch ([`PolicyServer`]).
//! - [`fake`]: fake Anthropic and OpenAI servers that record what lucid sends and answer
//!   whatever a test scripts, down to chunk boundaries and cut streams ([`fake::FakeServer`]).
//! - [`hostile`]: a model server of both protocols that attacks on purpose (escape
//!   sequences, endless and ping-only streams, huge answers, thousands of tool calls, the
//!   API key echoed back) ([`hostile::HostileServer`]).
//! - [`wire`]: the Chat Completions wire format as a server sees it (also
//!   [`fake::wire`] for both protocols' streams).
//!
//! All of them stand on hyper (`loopback`: the listener, chunked and cut bodies).
//! Tests use everything here; the `lucid` binary also depends on this crate (not only
//! as a dev-dependency) because `lucid bench fleet` measures the network path through
//! the policy server. Nothing here is part of a normal run.

pub mod fake;
pub mod hostile;
mod loopback;
pub mod policy;
pub mod request_body;
pub mod wire;

pub use policy::{
    session_router, Counters, Fault, Faults, PolicyRouter, PolicyServer, ServeOptions,
};
