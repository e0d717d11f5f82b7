//! Session files: their types, loading and validation.
//!
//! [`load`] reads a TOML session file, checks it against the environment catalog and
//! returns a [`SessionSpec`] in which every reference is resolved: one lead, delegates
//! and advisors that exist, no delegation cycles, tools the environment provides, and
//! check expressions that parse and name known facts. Every problem is one
//! [`SpecError`] naming the file and, where there is one, the line and column. This
//! module does not run anything.

pub mod check;
mod choices;
mod history;
mod real_work;
mod types;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use check::{CheckExpr, Facts};
pub use history::{parse_duration, DurationError, HistoryError, HistoryWindow};
pub use real_work::{ArgPiece, CommandTool, FactCommand, FactKind, ISOLATIONS};
pub use types::{
    CommandLine, EnvironmentSpec, Limits, ModelProfile, ProviderKind, DEFAULT_MODEL,
    MAX_LATENCY_MS, MAX_RESPONSE_BYTES_RANGE, MAX_TOOL_CALLS_PER_TURN_RANGE, TEST_MODEL,
    TURN_TIMEOUT_S_RANGE,
};
pub use validate::{validate, validate_with, ADVISOR_TOOL, DELEGATE_TOOL};

/// What an environment kind offers, for validating session files against it.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentCapabilities {
    /// Tools agents may list in `tools`.
    pub tools: Vec<String>,
    /// Result facts check expressions may read.
    pub facts: Vec<String>,
    /// Roles the environment has scripted policies for.
    pub roles: Vec<String>,
    /// Facts that measure the attempt's result (e.g. the touchdown speed), known only
    /// after the team acted: a learned rule never names them as its condition. Every
    /// other fact that is not a choice may be one.
    pub outcomes: Vec<String>,
    /// Facts that record what the team chose (e.g. a burn margin): the parameters a
    /// learned rule may set.
    pub choices: Vec<String>,
    /// Per-case records a dream may learn labelling rules from, if the environment
    /// reports them (e.g. one record per build log triaged).
    pub cases: Option<CaseLearning>,
    /// Numeric facts the benchmarks average and compare before and after learning.
    pub figures: Vec<Figure>,
    /// The environment works in a real folder: commands (facts from commands, `[tools]`)
    /// can run in it, and `root`, `sandbox`, `network` and `shell_timeout_s` apply.
    pub folder: bool,
    /// Settings only this kind takes (e.g. the project's `isolation`, `exclude`).
    pub folder_settings: Vec<String>,
}

/// Where an environment reports per-case records and what they hold.
///
/// The fact named `fact` is an array of objects `{"observed": [feature values…],
/// "chosen": label, "verdict": "right" | "wrong", "reason": text}`, the grader's
/// verdict on each case, revealed after grading. A case's true label is never in it.
/// A learned rule reads `{"when": {feature: value}, "then": {label: value}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseLearning {
    /// The fact holding the records.
    pub fact: String,
    /// The name rules give an observed value, e.g. `log_contains`.
    pub feature: String,
    /// The name rules give the label, e.g. `cause`.
    pub label: String,
}

/// A numeric result fact worth reporting in benchmarks, and which way is better.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    pub fact: String,
    pub higher_is_better: bool,
}

/// Every environment kind lucid knows, with its capabilities.
pub type EnvironmentCatalog = BTreeMap<String, EnvironmentCapabilities>;

/// A validated session: every name resolved, every default filled in.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub path: PathBuf,
    /// The team; memories are scoped to it.
    pub team: String,
    pub task: String,
    pub environment: EnvironmentSpec,
    pub models: BTreeMap<String, ModelProfile>,
    pub agents: BTreeMap<String, AgentSpec>,
    /// The name of the lead agent.
    pub lead: String,
    pub rubric: Rubric,
    pub dreaming: DreamingSpec,
    pub limits: Limits,
    /// Facts from commands, run in the environment's root after each attempt.
    pub fact_commands: Vec<FactCommand>,
    /// Commands of the user's own offered as tools (`[tools.NAME]`), by name.
    pub command_tools: BTreeMap<String, CommandTool>,
    /// MCP servers of the session file and the user's config, by name (`{root}` not yet
    /// expanded). Only those some agent lists start with a session.
    pub mcp_servers: BTreeMap<String, crate::tool::mcp::McpServerSpec>,
    /// The recorded events each `replay` profile answers from, by profile name. Filled
    /// by whoever starts the session (it reads the store), never read from TOML.
    pub recorded: BTreeMap<String, std::sync::Arc<Vec<crate::event::Event>>>,
}

impl SessionSpec {
    pub fn lead(&self) -> &AgentSpec {
        // `validate` guarantees the lead names an agent of the map.
        &self.agents[&self.lead]
    }

