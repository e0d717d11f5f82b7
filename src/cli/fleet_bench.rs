//! `lucid bench fleet`: many concurrent sub-agents through the real OpenAI provider,
//! recorded to a store, against lucid's policy server answering after a fixed latency.
//! The server runs in a process of its own (`bench fleet-server`) and each fleet size in
//! a fresh client process (`bench fleet-client`), so the client's CPU and peak memory are
//! its own and one size's heap does not carry into the next. Prints, per size, wall time
//! against the ideal (latency × model calls along the critical path), CPU per agent step
//! of the client and of the server, peak memory and memory per agent; and, at one size,
//! where the client's CPU goes (the runtime, recording, the HTTP client and JSON).
//! Nothing here asserts a time.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::figures::{
    cpu_seconds, cpu_times, fleet_spec, peak_memory_mib, resident_mib, run_fleet, scratch_dir,
};
use super::heap::HeapPerAgent;
use lucid_core::event::NullSink;
use lucid_core::spec::{ProviderKind, SessionSpec};
use lucid_core::store::Store;
use lucid_testkit::{session_router, PolicyServer, ServeOptions};

/// Workers in the warm-up run before each measurement (connections, allocator, runtime).
const WARM_UP_AGENTS: u64 = 10;
/// How long the bench waits for its server to say where it listens, or what it used.
const SERVER_START: Duration = Duration::from_secs(30);
/// How long one fleet size may take before the bench gives up on it.
const CLIENT_LIMIT: Duration = Duration::from_secs(30 * 60);

/// What one client process measured at one fleet size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientFigures {
    pub agents: u64,
    pub wall_ms: f64,
    /// Model turns of the measured run (each one HTTP request).
    pub model_turns: u64,
    pub cpu_us_per_step: Option<f64>,
    /// The part of `cpu_us_per_step` spent in the kernel.
    pub kernel_us_per_step: Option<f64>,
    /// Resident memory before the measured run (after the warm-up) and at its peak.
    pub base_rss_mib: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// What the heap held per agent while they all worked and when the last finished.
    pub heap: Option<HeapPerAgent>,
    pub breakdown: Option<Breakdown>,
}

/// Where the client's CPU per step goes, from three runs of the same fleet: the
/// scripted model in process unrecorded (the runtime), then recorded to a store, then
/// over HTTP recorded (the measured run).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Breakdown {
    pub runtime_us: f64,
    pub recording_us: f64,
    pub http_client_and_json_us: f64,
}

/// What the policy server used over its life, printed when its stdin closes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ServerFigures {
    cpu_s: Option<f64>,
    requests: u64,
}

