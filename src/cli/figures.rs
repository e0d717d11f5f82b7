//! Scale figures for `lucid bench`: orchestration overhead per agent step, event append
//! and replay throughput, and a dream over many sessions. Each prints what it measured;
//! nothing here asserts a time. The machine is shared and noisy: compare ratios within
//! one run.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use super::bench::run_seeds;
use super::heap::{HeapMarks, HeapPerAgent};
use lucid_core::dream::{dream, Dreamer};
use lucid_core::event::{AgentId, Event, EventKind, EventSink, NullSink, SessionId, SinkError};
use lucid_core::run::report::SessionReport;
use lucid_core::spec::SessionSpec;
use lucid_core::store::Store;

/// CPU seconds this process has used (user + system), to the microsecond, where the OS
/// tells.
pub fn cpu_seconds() -> Option<f64> {
    cpu_times().map(|t| t.user + t.kernel)
}

/// CPU seconds this process has used so far, in its own code and libraries (user) and
/// in the kernel on its behalf (system calls, page faults).
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    pub user: f64,
    pub kernel: f64,
}

/// What `getrusage` says this process has used, where the OS tells.
pub fn cpu_times() -> Option<CpuTimes> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given and
    // returns 0 when it did; it is read only then.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(CpuTimes {
        user: seconds(usage.ru_utime),
        kernel: seconds(usage.ru_stime),
    })
}

/// A memory field (`VmHWM`, `VmRSS`) of a `/proc/PID/status` text, in KiB.
pub(super) fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A memory field of this process, in MiB, where the OS tells.
fn own_memory_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(status_kib(&status, field)? as f64 / 1024.0)
}

/// The most memory this process has held, in MiB, where the OS tells.
pub fn peak_memory_mib() -> Option<f64> {
    own_memory_mib("VmHWM")
}

/// This process's resident memory now, in MiB, where the OS tells.
pub fn resident_mib() -> Option<f64> {
    own_memory_mib("VmRSS")
}

pub(super) fn scratch_dir(label: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "lucid-bench-{label}-{}-{}",
        std::process::id(),
        lucid_core::event::now_ms()
    ))
}

/// Orchestration overhead: a fleet of workers on the zero-latency scripted model.
#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    pub workers: u64,
    pub steps: u64,
    pub max_parallel: usize,
    pub wall_ms_unrecorded: f64,
    pub wall_ms_recorded: f64,
    pub us_per_step_unrecorded: f64,
    pub us_per_step_recorded: f64,
    pub cpu_us_per_step: Option<f64>,
    pub peak_memory_mib: Option<f64>,
    /// Heap growth when the last worker finished, ÷ workers: what a finished worker
    /// leaves in memory while its session goes on. Unrecorded, and recorded (with what
    /// the store caches of its events).
    pub finished_worker_heap_bytes_unrecorded: Option<f64>,
    pub finished_worker_heap_bytes_recorded: Option<f64>,
}

pub(super) fn fleet_spec(fleet: &SessionSpec, workers: u64, steps: u64) -> SessionSpec {
    let mut spec = fleet.clone();
    spec.environment
        .options
        .insert("workers".into(), toml::Value::Integer(workers as i64));
    spec.environment
        .options
        .insert("steps".into(), toml::Value::Integer(steps as i64));
    // One worker per agent: the session's agent budget must hold them all.
    let workers = u32::try_from(workers).unwrap_or(u32::MAX);
    spec.limits.max_agents = spec.limits.max_agents.max(workers);
    spec
}

/// Records through `inner`, counts the model turns (so nobody holds the events) and
/// marks the heap as the workers turn and finish.
struct CountingSink {
    inner: Arc<dyn EventSink>,
    turns: AtomicU64,
    /// The lead's agent id once it has spawned (0 before): every other agent is a worker.
    lead: AtomicU32,
    heap: HeapMarks,
}

impl CountingSink {
    fn is_worker(&self, event: &Event) -> bool {
        event
            .agent
            .is_some_and(|agent| agent.0 != self.lead.load(Ordering::Relaxed))
    }
}

