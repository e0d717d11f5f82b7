//! `lucid run`: run a session file and report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{exit, headless, open_store};
use crate::event::{EventBus, EventSink, SessionId};
use crate::memory::MemoryBook;
use crate::outcome::{resume_session, run_session, SessionOrigin};
use crate::run::report::SessionReport;
use crate::run::{CancelToken, RecordingError, RunError, TeamRun};
use crate::spec::SessionSpec;

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

/// A recorded session to continue.
struct Resume {
    session: SessionId,
    events: Vec<crate::event::Event>,
    next_seq: u64,
    playbooks: Vec<crate::run::Playbook>,
}

/// Finds an interrupted session of this team and what it needs to continue; points the
/// spec at the session's mission.
fn load_resume(
    store: &crate::store::Store,
    id: &str,
    spec: &mut SessionSpec,
) -> Result<Resume, (u8, String)> {
    use crate::store::SessionStatus;
    let usage = |message: String| (exit::USAGE, message);
    let runtime = |err: crate::store::StoreError| (exit::RUNTIME, err.to_string());
    let summary = store
        .find_session(id)
        .map_err(|err| (super::store_error_code(&err), err.to_string()))?
        .ok_or_else(|| usage(format!("no session `{id}`; see `lucid sessions list`")))?;
    if !matches!(
        summary.status,
        SessionStatus::Interrupted | SessionStatus::Error
    ) {
        return Err(usage(format!(
            "session {} is {}; only interrupted sessions (or ones that ended on an error) can be resumed",
            summary.id,
            summary.status.as_str()
        )));
    }
    if summary.team != spec.team {
        return Err(usage(format!(
            "session {} belongs to team `{}`, but {} describes team `{}`",
            summary.id,
            summary.team,
            spec.path.display(),
            spec.team
        )));
    }
    spec.environment.seed = summary.seed;
    spec.environment.world = summary.world;
    let events = store.events(summary.id).map_err(runtime)?;
    let next_seq = store.next_seq(summary.id).map_err(runtime)?;
    let book = MemoryBook::new(store.clone());
    let mut playbooks: Vec<crate::run::Playbook> = Vec::new();
    for event in &events {
        if let crate::event::EventKind::PlaybookApplied {
            memory_id, version, ..
        } = &event.kind
        {
            if playbooks.iter().any(|p| &p.id == memory_id) {
                continue;
            }
            let playbook = memory_id
                .parse()
                .ok()
                .and_then(|id| book.playbook_version(id, *version).transpose())
                .transpose()
                .map_err(|err| (exit::RUNTIME, err.to_string()))?
                .ok_or_else(|| {
                    usage(format!(
                        "playbook {memory_id} v{version}, which the session applied, is gone"
                    ))
                })?;
            playbooks.push(playbook);
        }
    }
    Ok(Resume {
        session: summary.id,
        events,
        next_seq,
        playbooks,
    })
}

