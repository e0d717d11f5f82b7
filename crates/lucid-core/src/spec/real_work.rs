//! The session-file settings for real work, validated: the folder settings of
//! `[environment]` (`root`, `isolation`, `exclude`, `sandbox`, `network`,
//! `shell_timeout_s`), facts from commands (`[environment.facts.NAME]`) and commands of
//! the user's own offered as tools (`[tools.NAME]`).
//!
//! This module only checks what is written; running commands belongs to `sandbox` and
//! the environments.

use std::collections::BTreeMap;

use serde_json::Value;
use toml::Spanned;

use super::types::{CommandLine, CommandToolEntry, EnvironmentSpec};
use super::validate::Reporter;
use super::{EnvironmentCapabilities, SpecError};
use crate::sandbox::SandboxMode;
use crate::tool::mcp::{McpServerEntry, McpServerSpec};

/// The values `[environment] isolation` takes; the first is the default.
pub const ISOLATIONS: [&str; 3] = ["copy", "worktree", "in_place"];

/// Longest time limit a command may be given, in seconds (a day).
const MAX_TIMEOUT_S: u64 = 86_400;

/// How a fact command's output becomes a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKind {
    /// `true` when the command exits 0.
    ExitOk,
    /// The first number on stdout.
    Number,
    /// Stdout parsed as JSON; checks read its fields as `NAME.field`.
    Json,
    /// Stdout as text.
    Text,
}

impl FactKind {
    pub const NAMES: [&'static str; 4] = ["exit_ok", "number", "json", "text"];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "exit_ok" => Some(FactKind::ExitOk),
            "number" => Some(FactKind::Number),
            "json" => Some(FactKind::Json),
            "text" => Some(FactKind::Text),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::ExitOk => "exit_ok",
            FactKind::Number => "number",
            FactKind::Json => "json",
            FactKind::Text => "text",
        }
    }
}

/// A fact computed by a command after each attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct FactCommand {
    pub name: String,
    pub command: CommandLine,
    pub kind: FactKind,
    /// Seconds the command may run; `None`: the environment's shell time limit.
    pub timeout_s: Option<u64>,
}

/// A command of the user's own, offered to agents as a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandTool {
    pub name: String,
    pub description: String,
    /// The argument list, with `{param}` placeholders.
    pub argv: Vec<String>,
    /// The JSON schema of the arguments.
    pub input_schema: Value,
    pub timeout_s: Option<u64>,
}

/// A piece of a `[tools]` argument: literal text, or a `{param}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgPiece {
    Text(String),
    Param(String),
}

impl CommandTool {
    /// An argument split into text and placeholders: `{name}` is a placeholder, `{{` and
    /// `}}` are literal braces, and a `{` without its `}` is literal.
    pub fn pieces(arg: &str) -> Vec<ArgPiece> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut rest = arg;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("{{") || rest.starts_with("}}") {
                text.push(c);
                rest = &rest[2..];
                continue;
            }
            if c == '{' {
                if let Some(close) = rest[1..].find('}') {
                    if !text.is_empty() {
                        out.push(ArgPiece::Text(std::mem::take(&mut text)));
                    }
                    out.push(ArgPiece::Param(rest[1..1 + close].to_string()));
                    rest = &rest[close + 2..];
                    continue;
                }
            }
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !text.is_empty() {
            out.push(ArgPiece::Text(text));
        }
        out
    }

    /// The placeholders of an argument, in order: `{name}` → `name`.
    pub fn placeholders(arg: &str) -> Vec<String> {
        Self::pieces(arg)
            .into_iter()
            .filter_map(|piece| match piece {
                ArgPiece::Param(name) => Some(name),
                ArgPiece::Text(_) => None,
            })
            .collect()
    }
}