impl EventSink for CountingSink {
    fn append(&self, event: &Event) -> Result<(), SinkError> {
        match &event.kind {
            EventKind::AgentSpawned { parent: None, .. } => {
                if let Some(lead) = event.agent {
                    self.lead.store(lead.0, Ordering::Relaxed);
                }
            }
            EventKind::ModelTurn { .. } => {
                self.turns.fetch_add(1, Ordering::Relaxed);
                if self.is_worker(event) {
                    self.heap.worker_turn();
                }
            }
            EventKind::AgentFinished { .. } if self.is_worker(event) => {
                self.heap.worker_finished();
            }
            _ => {}
        }
        self.inner.append(event)
    }
    fn flush(&self) -> Result<(), SinkError> {
        self.inner.flush()
    }
    fn recorded(&self, session: SessionId) -> Option<Result<Vec<Event>, SinkError>> {
        self.inner.recorded(session)
    }
}

/// What one fleet run measured.
pub(super) struct FleetRun {
    pub wall_ms: f64,
    pub model_turns: u64,
    /// What the heap held per worker, where the allocator tells.
    pub heap: Option<HeapPerAgent>,
}

/// Runs the fleet `spec` recorded through `sink` and measures it. Nobody reads its
/// events live, so none of them is held.
pub(super) async fn run_fleet(
    spec: &SessionSpec,
    sink: Arc<dyn EventSink>,
) -> Result<FleetRun, String> {
    let workers = spec
        .environment
        .options
        .get("workers")
        .and_then(toml::Value::as_integer)
        .and_then(|n| u64::try_from(n).ok());
    let counting = Arc::new(CountingSink {
        inner: sink,
        turns: AtomicU64::new(0),
        lead: AtomicU32::new(0),
        heap: HeapMarks::new(workers),
    });
    let options = lucid_core::session::LaunchOptions {
        spec_path: "fleet".into(),
        playbooks: lucid_core::session::Playbooks::Given(Vec::new()),
        no_scheduled_dream: true,
        ..Default::default()
    };
    let started = Instant::now();
    let mut handle = lucid_core::session::launch(
        lucid_envs::worlds(),
        spec.clone(),
        lucid_core::session::Recorder::Sink(counting.clone()),
        options,
    )
    .map_err(|e| e.to_string())?;
    drop(handle.events());
    let result = handle.join().await.result.map_err(|e| e.to_string())?;
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !result.passed {
        return Err("the fleet did not finish every job".into());
    }
    Ok(FleetRun {
        wall_ms,
        model_turns: counting.turns.load(Ordering::Relaxed),
        heap: counting.heap.per_agent(),
    })
}

pub async fn overhead(fleet: &SessionSpec, workers: u64, steps: u64) -> Result<Overhead, String> {
    let spec = fleet_spec(fleet, workers, steps);
    // Warm up allocators and the runtime once.
    run_fleet(&fleet_spec(fleet, 10, 1), Arc::new(NullSink)).await?;
    let cpu_before = cpu_seconds();
    let unrecorded = run_fleet(&spec, Arc::new(NullSink)).await?;
    let cpu_after = cpu_seconds();
    let dir = scratch_dir("overhead");
    let store = Store::open(&dir).map_err(|e| e.to_string())?;
    let recorded = run_fleet(&spec, Arc::new(store.clone())).await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    let recorded = recorded?;
    let turns = unrecorded.model_turns;
    let per_step = |ms: f64| ms * 1000.0 / turns.max(1) as f64;
    Ok(Overhead {
        workers,
        steps,
        max_parallel: spec.limits.max_parallel,
        wall_ms_unrecorded: unrecorded.wall_ms,
        wall_ms_recorded: recorded.wall_ms,
        us_per_step_unrecorded: per_step(unrecorded.wall_ms),
        us_per_step_recorded: per_step(recorded.wall_ms),
        cpu_us_per_step: cpu_before
            .zip(cpu_after)
            .map(|(a, b)| (b - a) * 1e6 / turns.max(1) as f64),
        peak_memory_mib: peak_memory_mib(),
        finished_worker_heap_bytes_unrecorded: unrecorded.heap.and_then(|h| h.finished_bytes),
        finished_worker_heap_bytes_recorded: recorded.heap.and_then(|h| h.finished_bytes),
    })
}