/// The server's next report of what it used.
async fn read_used(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Option<ServerFigures> {
    match tokio::time::timeout(SERVER_START, lines.next_line()).await {
        Ok(Ok(Some(line))) => serde_json::from_str(&line).ok(),
        _ => None,
    }
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct FleetRow {
    pub agents: u64,
    pub ideal_ms: f64,
    pub wall_ms: f64,
    pub ratio: f64,
    pub model_turns: u64,
    pub client_cpu_us_per_step: Option<f64>,
    /// The part of the client's CPU per step spent in the kernel: loopback TCP,
    /// polling, wake-ups between threads, page faults.
    pub client_kernel_us_per_step: Option<f64>,
    pub server_cpu_us_per_step: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// (peak − resident before the run) / agents.
    pub rss_kib_per_agent: Option<f64>,
    /// Heap growth per agent while they all worked, and when the last one finished
    /// (their idle connections still pooled).
    pub heap: Option<HeapPerAgent>,
    pub breakdown: Option<Breakdown>,
}

/// The whole figure.
#[derive(Debug, Clone, Serialize)]
pub struct FleetFigures {
    pub steps: u64,
    pub latency_ms: u64,
    /// Model calls in series: the lead's two turns and one worker's `steps + 1`.
    pub critical_path_calls: u64,
    pub cores: usize,
    pub rows: Vec<FleetRow>,
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
        // 10,000 delegations in one answer are more than the default 4 MiB.
        profile.max_response_bytes = 64 << 20;
    }
    spec
}

/// The fleet of `agents` workers, every one of them running at once.
fn sized(fleet: &SessionSpec, agents: u64, steps: u64) -> SessionSpec {
    let mut spec = fleet_spec(fleet, agents, steps);
    spec.limits.max_parallel = usize::try_from(agents).unwrap_or(usize::MAX).max(1);
    spec
}

/// The parent: for each size, a server process and a client process; one row each.
pub async fn fleet(sizes: &[u64], steps: u64, latency_ms: u64) -> Result<FleetFigures, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find lucid itself: {e}"))?;
    let critical_path_calls = steps + 3;
    let ideal_ms = (latency_ms * critical_path_calls) as f64;
    // The breakdown is measured once, at 1,000 agents (or the largest size below it).
    let breakdown_at = sizes
        .iter()
        .copied()
        .filter(|&n| n <= 1000)
        .max()
        .or_else(|| sizes.iter().copied().min());
    let mut rows = Vec::new();
    for &agents in sizes {
        say!("measuring {agents} agents…");
        let numbers = [agents, steps, latency_ms].map(|n| n.to_string());
        let mut server = tokio::process::Command::new(&exe)
            .args(["bench", "fleet-server", "--agents", &numbers[0]])
            .args(["--steps", &numbers[1], "--latency-ms", &numbers[2]])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the policy server: {e}"))?;
        let stdout = server.stdout.take().ok_or("the server has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = match tokio::time::timeout(SERVER_START, lines.next_line()).await {
            Ok(Ok(Some(url))) => url,
            _ => return Err("the policy server did not say where it listens".into()),
        };
        // What the server used before the client's first request (its start-up).
        let mut stdin = server.stdin.take().ok_or("the server has no stdin")?;
        let started = match stdin.write_all(b"\n").await {
            Ok(()) => read_used(&mut lines).await,
            Err(_) => None,
        };
        let mut client = tokio::process::Command::new(&exe);
        client
            .args(["bench", "fleet-client", "--agents", &numbers[0]])
            .args(["--steps", &numbers[1], "--latency-ms", &numbers[2]])
            .args(["--url", &url]);
        if Some(agents) == breakdown_at {
            client.arg("--breakdown");
        }
        let output = client.stderr(Stdio::inherit()).kill_on_drop(true).output();
        let output = match tokio::time::timeout(CLIENT_LIMIT, output).await {
            Ok(output) => output.map_err(|e| format!("cannot run the fleet client: {e}"))?,
            Err(_) => {
                return Err(format!(
                    "the fleet client at {agents} agents did not finish within {} s",
                    CLIENT_LIMIT.as_secs()
                ))
            }
        };
        // Its stdin closed, the server says what it used and ends.
        drop(stdin);
        let ended = read_used(&mut lines).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), server.wait()).await;
        let used = started.zip(ended).and_then(|(from, to)| {
            let cpu = to.cpu_s? - from.cpu_s?;
            Some(cpu * 1e6 / to.requests.saturating_sub(from.requests).max(1) as f64)
        });
        if !output.status.success() {
            return Err(format!("the fleet client at {agents} agents failed"));
        }
        let figures: ClientFigures = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("the fleet client's figures do not parse: {e}"))?;
        rows.push(FleetRow {
            agents,
            ideal_ms,
            wall_ms: figures.wall_ms,
            ratio: if ideal_ms > 0.0 {
                figures.wall_ms / ideal_ms
            } else {
                f64::NAN
            },
            model_turns: figures.model_turns,
            client_cpu_us_per_step: figures.cpu_us_per_step,
            client_kernel_us_per_step: figures.kernel_us_per_step,
            server_cpu_us_per_step: used,
            peak_rss_mib: figures.peak_rss_mib,
            rss_kib_per_agent: figures
                .peak_rss_mib
                .zip(figures.base_rss_mib)
                .map(|(peak, base)| (peak - base).max(0.0) * 1024.0 / agents.max(1) as f64),
            heap: figures.heap,
            breakdown: figures.breakdown,
        });
    }
    Ok(FleetFigures {
        steps,
        latency_ms,
        critical_path_calls,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rows,
    })
}

/// `bench fleet-server`: serves the fleet's policies on loopback, prints its base URL on
/// stdout, then what it has used so far ([`ServerFigures`]) for each line on stdin and
/// once more when stdin closes, and ends.
pub async fn serve(
    fleet: &SessionSpec,
    agents: u64,
    steps: u64,
    latency_ms: u64,
) -> Result<(), String> {
    let spec = sized(fleet, agents, steps);
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
    outln!("{}", server.base_url());
    // Each line on stdin asks what the server has used so far; it ends when stdin closes
    // (the bench is done, or gone), saying so once more.
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if line.is_err() || lines_tx.send(()).is_err() {
                return;
            }
        }
    });
    loop {
        let open = lines_rx.recv().await.is_some();
        let used = ServerFigures {
            cpu_s: cpu_seconds(),
            requests: server.counters().requests.load(Ordering::SeqCst),
        };
        let line = serde_json::to_string(&used).map_err(|e| e.to_string())?;
        outln!("{line}");
        if !open {
            return Ok(());
        }
    }
}

