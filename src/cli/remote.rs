//! Commands as clients: when another lucid holds the store and serves it, `run` and
//! `sessions list|show` go through it, with the same output and exit codes as in-process.

use futures::StreamExt;

use super::exit;
use super::run::RunArgs;
use super::sessions::SessionsCommand;
use lucid_core::event::{sanitize, Event, EventKind};
use lucid_core::store::SessionSummary;
use lucid_server::client::{Client, ClientError, Streamed};
use lucid_server::{CreateRun, Record, RunEnd};

/// The exit code and sentence of a failed request.
pub(super) fn failure(err: &ClientError) -> (u8, String) {
    let code = if err.is_usage() {
        exit::USAGE
    } else {
        exit::RUNTIME
    };
    (code, sanitize(&err.to_string()))
}

/// A session id as the user typed it, safe in a URL path; `None` when it cannot be one.
fn id_in_path(id: &str) -> Option<&str> {
    let plain = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plain.then_some(id)
}

/// A session's summary and events, through the owner.
pub(super) async fn record(
    client: &Client,
    id: &str,
) -> Result<(SessionSummary, Vec<Event>), (u8, String)> {
    let Some(id) = id_in_path(id) else {
        return Err((
            exit::USAGE,
            format!("no session `{}`; see `lucid sessions list`", sanitize(id)),
        ));
    };
    client
        .get_json::<Record>(&format!("/v1/sessions/{id}?view=record"))
        .await
        .map(|record| (record.summary, record.events))
        .map_err(|err| failure(&err))
}

pub async fn sessions(client: &Client, command: SessionsCommand) -> u8 {
    let result = match command {
        SessionsCommand::List { json, kind } => {
            match client.get_json::<Vec<SessionSummary>>("/v1/sessions").await {
                Ok(sessions) => super::sessions::print_list(sessions, json, kind),
                Err(err) => Err(failure(&err)),
            }
        }
        SessionsCommand::Show { id, json } => record(client, &id)
            .await
            .and_then(|(summary, events)| super::sessions::print_show(&summary, &events, json)),
        SessionsCommand::Diff { id, stat } => record(client, &id)
            .await
            .and_then(|(summary, events)| super::changes::diff(&summary, events, stat)),
        SessionsCommand::Export { id, format } => match record(client, &id).await {
            Ok((summary, events)) => super::sessions::export(&summary, &events, format).await,
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(()) => exit::OK,
        Err((code, message)) => {
            say!("lucid: {message}");
            code
        }
    }
}

/// How a run through the owner went.
pub enum Through {
    /// It ran (or was refused); the exit code.
    Done(u8),
    /// The owner was letting the store go, or had just gone, before it took the run:
    /// find the store's holder again and retry.
    Retry,
}

/// `lucid run SPEC --headless` through the owner: it runs the session, this prints its
/// events as they come and ends with the same report and exit code.
pub async fn run(client: &Client, args: &RunArgs, models: &super::otel::Models) -> Through {
    let spec = std::path::absolute(&args.spec).unwrap_or_else(|_| args.spec.clone());
    let body = CreateRun {
        spec,
        model: args.model.clone(),
        seed: args.seed,
        world: args.world,
        resume: args.resume.clone(),
        // Headless runs go at full speed.
        pace_ms: None,
    };
    let (session, stream) = match client.run_watched(&body).await {
        Ok(started) => started,
        // Only a request that never reached an owner is sent again: a broken connection
        // may have started the run already.
        Err(ClientError::NotConnected { .. }) => return Through::Retry,
        Err(ClientError::Refused { status: 503, .. }) => return Through::Retry,
        Err(err) => {
            let (code, message) = failure(&err);
            say!("lucid: {message}");
            return Through::Done(code);
        }
    };
    let mut stream = Box::pin(stream);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = (!args.quiet).then(|| super::headless::spawn_printer(rx));
    let canceller = client.clone();
    // Whether this client asked for the cancel (Ctrl-C), or the owner cancelled the run.
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asking = std::sync::Arc::clone(&asked);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        asking.store(true, std::sync::atomic::Ordering::SeqCst);
        say!("lucid: interrupted; asking the owner to stop every agent");
        let path = format!("/v1/sessions/{session}/cancel");
        if let Err(err) = canceller
            .post_json::<_, serde_json::Value>(&path, &serde_json::json!({}))
            .await
        {
            say!("lucid: {}", sanitize(&err.to_string()));
        }
    });
    let mut events: Vec<Event> = Vec::new();
    let mut end: Option<RunEnd> = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(Streamed::Event(event)) => {
                events.push((*event).clone());
                // The printer gone (quiet) is fine.
                let _ = tx.send(*event);
            }
            Ok(Streamed::Finished(finished)) => {
                end = Some(finished);
                break;
            }
            Ok(Streamed::Created(_)) => {}
            Err(_) => break,
        }
    }
    drop(tx);
    interrupt.abort();
    if let Some(printer) = printer {
        let _ = printer.await;
    }
    // A run that ended before this client watched it ends its stream without `finished`:
    // its last event says how it went.
    let end = end.or_else(|| {
        events.iter().rev().find_map(|event| match &event.kind {
            EventKind::SessionFinished { passed, error, .. } => Some(RunEnd {
                passed: *passed,
                error: error.clone(),
                dream: None,
                cancelled: false,
            }),
            _ => None,
        })
    });
    let Some(end) = end else {
        return Through::Done(owner_stopped(session, args));
    };
    if end.cancelled && !asked.load(std::sync::atomic::Ordering::SeqCst) {
        // The owner stopped (Ctrl-C or SIGTERM there) and ended its runs after the step
        // in hand.
        return Through::Done(owner_stopped(session, args));
    }
    let code = match (&end.error, end.passed) {
        (Some(error), _) => {
            say!(
                "lucid: the run failed: {}; completed steps are saved: {}",
                sanitize(error),
                super::run::resume_command(&args.spec, session)
            );
            exit::RUNTIME
        }
        (None, true) => exit::OK,
        (None, false) => exit::RUBRIC_NOT_MET,
    };
    if let Some(note) = end.dream.as_deref().filter(|_| !args.quiet) {
        say!("{}", sanitize(note));
    }
    if asked.load(std::sync::atomic::Ordering::SeqCst) && end.error.is_none() {
        say!(
            "lucid: completed steps are saved: {}",
            super::run::resume_command(&args.spec, session)
        );
    }
    if let Err(code) = super::run::print_result(&events, args.json) {
        return Through::Done(code);
    }
    if super::otel::configured() {
        // The whole session as the owner recorded it (a resumed one's earlier part too).
        match record(client, &session.to_string()).await {
            Ok((_, recorded)) => super::otel::after_run(&recorded, models, args.quiet).await,
            Err((_, message)) => {
                say!("lucid: the session's traces were not exported: {message}");
            }
        }
    }
    Through::Done(code)
}

fn owner_stopped(session: lucid_core::event::SessionId, args: &RunArgs) -> u8 {
    let session = session.short_id();
    say!(
        "lucid: the lucid serving the store stopped before session {session} finished; its completed steps are saved: continue it with `lucid run {} --resume {session} --headless`",
        sanitize(&args.spec.display().to_string())
    );
    exit::RUNTIME
}
