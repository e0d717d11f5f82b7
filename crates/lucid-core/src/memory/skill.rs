//! Agent Skills: a playbook as a folder holding `SKILL.md` — YAML front matter (`name`,
//! `description`, optional string-to-string `metadata`) and the playbook as the body.
//!
//! `name` is 1–64 lowercase letters, digits and hyphens, with no leading, trailing or
//! doubled hyphen, and equals the folder's name; `description` is 1–1024 characters.
//! Structured rules travel inside the body as a fenced `lucid-rules` block, so a skill
//! read by another tool still shows them and an import gets them back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::record::{Author, Change, Memory, MemoryKind, MemoryStatus};
use crate::event::MemoryId;
use crate::world::rules::{parse_rules, render_rules, FENCE_TAG};

pub const SKILL_FILE: &str = "SKILL.md";
const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 1024;

/// Why a skill folder could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    #[error("{}: {problem}", .path.display())]
    Invalid {
        path: PathBuf,
        problem: SkillProblem,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What makes a `SKILL.md` unusable. `line` is the file's 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkillProblem {
    #[error("SKILL.md must start with `---` front matter")]
    NoFrontMatter,
    #[error("the front matter has no closing `---`")]
    UnclosedFrontMatter,
    #[error("line {line}: expected `key: value`")]
    NotKeyValue { line: usize },
    #[error("line {line}: {problem}")]
    BadValue { line: usize, problem: QuoteProblem },
    #[error("line {line}: unexpected indentation")]
    Indented { line: usize },
    #[error("the front matter has no `{key}`")]
    MissingKey { key: &'static str },
    #[error(
        "`{name}` is not a valid skill name (1-64 lowercase letters, digits and single hyphens)"
    )]
    BadName { name: String },
    #[error("the skill is named `{name}` but its folder is `{folder}`")]
    FolderMismatch { name: String, folder: String },
    #[error("`description` is longer than {MAX_DESCRIPTION} characters")]
    LongDescription,
    #[error("the skill names no team; pass --team NAME")]
    NoTeam,
}

/// What is wrong with a quoted front-matter value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteProblem {
    #[error("unterminated quoted string")]
    Unterminated,
    #[error("a quoted string ends in `\\`")]
    TrailingBackslash,
}

fn invalid(path: &Path, problem: SkillProblem) -> SkillError {
    SkillError::Invalid {
        path: path.to_path_buf(),
        problem,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SkillError + '_ {
    move |source| SkillError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A skill name from a title: lowercase ASCII letters and digits joined by single hyphens.
pub fn skill_name(title: &str) -> String {
    let mut name = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if name.len() >= MAX_NAME {
                break;
            }
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') && name.len() < MAX_NAME - 1 {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "playbook".into()
    } else {
        name
    }
}

/// Whether a name meets the Agent Skills rules.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn description_of(memory: &Memory) -> String {
    let first_paragraph = memory
        .body
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|p| !p.is_empty() && !p.starts_with("```"))
        .unwrap_or_default();
    let mut text = format!(
        "{} Use in sessions of team {}{}.",
        if first_paragraph.is_empty() {
            format!("{}.", memory.title.trim_end_matches('.'))
        } else {
            first_paragraph
        },
        memory.team,
        memory
            .agent
            .as_deref()
            .map(|a| format!(", for agent {a}"))
            .unwrap_or_default()
    );
    if text.chars().count() > MAX_DESCRIPTION {
        text = text.chars().take(MAX_DESCRIPTION - 1).collect::<String>() + "…";
    }
    text
}