/// Event append and replay throughput.
#[derive(Debug, Clone, Serialize)]
pub struct StoreFigures {
    pub events: u64,
    pub append_events_per_s: f64,
    pub flush_ms: f64,
    pub replay_ms: f64,
    pub replay_events_per_s: f64,
    pub fold_ms: f64,
}

/// A realistic mix: a model turn, a tool call and its result, some text.
fn sample_event(session: SessionId, seq: u64) -> Event {
    let agent = Some(AgentId((seq % 64) as u32 + 1));
    let kind = match seq % 4 {
        0 => EventKind::ModelTurn {
            turn: (seq / 4) as u32,
            tokens_in: 1200,
            tokens_out: 80,
            stop: "tool_use".into(),
            cost_usd: None,
            tool_calls: None,
        },
        1 => EventKind::ToolCalled {
            call_id: format!("t{seq}_1"),
            tool: "survey_site".into(),
            input: json!({"site": "C", "mode": "orbital"}),
        },
        2 => EventKind::ToolReturned {
            call_id: format!("t{seq}_1"),
            tool: "survey_site".into(),
            output: "Site C, orbital survey: mare terrain, slope 3.1°, 0 hazard(s) seen.".into(),
            is_error: false,
        },
        _ => EventKind::Text {
            text: "Surveying the next site.".into(),
        },
    };
    Event {
        session,
        seq,
        at_ms: 1_800_000_000_000 + seq,
        agent,
        kind,
    }
}

pub fn store_throughput(events: u64) -> Result<StoreFigures, String> {
    let dir = scratch_dir("store");
    let result = (|| {
        let store = Store::open(&dir).map_err(|e| e.to_string())?;
        let session = SessionId::generate();
        let started = Instant::now();
        for seq in 0..events {
            store
                .append_event(&sample_event(session, seq))
                .map_err(|e| e.to_string())?;
        }
        let append = started.elapsed().as_secs_f64();
        let started = Instant::now();
        store.flush().map_err(|e| e.to_string())?;
        let flush = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let read = store.events(session).map_err(|e| e.to_string())?;
        let replay = started.elapsed().as_secs_f64();
        if read.len() as u64 != events {
            return Err(format!("replayed {} of {events} events", read.len()));
        }
        let started = Instant::now();
        let report = SessionReport::fold(&read, false);
        let fold = started.elapsed().as_secs_f64();
        std::hint::black_box(report);
        Ok(StoreFigures {
            events,
            append_events_per_s: events as f64 / append,
            flush_ms: flush * 1000.0,
            replay_ms: replay * 1000.0,
            replay_events_per_s: events as f64 / replay,
            fold_ms: fold * 1000.0,
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A dream over many recorded sessions.
#[derive(Debug, Clone, Serialize)]
pub struct DreamFigures {
    pub sessions: usize,
    pub events: u64,
    pub record_ms: f64,
    pub dream_ms: f64,
    pub proposals: usize,
}

pub async fn dream_scale(lumara: &SessionSpec, sessions: u64) -> Result<DreamFigures, String> {
    let dir = scratch_dir("dream");
    let result = async {
        let store = Store::open(&dir).map_err(|e| e.to_string())?;
        let seeds: Vec<u64> = (1..=sessions).collect();
        let started = Instant::now();
        run_seeds(lumara, &seeds, &[], Some(&store)).await?;
        let record_ms = started.elapsed().as_secs_f64() * 1000.0;
        let events: u64 = store
            .sessions()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|s| store.next_seq(s.id).unwrap_or(0))
            .sum();
        let started = Instant::now();
        let report = dream(
            &store,
            &lumara.team,
            &Dreamer::Offline,
            &lucid_envs::catalog(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(DreamFigures {
            sessions: report.run.sessions.len(),
            events,
            record_ms,
            dream_ms: started.elapsed().as_secs_f64() * 1000.0,
            proposals: report.proposals.len(),
        })
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
