//! `lucid sessions diff ID` and `lucid apply ID`: reviewing what a project session changed
//! and carrying it over to the project.
//!
//! Both read the session's last `FilesChanged` event, from the store or, while another
//! lucid owns it, through that owner (applying itself happens here: it reads the working
//! copy and writes the project, not the store). The diff goes to stdout; on a terminal it
//! is sanitised first (the files came from models), piped it stays exact so `git apply`
//! can take it. Applying checks every file before it changes any (see
//! `env::project::changes::apply`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{exit, open_or_owner, Opened};
use lucid_core::event::{sanitize, Event, EventKind, FileChange};
use lucid_core::store::{SessionStatus, SessionSummary};

/// The change a session recorded last.
struct Recorded {
    /// The session's short id, as messages name it.
    session: String,
    status: SessionStatus,
    isolation: String,
    project: PathBuf,
    work_root: PathBuf,
    files: Vec<FileChange>,
    diff: String,
}

/// The change recorded last in a session's events.
fn recorded(summary: &SessionSummary, events: Vec<Event>) -> Result<Recorded, (u8, String)> {
    let last = events.into_iter().rev().find_map(|event| match event.kind {
        EventKind::FilesChanged {
            isolation,
            project,
            work_root,
            files,
            diff,
            ..
        } => Some((isolation, project, work_root, files, diff)),
        _ => None,
    });
    let (isolation, project, work_root, files, diff) = last.ok_or_else(|| {
        (
            exit::USAGE,
            format!(
                "session {} recorded no file changes (only `kind = \"project\"` sessions do)",
                summary.id.short_id()
            ),
        )
    })?;
    Ok(Recorded {
        session: summary.id.short_id().to_string(),
        status: summary.status,
        isolation,
        project: PathBuf::from(project),
        work_root: PathBuf::from(work_root),
        files,
        diff,
    })
}

/// `lucid sessions diff ID`, over the session's summary and events.
pub(super) fn diff(
    summary: &SessionSummary,
    events: Vec<Event>,
    stat: bool,
) -> Result<(), (u8, String)> {
    let change = recorded(summary, events)?;
    if change.files.is_empty() {
        say!("session {} changed no files", change.session);
        return Ok(());
    }
    let text = if stat {
        summary_lines(&change.files)
    } else {
        change.diff.clone()
    };
    if std::io::stdout().is_terminal() {
        out!("{}", sanitize(&text));
    } else {
        out!("{text}");
    }
    Ok(())
}

fn summary_lines(files: &[FileChange]) -> String {
    let mut out = String::new();
    for file in files {
        out.push_str(&format!(
            "{:<9} {}  (+{} -{}){}\n",
            file.change.as_str(),
            file.path,
            file.lines_added,
            file.lines_removed,
            if file.binary { ", binary" } else { "" }
        ));
    }
    out
}

/// `lucid apply ID [--check]`.
pub async fn apply(db: Option<PathBuf>, id: &str, check: bool) -> u8 {
    let record = match open_or_owner(db) {
        Ok(Opened::Store(store)) => super::sessions::session_events(&store, id),
        Ok(Opened::Owner(client)) => super::remote::record(&client, id).await,
        Err(code) => return code,
    };
    match record.and_then(|(summary, events)| apply_in(&summary, events, check)) {
        Ok(code) => code,
        Err((code, message)) => {
            say!("lucid: {}", sanitize(&message));
            code
        }
    }
}

fn apply_in(summary: &SessionSummary, events: Vec<Event>, check: bool) -> Result<u8, (u8, String)> {
    let change = recorded(summary, events)?;
    if change.status == SessionStatus::Running {
        return Err((
            exit::USAGE,
            format!(
                "session {} is still running; apply it once it has finished",
                change.session
            ),
        ));
    }
    if change.isolation == "in_place" {
        outln!(
            "session {} worked in place: its changes are already in {}",
            change.session,
            change.project.display()
        );
        return Ok(exit::OK);
    }
    if change.files.is_empty() {
        outln!(
            "session {} changed no files; nothing to apply",
            change.session
        );
        return Ok(exit::OK);
    }
    if !Path::new(&change.work_root).is_dir() {
        return Err((
            exit::RUNTIME,
            format!(
                "the session's working copy {} is gone, so its files cannot be applied (the diff is still in `lucid sessions diff {}`)",
                change.work_root.display(),
                change.session
            ),
        ));
    }
    if check {
        let plan =
            lucid_envs::project::changes::check(&change.files, &change.work_root, &change.project)
                .map_err(|err| (exit::RUBRIC_NOT_MET, err.to_string()))?;
        outln!(
            "session {}: {} file(s) would change in {} ({} already as the session left them)",
            change.session,
            plan.changed.len(),
            change.project.display(),
            plan.already.len()
        );
        return Ok(exit::OK);
    }
    match lucid_envs::project::apply(&change.files, &change.work_root, &change.project) {
        Ok(applied) if applied.changed.is_empty() => {
            outln!(
                "session {}: already applied; {} is as the session left it",
                change.session,
                change.project.display()
            );
            Ok(exit::OK)
        }
        Ok(applied) => {
            for path in &applied.changed {
                outln!("applied {}", sanitize(path));
            }
            outln!(
                "session {}: {} file(s) changed in {}",
                change.session,
                applied.changed.len(),
                sanitize(&change.project.display().to_string())
            );
            Ok(exit::OK)
        }
        Err(err @ lucid_envs::project::ApplyError::Io { .. }) => {
            Err((exit::RUNTIME, err.to_string()))
        }
        Err(err) => Err((exit::RUBRIC_NOT_MET, err.to_string())),
    }
}
