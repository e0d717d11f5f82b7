//! `lucid bench`: figures. `bench lumara` calibrates an environment's baseline team:
//! first-attempt and final pass rates and mean iterations over a range of seeds. `bench
//! tui` prints frame times of the TUI's Run view over a large synthetic session; `bench
//! hostile` runs every attack of a hostile model server against `lucid run`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use serde::Serialize;

use super::exit;
use lucid_core::event::NullSink;
use lucid_core::run::Playbook;
use lucid_core::session::{LaunchOptions, Playbooks, Recorder};
use lucid_core::spec::SessionSpec;
use lucid_core::store::Store;

/// `lucid bench [FIGURE]`: one figure, or (without a subcommand) all the scale figures.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    /// With no subcommand: print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Orchestration overhead per agent step: a fleet of workers on the zero-latency
    /// scripted model, unrecorded and recorded.
    Overhead {
        #[arg(long, default_value_t = 1000)]
        workers: u64,
        #[arg(long, default_value_t = 3)]
        steps: u64,
        #[arg(long)]
        json: bool,
    },
    /// Many concurrent sub-agents through the real OpenAI provider, recorded to a store,
    /// against lucid's policy server in a process of its own: per fleet size, wall time
    /// against the ideal, CPU per agent step (client and server), peak memory and
    /// memory per agent, and where the client's CPU goes.
    Fleet {
        /// Fleet sizes, each run in a fresh client process: a comma list.
        #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
        agents: Vec<u64>,
        /// Tool turns of each worker.
        #[arg(long, default_value_t = 3)]
        steps: u64,
        /// Milliseconds the server waits before every answer.
        #[arg(long, default_value_t = 50)]
        latency_ms: u64,
        #[arg(long)]
        json: bool,
    },
    /// `bench fleet`'s policy server: prints its URL, serves until stdin closes.
    #[command(hide = true)]
    FleetServer {
        #[command(flatten)]
        shape: FleetShape,
    },
    /// `bench fleet`'s client at one size: prints its figures as JSON.
    #[command(hide = true)]
    FleetClient {
        #[command(flatten)]
        shape: FleetShape,
        #[arg(long)]
        url: String,
        #[arg(long)]
        breakdown: bool,
    },
    /// Event append throughput and replay time of one long session.
    Store {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long)]
        json: bool,
    },
    /// A dream over many recorded Lumara sessions.
    Dream {
        #[arg(long, default_value_t = 1000)]
        sessions: u64,
        #[arg(long)]
        json: bool,
    },
    /// Learning from dreams: held-out pass rates without and with approved playbooks.
    Learning(LearningArgs),
    /// Frame times of the TUI's Run view over a large synthetic session.
    Tui {
        /// Agent threads in the tree.
        #[arg(long, default_value_t = 10_000)]
        nodes: usize,
        /// Lines in the selected thread's transcript.
        #[arg(long, default_value_t = 100_000)]
        lines: usize,
        /// Frames to draw.
        #[arg(long, default_value_t = 200)]
        frames: usize,
        /// Screen size, columns x rows.
        #[arg(long, default_value = "200x60")]
        size: String,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every attack of a hostile loopback model server (escapes, endless and ping-only
    /// streams, a 100 MB answer, 5,000 tool calls, the key echoed) against `lucid run`
    /// in a child process, per protocol: outcome, wall, peak RSS, store size, leaks.
    Hostile {
        /// The profile's turn_timeout_s, so endless streams end in seconds.
        #[arg(long, default_value_t = 5)]
        turn_timeout_s: u64,
        /// Only these attacks (repeatable): escapes-in-error, escapes-in-text, endless,
        /// ping-only, huge, many-calls, key-echo, key-echo-401.
        #[arg(long = "attack", value_name = "NAME")]
        attacks: Vec<String>,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Baseline pass rates of a session's team over many seeds (nothing is recorded).
    Lumara {
        /// The session file to run.
        #[arg(long, default_value = "sessions/lumara.toml")]
        spec: PathBuf,
        /// Seeds to run: `A..B` (inclusive) or a comma list.
        #[arg(long, default_value = "1..30")]
        seeds: String,
        /// The world (default: the session file's).
        #[arg(long)]
        world: Option<u64>,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Worlds, train seeds and held-out seeds of the learning benchmark.
#[derive(Debug, clap::Args)]
pub struct LearningArgs {
    /// The session file whose team learns.
    #[arg(long, default_value = "sessions/lumara.toml")]
    pub spec: PathBuf,
    /// Worlds to measure: `A..B` or a comma list.
    #[arg(long, default_value = "1..5")]
    pub worlds: String,
    /// Seeds the baseline team is recorded on before the dream.
    #[arg(long, default_value = "1..20")]
    pub train: String,
    /// Held-out seeds, run without and with the approved playbooks.
    #[arg(long, default_value = "101..130")]
    pub test: String,
    /// Environment options to override, `KEY=VALUE` (e.g. `logs=40`); repeatable.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The fleet one of `bench fleet`'s child processes serves or runs.
#[derive(Debug, clap::Args)]
pub struct FleetShape {
    #[arg(long)]
    agents: u64,
    #[arg(long)]
    steps: u64,
    #[arg(long)]
    latency_ms: u64,
}

/// Pass rates of a team over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub spec: String,
    /// The environment kind.
    pub environment: String,
    pub world: u64,
    pub seeds: Vec<u64>,
    pub first_attempt_pass_rate: f64,
    pub final_pass_rate: f64,
    pub mean_iterations: f64,
    /// For each criterion, on how many seeds it failed at the first attempt.
    pub first_attempt_failures: Vec<(String, u32)>,
    /// The environment's benchmark figures (e.g. accuracy, tool calls per log): the
    /// mean of each over the seeds' final facts.
    pub figures: BTreeMap<String, f64>,
    pub wall_ms: u64,
}

pub async fn bench(args: BenchArgs) -> u8 {
    let Some(command) = args.command else {
        return bench_all(args.json).await;
    };
    match command {
        BenchCommand::Overhead {
            workers,
            steps,
            json,
        } => {
            let figures = match load("sessions/fleet.toml") {
                Ok(fleet) => super::figures::overhead(&fleet, workers, steps).await,
                Err(message) => Err(message),
            };
            report(figures, json, print_overhead)
        }
        BenchCommand::Fleet {
            agents,
            steps,
            latency_ms,
            json,
        } => {
            if agents.is_empty() || agents.contains(&0) {
                say!("lucid: --agents takes fleet sizes of 1 or more, e.g. 100,1000,10000");
                return exit::USAGE;
            }
            let figures = match load("sessions/fleet.toml") {
                Ok(_) => super::fleet_bench::fleet(&agents, steps, latency_ms).await,
                Err(message) => Err(message),
            };
            report(figures, json, super::fleet_bench::print_fleet)
        }
        BenchCommand::FleetServer { shape } => {
            let served = match load("sessions/fleet.toml") {
                Ok(fleet) => {
                    let FleetShape {
                        agents,
                        steps,
                        latency_ms,
                    } = shape;
                    super::fleet_bench::serve(&fleet, agents, steps, latency_ms).await
                }
                Err(message) => Err(message),
            };
            report(served, false, |()| {})
        }
        BenchCommand::FleetClient {
            shape,
            url,
            breakdown,
        } => {
            let figures = match load("sessions/fleet.toml") {
                Ok(fleet) => {
                    super::fleet_bench::client(&fleet, shape.agents, shape.steps, &url, breakdown)
                        .await
                }
                Err(message) => Err(message),
            };
            report(figures, true, |_| {})
        }
        BenchCommand::Hostile {
            turn_timeout_s,
            attacks,
            json,
        } => report(
            super::hostile_bench::hostile(turn_timeout_s, &attacks).await,
            json,
            super::hostile_bench::print_hostile,
        ),
        BenchCommand::Store { events, json } => {
            report(super::figures::store_throughput(events), json, print_store)
        }
        BenchCommand::Dream { sessions, json } => {
            let figures = match load("sessions/lumara.toml") {
                Ok(lumara) => super::figures::dream_scale(&lumara, sessions).await,
                Err(message) => Err(message),
            };
            report(figures, json, print_dream)
        }
        BenchCommand::Learning(args) => bench_learning(args).await,
        BenchCommand::Tui {
            nodes,
            lines,
            frames,
            size,
            json,
        } => {
            let parsed = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)));
            let Some((width, height)) = parsed.filter(|(w, h)| *w >= 20 && *h >= 8) else {
                say!("lucid: --size: expected COLUMNSxROWS of at least 20x8, like 200x60");
                return exit::USAGE;
            };
            let figures = lucid_tui::bench::measure(nodes, lines, frames.max(1), width, height);
            report(figures, json, print_tui)
        }
        BenchCommand::Lumara {
            spec,
            seeds,
            world,
            json,
        } => {
            let seeds = match parse_seeds(&seeds) {
                Ok(seeds) => seeds,
                Err(message) => {
                    say!("lucid: --seeds: {message}");
                    return exit::USAGE;
                }
            };
            let spec_file = match lucid_core::session::load(
                lucid_envs::worlds().as_ref(),
                &spec,
                None,
                None,
                world,
            )
            .map_err(|e| e.to_string())
            {
                Ok(spec) => spec,
                Err(message) => {
                    say!("lucid: {message}");
                    return exit::USAGE;
                }
            };
            match calibrate(&spec_file, &seeds).await {
                Ok(figures) => {
                    print_calibration(&figures, json);
                    exit::OK
                }
                Err(message) => {
                    say!("lucid: {message}");
                    exit::RUNTIME
                }
            }
        }
    }
}

/// Runs the team once per seed, unrecorded and without playbooks.
pub async fn calibrate(spec: &SessionSpec, seeds: &[u64]) -> Result<Calibration, String> {
    run_seeds(spec, seeds, &[], None).await
}

/// Runs the team once per seed with the given playbooks, recording into `store` if
/// one is given, and sums up the outcomes.
pub async fn run_seeds(
    spec: &SessionSpec,
    seeds: &[u64],
    playbooks: &[Playbook],
    store: Option<&Store>,
) -> Result<Calibration, String> {
    let started = std::time::Instant::now();
    let mut first_passes = 0u32;
    let mut final_passes = 0u32;
    let mut iterations = 0u32;
    let figure_names: Vec<String> = lucid_envs::catalog()
        .get(spec.environment.kind.get_ref())
        .map(|c| c.figures.iter().map(|f| f.fact.clone()).collect())
        .unwrap_or_default();
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut failures: Vec<(String, u32)> = spec
        .rubric
        .criteria
        .iter()
        .map(|c| (c.id.clone(), 0))
        .collect();
    for &seed in seeds {
        let mut seeded = spec.clone();
        seeded.environment.seed = seed;
        let recorder = match store {
            Some(store) => Recorder::Store(store.clone()),
            None => Recorder::Sink(Arc::new(NullSink)),
        };
        let options = LaunchOptions {
            spec_path: spec.path.display().to_string(),
            playbooks: Playbooks::Given(playbooks.to_vec()),
            no_scheduled_dream: true,
            ..LaunchOptions::default()
        };
        let result = lucid_core::session::launch(lucid_envs::worlds(), seeded, recorder, options)
            .map_err(|err| err.to_string())?
            .join()
            .await
            .result
            .map_err(|err| format!("seed {seed}: {err}"))?;
        if let Some(first) = result.verdicts.first() {
            if first.passed() {
                first_passes += 1;
            }
            for verdict in first.criteria.iter().filter(|c| !c.passed) {
                if let Some(entry) = failures.iter_mut().find(|(id, _)| id == &verdict.id) {
                    entry.1 += 1;
                }
            }
        }
        if result.passed {
            final_passes += 1;
        }
        for name in &figure_names {
            let value = result
                .facts
                .get(name)
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            *sums.entry(name.clone()).or_default() += value;
        }
        iterations += result.verdicts.len() as u32;
    }
    let n = seeds.len().max(1) as f64;
    Ok(Calibration {
        spec: spec.path.display().to_string(),
        environment: spec.environment.kind.get_ref().clone(),
        world: spec.environment.world,
        seeds: seeds.to_vec(),
        first_attempt_pass_rate: f64::from(first_passes) / n,
        final_pass_rate: f64::from(final_passes) / n,
        mean_iterations: f64::from(iterations) / n,
        first_attempt_failures: failures,
        figures: sums.into_iter().map(|(k, v)| (k, v / n)).collect(),
        wall_ms: started.elapsed().as_millis() as u64,
    })
}

fn print_calibration(figures: &Calibration, json: bool) {
    if json {
        match serde_json::to_string_pretty(figures) {
            Ok(text) => outln!("{text}"),
            Err(err) => say!("lucid: cannot encode the figures: {err}"),
        }
        return;
    }
    let first = figures.seeds.first().copied().unwrap_or(0);
    let last = figures.seeds.last().copied().unwrap_or(0);
    outln!(
        "baseline calibration · {} · world {} · {} seeds ({first}..{last})",
        figures.spec,
        figures.world,
        figures.seeds.len()
    );
    outln!(
        "  first-attempt pass rate  {:>5.1} %",
        figures.first_attempt_pass_rate * 100.0
    );
    outln!(
        "  final pass rate          {:>5.1} %",
        figures.final_pass_rate * 100.0
    );
    outln!(
        "  mean iterations          {:>7.2}",
        figures.mean_iterations
    );
    for (name, mean) in &figures.figures {
        outln!("  mean {name:<19} {mean:>7.3}");
    }
    outln!("  first-attempt failures by criterion:");
    for (id, count) in &figures.first_attempt_failures {
        outln!("    {id:<24} {count}");
    }
    outln!(
        "  wall time                {:>7.2} s",
        figures.wall_ms as f64 / 1000.0
    );
}

async fn bench_learning(args: LearningArgs) -> u8 {
    let parsed = (|| {
        Ok::<_, String>((
            parse_seeds(&args.worlds).map_err(|e| format!("--worlds: {e}"))?,
            parse_seeds(&args.train).map_err(|e| format!("--train: {e}"))?,
            parse_seeds(&args.test).map_err(|e| format!("--test: {e}"))?,
        ))
    })();
    let (worlds, train, test) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            say!("lucid: {message}");
            return exit::USAGE;
        }
    };
    let mut spec = match lucid_core::session::load(
        lucid_envs::worlds().as_ref(),
        &args.spec,
        None,
        None,
        None,
    )
    .map_err(|e| e.to_string())
    {
        Ok(spec) => spec,
        Err(message) => {
            say!("lucid: {message}");
            return exit::USAGE;
        }
    };
    for option in &args.options {
        let Some((key, value)) = option.split_once('=') else {
            say!("lucid: --option: `{option}` is not KEY=VALUE");
            return exit::USAGE;
        };
        spec.environment.options.insert(
            key.trim().to_string(),
            super::learning::option_value(value.trim()),
        );
    }
    // Options are the environment's to check: fail before any run starts.
    if let Err(err) = lucid_envs::build(&spec.environment, 1, 1) {
        say!("lucid: {}: {err}", args.spec.display());
        return exit::USAGE;
    }
    let mut figures = Vec::new();
    for world in worlds {
        say!(
            "world {world}: training on {} seeds, dreaming, measuring on {} held-out seeds…",
            train.len(),
            test.len()
        );
        match super::learning::learning(&spec, world, &train, &test).await {
            Ok(f) => figures.push(f),
            Err(message) => {
                say!("lucid: world {world}: {message}");
                return exit::RUNTIME;
            }
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&figures) {
            Ok(text) => outln!("{text}"),
            Err(err) => {
                say!("lucid: cannot encode the figures: {err}");
                return exit::RUNTIME;
            }
        }
    } else {
        super::learning::print_learning(&figures);
    }
    exit::OK
}

