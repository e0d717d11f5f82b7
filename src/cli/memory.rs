//! `lucid memory`: list, inspect, approve, reject, edit, export and import memories.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{exit, open_store};
use lucid_core::event::{format_time, one_line, sanitize};
use lucid_core::memory::skill::{self, strip_rules_block};
use lucid_core::memory::{Author, Memory, MemoryBook, MemoryError, MemoryStatus};
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

fn memory_failure(err: MemoryError) -> Failure {
    let code = match err {
        MemoryError::Store(_) => exit::RUNTIME,
        _ => exit::USAGE,
    };
    (code, err.to_string())
}

pub fn memory(db: Option<PathBuf>, command: MemoryCommand) -> u8 {
    let store = match open_store(db) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let book = MemoryBook::new(store.clone());
    let result = match command {
        MemoryCommand::List { status, team, json } => {
            list(&book, status.as_deref(), team.as_deref(), json)
        }
        MemoryCommand::Show { id, diff, json } => show(&book, &id, diff, json),
        MemoryCommand::Approve(selection) => approve(&book, selection),
        MemoryCommand::Reject { ids } => reject(&book, &ids),
        MemoryCommand::Edit { id } => edit(&book, &id),
        MemoryCommand::Export(args) => export(&book, args),
        MemoryCommand::Import { dir, team } => import(&book, &dir, team.as_deref()),
    };
    let flushed = store.flush();
    match (result, flushed) {
        (Ok(()), Ok(())) => exit::OK,
        (Err((code, message)), _) => {
            eprintln!("lucid: {message}");
            code
        }
        (Ok(()), Err(err)) => {
            eprintln!("lucid: {err}");
            exit::RUNTIME
        }
    }
}

fn list(
    book: &MemoryBook,
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
    let memories: Vec<Memory> = book
        .list()
        .map_err(memory_failure)?
        .into_iter()
        .filter(|m| wanted.is_none_or(|s| m.status == s))
        .filter(|m| team.is_none_or(|t| m.team == t))
        .collect();
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

fn show(book: &MemoryBook, id: &str, diff: bool, json: bool) -> Result<(), Failure> {
    let memory = book.find(id).map_err(memory_failure)?;
    let versions = book.versions(memory.id).map_err(memory_failure)?;
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
        for line in book.diff(memory.id, None, None).map_err(memory_failure)? {
            println!("{}", sanitize(&line.render()));
        }
    }
    Ok(())
}

fn approve(book: &MemoryBook, selection: Selection) -> Result<(), Failure> {
    let ids = if selection.all_proposed {
        book.list()
            .map_err(memory_failure)?
            .into_iter()
            .filter(|m| m.status == MemoryStatus::Proposed)
            .filter(|m| selection.team.as_deref().is_none_or(|t| m.team == t))
            .map(|m| m.id)
            .collect()
    } else {
        selection
            .ids
            .iter()
            .map(|id| book.find(id).map(|m| m.id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(memory_failure)?
    };
    if ids.is_empty() {
        println!("Nothing to approve.");
    }
    for id in ids {
        let changed = book
            .approve(id, Author::current_person())
            .map_err(memory_failure)?;
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

fn reject(book: &MemoryBook, ids: &[String]) -> Result<(), Failure> {
    for id in ids {
        let memory = book.find(id).map_err(memory_failure)?;
        let rejected = book
            .reject(memory.id, Author::current_person())
            .map_err(memory_failure)?;
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

fn edit(book: &MemoryBook, id: &str) -> Result<(), Failure> {
    let memory = book.find(id).map_err(memory_failure)?;
    let dir = std::env::temp_dir().join(format!("lucid-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| (exit::RUNTIME, format!("{}: {e}", dir.display())))?;
    let file = dir.join(format!("{}.md", memory.id));
    let before = editable_text(&memory);
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
        println!("No changes.");
        return Ok(());
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
    let rules = parse_rules(body);
    let body = strip_rules_block(body);
    let revised = book
        .revise(memory.id, Author::current_person(), "edited", |m| {
            m.title = title;
            m.body = body;
            m.rules = rules;
        })
        .map_err(memory_failure)?;
    println!("saved {} as version {}", revised.id, revised.version);
    Ok(())
}

fn export(book: &MemoryBook, args: ExportArgs) -> Result<(), Failure> {
    let memories: Vec<Memory> = if args.all {
        book.list()
            .map_err(memory_failure)?
            .into_iter()
            .filter(Memory::is_active)
            .collect()
    } else {
        let mut chosen = Vec::new();
        for id in &args.ids {
            let memory = book.find(id).map_err(memory_failure)?;
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

fn import(book: &MemoryBook, dir: &Path, team: Option<&str>) -> Result<(), Failure> {
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
    let existing = book.list().map_err(memory_failure)?;
    for (folder, proposal) in proposals {
        let duplicate = existing.iter().any(|m| {
            m.team == proposal.team
                && m.title == proposal.title
                && m.body == proposal.body
                && m.rules == proposal.rules
        });
        if duplicate {
            println!(
                "skipped {}: the team already has this memory",
                folder.display()
            );
            continue;
        }
        let created = book.create(proposal).map_err(memory_failure)?;
        println!(
            "proposed {} from {}: {}",
            created.id,
            folder.display(),
            one_line(&created.title, 80)
        );
    }
    Ok(())
}