/// `bench fleet-client`: runs the fleet against the server at `url`, recorded to a
/// scratch store, and measures it.
pub async fn client(
    fleet: &SessionSpec,
    agents: u64,
    steps: u64,
    url: &str,
    breakdown: bool,
) -> Result<ClientFigures, String> {
    let scripted = sized(fleet, agents, steps);
    let spec = over_loopback(&scripted, url);
    let dir = scratch_dir("fleet");
    let store = Store::open(&dir).map_err(|e| e.to_string())?;
    let measured = async {
        run_fleet(&sized(&spec, WARM_UP_AGENTS, 1), Arc::new(store.clone())).await?;
        let base_rss_mib = resident_mib();
        let cpu_before = cpu_times();
        let run = run_fleet(&spec, Arc::new(store.clone())).await?;
        let (wall_ms, model_turns) = (run.wall_ms, run.model_turns);
        let cpu_after = cpu_times();
        let peak_rss_mib = peak_memory_mib();
        let per_step = |seconds: f64| seconds * 1e6 / model_turns.max(1) as f64;
        let used = cpu_before.zip(cpu_after);
        let cpu_us_per_step = used.map(|(a, b)| per_step(b.user + b.kernel - a.user - a.kernel));
        let kernel_us_per_step = used.map(|(a, b)| per_step(b.kernel - a.kernel));
        let breakdown = match (breakdown, cpu_us_per_step) {
            (true, Some(http)) => Some(break_down(&scripted, &store, http).await?),
            _ => None,
        };
        Ok::<_, String>(ClientFigures {
            agents,
            wall_ms,
            model_turns,
            cpu_us_per_step,
            kernel_us_per_step,
            base_rss_mib,
            peak_rss_mib,
            heap: run.heap,
            breakdown,
        })
    }
    .await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    measured
}

/// The client's CPU per step split by running the same fleet on the scripted model in
/// process, unrecorded and then recorded.
async fn break_down(
    scripted: &SessionSpec,
    store: &Store,
    http_us: f64,
) -> Result<Breakdown, String> {
    let per_step = |cpu: Option<f64>, turns: u64| cpu.map(|s| s * 1e6 / turns.max(1) as f64);
    let before = cpu_seconds();
    let turns = run_fleet(scripted, Arc::new(NullSink)).await?.model_turns;
    let unrecorded = per_step(cpu_seconds().zip(before).map(|(a, b)| a - b), turns);
    let before = cpu_seconds();
    let turns = run_fleet(scripted, Arc::new(store.clone()))
        .await?
        .model_turns;
    let recorded = per_step(cpu_seconds().zip(before).map(|(a, b)| a - b), turns);
    let (Some(runtime_us), Some(recorded)) = (unrecorded, recorded) else {
        return Err("this system does not say how much CPU a process used".into());
    };
    Ok(Breakdown {
        runtime_us,
        recording_us: (recorded - runtime_us).max(0.0),
        http_client_and_json_us: (http_us - recorded).max(0.0),
    })
}

pub fn print_fleet(f: &FleetFigures) {
    outln!(
        "fleet over loopback HTTP · {} tool turns per worker · recorded to a store · policy server in its own process, answering after {} ms · {} cores",
        f.steps, f.latency_ms, f.cores
    );
    outln!(
        "  ideal: latency × {} calls in series = {:.0} ms",
        f.critical_path_calls,
        f.critical_path_calls * f.latency_ms
    );
    outln!(
        "  {:>7}  {:>9}  {:>7}  {:>16}  {:>16}  {:>9}  {:>10}  {:>11}  {:>13}",
        "agents",
        "wall",
        "× ideal",
        "client CPU/step",
        "server CPU/step",
        "peak RSS",
        "RSS/agent",
        "heap/live",
        "heap/finished"
    );
    let micros = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} µs"));
    let kib = |bytes: Option<f64>| bytes.map_or("-".into(), |b| format!("{:.1} KiB", b / 1024.0));
    for row in &f.rows {
        outln!(
            "  {:>7}  {:>6.0} ms  {:>7.2}  {:>16}  {:>16}  {:>9}  {:>10}  {:>11}  {:>13}",
            row.agents,
            row.wall_ms,
            row.ratio,
            micros(row.client_cpu_us_per_step),
            micros(row.server_cpu_us_per_step),
            row.peak_rss_mib
                .map_or("-".into(), |m| format!("{m:.0} MiB")),
            row.rss_kib_per_agent
                .map_or("-".into(), |k| format!("{k:.1} KiB")),
            kib(row.heap.and_then(|h| h.live_bytes)),
            kib(row.heap.and_then(|h| h.finished_bytes)),
        );
    }
    outln!("  heap: what the allocator handed out and had not had back, grown over the run ÷ agents: the most while all worked; at the last one's finish (with idle connections pooled)");
    let kernel: Vec<String> = f
        .rows
        .iter()
        .filter_map(|row| {
            let kernel = row.client_kernel_us_per_step?;
            Some(format!("{} agents {kernel:.1} µs", row.agents))
        })
        .collect();
    if !kernel.is_empty() {
        outln!(
            "  of the client's CPU per step, about this much in the kernel (loopback TCP, polling, wake-ups, page faults, the store's writes): {}",
            kernel.join(" · ")
        );
    }
    for row in &f.rows {
        if let Some(b) = &row.breakdown {
            outln!(
                "  client CPU per step at {} agents: runtime {:.1} µs · recording {:.1} µs · HTTP client and JSON {:.1} µs",
                row.agents, b.runtime_us, b.recording_us, b.http_client_and_json_us
            );
        }
    }
}