/// The session files the benches run by default, built in so that `lucid bench` works
/// from any folder. A file at the same path under the current folder wins, so a change
/// to it can be measured.
const BUILT_IN_SESSIONS: [(&str, &str); 2] = [
    (
        "sessions/fleet.toml",
        include_str!("../../sessions/fleet.toml"),
    ),
    (
        "sessions/lumara.toml",
        include_str!("../../sessions/lumara.toml"),
    ),
];

fn load(path: &str) -> Result<SessionSpec, String> {
    let file = std::path::Path::new(path);
    let built_in = BUILT_IN_SESSIONS
        .iter()
        .find(|(name, _)| *name == path && !file.exists());
    match built_in {
        Some((_, source)) => built_in_session(file, source),
        None => lucid_core::session::load(lucid_envs::worlds().as_ref(), file, None, None, None)
            .map_err(|e| e.to_string()),
    }
}

/// A built-in session file, read as `lucid run` reads one (the user's model profiles
/// under its own).
fn built_in_session(path: &std::path::Path, source: &str) -> Result<SessionSpec, String> {
    let user = lucid_core::config::user_config().map_err(|e| e.to_string())?;
    let catalog = lucid_envs::worlds().catalog();
    lucid_core::spec::parse_with(path, source, &catalog, &user).map_err(|e| e.to_string())
}

