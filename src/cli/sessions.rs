//! `lucid sessions list|show|diff|export`: the recorded history, read and exported.

use std::path::PathBuf;

use clap::Subcommand;

use super::{exit, open_or_owner, Opened};
use lucid_core::event::{format_time, one_line};
use lucid_core::run::report::SessionReport;
use lucid_core::store::{SessionSummary, Store};

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List recorded sessions, newest first (as the TUI lists them).
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Which sessions: team runs, dreams, or both.
        #[arg(long, value_enum, default_value_t = ListKind::All)]
        kind: ListKind,
    },
    /// Show one session: outcome per iteration, agents and facts.
    Show {
        /// The session's short id or id, or a unique prefix of either.
        id: String,
        /// Print the same JSON document as `run --json`.
        #[arg(long)]
        json: bool,
    },
    /// Print what a project session changed, as a unified diff (apply it with `lucid apply ID`).
    Diff {
        /// The session's short id or id, or a unique prefix of either.
        id: String,
        /// One line per changed file instead of the diff.
        #[arg(long)]
        stat: bool,
    },
    /// Export a recorded session: `jsonl` (the default) writes its events to stdout, one
    /// JSON object per line (the same events `replay` reads); `otlp` sends it as
    /// OpenTelemetry spans to the collector OTEL_EXPORTER_OTLP_ENDPOINT names
    /// (docs/traces.md).
    Export {
        /// The session id, or a unique prefix of it.
        id: String,
        /// The output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

/// Which sessions `sessions list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListKind {
    /// Runs and dreams.
    All,
    /// Sessions of a team working a task.
    Runs,
    /// Dreams over a team's history.
    Dreams,
}

impl ListKind {
    fn admits(self, summary: &SessionSummary) -> bool {
        match self {
            ListKind::All => true,
            ListKind::Runs => !summary.is_dream(),
            ListKind::Dreams => summary.is_dream(),
        }
    }
}

/// What `sessions export` makes of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One event per line, as JSON, in the order they were recorded.
    Jsonl,
    /// OTLP/HTTP spans to the configured OpenTelemetry collector.
    Otlp,
}

