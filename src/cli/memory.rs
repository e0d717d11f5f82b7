//! `lucid memory`: list and inspect memories (with their history and a diff of any two
//! versions), govern them (approve, approve again, reject, retire, revert to an earlier
//! version), edit them in `$EDITOR` ([`super::memory_edit`]), export and import them, in
//! the store or, when another lucid holds it, through that owner ([`Memories`]): same
//! output and exit codes either way. Skill folders are read and written here.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::exit;
use super::memories::Memories;
use super::output::WithShortId;
use lucid_core::event::{format_time, one_line, sanitize};
use lucid_core::memory::skill;
use lucid_core::memory::{Action, Change, Imported, Memory, MemoryStatus, Revert};
use lucid_core::world::rules::render_rules;

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List memories, oldest first.
    List {
        /// Only memories with this status: proposed, approved, rejected or retired.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Only this team's memories.
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one memory: body, rules, provenance and its history (who did what, when).
    Show {
        /// The memory's short id or id, or a unique prefix of either.
        id: String,
        /// Also show a diff: alone, the previous version against the current one; `A..B`,
        /// version A against version B (`A..`: against the current one; version 0 is
        /// the empty text before the first).
        #[arg(long, value_name = "A..B", num_args = 0..=1, default_missing_value = "..")]
        diff: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Approve proposals, or rejected or retired memories again: only approved memories
    /// steer runs.
    Approve(Selection),
    /// Reject proposals: they have no effect (unless approved later).
    Reject {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Retire approved memories: still listed and shown, they no longer steer runs
    /// (approve one again to bring it back).
    Retire {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Write a new version whose content (title, body, rules, scope, evidence) is version
    /// N's. An approved memory is then proposed again unless --approve.
    Revert {
        /// The memory's short id or id, or a unique prefix of either.
        id: String,
        /// The version whose content to restore.
        #[arg(long, value_name = "N")]
        to: u32,
        /// Approve the result in the same step.
        #[arg(long)]
        approve: bool,
    },
    /// Edit a memory's title, body and rules in $EDITOR; saving makes a new version. An
    /// approved memory is then proposed again unless --approve.
    Edit {
        /// The memory's short id or id, or a unique prefix of either.
        id: String,
        /// Approve the edited memory in the same step (it keeps steering runs).
        #[arg(long)]
        approve: bool,
    },
    /// Export approved playbooks as Agent Skills folders (SKILL.md).
    Export(ExportArgs),
    /// Import Agent Skills folders as proposed playbooks.
    Import {
        /// A folder of skill folders, or one skill folder.
        dir: PathBuf,
        /// The team they belong to (default: the team in each skill's metadata).
        #[arg(long)]
        team: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct Selection {
    /// Memories' short ids or ids (or unique prefixes of either).
    #[arg(required_unless_present = "all_proposed")]
    pub ids: Vec<String>,
    /// Every proposed memory (of --team, if given).
    #[arg(long, conflicts_with = "ids")]
    pub all_proposed: bool,
    #[arg(long, requires = "all_proposed")]
    pub team: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Memories' short ids or ids (or unique prefixes of either).
    #[arg(required_unless_present = "all")]
    pub ids: Vec<String>,
    /// Every approved playbook.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// The export format; `skill` (Agent Skills) is the one there is.
    #[arg(long, default_value = "skill", value_parser = ["skill"])]
    pub format: String,
    /// The folder to write the skill folders into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

type Failure = (u8, String);

pub async fn memory(db: Option<PathBuf>, command: MemoryCommand) -> u8 {
    let path = db.unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    let result = match Memories::open(&path) {
        Ok(memories) => on(memories, &path, command).await,
        Err(failure) => Err(failure),
    };
    match result {
        Ok(()) => exit::OK,
        Err((code, message)) => {
            say!("lucid: {message}");
            code
        }
    }
}

/// The command, on the memories of the store at `path` (opened here, or its owner's).
async fn on(memories: Memories, path: &Path, command: MemoryCommand) -> Result<(), Failure> {
    let m = &memories;
    let result = match command {
        MemoryCommand::List { status, team, json } => {
            list(m, status.as_deref(), team.as_deref(), json).await
        }
        MemoryCommand::Show { id, diff, json } => show(m, &id, diff.as_deref(), json).await,
        MemoryCommand::Approve(selection) => approve(m, selection).await,
        MemoryCommand::Reject { ids } => reject(m, &ids).await,
        MemoryCommand::Retire { ids } => retire(m, &ids).await,
        MemoryCommand::Revert { id, to, approve } => revert(m, &id, Revert { to, approve }).await,
        MemoryCommand::Export(args) => export(m, args).await,
        MemoryCommand::Import { dir, team } => import(m, &dir, team.as_deref()).await,
        MemoryCommand::Edit { id, approve } => {
            return super::memory_edit::edit(memories, path, &id, approve).await
        }
    };
    let flushed = memories.flush();
    result.and(flushed)
}

async fn list(
    memories: &Memories,
    status: Option<&str>,
    team: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let wanted = match status {
        Some(text) => Some(MemoryStatus::parse(text).ok_or_else(|| {
            (
                exit::USAGE,
                format!("--status `{text}`: use proposed, approved, rejected or retired"),
            )
        })?),
        None => None,
    };
    let memories: Vec<Memory> = memories.list(wanted, team).await?;
    if json {
        let text = super::output::json_with_short_ids(&memories, |m| m.id.short_id())
            .map_err(|e| (exit::RUNTIME, e.to_string()))?;
        outln!("{text}");
        return Ok(());
    }
    if memories.is_empty() {
        outln!(
            "No memories{}. Dream over recorded sessions with `lucid dream`.",
            status
                .map(|s| format!(" with status {s}"))
                .unwrap_or_default()
        );
        return Ok(());
    }
    outln!(
        "{:<8}  {:<9}  {:<10}  {:>3}  {:<28}  title",
        "id",
        "status",
        "kind",
        "ver",
        "scope"
    );
    for m in &memories {
        outln!(
            "{:<8}  {:<9}  {:<10}  {:>3}  {:<28}  {}",
            m.id.short_id(),
            m.status.as_str(),
            m.kind.as_str(),
            m.version,
            one_line(&m.scope(), 28),
            one_line(&m.title, 80)
        );
    }
    Ok(())
}

/// `A..B`, `A..` or `..B` (or `..` alone): the versions to diff, `None` for a default.
fn diff_range(text: &str) -> Result<(Option<u32>, Option<u32>), Failure> {
    let bad = || {
        (
            exit::USAGE,
            format!(
                "--diff `{}`: use A..B with version numbers, e.g. 1..3 (A.. diffs against \
                 the current version, ..B against the one before B)",
                sanitize(text)
            ),
        )
    };
    let (from, to) = text.trim().split_once("..").ok_or_else(bad)?;
    let version = |part: &str| -> Result<Option<u32>, Failure> {
        let part = part.trim();
        if part.is_empty() {
            return Ok(None);
        }
        part.trim_start_matches(['v', 'V'])
            .parse()
            .map(Some)
            .map_err(|_| bad())
    };
    Ok((version(from)?, version(to)?))
}

async fn show(
    memories: &Memories,
    id: &str,
    diff: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let range = diff.map(diff_range).transpose()?;
    let record = memories.record(id).await?;
    let memory = &record.memory;
    // The diff is made before anything is printed: a bad version prints only the error.
    let diff = match range {
        Some((from, to)) => {
            let to = to.unwrap_or(memory.version);
            let from = from.unwrap_or(to.saturating_sub(1));
            let lines = memories.diff(memory.id, Some(from), Some(to)).await?;
            Some((from, to, lines))
        }
        None => None,
    };
    if json {
        let shown = WithShortId {
            record: &record,
            short_id: memory.id.short_id(),
        };
        let text =
            serde_json::to_string_pretty(&shown).map_err(|e| (exit::RUNTIME, e.to_string()))?;
        outln!("{text}");
        return Ok(());
    }
    outln!("{}  {}", memory.id.short_id(), sanitize(&memory.title));
    outln!(
        "id {} · {} · {} · scope {} · version {} · by {} · updated {}",
        memory.id,
        memory.status.as_str(),
        memory.kind.as_str(),
        sanitize(&memory.scope()),
        memory.version,
        sanitize(&memory.author.describe()),
        format_time(memory.updated_at_ms)
    );
    match memory.change {
        Change::New => {}
        Change::Update { target } => outln!("proposes an update of {}", target.short_id()),
        Change::Retire { target } => outln!("proposes retiring {}", target.short_id()),
    }
    if record.history.last().is_some_and(|h| h.needs_review()) {
        outln!(
            "edited after it was approved: it steers no run until approved again \
             (`lucid memory approve {}`)",
            memory.id.short_id()
        );
    }
    outln!("\n{}\n", sanitize(memory.body.trim_end()));
    if !memory.rules.is_empty() {
        outln!("rules:\n{}", sanitize(&render_rules(&memory.rules)));
    }
    // A dream's body already lists its evidence: cite only what it does not.
    let (in_body, elsewhere): (Vec<_>, Vec<_>) = memory
        .provenance
        .iter()
        .partition(|c| memory.body.contains(&c.session.to_string()));
    if !elsewhere.is_empty() {
        outln!("provenance:");
        for c in &elsewhere {
            outln!("  {} {}", c.session.short_id(), one_line(&c.summary, 100));
        }
    }
    if !in_body.is_empty() {
        outln!(
            "provenance: the {} session(s) cited in the text above",
            in_body.len()
        );
    }
    outln!("\nhistory:");
    for entry in &record.history {
        outln!(
            "  v{} {} by {} — {}",
            entry.version,
            format_time(entry.at_ms),
            one_line(&entry.by.describe(), 60),
            one_line(&entry.summary, 160)
        );
    }
    if let Some((from, to, lines)) = diff {
        outln!("\ndiff v{from} → v{to}:");
        for line in lines {
            outln!("{}", sanitize(&line.render()));
        }
    }
    Ok(())
}

/// One line for a memory a review changed: what happened to it, as its new version says.
fn changed_line(m: &Memory) -> String {
    let title = one_line(&m.title, 80);
    let (id, version) = (m.id.short_id(), m.version);
    match Action::from_reason(m.version, &m.reason) {
        Action::Reapproved { was } => {
            format!(
                "re-approved {id} v{version} (was {}): {title}",
                was.as_str()
            )
        }
        Action::UpdatedBy { proposal } => {
            format!(
                "updated {id} v{version} with {}: {title}",
                proposal.short_id()
            )
        }
        Action::RetiredBy { proposal } => {
            format!(
                "retired {id} v{version} by {}: {title}; it no longer steers runs",
                proposal.short_id()
            )
        }
        _ => format!("{} {id} v{version}: {title}", m.status.as_str()),
    }
}

async fn approve(memories: &Memories, selection: Selection) -> Result<(), Failure> {
    let ids = if selection.all_proposed {
        memories
            .list(Some(MemoryStatus::Proposed), selection.team.as_deref())
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect()
    } else {
        let mut ids = Vec::new();
        for id in &selection.ids {
            ids.push(memories.find(id).await?.id);
        }
        ids
    };
    if ids.is_empty() {
        outln!("Nothing to approve.");
    }
    for id in ids {
        for m in memories.approve(id).await? {
            outln!("{}", changed_line(&m));
        }
    }
    Ok(())
}

async fn reject(memories: &Memories, ids: &[String]) -> Result<(), Failure> {
    for id in ids {
        let memory = memories.find(id).await?;
        let rejected = memories.reject(memory.id).await?;
        outln!(
            "rejected {} v{}: {}",
            rejected.id.short_id(),
            rejected.version,
            one_line(&rejected.title, 80)
        );
    }
    Ok(())
}

async fn retire(memories: &Memories, ids: &[String]) -> Result<(), Failure> {
    for id in ids {
        let memory = memories.find(id).await?;
        let retired = memories.retire(memory.id).await?;
        outln!(
            "retired {} v{}: {}; it no longer steers runs",
            retired.id.short_id(),
            retired.version,
            one_line(&retired.title, 80)
        );
    }
    Ok(())
}

async fn revert(memories: &Memories, id: &str, to: Revert) -> Result<(), Failure> {
    let memory = memories.find(id).await?;
    let reverted = memories.revert(memory.id, to).await?;
    outln!(
        "reverted {} to v{} as version {}{}",
        reverted.id.short_id(),
        to.to,
        reverted.version,
        status_note(memory.status, &reverted)
    );
    Ok(())
}

/// What a rewrite (an edit or a revert) did to a memory that was `before`: whether it
/// still steers runs.
pub(super) fn status_note(before: MemoryStatus, saved: &Memory) -> String {
    match (before, saved.status) {
        (MemoryStatus::Approved, MemoryStatus::Proposed) => format!(
            "; it was approved, so it is proposed again and steers no run until approved \
             (`lucid memory approve {}`, or --approve with the change)",
            saved.id.short_id()
        ),
        (_, MemoryStatus::Approved) => "; approved with the change".into(),
        (_, status) => format!("; it is {}", status.as_str()),
    }
}

async fn export(from: &Memories, args: ExportArgs) -> Result<(), Failure> {
    let memories: Vec<Memory> = if args.all {
        from.list(None, None)
            .await?
            .into_iter()
            .filter(Memory::is_active)
            .collect()
    } else {
        let mut chosen = Vec::new();
        for id in &args.ids {
            let memory = from.find(id).await?;
            if !memory.is_active() {
                return Err((
                    exit::USAGE,
                    format!(
                        "memory {} is {}; only approved memories export",
                        memory.id.short_id(),
                        memory.status.as_str()
                    ),
                ));
            }
            chosen.push(memory);
        }
        chosen
    };
    if memories.is_empty() {
        outln!("No approved memories to export.");
        return Ok(());
    }
    let folders =
        skill::export(&memories, &args.out).map_err(|e| (exit::RUNTIME, e.to_string()))?;
    for folder in folders {
        outln!("{}", folder.display());
    }
    Ok(())
}

async fn import(memories: &Memories, dir: &Path, team: Option<&str>) -> Result<(), Failure> {
    let folders = skill::skill_folders(dir).map_err(|e| (exit::USAGE, e.to_string()))?;
    if folders.is_empty() {
        return Err((
            exit::USAGE,
            format!(
                "{}: no skill folders (folders holding SKILL.md)",
                dir.display()
            ),
        ));
    }
    // Every folder is read and checked before anything is written: a bad folder
    // imports nothing.
    let mut proposals = Vec::new();
    for folder in &folders {
        let skill = skill::read_skill(folder).map_err(|e| (exit::USAGE, e.to_string()))?;
        let proposal =
            skill::to_proposal(&skill, team, folder).map_err(|e| (exit::USAGE, e.to_string()))?;
        proposals.push((folder, proposal));
    }
    let (folders, proposals): (Vec<_>, Vec<_>) = proposals.into_iter().unzip();
    let results = memories.import(proposals).await?;
    for (folder, result) in folders.into_iter().zip(results) {
        let Imported::Created(created) = result else {
            outln!(
                "skipped {}: the team already has this memory",
                folder.display()
            );
            continue;
        };
        outln!(
            "proposed {} from {}: {}",
            created.id.short_id(),
            folder.display(),
            one_line(&created.title, 80)
        );
    }
    Ok(())
}