/// Checks the folder settings of `[environment]` and its fact commands.
pub(super) fn environment(
    report: &Reporter<'_>,
    environment: &EnvironmentSpec,
    capabilities: &EnvironmentCapabilities,
) -> Result<Vec<FactCommand>, SpecError> {
    let kind = environment.kind.get_ref();
    let folder_only = |key: &str, span: Option<std::ops::Range<usize>>| -> SpecError {
        let message = format!(
            "`environment.{key}` applies to environments that work in a folder (`project`, `workspace`), not to `{kind}`"
        );
        match span {
            Some(span) => report.at(span.start, message),
            None => report.nowhere(message),
        }
    };
    let own_setting = |key: &str, span: Option<std::ops::Range<usize>>| -> Result<(), SpecError> {
        if capabilities.folder_settings.iter().any(|k| k == key) {
            return Ok(());
        }
        let message =
            format!("`environment.{key}` is a setting of `kind = \"project\"`, not of `{kind}`");
        Err(match span {
            Some(span) => report.at(span.start, message),
            None => report.nowhere(message),
        })
    };
    if !capabilities.folder {
        if let Some(root) = &environment.root {
            return Err(folder_only("root", Some(root.span())));
        }
        if let Some(sandbox) = &environment.sandbox {
            return Err(folder_only("sandbox", Some(sandbox.span())));
        }
        if environment.network {
            return Err(folder_only("network", None));
        }
        if environment.shell_timeout_s.is_some() {
            return Err(folder_only("shell_timeout_s", None));
        }
        if let Some((name, _)) = environment.facts.iter().next() {
            return Err(folder_only("facts", Some(name.span())));
        }
    }
    if let Some(root) = environment
        .root
        .as_ref()
        .filter(|r| r.get_ref().trim().is_empty())
    {
        return Err(report.at_span(
            root,
            "`environment.root` is empty; name the folder to work on, e.g. `root = \".\"`",
        ));
    }
    if let Some(isolation) = &environment.isolation {
        own_setting("isolation", Some(isolation.span()))?;
        if !ISOLATIONS.contains(&isolation.get_ref().as_str()) {
            return Err(report.at_span(
                isolation,
                format!(
                    "unknown isolation `{}` (choose one of: {})",
                    isolation.get_ref(),
                    ISOLATIONS.join(", ")
                ),
            ));
        }
    }
    if !environment.exclude.is_empty() {
        own_setting("exclude", None)?;
    }
    if let Some(sandbox) = &environment.sandbox {
        // The sandbox's own parser decides, so the two can never disagree.
        if sandbox.get_ref().parse::<SandboxMode>().is_err() {
            let choices: Vec<&str> = SandboxMode::ALL.iter().map(|m| m.as_str()).collect();
            return Err(report.at_span(
                sandbox,
                format!(
                    "unknown sandbox `{}` (choose one of: {})",
                    sandbox.get_ref(),
                    choices.join(", ")
                ),
            ));
        }
    }
    if let Some(seconds) = environment.shell_timeout_s {
        check_timeout(report, "environment.shell_timeout_s", seconds)?;
    }
    let mut facts = Vec::new();
    for (name, entry) in &environment.facts {
        let fact = name.get_ref();
        if !is_identifier(fact) {
            return Err(report.at_span(
                name,
                format!("fact `{fact}`: a fact's name is letters, digits and `_`, starting with a letter or `_`"),
            ));
        }
        if capabilities.facts.iter().any(|f| f == fact) {
            return Err(report.at_span(
                name,
                format!(
                    "fact `{fact}` is already a fact of environment `{kind}`; choose another name"
                ),
            ));
        }
        let kind_text = entry.kind.get_ref();
        let fact_kind = FactKind::parse(kind_text).ok_or_else(|| {
            report.at_span(
                &entry.kind,
                format!(
                    "fact `{fact}`: unknown kind `{kind_text}` (choose one of: {})",
                    FactKind::NAMES.join(", ")
                ),
            )
        })?;
        let command = entry.command.get_ref().clone();
        let empty = match &command {
            CommandLine::Shell(line) => line.trim().is_empty(),
            CommandLine::Argv(argv) => argv.first().is_none_or(|p| p.trim().is_empty()),
        };
        if empty {
            return Err(
                report.at_span(&entry.command, format!("fact `{fact}`: `command` is empty"))
            );
        }
        if let Some(seconds) = entry.timeout_s {
            check_timeout(report, &format!("fact `{fact}`: timeout_s"), seconds)?;
        }
        facts.push(FactCommand {
            name: fact.clone(),
            command,
            kind: fact_kind,
            timeout_s: entry.timeout_s,
        });
    }
    Ok(facts)
}

/// Checks `[tools.NAME]`: a command, placeholders that name declared parameters, a schema
/// that is an object, names that do not shadow the environment's tools.
pub(super) fn command_tools(
    report: &Reporter<'_>,
    tools: &BTreeMap<Spanned<String>, CommandToolEntry>,
    capabilities: &EnvironmentCapabilities,
    kind: &str,
) -> Result<BTreeMap<String, CommandTool>, SpecError> {
    let mut out = BTreeMap::new();
    for (name, entry) in tools {
        let tool = name.get_ref();
        if !capabilities.folder {
            return Err(report.at_span(
                name,
                format!("tool `{tool}`: `[tools]` commands run in a folder, and environment `{kind}` has none (use `project` or `workspace`)"),
            ));
        }
        if !is_tool_name(tool) {
            return Err(report.at_span(
                name,
                format!("tool `{tool}`: a tool's name is 1 to 64 letters, digits, `_` or `-`"),
            ));
        }
        if capabilities.tools.iter().any(|t| t == tool)
            || [super::DELEGATE_TOOL, super::ADVISOR_TOOL].contains(&tool.as_str())
        {
            return Err(report.at_span(
                name,
                format!("tool `{tool}` is already a built-in tool; choose another name"),
            ));
        }
        if entry.description.trim().is_empty() {
            return Err(report.at_span(
                name,
                format!(
                    "tool `{tool}`: `description` must say what the tool does (the model reads it)"
                ),
            ));
        }
        let argv = entry.command.get_ref();
        if argv.first().is_none_or(|program| program.trim().is_empty()) {
            return Err(report.at_span(
                &entry.command,
                format!("tool `{tool}`: `command` must name a program, e.g. [\"cargo\", \"test\", \"{{name}}\"]"),
            ));
        }
        let schema = match &entry.input {
            Some(table) => serde_json::to_value(table).map_err(|err| {
                report.at_span(
                    name,
                    format!("tool `{tool}`: `input` is not a JSON schema: {err}"),
                )
            })?,
            None => serde_json::json!({"type": "object", "properties": {}}),
        };
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(report.at_span(
                name,
                format!("tool `{tool}`: `input` must be a JSON schema with `type = \"object\"`"),
            ));
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        if argv
            .first()
            .is_some_and(|program| !CommandTool::placeholders(program).is_empty())
        {
            return Err(report.at_span(
                &entry.command,
                format!("tool `{tool}`: the program (the first item of `command`) must be fixed; placeholders go in its arguments"),
            ));
        }
        for arg in argv {
            for placeholder in CommandTool::placeholders(arg) {
                if !properties.is_some_and(|p| p.contains_key(&placeholder)) {
                    return Err(report.at_span(
                        &entry.command,
                        format!(
                            "tool `{tool}`: `{{{placeholder}}}` in `command` names no parameter of `input.properties`"
                        ),
                    ));
                }
            }
        }
        if let Some(seconds) = entry.timeout_s {
            check_timeout(report, &format!("tool `{tool}`: timeout_s"), seconds)?;
        }
        out.insert(
            tool.clone(),
            CommandTool {
                name: tool.clone(),
                description: entry.description.trim().to_string(),
                argv: argv.clone(),
                input_schema: schema,
                timeout_s: entry.timeout_s,
            },
        );
    }
    Ok(out)
}

