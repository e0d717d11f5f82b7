//! `lucid bench fleet`: many concurrent sub-agents through the real OpenAI provider
//! against the loopback policy server with a fixed latency. Prints wall time against
//! the ideal (latency × model calls along the critical path), CPU per step and peak
//! memory. Nothing here asserts a time.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::figures::{cpu_seconds, fleet_spec, peak_memory_mib, run_fleet};
use lucid_core::event::NullSink;
use lucid_core::spec::{ProviderKind, SessionSpec};
use lucid_testkit::{session_router, PolicyServer, ServeOptions};

/// The fleet over loopback HTTP.
#[derive(Debug, Clone, Serialize)]
pub struct FleetFigures {
    pub agents: u64,
    pub steps: u64,
    pub latency_ms: u64,
    pub max_parallel: usize,
    /// Model calls in series: the lead's two turns and one worker's `steps + 1`.
    pub critical_path_calls: u64,
    pub ideal_ms: f64,
    pub wall_ms: f64,
    pub ratio: f64,
    pub model_turns: u64,
    pub http_requests: u64,
    pub cpu_us_per_step: Option<f64>,
    pub peak_memory_mib: Option<f64>,
    pub cores: usize,
}

/// `fleet` with every profile pointed at `base_url` (OpenAI-compatible, streaming).
pub fn over_loopback(spec: &SessionSpec, base_url: &str) -> SessionSpec {
    let mut spec = spec.clone();
    for profile in spec.models.values_mut() {
        profile.provider = ProviderKind::Openai;
        profile.base_url = Some(base_url.to_string());
        profile.model = Some("policy".into());
        profile.api_key_env = None;
        profile.stream = true;
        profile.latency_ms = 0;
        // The lead hands every worker its job in one turn, and the server behind the
        // loopback is lucid's own policy: no cap on its calls.
        profile.max_tool_calls_per_turn = *lucid_core::spec::MAX_TOOL_CALLS_PER_TURN_RANGE.end();
    }
    spec
}

pub async fn fleet(
    fleet: &SessionSpec,
    agents: u64,
    steps: u64,
    latency_ms: u64,
) -> Result<FleetFigures, String> {
    let mut spec = fleet_spec(fleet, agents, steps);
    spec.limits.max_parallel = usize::try_from(agents).unwrap_or(usize::MAX).max(1);
    let env = lucid_envs::build(&spec.environment, 1, 1).map_err(|e| e.to_string())?;
    let router = session_router(&spec, env.as_ref());
    let options = ServeOptions {
        latency: Duration::from_millis(latency_ms),
        faults: None,
        down_after: None,
    };
    let server = PolicyServer::start(router, options)
        .await
        .map_err(|e| format!("cannot start the policy server: {e}"))?;
    let spec = over_loopback(&spec, &server.base_url());
    // Warm up connections, allocators and the runtime once.
    run_fleet(&fleet_spec(&spec, 10, 1), Arc::new(NullSink)).await?;
    let requests_before = server
        .counters()
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    let cpu_before = cpu_seconds();
    let (wall_ms, turns) = run_fleet(&spec, Arc::new(NullSink)).await?;
    let cpu_after = cpu_seconds();
    let requests = server
        .counters()
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    let critical_path_calls = steps + 3;
    let ideal_ms = (latency_ms * critical_path_calls) as f64;
    Ok(FleetFigures {
        agents,
        steps,
        latency_ms,
        max_parallel: spec.limits.max_parallel,
        critical_path_calls,
        ideal_ms,
        wall_ms,
        ratio: if ideal_ms > 0.0 {
            wall_ms / ideal_ms
        } else {
            f64::NAN
        },
        model_turns: turns,
        http_requests: requests - requests_before,
        cpu_us_per_step: cpu_before
            .zip(cpu_after)
            .map(|(a, b)| (b - a) * 1e6 / turns.max(1) as f64),
        peak_memory_mib: peak_memory_mib(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

pub fn print_fleet(f: &FleetFigures) {
    outln!(
        "fleet over loopback HTTP · {} agents × {} tool turns, real OpenAI provider, {} ms latency, max_parallel {}, {} cores",
        f.agents, f.steps, f.latency_ms, f.max_parallel, f.cores
    );
    outln!(
        "  ideal (latency × {} calls in series) {:>8.0} ms",
        f.critical_path_calls,
        f.ideal_ms
    );
    outln!(
        "  wall                                {:>8.0} ms",
        f.wall_ms
    );
    outln!("  ratio                               {:>8.2} ×", f.ratio);
    outln!(
        "  model turns / HTTP requests         {:>8} / {}",
        f.model_turns,
        f.http_requests
    );
    if let Some(cpu) = f.cpu_us_per_step {
        outln!("  CPU per step                        {cpu:>8.1} µs");
    }
    if let Some(peak) = f.peak_memory_mib {
        outln!("  peak memory (process)               {peak:>8.0} MiB");
    }
}
