//! The memory record: a playbook, note or preference, with its scope, status, rules,
//! provenance and author.

use serde::{Deserialize, Serialize};

use crate::event::{DreamId, MemoryId, SessionId};
use crate::world::rules::{render_rules, Rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// How to do something better; rendered into agents' prompts once approved.
    Playbook,
    /// Something worth knowing about the team's history.
    Note,
    /// What the grader (or a person) keeps asking for.
    Preference,
}

impl MemoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryKind::Playbook => "playbook",
            MemoryKind::Note => "note",
            MemoryKind::Preference => "preference",
        }
    }
}

/// Where a memory stands. Only approved memories have any effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryStatus {
    Proposed,
    Approved,
    Rejected,
    Retired,
}

impl MemoryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryStatus::Proposed => "proposed",
            MemoryStatus::Approved => "approved",
            MemoryStatus::Rejected => "rejected",
            MemoryStatus::Retired => "retired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "proposed" => Some(MemoryStatus::Proposed),
            "approved" => Some(MemoryStatus::Approved),
            "rejected" => Some(MemoryStatus::Rejected),
            "retired" => Some(MemoryStatus::Retired),
            _ => None,
        }
    }
}

/// One session a claim rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    pub session: SessionId,
    /// Sequence numbers of the events that show it.
    #[serde(default)]
    pub events: Vec<u64>,
    /// One line: what this session shows.
    pub summary: String,
}

/// Who wrote a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Author {
    Dream { dream: DreamId },
    Person { name: String },
    Import { from: String },
}

impl Author {
    /// The person running this command, from `$USER`.
    pub fn current_person() -> Self {
        Author::Person {
            name: std::env::var("USER")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "you".into()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Author::Dream { dream } => format!("dream {}", dream.short_id()),
            Author::Person { name } => name.clone(),
            Author::Import { from } => format!("import from {from}"),
        }
    }
}

/// What a proposal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// A memory of its own.
    New,
    /// Replace the content of an existing memory with this one's (as its new version).
    Update { target: MemoryId },
    /// Retire an existing memory.
    Retire { target: MemoryId },
}

/// A memory, as of one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub id: MemoryId,
    pub version: u32,
    pub kind: MemoryKind,
    /// The team it belongs to.
    pub team: String,
    /// `None`: the whole team; `Some(agent)`: that agent only.
    pub agent: Option<String>,
    pub title: String,
    /// Markdown.
    pub body: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
    pub status: MemoryStatus,
    #[serde(default)]
    pub provenance: Vec<Citation>,
    /// Who wrote this version.
    pub author: Author,
    pub change: Change,
    /// What the claim is about (e.g. `soft_landing|terrain=dune`), so later dreams
    /// update it instead of proposing a duplicate.
    #[serde(default)]
    pub key: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// Why this version was written, e.g. "approved", "edited".
    #[serde(default)]
    pub reason: String,
}

impl Memory {
    /// Whether it is in force: approved and standing on its own (approved updates and
    /// retirements act through their target instead).
    pub fn is_active(&self) -> bool {
        self.status == MemoryStatus::Approved && self.change == Change::New
    }

    /// Whether it steers runs: an active playbook or preference (notes are for people).
    pub fn steers_runs(&self) -> bool {
        self.is_active() && self.kind != MemoryKind::Note
    }

    /// The memory as the runner applies it.
    pub fn into_playbook(self) -> crate::run::Playbook {
        crate::run::Playbook {
            id: self.id.to_string(),
            version: self.version,
            title: self.title,
            body: self.body,
            // Exploring is the runner's decision per session, never a stored one.
            rules: self
                .rules
                .into_iter()
                .map(|rule| Rule {
                    explore: false,
                    ..rule
                })
                .collect(),
            agent: self.agent,
            explore: false,
        }
    }

    /// The scope as a person reads it: `team` or `team/agent`.
    pub fn scope(&self) -> String {
        match &self.agent {
            Some(agent) => format!("{}/{agent}", self.team),
            None => self.team.clone(),
        }
    }

    /// The content a person reviews, as text: what versions are diffed over.
    pub fn content_text(&self) -> String {
        let mut text = format!(
            "# {}\nkind: {} · scope: {} · status: {}\n\n{}\n",
            self.title,
            self.kind.as_str(),
            self.scope(),
            self.status.as_str(),
            self.body.trim_end()
        );
        if !self.rules.is_empty() {
            text.push('\n');
            text.push_str(&render_rules(&self.rules));
        }
        text
    }
}