/// Checks `[mcp_servers]`: the session's entries over the user's config's, each resolved
/// (a command or a url, not both), with names that can prefix `NAME.TOOL` patterns.
pub(super) fn mcp_servers(
    report: &Reporter<'_>,
    entries: &BTreeMap<Spanned<String>, McpServerEntry>,
    user: &BTreeMap<String, McpServerEntry>,
) -> Result<BTreeMap<String, McpServerSpec>, SpecError> {
    let mut out = BTreeMap::new();
    for (name, entry) in user {
        if let Ok(spec) = entry.resolve(name) {
            out.insert(name.clone(), spec);
        }
    }
    for (name, entry) in entries {
        let server = name.get_ref();
        if server.is_empty()
            || server.contains('.')
            || server.contains(crate::tool::mcp::SEPARATOR)
            || !server
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(report.at_span(
                name,
                format!("MCP server `{server}`: a server's name is letters, digits, `-` and single `_`s (it prefixes the tools' names)"),
            ));
        }
        let spec = entry
            .resolve(server)
            .map_err(|err| report.at_span(name, err.to_string()))?;
        out.insert(server.clone(), spec);
    }
    Ok(out)
}

/// What a fact holds, when `[environment.facts]` declares it (`exit_ok` is true or false,
/// `number` a number, `text` text; a `json` fact's fields can hold anything).
pub(super) fn fact_type(name: &str, commands: &[FactCommand]) -> Option<super::check::FactType> {
    use super::check::FactType;
    let command = commands.iter().find(|c| c.name == name)?;
    match command.kind {
        FactKind::ExitOk => Some(FactType::Boolean),
        FactKind::Number => Some(FactType::Number),
        FactKind::Text => Some(FactType::Text),
        FactKind::Json => None,
    }
}

/// Whether a check may read `fact`: an environment fact, a fact command, or a field of a
/// `json` fact command (`NAME.field`).
pub(super) fn fact_known(
    fact: &str,
    capabilities: &EnvironmentCapabilities,
    commands: &[FactCommand],
) -> bool {
    if capabilities.facts.iter().any(|f| f == fact) || commands.iter().any(|c| c.name == fact) {
        return true;
    }
    commands.iter().any(|c| {
        c.kind == FactKind::Json
            && fact
                .strip_prefix(c.name.as_str())
                .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
    })
}

fn check_timeout(report: &Reporter<'_>, what: &str, seconds: u64) -> Result<(), SpecError> {
    if seconds == 0 || seconds > MAX_TIMEOUT_S {
        return Err(report.nowhere(format!(
            "`{what}` must be from 1 to {MAX_TIMEOUT_S} seconds"
        )));
    }
    Ok(())
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The names model APIs accept for tools.
pub(crate) fn is_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_doubled_braces_are_literal() {
        assert_eq!(CommandTool::placeholders("{name}"), vec!["name"]);
        assert_eq!(
            CommandTool::placeholders("--filter={a}:{b}"),
            vec!["a", "b"]
        );
        assert!(CommandTool::placeholders("{{literal}}").is_empty());
        assert!(CommandTool::placeholders("plain").is_empty());
        assert_eq!(
            CommandTool::pieces("a}}{x}{{y"),
            vec![
                ArgPiece::Text("a}".into()),
                ArgPiece::Param("x".into()),
                ArgPiece::Text("{y".into())
            ]
        );
        assert_eq!(
            CommandTool::pieces("{open"),
            vec![ArgPiece::Text("{open".into())]
        );
    }
}