pub async fn sessions(db: Option<PathBuf>, command: SessionsCommand) -> u8 {
    let store = match open_or_owner(db) {
        Ok(Opened::Store(store)) => store,
        Ok(Opened::Owner(client)) => return super::remote::sessions(&client, command).await,
        Err(code) => return code,
    };
    let result = match command {
        SessionsCommand::List { json, kind } => list(&store, json, kind),
        SessionsCommand::Show { id, json } => show(&store, &id, json),
        SessionsCommand::Diff { id, stat } => session_events(&store, &id)
            .and_then(|(summary, events)| super::changes::diff(&summary, events, stat)),
        SessionsCommand::Export { id, format } => match session_events(&store, &id) {
            Ok((summary, events)) => export(&summary, &events, format).await,
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

fn list(store: &Store, json: bool, kind: ListKind) -> Result<(), (u8, String)> {
    let sessions = store
        .sessions()
        .map_err(|err| (exit::RUNTIME, err.to_string()))?;
    print_list(sessions, json, kind)
}

/// Exports a recorded session in `format`: JSON lines on stdout (model text as it was
/// recorded, escaped by JSON, so nothing in it reaches a terminal as a control
/// sequence), or spans to the configured OpenTelemetry collector.
pub(super) async fn export(
    summary: &SessionSummary,
    events: &[lucid_core::event::Event],
    format: ExportFormat,
) -> Result<(), (u8, String)> {
    match format {
        ExportFormat::Jsonl => {
            for event in events {
                let line = serde_json::to_string(event)
                    .map_err(|err| (exit::RUNTIME, format!("cannot encode an event: {err}")))?;
                outln!("{line}");
            }
            Ok(())
        }
        ExportFormat::Otlp => super::otel::export_recorded(summary, events).await,
    }
}

/// Prints the sessions, newest first, as a table (or a JSON array).
pub(super) fn print_list(
    mut sessions: Vec<SessionSummary>,
    json: bool,
    kind: ListKind,
) -> Result<(), (u8, String)> {
    sessions.retain(|s| kind.admits(s));
    sessions.sort_by(|a, b| b.started_at_ms.cmp(&a.started_at_ms).then(b.id.cmp(&a.id)));
    if json {
        let text = super::output::json_with_short_ids(&sessions, |s| s.id.short_id())
            .map_err(|err| (exit::RUNTIME, err.to_string()))?;
        outln!("{text}");
        return Ok(());
    }
    if sessions.is_empty() {
        match kind {
            ListKind::Dreams => outln!("No dreams yet. Dream with: lucid dream --team TEAM"),
            _ => {
                outln!("No sessions yet. Start one with: lucid run sessions/lumara.toml --headless")
            }
        }
        return Ok(());
    }
    outln!(
        "{:<8}  {:<20}  {:<11}  {:>5}  {:>9}  {:>13}  {:>8}  {:<16}  started (UTC)",
        "id",
        "team",
        "status",
        "iters",
        "duration",
        "tok in/out",
        "cost",
        "kind"
    );
    for s in &sessions {
        outln!(
            "{:<8}  {:<20}  {:<11}  {:>5}  {:>9}  {:>13}  {:>8}  {:<16}  {}",
            s.id.short_id(),
            one_line(&s.team, 20),
            s.status.as_str(),
            s.iterations,
            s.duration_ms
                .map(format_duration)
                .unwrap_or_else(|| "-".into()),
            format!(
                "{}/{}",
                lucid_core::event::format_tokens(s.tokens_in),
                lucid_core::event::format_tokens(s.tokens_out)
            ),
            s.cost_usd
                .map(lucid_core::event::format_dollars)
                .unwrap_or_else(|| "-".into()),
            session_kind(s),
            format_time(s.started_at_ms)
        );
    }
    Ok(())
}

/// What a listed session was: a dream, or a run of which environment, world and seed.
fn session_kind(summary: &SessionSummary) -> String {
    if summary.is_dream() {
        "dream".into()
    } else {
        format!(
            "{} w{} s{}",
            one_line(&summary.environment, 8),
            summary.world,
            summary.seed
        )
    }
}

/// A recorded session by its short id or id (or a unique prefix of either), with its
/// events; the error is an exit code and a sentence.
pub(super) fn session_events(
    store: &Store,
    id: &str,
) -> Result<(SessionSummary, Vec<lucid_core::event::Event>), (u8, String)> {
    let summary: SessionSummary = store
        .find_session(id)
        .map_err(|err| (super::store_error_code(&err), err.to_string()))?
        .ok_or_else(|| {
            (
                exit::USAGE,
                format!("no session `{id}`; see `lucid sessions list`"),
            )
        })?;
    let events = store
        .events(summary.id)
        .map_err(|err| (exit::RUNTIME, err.to_string()))?;
    Ok((summary, events))
}

fn show(store: &Store, id: &str, json: bool) -> Result<(), (u8, String)> {
    let (summary, events) = session_events(store, id)?;
    print_show(&summary, &events, json)
}

/// Prints one session: its report (as JSON, or readable lines).
pub(super) fn print_show(
    summary: &SessionSummary,
    events: &[lucid_core::event::Event],
    json: bool,
) -> Result<(), (u8, String)> {
    let live = summary.status == lucid_core::store::SessionStatus::Running;
    let report = SessionReport::fold(events, live);
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|err| (exit::RUNTIME, err.to_string()))?;
        outln!("{text}");
        return Ok(());
    }
    outln!("session   {}  (id {})", summary.id.short_id(), summary.id);
    outln!("team      {}", one_line(&summary.team, 80));
    outln!("spec      {}", one_line(&summary.spec_path, 80));
    outln!(
        "mission   {} world {} seed {}",
        summary.environment,
        summary.world,
        summary.seed
    );
    outln!("status    {}", summary.status.as_str());
    outln!("started   {}", format_time(summary.started_at_ms));
    if let Some(ms) = summary.duration_ms {
        outln!("duration  {}", format_duration(ms));
    }
    if let Some(error) = &report.error {
        outln!("error     {}", one_line(error, 200));
    }
    outln!("\nagents");
    for agent in &report.agents {
        let depth = depth_of(&report, agent.id);
        outln!(
            "  {}{}{} [{}] turns {} · tools {} · tokens {}/{}{}",
            "  ".repeat(depth),
            agent.name,
            agent.id,
            agent.status.as_str(),
            agent.turns,
            agent.tool_calls,
            agent.tokens_in,
            agent.tokens_out,
            agent
                .purpose
                .as_deref()
                .map(|p| format!(" — {}", one_line(p, 70)))
                .unwrap_or_default()
        );
    }
    for iteration in &report.outcome.iterations {
        outln!(
            "\niteration {}: {}",
            iteration.iteration,
            if iteration.passed { "passed" } else { "failed" }
        );
        for c in &iteration.criteria {
            outln!(
                "  {} {}: {}",
                if c.passed { "✓" } else { "✗" },
                c.id,
                one_line(&c.reason, 120)
            );
            if !c.fix.is_empty() {
                outln!("      must change: {}", one_line(&c.fix, 120));
            }
        }
    }
    if !report.facts.is_empty() {
        outln!("\nfacts");
        for (name, value) in &report.facts {
            outln!("  {name} = {}", one_line(&value.to_string(), 80));
        }
    }
    Ok(())
}

fn depth_of(report: &SessionReport, id: lucid_core::event::AgentId) -> usize {
    let mut depth = 0;
    let mut current = report.agents.iter().find(|a| a.id == id);
    while let Some(parent) = current.and_then(|a| a.parent) {
        depth += 1;
        current = report.agents.iter().find(|a| a.id == parent);
        if depth > 64 {
            break;
        }
    }
    depth
}

fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(950), "950 ms");
        assert_eq!(format_duration(1_500), "1.5 s");
        assert_eq!(format_duration(125_000), "2m05s");
    }
}
