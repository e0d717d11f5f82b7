//! The session file's types, as written in TOML.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole session file, as parsed (before validation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    /// The team; memories are scoped to it.
    pub name: String,
    pub task: String,
    pub environment: EnvironmentSpec,
    #[serde(default)]
    pub models: BTreeMap<Spanned<String>, ModelProfile>,
    pub agents: BTreeMap<Spanned<String>, AgentEntry>,
    pub outcome: OutcomeEntry,
    #[serde(default)]
    pub dreaming: DreamingEntry,
    #[serde(default)]
    pub limits: Limits,
    /// Tools that run a command of the user's own (`[tools.NAME]`).
    #[serde(default)]
    pub tools: BTreeMap<Spanned<String>, CommandToolEntry>,
    /// MCP servers agents may use (`[mcp_servers.NAME]`).
    #[serde(default)]
    pub mcp_servers: BTreeMap<Spanned<String>, crate::tool::mcp::McpServerEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    pub kind: Spanned<String>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_world")]
    pub world: u64,
    /// Environment-specific settings, checked by the environment.
    #[serde(default)]
    pub options: toml::Table,
    /// The folder agents work in (`project`), relative to the session file's folder.
    #[serde(default)]
    pub root: Option<Spanned<String>>,
    /// `project`: `copy` (default), `worktree` or `in_place`.
    #[serde(default)]
    pub isolation: Option<Spanned<String>>,
    /// `project`: paths relative to the root that a copy leaves out (e.g. `target`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// How commands are confined: `required` (default), `landlock`, `bubblewrap`, `off`.
    #[serde(default)]
    pub sandbox: Option<Spanned<String>>,
    /// Whether commands may use the network.
    #[serde(default)]
    pub network: bool,
    /// Seconds a `shell` command may run.
    #[serde(default)]
    pub shell_timeout_s: Option<u64>,
    /// Facts from commands run in the root after each attempt (`[environment.facts.NAME]`).
    #[serde(default)]
    pub facts: BTreeMap<Spanned<String>, FactCommandEntry>,
    /// The folder of the session file, which relative paths in `options` (such as the
    /// workspace's `root`) are resolved against. Set by validation, never read from TOML.
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
    /// Where this session keeps its scratch folders (the project's working copy); set
    /// by whoever starts the session, never read from TOML.
    #[serde(skip)]
    pub work_dir: Option<std::path::PathBuf>,
    /// Environment variables that hold secrets (the profiles' `api_key_env`, MCP
    /// tokens): commands never see them. Set by validation, never read from TOML.
    #[serde(skip)]
    pub secret_env: Vec<String>,
    /// The session runs commands of the user's (fact commands, `[tools]`), so the
    /// environment needs its sandbox. Set by validation, never read from TOML.
    #[serde(skip)]
    pub runs_commands: bool,
}

/// A command as written: one string run by `/bin/sh -c`, or an argument list run as is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    Shell(String),
    Argv(Vec<String>),
}

impl CommandLine {
    /// The command as one line, for messages and the grader.
    pub fn display(&self) -> String {
        match self {
            CommandLine::Shell(line) => line.clone(),
            CommandLine::Argv(argv) => argv.join(" "),
        }
    }
}

/// `[environment.facts.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactCommandEntry {
    pub command: Spanned<CommandLine>,
    /// `exit_ok`, `number`, `json` or `text`.
    pub kind: Spanned<String>,
    /// Seconds the command may run (default: the environment's `shell_timeout_s`).
    #[serde(default)]
    pub timeout_s: Option<u64>,
}

/// `[tools.NAME]`: a command of the user's own, offered to agents as a tool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandToolEntry {
    pub description: String,
    /// The argument list; `{param}` is replaced by the argument `param` (never through a shell).
    pub command: Spanned<Vec<String>>,
    /// The JSON schema of the arguments (default: an object without properties).
    #[serde(default)]
    pub input: Option<toml::Table>,
    /// Seconds the command may run (default: the environment's `shell_timeout_s`).
    #[serde(default)]
    pub timeout_s: Option<u64>,
}

