//! `[dreaming] choices`: the tool arguments that record what a team chose, checked
//! against the tools the session offers.
//!
//! Each entry is `TOOL.ARGUMENT`, split at the first dot (tool names have none):
//! `deploy.strategy` is the `strategy` argument of the `deploy` tool,
//! `ops__deploy.strategy` the same of an MCP server's tool as agents call it
//! (`SERVER__TOOL`). Some agent must list the tool (for an MCP tool, a tool of its
//! server: the exposed name is shortened and made unique only once the server runs). A command tool's argument must be one of its `input` properties;
//! the arguments of the environment's and MCP servers' tools are known only when they
//! run, so only their names are checked.

use std::collections::BTreeMap;

use serde_json::Value;
use toml::Spanned;

use super::validate::{list, Reporter};
use super::{AgentSpec, CommandTool, EnvironmentCapabilities, SpecError};
use crate::tool::mcp::{McpServerSpec, SEPARATOR};

/// The tools a session offers, for checking what `choices` name.
pub(super) struct OfferedTools<'a> {
    pub capabilities: &'a EnvironmentCapabilities,
    pub command_tools: &'a BTreeMap<String, CommandTool>,
    pub servers: &'a BTreeMap<String, McpServerSpec>,
    pub agents: &'a BTreeMap<String, AgentSpec>,
}

impl OfferedTools<'_> {
    /// The MCP server whose tools `tool` is named after (`SERVER__TOOL`), the longest
    /// such name when several fit (`ops` and `ops_`).
    fn server_of(&self, tool: &str) -> Option<&str> {
        self.servers
            .keys()
            .filter(|server| {
                tool.strip_prefix(server.as_str())
                    .and_then(|rest| rest.strip_prefix(SEPARATOR))
                    .is_some_and(|rest| !rest.is_empty())
            })
            .max_by_key(|server| server.len())
            .map(String::as_str)
    }

    /// Whether some agent lists `tool`: by name, or for an MCP server's tool, any tool
    /// of that server (`server.*` or `server.NAME`; the exposed name is shortened and
    /// made unique only once the server runs, so it is not compared here).
    fn listed(&self, tool: &str) -> bool {
        let server = self.server_of(tool);
        self.agents.values().any(|agent| {
            agent.tools.iter().any(|t| t == tool)
                || server.is_some_and(|server| {
                    agent
                        .mcp_tools
                        .iter()
                        .any(|pattern| pattern.split_once('.').is_some_and(|(s, _)| s == server))
                })
        })
    }
}

/// The declared choices, each naming an argument of a tool the session offers.
pub(super) fn declared_choices(
    report: &Reporter,
    entries: &[Spanned<String>],
    offered: &OfferedTools,
) -> Result<Vec<String>, SpecError> {
    let mut out: Vec<String> = Vec::new();
    for entry in entries {
        let text = entry.get_ref().trim();
        let Some((tool, argument)) = text
            .split_once('.')
            .filter(|(tool, arg)| !tool.is_empty() && !arg.is_empty())
            .filter(|_| !text.chars().any(char::is_whitespace))
        else {
            return Err(report.at_span(
                entry,
                format!("`dreaming.choices`: `{text}` must be TOOL.ARGUMENT with no spaces, e.g. `deploy.strategy`"),
            ));
        };
        let offered_here = offered.command_tools.contains_key(tool)
            || offered.capabilities.tools.iter().any(|t| t == tool)
            || offered.server_of(tool).is_some();
        if !offered_here {
            return Err(report.at_span(
                entry,
                format!(
                    "`dreaming.choices`: `{text}` names no tool the session offers (the environment's: {}; `[tools]`: {}; an MCP server's tool is written SERVER{SEPARATOR}TOOL.ARGUMENT)",
                    list(&offered.capabilities.tools),
                    list(offered.command_tools.keys())
                ),
            ));
        }
        if !offered.listed(tool) {
            return Err(report.at_span(
                entry,
                format!("`dreaming.choices`: no agent lists the tool `{tool}` in its `tools`, so nobody can make this choice"),
            ));
        }
        if let Some(command) = offered.command_tools.get(tool) {
            let known = command
                .input_schema
                .get("properties")
                .and_then(Value::as_object);
            if !known.is_some_and(|p| p.contains_key(argument)) {
                return Err(report.at_span(
                    entry,
                    format!(
                        "`dreaming.choices`: tool `{tool}` has no argument `{argument}` (its `input.properties`: {})",
                        known.map_or_else(|| "none".to_string(), |p| list(p.keys()))
                    ),
                ));
            }
        }
        if out.iter().any(|c| c == text) {
            return Err(report.at_span(entry, format!("`dreaming.choices` lists `{text}` twice")));
        }
        out.push(text.to_string());
    }
    Ok(out)
}