/// Loads a session file (its model profiles merged over the user's config file's) and
/// applies the command line's overrides.
pub fn prepare(
    path: &std::path::Path,
    model: Option<&str>,
    seed: Option<u64>,
    world: Option<u64>,
) -> Result<SessionSpec, String> {
    let user = crate::spec::config::user_config().map_err(|err| err.to_string())?;
    let mut spec = crate::spec::load_with(path, &crate::env::catalog(), &user)
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

pub async fn run(db: Option<PathBuf>, theme: Option<&str>, args: RunArgs) -> u8 {
    let mut spec = match prepare(&args.spec, args.model.as_deref(), args.seed, args.world) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("lucid: {message}");
            return exit::USAGE;
        }
    };
    // The TUI watches new runs; a resumed run continues headless.
    let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !args.headless && !args.json && args.resume.is_none() && interactive {
        let start = super::tui::Start::Live {
            spec: Box::new(spec),
            path: args.spec.clone(),
        };
        return super::tui::open(db, theme, start).await;
    }
    let store = match open_store(db) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let resume = match &args.resume {
        Some(id) => match load_resume(&store, id, &mut spec) {
            Ok(resume) => Some(resume),
            Err((code, message)) => {
                eprintln!("lucid: {message}");
                return code;
            }
        },
        None => None,
    };
    if let Err(err) = crate::run::load_recordings(&store, &mut spec) {
        eprintln!("lucid: {err}");
        return match &err {
            RecordingError::NotFound { .. } => exit::USAGE,
            RecordingError::Store { source, .. } => super::store_error_code(source),
        };
    }
    let session = match &resume {
        Some(resume) => resume.session,
        None => SessionId::generate(),
    };
    spec.environment.work_dir = Some(store.work_dir(session));
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
    let sink: Arc<dyn EventSink> = Arc::new(store.clone());
    let bus = match &resume {
        Some(resume) => EventBus::resuming(session, sink, resume.next_seq),
        None => EventBus::new(session, sink),
    };
    let bus = Arc::new(bus);
    let printer = (!args.quiet).then(|| headless::spawn_printer(bus.subscribe()));
    let cancel = CancelToken::new();
    let origin = SessionOrigin {
        spec_path: args.spec.display().to_string(),
        seed: spec.environment.seed,
        world: spec.environment.world,
    };
    let playbooks = match &resume {
        Some(resume) => resume.playbooks.clone(),
        None => match MemoryBook::new(store.clone()).active_playbooks(&spec.team) {
            Ok(playbooks) => playbooks,
            Err(err) => {
                eprintln!("lucid: cannot read the team's playbooks: {err}");
                return exit::RUNTIME;
            }
        },
    };
    let spec = Arc::new(spec);
    let team = match TeamRun::new(
        Arc::clone(&spec),
        env,
        Arc::clone(&bus),
        &playbooks,
        cancel.clone(),
    ) {
        Ok(team) => team,
        Err(err) => {
            eprintln!("lucid: {err}");
            return exit::USAGE;
        }
    };
    let interrupt = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            eprintln!("lucid: interrupted; stopping every agent (Ctrl-C again to quit at once)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                crate::tool::mcp::kill_every_server();
                eprintln!("lucid: quit; completed steps are saved, resume with --resume");
                std::process::exit(130);
            }
        }
    });
    let result = match &resume {
        Some(resume) => resume_session(team, &resume.events).await,
        None => run_session(team, origin).await,
    };
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
        eprintln!(
            "lucid: the run failed: {}",
            crate::event::sanitize(&err.to_string())
        );
    }
    if result.is_ok() {
        dream_if_due(&store, &spec, args.quiet).await;
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

/// `[dreaming] every_sessions = N`: dreams once N sessions of the team wait for one.
/// Proposals still wait for a person; a failed dream is reported, not fatal.
pub(super) async fn dream_if_due(store: &crate::store::Store, spec: &SessionSpec, quiet: bool) {
    let every = spec.dreaming.every_sessions;
    if every == 0 {
        return;
    }
    let waiting = match crate::dream::undreamt_sessions(store, &spec.team) {
        Ok(sessions) => sessions.len() as u32,
        Err(err) => {
            eprintln!("lucid: cannot check whether a dream is due: {err}");
            return;
        }
    };
    if waiting < every {
        return;
    }
    let dreamer = match super::dream::dreamer_for(spec) {
        Ok(dreamer) => dreamer,
        Err(message) => {
            eprintln!("lucid: cannot dream: {message}");
            return;
        }
    };
    match crate::dream::dream(store, &spec.team, &dreamer, &crate::env::catalog()).await {
        Ok(report) if !quiet => eprintln!(
            "dreamed over {} session(s) (every_sessions = {every}): {} proposal(s) wait for review (lucid memory list --status proposed)",
            report.run.sessions.len(),
            report.proposals.len()
        ),
        Ok(_) => {}
        Err(err) => eprintln!("lucid: the scheduled dream failed: {err}"),
    }
}
