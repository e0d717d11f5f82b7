//! `lucid run`: run a session file and report.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{exit, headless, open_store};
use crate::event::{EventBus, EventSink, SessionId};
use crate::outcome::{run_session, SessionOrigin};
use crate::run::report::SessionReport;
use crate::run::{CancelToken, RunError, TeamRun};
use crate::spec::SessionSpec;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The session file (TOML), e.g. sessions/lumara.toml.
    pub spec: PathBuf,
    /// Print progress as lines instead of opening the TUI (the TUI is not built yet, so
    /// runs are headless either way).
    #[arg(long)]
    pub headless: bool,
    /// Print one JSON document describing the run on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Run every agent, the grader and the dreamer on this model profile.
    #[arg(long, value_name = "PROFILE")]
    pub model: Option<String>,
    /// Override the environment's seed (the mission).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the environment's world (its hidden regularities).
    #[arg(long)]
    pub world: Option<u64>,
    /// Print nothing on stderr but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Loads a session file (its model profiles merged over the user's config file's) and
/// applies the command line's overrides.
pub fn prepare(
    path: &std::path::Path,
    model: Option<&str>,
    seed: Option<u64>,
    world: Option<u64>,
) -> Result<SessionSpec, String> {
    let user_models = crate::spec::config::user_models().map_err(|err| err.to_string())?;
    let mut spec = crate::spec::load_with(path, &crate::env::catalog(), &user_models)
        .map_err(|err| err.to_string())?;
    if let Some(profile) = model {
        spec.use_model_everywhere(profile)
            .map_err(|err| format!("--model: {err}"))?;
    }
    if let Some(seed) = seed {
        spec.environment.seed = seed;
    }
    if let Some(world) = world {
        spec.environment.world = world;
    }
    Ok(spec)
}

pub async fn run(db: Option<PathBuf>, args: RunArgs) -> u8 {
    let spec = match prepare(&args.spec, args.model.as_deref(), args.seed, args.world) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("lucid: {message}");
            return exit::USAGE;
        }
    };
    let env = match crate::env::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    ) {
        Ok(env) => env,
        Err(err) => {
            eprintln!("lucid: {}: {err}", args.spec.display());
            return exit::USAGE;
        }
    };
    let store = match open_store(db) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let session = SessionId::generate();
    let sink: Arc<dyn EventSink> = Arc::new(store.clone());
    let bus = Arc::new(EventBus::new(session, sink));
    let printer = (!args.quiet).then(|| headless::spawn_printer(bus.subscribe()));
    let cancel = CancelToken::new();
    let origin = SessionOrigin {
        spec_path: args.spec.display().to_string(),
        seed: spec.environment.seed,
        world: spec.environment.world,
    };
    let team = match TeamRun::new(Arc::new(spec), env, Arc::clone(&bus), &[], cancel.clone()) {
        Ok(team) => team,
        Err(err) => {
            eprintln!("lucid: {err}");
            return exit::USAGE;
        }
    };
    let interrupt = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("lucid: interrupted; stopping every agent");
                cancel.cancel();
            }
        }
    });
    let result = run_session(team, origin).await;
    interrupt.abort();
    drop(bus);
    if let Some(printer) = printer {
        // The printer ends when the bus (its only sender) is gone.
        let _ = printer.await;
    }
    let code = match &result {
        Ok(result) if result.passed => exit::OK,
        Ok(_) => exit::RUBRIC_NOT_MET,
        Err(RunError::Cancelled) | Err(_) => exit::RUNTIME,
    };
    if let Err(err) = &result {
        eprintln!("lucid: the run failed: {err}");
    }
    if args.json {
        match store.events(session) {
            Ok(events) => {
                let report = SessionReport::fold(&events, false);
                match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{json}"),
                    Err(err) => {
                        eprintln!("lucid: cannot encode the report: {err}");
                        return exit::RUNTIME;
                    }
                }
            }
            Err(err) => {
                eprintln!("lucid: cannot read the session back: {err}");
                return exit::RUNTIME;
            }
        }
    }
    code
}