/// A YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `SKILL.md` text of a memory, under skill name `name`.
pub fn render_skill(memory: &Memory, name: &str) -> String {
    let mut metadata = BTreeMap::new();
    metadata.insert("lucid-id", memory.id.to_string());
    metadata.insert("team", memory.team.clone());
    metadata.insert("version", memory.version.to_string());
    metadata.insert("kind", memory.kind.as_str().to_string());
    if let Some(agent) = &memory.agent {
        metadata.insert("agent", agent.clone());
    }
    if !memory.provenance.is_empty() {
        let sessions: Vec<String> = memory
            .provenance
            .iter()
            .map(|c| c.session.to_string())
            .collect();
        metadata.insert("provenance", sessions.join(" "));
    }
    let mut text = format!(
        "---\nname: {}\ndescription: {}\nmetadata:\n",
        quoted(name),
        quoted(&description_of(memory))
    );
    for (key, value) in &metadata {
        text.push_str(&format!("  {key}: {}\n", quoted(value)));
    }
    text.push_str(&format!(
        "---\n\n# {}\n\n{}\n",
        memory.title,
        memory.body.trim_end()
    ));
    if !memory.rules.is_empty() {
        text.push('\n');
        text.push_str(&render_rules(&memory.rules));
    }
    text
}

/// Writes memories as skill folders under `out`, returning the folders. Names that
/// collide (with each other or with folders already in `out`) get a numeric suffix, so
/// nothing on disk is overwritten.
pub fn export(memories: &[Memory], out: &Path) -> Result<Vec<PathBuf>, SkillError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut written = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for memory in memories {
        let base = skill_name(&memory.title);
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name) || out.join(&name).exists() {
            let suffix = format!("-{n}");
            name = format!(
                "{}{suffix}",
                &base[..base.len().min(MAX_NAME - suffix.len())].trim_end_matches('-')
            );
            n += 1;
        }
        used.push(name.clone());
        let folder = out.join(&name);
        std::fs::create_dir_all(&folder).map_err(io(&folder))?;
        let file = folder.join(SKILL_FILE);
        std::fs::write(&file, render_skill(memory, &name)).map_err(io(&file))?;
        written.push(folder);
    }
    Ok(written)
}

/// A skill folder as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillFolder {
    pub name: String,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    pub title: String,
    pub body: String,
}

/// Reads and validates one skill folder.
pub fn read_skill(folder: &Path) -> Result<SkillFolder, SkillError> {
    let file = folder.join(SKILL_FILE);
    let text = std::fs::read_to_string(&file)
        .map_err(io(&file))?
        .replace("\r\n", "\n");
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| invalid(&file, SkillProblem::NoFrontMatter))?;
    let end = rest
        .find("\n---\n")
        .or_else(|| rest.strip_suffix("\n---").map(str::len))
        .ok_or_else(|| invalid(&file, SkillProblem::UnclosedFrontMatter))?;
    let (front, body) = (&rest[..end], rest.get(end + 5..).unwrap_or(""));
    let mut fields = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    let mut in_metadata = false;
    for (number, line) in front.lines().enumerate() {
        let line_no = number + 2;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with(' ');
        let (key, value) = line
            .trim()
            .split_once(':')
            .ok_or_else(|| invalid(&file, SkillProblem::NotKeyValue { line: line_no }))?;
        let value = unquote(value.trim()).map_err(|problem| {
            invalid(
                &file,
                SkillProblem::BadValue {
                    line: line_no,
                    problem,
                },
            )
        })?;
        if indented && in_metadata {
            metadata.insert(key.trim().to_string(), value);
        } else if indented {
            return Err(invalid(&file, SkillProblem::Indented { line: line_no }));
        } else {
            in_metadata = key.trim() == "metadata" && value.is_empty();
            if !in_metadata {
                fields.insert(key.trim().to_string(), value);
            }
        }
    }
    let name = fields
        .remove("name")
        .ok_or_else(|| invalid(&file, SkillProblem::MissingKey { key: "name" }))?;
    if !valid_name(&name) {
        return Err(invalid(&file, SkillProblem::BadName { name }));
    }
    let folder_name = folder.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if folder_name != name {
        return Err(invalid(
            &file,
            SkillProblem::FolderMismatch {
                name,
                folder: folder_name.to_string(),
            },
        ));
    }
    let description = fields
        .remove("description")
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| invalid(&file, SkillProblem::MissingKey { key: "description" }))?;
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(invalid(&file, SkillProblem::LongDescription));
    }
    let body = body.trim();
    let (title, body) = match body.strip_prefix("# ") {
        Some(rest) => {
            let (title, body) = rest.split_once('\n').unwrap_or((rest, ""));
            (title.trim().to_string(), body.trim().to_string())
        }
        None => (name.replace('-', " "), body.to_string()),
    };
    Ok(SkillFolder {
        name,
        description,
        metadata,
        title,
        body,
    })
}

