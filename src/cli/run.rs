//! `lucid run`: run a session file and report.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::{exit, headless, Opened};
use lucid_core::run::report::SessionReport;
use lucid_core::session::{self, LaunchError, LaunchOptions, Recorder};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The session file (TOML), e.g. sessions/lumara.toml.
    pub spec: PathBuf,
    /// Print progress as lines on stderr instead of opening the TUI (also the mode when
    /// stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,
    /// Print one JSON document describing the run on stdout (progress stays on stderr);
    /// implies --headless.
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
    /// Continue an interrupted session (or one that ended on an error, e.g. a provider
    /// that stayed down, or Ctrl-C), by id or unique prefix, from its last completed
    /// step, with the same mission and playbooks.
    #[arg(long, value_name = "ID", conflicts_with_all = ["seed", "world"])]
    pub resume: Option<String>,
}

/// How often, and how far apart, a run looks for the store again while its holder lets
/// it go.
const HANDOVER_ATTEMPTS: u32 = 50;
const HANDOVER_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// How long Ctrl-C while waiting for other windows' runs waits for them to record their end.
const CLIENT_RUNS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn run(db: Option<PathBuf>, theme: Option<&str>, args: RunArgs) -> u8 {
    let spec = match session::load(
        lucid_envs::worlds().as_ref(),
        &args.spec,
        args.model.as_deref(),
        args.seed,
        args.world,
    ) {
        Ok(spec) => spec,
        Err(err) => {
            say!("lucid: {err}");
            return exit::USAGE;
        }
    };
    // For traces: which provider and model each profile names.
    let models = super::otel::Models::of(&spec.models);
    // The TUI watches new runs; a resumed run continues headless.
    let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !args.headless && !args.json && args.resume.is_none() && interactive {
        let start = super::tui::Start::Live {
            spec: Box::new(spec),
            request: lucid_tui::backend::StartRequest {
                spec: args.spec.clone(),
                model: args.model.clone(),
                seed: args.seed,
                world: args.world,
            },
        };
        return super::tui::open(db, theme, start).await;
    }
    let path = db
        .clone()
        .unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    // Retries after an owner said it is letting the store go (or stopped listening).
    let mut attempts = 0;
    let store = loop {
        match super::locate(&path) {
            Ok(Opened::Store(store)) => break store,
            Ok(Opened::Owner(client)) => match super::remote::run(&client, &args, &models).await {
                super::remote::Through::Done(code) => return code,
                // The owner is letting the store go: it is about to be free, or served anew.
                super::remote::Through::Retry if attempts < HANDOVER_ATTEMPTS => {
                    attempts += 1;
                    tokio::time::sleep(HANDOVER_PAUSE).await;
                }
                super::remote::Through::Retry => {
                    say!("lucid: the lucid holding the store keeps letting it go; try again");
                    return exit::RUNTIME;
                }
            },
            // Mid hand-over the old owner may still hold the store a moment after it
            // stopped listening: wait for it rather than fail.
            Err(lucid_core::store::StoreError::Locked { .. })
                if attempts > 0 && attempts < HANDOVER_ATTEMPTS =>
            {
                attempts += 1;
                tokio::time::sleep(HANDOVER_PAUSE).await;
            }
            Err(err) => {
                say!("lucid: {err}");
                return exit::RUNTIME;
            }
        }
    };
    // While the run goes, this process owns the store: it serves it to other commands.
    let server = match lucid_server::start(store.clone(), lucid_envs::worlds()) {
        Ok(server) => Some(server),
        Err(err) => {
            if !args.quiet {
                say!(
                    "lucid: {}; other lucid commands cannot use the store during this run",
                    lucid_core::event::sanitize(&err.to_string())
                );
            }
            None
        }
    };
    let options = LaunchOptions {
        spec_path: args.spec.display().to_string(),
        resume: args.resume.clone(),
        ..LaunchOptions::default()
    };
    let mut handle = match session::launch(
        lucid_envs::worlds(),
        spec,
        Recorder::Store(store.clone()),
        options,
    ) {
        Ok(handle) => handle,
        Err(err) => {
            say!("lucid: {}", lucid_core::event::sanitize(&err.to_string()));
            return match err {
                LaunchError::Usage(_) => exit::USAGE,
                LaunchError::Runtime(_) => exit::RUNTIME,
            };
        }
    };
    let (events, tracked) = match &server {
        Some(server) => {
            let (events, tracked) = server.registry().track(&mut handle);
            // A window that is this store's client shows the run live.
            server
                .registry()
                .announce(handle.session(), args.spec.display().to_string());
            (Some(events), Some(tracked))
        }
        None => (handle.events(), None),
    };
    let printer = match events {
        Some(events) if !args.quiet => Some(headless::spawn_printer(events)),
        _ => None,
    };
    let cancel = handle.cancel_token();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        say!("lucid: interrupted; stopping every agent (Ctrl-C again to quit at once)");
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            lucid_core::tool::mcp::kill_every_server();
            say!("lucid: quit; completed steps are saved, resume with --resume");
            std::process::exit(130);
        }
    });
    let finished = handle.join().await;
    interrupt.abort();
    if let Some(tracked) = tracked {
        tracked.finish(&finished).await;
    }
    if let Some(server) = server {
        // Runs other windows started here finish before the store is let go.
        if !server.registry().is_empty() && !args.quiet {
            say!(
                "lucid: waiting for {} run(s) started from other windows to finish",
                server.registry().len()
            );
        }
        let registry = server.registry().clone();
        tokio::select! {
            () = registry.let_go() => {}
            _ = tokio::signal::ctrl_c() => {
                say!("lucid: interrupted; cancelling the runs started from other windows");
                registry.close();
                registry.cancel_all();
                let _ = tokio::time::timeout(CLIENT_RUNS_GRACE, registry.wait_idle()).await;
            }
        }
        server.stop().await;
    }
    if let Some(printer) = printer {
        // The printer ends when the bus (its only sender) is gone.
        let _ = printer.await;
    }
    let code = match &finished.result {
        Ok(result) if result.passed => exit::OK,
        Ok(_) => exit::RUBRIC_NOT_MET,
        Err(_) => exit::RUNTIME,
    };
    if let Err(err) = &finished.result {
        say!(
            "lucid: the run failed: {}",
            lucid_core::event::sanitize(&err.to_string())
        );
    }
    if let Some(note) = finished.dream.as_deref().filter(|_| !args.quiet) {
        say!("{}", lucid_core::event::sanitize(note));
    }
    if args.json || super::otel::configured() {
        let events = match store.events(finished.session) {
            Ok(events) => events,
            Err(err) => {
                say!("lucid: cannot read the session back: {err}");
                // Traces alone never change the exit code; the report is what --json promised.
                return if args.json { exit::RUNTIME } else { code };
            }
        };
        if args.json {
            let report = SessionReport::fold(&events, false);
            match serde_json::to_string_pretty(&report) {
                Ok(json) => outln!("{json}"),
                Err(err) => {
                    say!("lucid: cannot encode the report: {err}");
                    return exit::RUNTIME;
                }
            }
        }
        super::otel::after_run(&events, &models, args.quiet).await;
    }
    code
}
