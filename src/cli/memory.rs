//! `lucid memory`: list, inspect, approve, reject, edit, export and import memories, in
//! the store or, when another lucid holds it, through that owner ([`Memories`]): same
//! output and exit codes either way. Skill folders are read and written here, and
//! `$EDITOR` runs here, with nothing holding the store while it is open.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::exit;
use super::memories::Memories;
use lucid_core::event::{format_time, one_line, sanitize};
use lucid_core::memory::skill::{self, strip_rules_block};
use lucid_core::memory::{Edit, Imported, Memory, MemoryStatus};
use lucid_core::world::rules::{parse_rules, render_rules};

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
    /// Show one memory: body, rules, provenance and versions.
    Show {
        /// The memory id, or a unique prefix of it.
        id: String,
        /// Also show the diff against the previous version.
        #[arg(long)]
        diff: bool,
        #[arg(long)]
        json: bool,
    },
    /// Approve proposals: only approved memories steer runs.
    Approve(Selection),
    /// Reject proposals: they will never have an effect.
    Reject {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Edit a memory's title, body and rules in $EDITOR; saving makes a new version.
    Edit { id: String },
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
    /// Memory ids (or unique prefixes).
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
    /// Memory ids (or unique prefixes).
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
            eprintln!("lucid: {message}");
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
        MemoryCommand::Show { id, diff, json } => show(m, &id, diff, json).await,
        MemoryCommand::Approve(selection) => approve(m, selection).await,
        MemoryCommand::Reject { ids } => reject(m, &ids).await,
        MemoryCommand::Export(args) => export(m, args).await,
        MemoryCommand::Import { dir, team } => import(m, &dir, team.as_deref()).await,
        MemoryCommand::Edit { id } => return edit(memories, path, &id).await,
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
        let text =
            serde_json::to_string_pretty(&memories).map_err(|e| (exit::RUNTIME, e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    if memories.is_empty() {
        println!(
            "No memories{}. Dream over recorded sessions with `lucid dream`.",
            status
                .map(|s| format!(" with status {s}"))
                .unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<26}  {:<9}  {:<10}  {:>3}  {:<28}  title",
        "id", "status", "kind", "ver", "scope"
    );
    for m in &memories {
        println!(
            "{:<26}  {:<9}  {:<10}  {:>3}  {:<28}  {}",
            m.id,
            m.status.as_str(),
            m.kind.as_str(),
            m.version,
            one_line(&m.scope(), 28),
            one_line(&m.title, 80)
        );
    }
    Ok(())
}

async fn show(memories: &Memories, id: &str, diff: bool, json: bool) -> Result<(), Failure> {
    let (memory, versions) = memories.record(id).await?;
    if json {
        let doc = serde_json::json!({"memory": memory, "versions": versions});
        let text =
            serde_json::to_string_pretty(&doc).map_err(|e| (exit::RUNTIME, e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    println!("{}  {}", memory.id, sanitize(&memory.title));
    println!(
        "{} · {} · scope {} · version {} · by {} · updated {}",
        memory.status.as_str(),
        memory.kind.as_str(),
        sanitize(&memory.scope()),
        memory.version,
        sanitize(&memory.author.describe()),
        format_time(memory.updated_at_ms)
    );
    match memory.change {
        lucid_core::memory::Change::New => {}
        lucid_core::memory::Change::Update { target } => println!("proposes an update of {target}"),
        lucid_core::memory::Change::Retire { target } => println!("proposes retiring {target}"),
    }
    println!("\n{}\n", sanitize(memory.body.trim_end()));
    if !memory.rules.is_empty() {
        println!("rules:\n{}", sanitize(&render_rules(&memory.rules)));
    }
    if !memory.provenance.is_empty() {
        println!("provenance:");
        for c in &memory.provenance {
            println!("  {} {}", c.session, one_line(&c.summary, 100));
        }
    }
    println!("\nversions:");
    for v in &versions {
        println!(
            "  v{} {} by {} — {}",
            v.version,
            format_time(v.updated_at_ms),
            v.author.describe(),
            one_line(&v.reason, 60)
        );
    }
    if diff {
        println!(
            "\ndiff v{} → v{}:",
            memory.version.saturating_sub(1),
            memory.version
        );
        for line in memories.diff(memory.id).await? {
            println!("{}", sanitize(&line.render()));
        }
    }
    Ok(())
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
        println!("Nothing to approve.");
    }
    for id in ids {
        let changed = memories.approve(id).await?;
        for m in changed {
            println!(
                "{} {} v{}: {}",
                m.status.as_str(),
                m.id,
                m.version,
                one_line(&m.title, 80)
            );
        }
    }
    Ok(())
}

async fn reject(memories: &Memories, ids: &[String]) -> Result<(), Failure> {
    for id in ids {
        let memory = memories.find(id).await?;
        let rejected = memories.reject(memory.id).await?;
        println!(
            "rejected {} v{}: {}",
            rejected.id,
            rejected.version,
            one_line(&rejected.title, 80)
        );
    }
    Ok(())
}

/// The text a person edits: the title as a heading, the body, the rules block.
fn editable_text(memory: &Memory) -> String {
    let mut text = format!("# {}\n\n{}\n", memory.title, memory.body.trim_end());
    if !memory.rules.is_empty() {
        text.push('\n');
        text.push_str(&render_rules(&memory.rules));
    }
    text
}

/// Edits a memory in `$EDITOR`. The store (if opened here) is let go while the editor
/// is open and opened again to save, so runs and other commands (or a TUI) can take it
/// meanwhile; the edit names the version it was made from, and is refused if the memory
/// moved on.
async fn edit(memories: Memories, path: &Path, id: &str) -> Result<(), Failure> {
    let memory = memories.find(id).await?;
    drop(memories);
    let Some(edit) = edit_in_editor(&memory)? else {
        println!("No changes.");
        return Ok(());
    };
    let memories = Memories::open(path)?;
    let revised = memories.edit(memory.id, edit).await;
    let flushed = memories.flush();
    let revised = revised?;
    flushed?;
    println!("saved {} as version {}", revised.id, revised.version);
    Ok(())
}

/// Runs `$VISUAL`/`$EDITOR` on the memory's text; the edit, or `None` if nothing changed.
fn edit_in_editor(memory: &Memory) -> Result<Option<Edit>, Failure> {
    let dir = std::env::temp_dir().join(format!("lucid-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| (exit::RUNTIME, format!("{}: {e}", dir.display())))?;
    let file = dir.join(format!("{}.md", memory.id));
    let before = editable_text(memory);
    std::fs::write(&file, &before)
        .map_err(|e| (exit::RUNTIME, format!("{}: {e}", file.display())))?;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("lucid-edit")
        .arg(&file)
        .status()
        .map_err(|e| {
            (
                exit::RUNTIME,
                format!("cannot start the editor `{editor}`: {e}"),
            )
        })?;
    let after = std::fs::read_to_string(&file)
        .map_err(|e| (exit::RUNTIME, format!("{}: {e}", file.display())));
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        return Err((
            exit::RUNTIME,
            format!("the editor `{editor}` failed ({status}); nothing changed"),
        ));
    }
    let after = after?;
    if after == before {
        return Ok(None);
    }
    let (title, body) = match after.trim_start().strip_prefix("# ") {
        Some(rest) => {
            let (title, body) = rest.split_once('\n').unwrap_or((rest, ""));
            (title.trim().to_string(), body)
        }
        None => (memory.title.clone(), after.as_str()),
    };
    if title.is_empty() {
        return Err((
            exit::USAGE,
            "the title (first line, `# …`) must not be empty; nothing changed".into(),
        ));
    }
    Ok(Some(Edit {
        base_version: Some(memory.version),
        title: Some(title),
        body: Some(strip_rules_block(body)),
        rules: Some(parse_rules(body)),
    }))
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
                        memory.id,
                        memory.status.as_str()
                    ),
                ));
            }
            chosen.push(memory);
        }
        chosen
    };
    if memories.is_empty() {
        println!("No approved memories to export.");
        return Ok(());
    }
    let folders =
        skill::export(&memories, &args.out).map_err(|e| (exit::RUNTIME, e.to_string()))?;
    for folder in folders {
        println!("{}", folder.display());
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
            println!(
                "skipped {}: the team already has this memory",
                folder.display()
            );
            continue;
        };
        println!(
            "proposed {} from {}: {}",
            created.id,
            folder.display(),
            one_line(&created.title, 80)
        );
    }
    Ok(())
}