fn unquote(value: &str) -> Result<String, QuoteProblem> {
    let Some(inner) = value.strip_prefix('"') else {
        return Ok(value.trim_matches('\'').to_string());
    };
    let inner = inner.strip_suffix('"').ok_or(QuoteProblem::Unterminated)?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => return Err(QuoteProblem::TrailingBackslash),
        }
    }
    Ok(out)
}

/// A skill as a proposed playbook of `team` (or of the team its metadata names).
pub fn to_proposal(
    skill: &SkillFolder,
    team: Option<&str>,
    from: &Path,
) -> Result<Memory, SkillError> {
    let team = team
        .map(str::to_string)
        .or_else(|| skill.metadata.get("team").cloned())
        .ok_or_else(|| invalid(from, SkillProblem::NoTeam))?;
    let rules = parse_rules(&skill.body);
    let body = strip_rules_block(&skill.body);
    let kind = match skill.metadata.get("kind").map(String::as_str) {
        Some("note") => MemoryKind::Note,
        Some("preference") => MemoryKind::Preference,
        _ => MemoryKind::Playbook,
    };
    Ok(Memory {
        id: MemoryId(0),
        version: 1,
        kind,
        team,
        agent: skill.metadata.get("agent").cloned(),
        title: skill.title.clone(),
        body,
        rules,
        status: MemoryStatus::Proposed,
        provenance: Vec::new(),
        author: Author::Import {
            from: from.display().to_string(),
        },
        change: Change::New,
        key: None,
        created_at_ms: 0,
        updated_at_ms: 0,
        reason: "imported".into(),
    })
}

pub fn strip_rules_block(body: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in body.lines() {
        let trimmed = line.trim();
        if let Some(tag) = trimmed.strip_prefix("```") {
            if !inside && tag.trim() == FENCE_TAG {
                inside = true;
                continue;
            }
            if inside {
                inside = false;
                continue;
            }
        }
        if !inside {
            out.push(line);
        }
    }
    out.join("\n").trim().to_string()
}