fn default_seed() -> u64 {
    1
}

fn default_world() -> u64 {
    1
}

/// Which kind of model server a profile talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Scripted,
    /// The built-in dry run: calls every offered tool once, then answers.
    Test,
    Anthropic,
    Openai,
    /// Answers each agent's turns from a recorded session (`session = "ID"`).
    Replay,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Scripted => "scripted",
            ProviderKind::Test => "test",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Openai => "openai",
            ProviderKind::Replay => "replay",
        }
    }
}

/// A named model configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelProfile {
    pub provider: ProviderKind,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Seconds one attempt at a turn may take in all, from the request to the answer's
    /// last byte (`timeout_s` bounds only the gap between pieces).
    #[serde(default = "default_turn_timeout_s")]
    pub turn_timeout_s: u64,
    /// Most bytes of one answer lucid reads; past it the attempt fails (and is retried).
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Most tool calls of one turn that run (network models); the rest are not run, and
    /// the model is told so.
    #[serde(default = "default_max_tool_calls_per_turn")]
    pub max_tool_calls_per_turn: u32,
    /// Milliseconds a scripted model takes over each answer, which streams in small pieces
    /// spread over the time (to mimic a remote model).
    #[serde(default)]
    pub latency_ms: u64,
    /// Stream answers (server-sent events); `false` asks for whole answers.
    #[serde(default = "default_stream")]
    pub stream: bool,
    /// US dollars per million input tokens, for the cost figure.
    #[serde(default)]
    pub input_price_per_mtok: Option<f64>,
    /// US dollars per million output tokens, for the cost figure.
    #[serde(default)]
    pub output_price_per_mtok: Option<f64>,
    /// `replay`: the recorded session (id or unique prefix) whose answers are replayed.
    #[serde(default)]
    pub session: Option<String>,
}

fn default_stream() -> bool {
    true
}

impl ModelProfile {
    /// What a turn with this usage costs, when the profile has prices.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> Option<f64> {
        if self.input_price_per_mtok.is_none() && self.output_price_per_mtok.is_none() {
            return None;
        }
        let input = self.input_price_per_mtok.unwrap_or(0.0) * input_tokens as f64;
        let output = self.output_price_per_mtok.unwrap_or(0.0) * output_tokens as f64;
        Some((input + output) / 1_000_000.0)
    }
}

fn default_max_tokens() -> u32 {
    4096
}

fn default_timeout_s() -> u64 {
    120
}

fn default_max_retries() -> u32 {
    2
}

fn default_turn_timeout_s() -> u64 {
    crate::model::bounded::DEFAULT_TURN_TIMEOUT_S
}

fn default_max_response_bytes() -> u64 {
    crate::model::bounded::DEFAULT_MAX_RESPONSE_BYTES
}

fn default_max_tool_calls_per_turn() -> u32 {
    64
}

/// The bounds a profile's turn keys may take.
pub const TURN_TIMEOUT_S_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;
pub const MAX_RESPONSE_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1_024..=(1 << 30);
pub const MAX_TOOL_CALLS_PER_TURN_RANGE: std::ops::RangeInclusive<u32> = 1..=100_000;

/// Most milliseconds a scripted model may take over an answer.
pub const MAX_LATENCY_MS: u64 = 60_000;
/// Most retries of one model call.
pub const MAX_RETRIES: u32 = 100;

/// Why `text` is not an http(s) URL a model server can be reached at, if it is not.
fn url_problem(text: &str) -> Option<String> {
    let shown: String = text.chars().take(80).collect();
    match reqwest::Url::parse(text) {
        Err(err) => Some(format!(
            "`{shown}` is not a URL ({err}); write it like `http://localhost:11434/v1`"
        )),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => Some(format!(
            "`{shown}` must start with http:// or https:// (it uses `{}:`)",
            url.scheme()
        )),
        Ok(url) if url.host_str().is_none_or(str::is_empty) => {
            Some(format!("`{shown}` names no host"))
        }
        Ok(_) => None,
    }
}

