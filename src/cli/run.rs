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
    /// that stayed down, or Ctrl-C), by short id or id (or a unique prefix of either),
    /// from its last completed step, with the same mission and playbooks.
    #[arg(long, value_name = "ID", conflicts_with_all = ["seed", "world"])]
    pub resume: Option<String>,
    /// The TUI's theme: dark (default), light, high-contrast, or themes/NAME.toml.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// The pace of offline (scripted) models when the run opens in the TUI: milliseconds
    /// each answer takes (default 350; 0: full speed). Headless runs are never paced.
    #[arg(long, value_name = "MS")]
    pub pace: Option<u64>,
}

/// How often, and how far apart, a run (or a dream) looks for the store again while its
/// holder lets it go.
pub(super) const HANDOVER_ATTEMPTS: u32 = 50;
pub(super) const HANDOVER_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// How long Ctrl-C while waiting for other windows' runs waits for them to record their end.
const CLIENT_RUNS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn run(db: Option<PathBuf>, theme: Option<&str>, pace: Option<u64>, args: RunArgs) -> u8 {
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
                pace_ms: super::tui::pace_ms(pace),
            },
        };
        return super::tui::open(db, theme, pace, start).await;
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
    // Without a printer nobody reads the events: drop the receiver, or every event of
    // the run would wait in it until the end.
    let printer = events.filter(|_| !args.quiet).map(headless::spawn_printer);
    let cancel = handle.cancel_token();
    let resume_hint = resume_command(&args.spec, handle.session());
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let interrupting = std::sync::Arc::clone(&interrupted);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        interrupting.store(true, std::sync::atomic::Ordering::SeqCst);
        say!("lucid: interrupted; stopping every agent (Ctrl-C again to quit at once)");
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            lucid_core::tool::mcp::kill_every_server();
            say!("lucid: quit; completed steps are saved: {resume_hint}");
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
    let resume = resume_command(&args.spec, finished.session);
    if let Err(err) = &finished.result {
        say!(
            "lucid: the run failed: {}; completed steps are saved: {resume}",
            lucid_core::event::sanitize(&err.to_string())
        );
    } else if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        say!("lucid: completed steps are saved: {resume}");
    }
    if let Some(note) = finished.dream.as_deref().filter(|_| !args.quiet) {
        say!("{}", lucid_core::event::sanitize(note));
    }
    // The report is a fold over the stored events, read one at a time: a 10,000-agent
    // run never holds them all. Exporting traces needs them together.
    let exporting = super::otel::configured();
    let mut view = lucid_core::event::Projection::default();
    let mut kept = Vec::new();
    for event in store.each_event(finished.session) {
        match event {
            Ok(event) => {
                view.apply(&event);
                if exporting {
                    kept.push(event);
                }
            }
            Err(err) => {
                say!("lucid: cannot read the session back: {err}");
                return exit::RUNTIME;
            }
        }
    }
    if let Err(code) = print_report(&SessionReport::of(&view, false), args.json) {
        return code;
    }
    if exporting {
        super::otel::after_run(&kept, &models, args.quiet).await;
    }
    code
}

/// The command that continues `session` from its last completed step.
pub(super) fn resume_command(
    spec: &std::path::Path,
    session: lucid_core::event::SessionId,
) -> String {
    format!(
        "continue with `lucid run {} --resume {} --headless`",
        lucid_core::event::sanitize(&spec.display().to_string()),
        session.short_id()
    )
}

/// What a headless run leaves on stdout: the JSON report with `--json`, else the lead's
/// final answer (cleaned for the terminal), so `lucid run … --headless > answer.txt`
/// keeps the team's result. The error is the exit code.
pub(super) fn print_result(events: &[lucid_core::event::Event], json: bool) -> Result<(), u8> {
    print_report(&SessionReport::fold(events, false), json)
}

/// Prints a finished session's report: the JSON document, or the lead's final answer.
fn print_report(report: &SessionReport, json: bool) -> Result<(), u8> {
    if json {
        let text = serde_json::to_string_pretty(report).map_err(|err| {
            say!("lucid: cannot encode the report: {err}");
            exit::RUNTIME
        })?;
        outln!("{text}");
    } else if let Some(answer) = report.answer.as_deref().filter(|a| !a.trim().is_empty()) {
        outln!("{}", lucid_core::event::sanitize(answer.trim_end()));
    }
    Ok(())
}