/// Every skill folder directly under `dir` (or `dir` itself if it holds a SKILL.md).
pub fn skill_folders(dir: &Path) -> Result<Vec<PathBuf>, SkillError> {
    if dir.join(SKILL_FILE).is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join(SKILL_FILE).is_file())
        .collect();
    folders.sort();
    Ok(folders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DreamId, SessionId};
    use crate::memory::Citation;
    use crate::world::rules::Rule;
    use serde_json::json;

    fn playbook() -> Memory {
        Memory {
            id: MemoryId::generate(),
            version: 3,
            kind: MemoryKind::Playbook,
            team: "lumara-landing".into(),
            agent: Some("navigator".into()),
            title: "Brake early over \"dune\" terrain".into(),
            body: "On dune terrain the altimeter reads high.\n\nStart the braking burn higher."
                .into(),
            rules: vec![serde_json::from_value::<Rule>(
                json!({"when": {"terrain": "dune"}, "then": {"burn_margin_m": {"min": 150}}}),
            )
            .unwrap()],
            status: MemoryStatus::Approved,
            provenance: vec![Citation {
                session: SessionId::generate(),
                events: vec![3],
                summary: "hard landing on dune".into(),
            }],
            author: Author::Dream {
                dream: DreamId::generate(),
            },
            change: Change::New,
            key: Some("k".into()),
            created_at_ms: 1,
            updated_at_ms: 2,
            reason: String::new(),
        }
    }

    #[test]
    fn names_follow_the_skill_rules() {
        assert_eq!(
            skill_name("Brake early over \"dune\" terrain!"),
            "brake-early-over-dune-terrain"
        );
        assert_eq!(skill_name("--"), "playbook");
        let long = skill_name(&"ab ".repeat(60));
        assert!(valid_name(&long) && long.len() <= 64, "{long}");
        for bad in ["", "-a", "a-", "a--b", "A", "a_b", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn export_then_import_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let memory = playbook();
        let folders = export(&[memory.clone(), memory.clone()], dir.path()).unwrap();
        assert_eq!(
            folders[0].file_name().unwrap(),
            "brake-early-over-dune-terrain"
        );
        assert_eq!(
            folders[1].file_name().unwrap(),
            "brake-early-over-dune-terrain-2"
        );
        let text = std::fs::read_to_string(folders[0].join(SKILL_FILE)).unwrap();
        assert!(text.starts_with("---\nname: \"brake-early-over-dune-terrain\"\ndescription: \"On dune terrain the altimeter reads high. Use in sessions of team lumara-landing, for agent navigator.\"\nmetadata:\n"), "{text}");
        let skill = read_skill(&folders[0]).unwrap();
        assert_eq!(skill.metadata["team"], "lumara-landing");
        assert_eq!(skill.metadata["version"], "3");
        let imported = to_proposal(&skill, None, &folders[0]).unwrap();
        assert_eq!(imported.title, memory.title);
        assert_eq!(imported.body, memory.body);
        assert_eq!(imported.rules, memory.rules);
        assert_eq!(imported.agent, memory.agent);
        assert_eq!(imported.status, MemoryStatus::Proposed);
        assert_eq!(skill_folders(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn invalid_skills_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("wrong-name");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(SKILL_FILE),
            "---\nname: other\ndescription: x\n---\nbody\n",
        )
        .unwrap();
        let err = read_skill(&folder).unwrap_err().to_string();
        assert!(
            err.contains("SKILL.md") && err.contains("folder is `wrong-name`"),
            "{err}"
        );
        let problem = |text: &str| {
            std::fs::write(folder.join(SKILL_FILE), text).unwrap();
            match read_skill(&folder).unwrap_err() {
                SkillError::Invalid { path, problem } => {
                    assert_eq!(path, folder.join(SKILL_FILE));
                    problem
                }
                other => panic!("expected an invalid skill, got {other:?}"),
            }
        };
        assert_eq!(problem("no front matter"), SkillProblem::NoFrontMatter);
        assert_eq!(
            problem("---\nname: wrong-name\ndescription: \"open\n---\n"),
            SkillProblem::BadValue {
                line: 3,
                problem: QuoteProblem::Unterminated
            }
        );
        assert_eq!(
            problem("---\nname: \"wrong-name\\\"\n---\n").to_string(),
            "line 2: a quoted string ends in `\\`"
        );
        assert_eq!(
            problem("---\nname: wrong-name\n---\n").to_string(),
            "the front matter has no `description`"
        );
        assert_eq!(
            problem("---\nname: Wrong\ndescription: x\n---\n"),
            SkillProblem::BadName {
                name: "Wrong".into()
            }
        );
        let skill = SkillFolder {
            name: "s".into(),
            description: "d".into(),
            metadata: BTreeMap::new(),
            title: "t".into(),
            body: String::new(),
        };
        let err = to_proposal(&skill, None, &folder).unwrap_err().to_string();
        assert!(
            err.ends_with("wrong-name: the skill names no team; pass --team NAME"),
            "{err}"
        );
    }
}