impl ModelProfile {
    /// Whether the profile answers offline, without a model server.
    pub fn is_offline(&self) -> bool {
        matches!(
            self.provider,
            ProviderKind::Scripted | ProviderKind::Test | ProviderKind::Replay
        )
    }

    /// What is wrong with the profile's keys for its provider, if anything: a network
    /// profile names its `model`, a `replay` profile its `session` (and only it has one),
    /// `base_url` is an http(s) URL, and the limits are within reason.
    pub fn key_problem(&self, name: &str) -> Option<String> {
        if let Some(problem) = self.bound_problem(name) {
            return Some(problem);
        }
        let provider = self.provider.as_str();
        if let Some(url) = &self.base_url {
            if let Some(problem) = url_problem(url) {
                return Some(format!("model profile `{name}`: `base_url` {problem}"));
            }
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Some(format!(
                "model profile `{name}`: `latency_ms` is {}; at most {MAX_LATENCY_MS} (one minute) is allowed",
                self.latency_ms
            ));
        }
        if self.max_retries > MAX_RETRIES {
            return Some(format!(
                "model profile `{name}`: `max_retries` is {}; at most {MAX_RETRIES} is allowed (the default is {})",
                self.max_retries,
                default_max_retries()
            ));
        }
        if !self.is_offline() && self.model.is_none() {
            return Some(format!(
                "model profile `{name}` uses provider `{provider}` but names no `model`"
            ));
        }
        match (self.provider, &self.session) {
            (ProviderKind::Replay, None) => Some(format!(
                "model profile `{name}` uses provider `replay` but names no `session` (the id of a recorded session; see `lucid sessions list`)"
            )),
            (ProviderKind::Replay, Some(id)) if id.trim().is_empty() => Some(format!(
                "model profile `{name}`: `session` must not be empty"
            )),
            (ProviderKind::Replay, Some(_)) | (_, None) => None,
            (_, Some(_)) => Some(format!(
                "model profile `{name}` uses provider `{provider}`, which takes no `session` (only `replay` does)"
            )),
        }
    }

    /// What is wrong with the profile's bounds on a turn, if anything.
    fn bound_problem(&self, name: &str) -> Option<String> {
        fn outside<T: PartialOrd + std::fmt::Display>(
            name: &str,
            key: &str,
            value: T,
            range: &std::ops::RangeInclusive<T>,
        ) -> Option<String> {
            (!range.contains(&value)).then(|| {
                format!(
                    "model profile `{name}`: `{key}` must be from {} to {} (it is {value})",
                    range.start(),
                    range.end()
                )
            })
        }
        outside(
            name,
            "turn_timeout_s",
            self.turn_timeout_s,
            &TURN_TIMEOUT_S_RANGE,
        )
        .or_else(|| {
            outside(
                name,
                "max_response_bytes",
                self.max_response_bytes,
                &MAX_RESPONSE_BYTES_RANGE,
            )
        })
        .or_else(|| {
            outside(
                name,
                "max_tool_calls_per_turn",
                self.max_tool_calls_per_turn,
                &MAX_TOOL_CALLS_PER_TURN_RANGE,
            )
        })
    }

    /// The bounds of one attempt at a turn, as the HTTP client takes them.
    pub fn turn_bounds(&self) -> crate::model::TurnBounds {
        crate::model::TurnBounds {
            turn_timeout: std::time::Duration::from_secs(self.turn_timeout_s),
            max_response_bytes: usize::try_from(self.max_response_bytes).unwrap_or(usize::MAX),
        }
    }

    /// The built-in dry-run profile, available as `test` unless a file redefines it.
    pub fn test() -> Self {
        ModelProfile {
            provider: ProviderKind::Test,
            ..ModelProfile::scripted()
        }
    }

