//! `lucid bench`: figures. `bench lumara` calibrates an environment's baseline team:
//! first-attempt and final pass rates and mean iterations over a range of seeds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use serde::Serialize;

use super::exit;
use super::run::prepare;
use crate::event::{EventBus, EventSink, NullSink, SessionId};
use crate::outcome::{run_session, SessionOrigin};
use crate::run::Playbook;
use crate::run::{CancelToken, TeamRun};
use crate::spec::SessionSpec;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Learning from dreams: held-out pass rates without and with approved playbooks.
    Learning(LearningArgs),
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

pub async fn bench(command: BenchCommand) -> u8 {
    match command {
        BenchCommand::Learning(args) => bench_learning(args).await,
        BenchCommand::Lumara {
            spec,
            seeds,
            world,
            json,
        } => {
            let seeds = match parse_seeds(&seeds) {
                Ok(seeds) => seeds,
                Err(message) => {
                    eprintln!("lucid: --seeds: {message}");
                    return exit::USAGE;
                }
            };
            let spec_file = match prepare(&spec, None, None, world) {
                Ok(spec) => spec,
                Err(message) => {
                    eprintln!("lucid: {message}");
                    return exit::USAGE;
                }
            };
            match calibrate(&spec_file, &seeds).await {
                Ok(figures) => {
                    print_calibration(&figures, json);
                    exit::OK
                }
                Err(message) => {
                    eprintln!("lucid: {message}");
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
    let figure_names: Vec<String> = crate::env::catalog()
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
        let env = crate::env::build(&seeded.environment, seed, seeded.environment.world)
            .map_err(|err| err.to_string())?;
        let sink: Arc<dyn EventSink> = match store {
            Some(store) => Arc::new(store.clone()),
            None => Arc::new(NullSink),
        };
        let bus = Arc::new(EventBus::new(SessionId::generate(), sink));
        let origin = SessionOrigin {
            spec_path: spec.path.display().to_string(),
            seed,
            world: seeded.environment.world,
        };
        let team = TeamRun::new(Arc::new(seeded), env, bus, playbooks, CancelToken::new())
            .map_err(|err| err.to_string())?;
        let result = run_session(team, origin)
            .await
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
            Ok(text) => println!("{text}"),
            Err(err) => eprintln!("lucid: cannot encode the figures: {err}"),
        }
        return;
    }
    let first = figures.seeds.first().copied().unwrap_or(0);
    let last = figures.seeds.last().copied().unwrap_or(0);
    println!(
        "baseline calibration · {} · world {} · {} seeds ({first}..{last})",
        figures.spec,
        figures.world,
        figures.seeds.len()
    );
    println!(
        "  first-attempt pass rate  {:>5.1} %",
        figures.first_attempt_pass_rate * 100.0
    );
    println!(
        "  final pass rate          {:>5.1} %",
        figures.final_pass_rate * 100.0
    );
    println!(
        "  mean iterations          {:>7.2}",
        figures.mean_iterations
    );
    for (name, mean) in &figures.figures {
        println!("  mean {name:<19} {mean:>7.3}");
    }
    println!("  first-attempt failures by criterion:");
    for (id, count) in &figures.first_attempt_failures {
        println!("    {id:<24} {count}");
    }
    println!(
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
            eprintln!("lucid: {message}");
            return exit::USAGE;
        }
    };
    let mut spec = match prepare(&args.spec, None, None, None) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("lucid: {message}");
            return exit::USAGE;
        }
    };
    for option in &args.options {
        let Some((key, value)) = option.split_once('=') else {
            eprintln!("lucid: --option: `{option}` is not KEY=VALUE");
            return exit::USAGE;
        };
        spec.environment
            .options
            .insert(key.trim().to_string(), option_value(value.trim()));
    }
    // Options are the environment's to check: fail before any run starts.
    if let Err(err) = crate::env::build(&spec.environment, 1, 1) {
        eprintln!("lucid: {}: {err}", args.spec.display());
        return exit::USAGE;
    }
    let mut figures = Vec::new();
    for world in worlds {
        eprintln!(
            "world {world}: training on {} seeds, dreaming, measuring on {} held-out seeds…",
            train.len(),
            test.len()
        );
        match super::learning::learning(&spec, world, &train, &test).await {
            Ok(f) => figures.push(f),
            Err(message) => {
                eprintln!("lucid: world {world}: {message}");
                return exit::RUNTIME;
            }
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&figures) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("lucid: cannot encode the figures: {err}");
                return exit::RUNTIME;
            }
        }
    } else {
        super::learning::print_learning(&figures);
    }
    exit::OK
}

/// A command-line option value as TOML would type it: integer, float, boolean or text.
fn option_value(text: &str) -> toml::Value {
    if let Ok(n) = text.parse::<i64>() {
        toml::Value::Integer(n)
    } else if let Ok(x) = text.parse::<f64>() {
        toml::Value::Float(x)
    } else if let Ok(b) = text.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(text.to_string())
    }
}

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
    fn option_values_are_typed() {
        assert_eq!(option_value("40"), toml::Value::Integer(40));
        assert_eq!(option_value("2.5"), toml::Value::Float(2.5));
        assert_eq!(option_value("true"), toml::Value::Boolean(true));
        assert_eq!(option_value("x"), toml::Value::String("x".into()));
    }
}