/// Prints figures as a table or JSON; a failure is one sentence and exit 3.
fn report<T: Serialize>(figures: Result<T, String>, json: bool, print: fn(&T)) -> u8 {
    match figures {
        Ok(figures) if json => match serde_json::to_string_pretty(&figures) {
            Ok(text) => {
                outln!("{text}");
                exit::OK
            }
            Err(err) => {
                say!("lucid: cannot encode the figures: {err}");
                exit::RUNTIME
            }
        },
        Ok(figures) => {
            print(&figures);
            exit::OK
        }
        Err(message) => {
            say!("lucid: {message}");
            exit::RUNTIME
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn print_overhead(f: &super::figures::Overhead) {
    outln!(
        "orchestration overhead · {} workers × {} tool turns, scripted zero-latency model, max_parallel {}, {} cores",
        f.workers, f.steps, f.max_parallel, cores()
    );
    outln!(
        "  per agent step, unrecorded   {:>8.1} µs   ({:.0} ms in all)",
        f.us_per_step_unrecorded,
        f.wall_ms_unrecorded
    );
    outln!(
        "  per agent step, recorded     {:>8.1} µs   ({:.0} ms in all)",
        f.us_per_step_recorded,
        f.wall_ms_recorded
    );
    if let Some(cpu) = f.cpu_us_per_step {
        outln!("  CPU per step, unrecorded     {cpu:>8.1} µs");
    }
    if let Some(peak) = f.peak_memory_mib {
        outln!("  peak memory (process)        {peak:>8.0} MiB");
    }
    let finished = [
        ("unrecorded", f.finished_worker_heap_bytes_unrecorded),
        ("recorded", f.finished_worker_heap_bytes_recorded),
    ];
    for (how, bytes) in finished {
        if let Some(bytes) = bytes {
            outln!(
                "  heap per finished worker, {how:<10} {:>6.1} KiB  (heap growth at the last finish ÷ workers)",
                bytes / 1024.0
            );
        }
    }
}

fn print_store(f: &super::figures::StoreFigures) {
    outln!("event store · one session of {} events", f.events);
    outln!(
        "  append                {:>12.0} events/s",
        f.append_events_per_s
    );
    outln!("  flush                 {:>12.1} ms", f.flush_ms);
    outln!(
        "  replay (read back)    {:>12.1} ms  ({:.0} events/s)",
        f.replay_ms,
        f.replay_events_per_s
    );
    outln!("  fold into a report    {:>12.1} ms", f.fold_ms);
}

fn print_dream(f: &super::figures::DreamFigures) {
    outln!(
        "dream at scale · {} Lumara sessions ({} events)",
        f.sessions,
        f.events
    );
    outln!("  recording the sessions  {:>9.0} ms", f.record_ms);
    outln!(
        "  the dream               {:>9.0} ms  ({} proposals)",
        f.dream_ms,
        f.proposals
    );
}

fn print_tui(f: &lucid_tui::bench::FrameFigures) {
    outln!(
        "TUI Run view · {} threads, {} transcript lines, {}x{} cells, {} frames",
        f.nodes,
        f.transcript_lines,
        f.width,
        f.height,
        f.frames
    );
    outln!(
        "  fold                  {:>12.0} events/s  ({} events)",
        f.fold_events_per_s,
        f.events
    );
    outln!(
        "  frame                 {:>12.2} ms mean, p50 {:.2}, p99 {:.2}, max {:.2}",
        f.mean_ms,
        f.p50_ms,
        f.p99_ms,
        f.max_ms
    );
}

/// Every scale figure, with defaults.
async fn bench_all(json: bool) -> u8 {
    let (fleet, lumara) = match (load("sessions/fleet.toml"), load("sessions/lumara.toml")) {
        (Ok(fleet), Ok(lumara)) => (fleet, lumara),
        (Err(message), _) | (_, Err(message)) => {
            say!("lucid: {message}");
            return exit::USAGE;
        }
    };
    say!("measuring orchestration overhead…");
    let overhead = super::figures::overhead(&fleet, 1000, 3).await;
    say!("measuring 1,000 agents over loopback HTTP…");
    let loopback = super::fleet_bench::fleet(&[1000], 3, 50).await;
    say!("measuring the event store (1,000,000 events)…");
    let store = super::figures::store_throughput(1_000_000);
    say!("measuring a dream over 1,000 sessions…");
    let dream = super::figures::dream_scale(&lumara, 1000).await;
    let calibration = calibrate(&lumara, &(1..=30).collect::<Vec<_>>()).await;
    say!("measuring TUI frames (10,000 threads, 100,000 transcript lines)…");
    let tui = match lucid_tui::bench::measure(10_000, 100_000, 100, 200, 60) {
        Ok(tui) => tui,
        Err(m) => {
            say!("lucid: {m}");
            return exit::RUNTIME;
        }
    };
    let (overhead, store, dream, calibration) = match (overhead, store, dream, calibration) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(m), ..) | (_, Err(m), ..) | (_, _, Err(m), _) | (.., Err(m)) => {
            say!("lucid: {m}");
            return exit::RUNTIME;
        }
    };
    let loopback = match loopback {
        Ok(figures) => figures,
        Err(m) => {
            say!("lucid: {m}");
            return exit::RUNTIME;
        }
    };
    if json {
        let doc = serde_json::json!({
            "cores": cores(),
            "overhead": overhead,
            "fleet": loopback,
            "store": store,
            "dream": dream,
            "calibration": calibration,
            "tui": tui,
        });
        match serde_json::to_string_pretty(&doc) {
            Ok(text) => outln!("{text}"),
            Err(err) => {
                say!("lucid: cannot encode the figures: {err}");
                return exit::RUNTIME;
            }
        }
        return exit::OK;
    }
    print_overhead(&overhead);
    super::fleet_bench::print_fleet(&loopback);
    print_store(&store);
    print_dream(&dream);
    print_calibration(&calibration, false);
    print_tui(&tui);
    exit::OK
}

/// The most seeds one benchmark runs.
const MAX_SEEDS: u64 = 100_000;

/// `A..B` (inclusive) or `a,b,c`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{}` is not a seed number", s.trim()))
    };
    let seeds: Vec<u64> = if let Some((from, to)) = text.split_once("..") {
        let (from, to) = (number(from)?, number(to.trim_start_matches('='))?);
        if from > to {
            return Err(format!("the range {from}..{to} is empty"));
        }
        if to - from >= MAX_SEEDS {
            return Err(format!("at most {MAX_SEEDS} seeds at a time"));
        }
        (from..=to).collect()
    } else {
        text.split(',').map(number).collect::<Result<_, _>>()?
    };
    if seeds.is_empty() {
        return Err("no seeds".into());
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists_and_ranges() {
        assert_eq!(parse_seeds("1..3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("1..=2").unwrap(), vec![1, 2]);
        assert_eq!(parse_seeds("4, 9").unwrap(), vec![4, 9]);
        assert!(parse_seeds("3..1").is_err());
        assert!(parse_seeds("x").is_err());
    }

    #[test]
    fn the_built_in_session_files_read_like_the_files_they_come_from() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for (path, source) in BUILT_IN_SESSIONS {
            let built_in = built_in_session(std::path::Path::new(path), source).unwrap();
            let file =
                lucid_core::spec::load(&root.join(path), &lucid_envs::worlds().catalog()).unwrap();
            assert_eq!(built_in.team, file.team, "{path}");
            assert_eq!(built_in.task, file.task, "{path}");
            assert_eq!(
                built_in.agents.keys().collect::<Vec<_>>(),
                file.agents.keys().collect::<Vec<_>>(),
                "{path}"
            );
        }
    }
}