    /// The built-in offline profile, available as `scripted` unless a file redefines it.
    pub fn scripted() -> Self {
        ModelProfile {
            provider: ProviderKind::Scripted,
            model: None,
            base_url: None,
            api_key_env: None,
            max_tokens: default_max_tokens(),
            temperature: None,
            api_version: None,
            timeout_s: default_timeout_s(),
            max_retries: default_max_retries(),
            turn_timeout_s: default_turn_timeout_s(),
            max_response_bytes: default_max_response_bytes(),
            max_tool_calls_per_turn: default_max_tool_calls_per_turn(),
            latency_ms: 0,
            stream: true,
            input_price_per_mtok: None,
            output_price_per_mtok: None,
            session: None,
        }
    }
}

/// One agent of the team.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    #[serde(default)]
    pub lead: bool,
    /// Which scripted policy plays this agent offline; defaults to the agent's name.
    #[serde(default)]
    pub role: Option<Spanned<String>>,
    #[serde(default)]
    pub prompt: String,
    #[serde(default = "default_model")]
    pub model: Spanned<String>,
    #[serde(default)]
    pub tools: Vec<Spanned<String>>,
    #[serde(default)]
    pub delegates: Vec<Spanned<String>>,
    /// A model profile this agent may consult through `ask_advisor`.
    #[serde(default)]
    pub advisor: Option<Spanned<String>>,
    #[serde(default = "default_max_turns")]
    pub max_turns: u32,
}

fn default_model() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_MODEL.to_string())
}

/// The profile agents, the grader and the dreamer use when a file names none.
pub const DEFAULT_MODEL: &str = "scripted";
/// The built-in dry-run profile's name.
pub const TEST_MODEL: &str = "test";

fn default_max_turns() -> u32 {
    12
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeEntry {
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u32,
    /// The model profile of the grader (for criteria without a `check`).
    #[serde(default = "default_model")]
    pub grader: Spanned<String>,
    pub criteria: Vec<CriterionEntry>,
}

fn default_max_iterations() -> u32 {
    3
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionEntry {
    pub id: Spanned<String>,
    pub description: String,
    /// An expression over the environment's result facts; without it the grader model
    /// judges the criterion.
    #[serde(default)]
    pub check: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DreamingEntry {
    #[serde(default = "default_model")]
    pub model: Spanned<String>,
    /// Dream automatically after this many new sessions of the team (0: never).
    #[serde(default)]
    pub every_sessions: u32,
    /// How much of the team's history a dream mines: `"all"`, a number of sessions or a
    /// duration (checked by validation, which says where a bad one is).
    #[serde(default)]
    pub history: Option<Spanned<toml::Value>>,
    /// The share of sessions that test a choice an approved avoid-rule rules out (0 to
    /// 0.5; checked by validation).
    #[serde(default)]
    pub explore: Option<Spanned<f64>>,
    /// Tool arguments that record what the team chose, as `TOOL.ARGUMENT`
    /// (`deploy.strategy`): the parameters a learned rule may set, and the point before
    /// which what the team's tools reported are observations a rule may be conditioned on.
    #[serde(default)]
    pub choices: Vec<Spanned<String>>,
}

impl Default for DreamingEntry {
    fn default() -> Self {
        DreamingEntry {
            model: default_model(),
            every_sessions: 0,
            history: None,
            explore: None,
            choices: Vec::new(),
        }
    }
}

/// Session-wide budgets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// How many delegated agents may run at once.
    #[serde(default = "default_max_parallel")]
    pub max_parallel: usize,
    /// Model turns allowed across all agents and iterations of the session.
    #[serde(default = "default_max_total_turns")]
    pub max_total_turns: u32,
    /// How deep delegation may nest (the lead is depth 0).
    #[serde(default = "default_max_depth")]
    pub max_depth: u32,
    /// Agents delegation may start across the session (the lead not counted).
    #[serde(default = "default_max_agents")]
    pub max_agents: u32,
}

fn default_max_parallel() -> usize {
    8
}

fn default_max_total_turns() -> u32 {
    400
}

fn default_max_depth() -> u32 {
    4
}

fn default_max_agents() -> u32 {
    1000
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_parallel: default_max_parallel(),
            max_total_turns: default_max_total_turns(),
            max_depth: default_max_depth(),
            max_agents: default_max_agents(),
        }
    }
}