    /// The model profiles the session's agents, advisors and (when a criterion needs
    /// one) grader run on.
    pub fn profiles_in_use(&self) -> std::collections::BTreeSet<&str> {
        let mut used: std::collections::BTreeSet<&str> = self
            .agents
            .values()
            .flat_map(|a| std::iter::once(a.model.as_str()).chain(a.advisor.as_deref()))
            .collect();
        if self.rubric.criteria.iter().any(|c| c.check.is_none()) {
            used.insert(self.rubric.grader.as_str());
        }
        used
    }

    /// Puts every agent, the grader and the dreamer on one model profile.
    pub fn use_model_everywhere(&mut self, profile: &str) -> Result<(), UnknownProfile> {
        if !self.models.contains_key(profile) {
            return Err(UnknownProfile {
                profile: profile.to_string(),
                known: self.models.keys().cloned().collect(),
            });
        }
        for agent in self.agents.values_mut() {
            agent.model = profile.to_string();
            if agent.advisor.is_some() {
                agent.advisor = Some(profile.to_string());
            }
        }
        self.rubric.grader = profile.to_string();
        self.dreaming.model = profile.to_string();
        Ok(())
    }
}

/// A model profile the session (with the user's config) does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no model profile `{profile}` (known: {})", .known.join(", "))]
pub struct UnknownProfile {
    pub profile: String,
    /// The profiles there are, in name order.
    pub known: Vec<String>,
}

/// One agent of the team, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    pub name: String,
    /// The scripted policy that plays this agent offline.
    pub role: String,
    pub prompt: String,
    /// Model profile name.
    pub model: String,
    /// Environment tools and `[tools]` commands this agent may call.
    pub tools: Vec<String>,
    /// MCP tool patterns (`SERVER.*`, `SERVER.TOOL`) this agent may call.
    pub mcp_tools: Vec<String>,
    /// Agents this one may delegate to.
    pub delegates: Vec<String>,
    /// Model profile consulted through `ask_advisor`.
    pub advisor: Option<String>,
    pub max_turns: u32,
}

/// What success means for the session.
#[derive(Debug, Clone)]
pub struct Rubric {
    pub max_iterations: u32,
    /// Model profile that judges criteria without a check.
    pub grader: String,
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, Clone)]
pub struct Criterion {
    pub id: String,
    pub description: String,
    pub check: Option<CheckExpr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DreamingSpec {
    pub model: String,
    pub every_sessions: u32,
    /// Which of the team's sessions a dream mines.
    pub history: HistoryWindow,
    /// The share of sessions that test, on purpose, a choice an approved avoid-rule rules
    /// out, so evidence about it can come back (0: never, the default; at most 0.5).
    pub explore: f64,
    /// Tool arguments (`TOOL.ARGUMENT`) that record the team's choices (see
    /// `dream::observe`); validated against the tools the session offers.
    pub choices: Vec<String>,
}

/// A session file that cannot be used, and where the problem is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct SpecError {
    pub path: PathBuf,
    /// 1-based line and column, where the problem has a position.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(
                f,
                "{}:{line}:{column}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Reads and validates a session file.
pub fn load(path: &Path, catalog: &EnvironmentCatalog) -> Result<SessionSpec, SpecError> {
    let source = std::fs::read_to_string(path).map_err(|err| SpecError {
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read the session file: {err}"),
    })?;
    parse(path, &source, catalog)
}

/// Validates session-file text; `path` is used in error messages.
pub fn parse(
    path: &Path,
    source: &str,
    catalog: &EnvironmentCatalog,
) -> Result<SessionSpec, SpecError> {
    parse_with(path, source, catalog, &crate::config::UserConfig::default())
}

/// Reads and validates a session file whose `[models]` and `[mcp_servers]` are merged
/// over the user's config file's: the session's entry wins on a name both define.
pub fn load_with(
    path: &Path,
    catalog: &EnvironmentCatalog,
    user: &crate::config::UserConfig,
) -> Result<SessionSpec, SpecError> {
    let source = std::fs::read_to_string(path).map_err(|err| SpecError {
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read the session file: {err}"),
    })?;
    parse_with(path, &source, catalog, user)
}

/// [`parse`] with the user's model profiles and MCP servers under the session's.
pub fn parse_with(
    path: &Path,
    source: &str,
    catalog: &EnvironmentCatalog,
    user: &crate::config::UserConfig,
) -> Result<SessionSpec, SpecError> {
    let file: types::SessionFile = toml::from_str(source).map_err(|err| SpecError {
        path: path.to_path_buf(),
        position: err.span().map(|span| line_column(source, span.start)),
        message: err.message().trim().to_string(),
    })?;
    validate_with(path, source, file, catalog, user)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_profile_names_the_known_ones() {
        let err = UnknownProfile {
            profile: "gpt-9".into(),
            known: vec!["scripted".into(), "test".into()],
        };
        assert_eq!(
            err.to_string(),
            "no model profile `gpt-9` (known: scripted, test)"
        );
    }
}
