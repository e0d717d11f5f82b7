//! MCP servers as tool providers, on the official `rmcp` client: starting the servers a
//! session declares (`[mcp_servers.NAME]`, stdio or streamable HTTP), listing their
//! tools, calling them, and stopping them.
//!
//! Flow: [`McpServerEntry::resolve`] checks a TOML entry into an [`McpServerSpec`]
//! (`expand_root` fills `{root}`); [`McpServers::start`] starts every server in parallel
//! (each bounded by its startup timeout) and lists its tools; [`McpServers::tools`] turns
//! the tools matching `SERVER.*` / `SERVER.TOOL` patterns into lucid [`Tool`]s named
//! `SERVER__TOOL`; [`McpServers::shutdown`] (or drop) stops every server, killing each
//! stdio server's whole process group.
//!
//! A call's result is sanitised and bounded before the model sees it; a server that
//! crashes or does not answer within its tool timeout makes the call
//! [`ToolOutput::fatal`](crate::tool::ToolOutput::fatal), which ends the run.
//!
//! Not here: deciding which agent gets which tool (the runner passes each agent's
//! patterns), reading config files (callers hand over parsed entries), drawing anything.

mod client;
mod config;
mod process;
mod result;
mod tool;

use std::collections::BTreeSet;
use std::sync::Arc;

pub use config::{
    McpEntryError, McpServerEntry, McpServerSpec, McpTransport, DEFAULT_STARTUP_TIMEOUT_S,
    DEFAULT_TOOL_TIMEOUT_S,
};
pub use process::kill_every_group as kill_every_server;
pub use result::MAX_RESULT_BYTES;
pub use tool::{McpTool, MAX_TOOL_NAME};

use crate::tool::{Tool, ToolSpec};
use client::Connection;

/// Between server and tool in the names models see: `SERVER__TOOL`.
pub const SEPARATOR: &str = "__";

/// Why MCP servers could not be started or their tools not be chosen.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error(
        "MCP server `{server}` could not start: {message}{}",
        tail(stderr_tail)
    )]
    Start {
        server: String,
        message: String,
        stderr_tail: String,
    },
    #[error(
        "MCP server `{server}` did not start within {seconds} s{}",
        tail(stderr_tail)
    )]
    Timeout {
        server: String,
        seconds: u64,
        stderr_tail: String,
    },
    #[error("MCP server `{server}` crashed{}", tail(stderr_tail))]
    Crashed { server: String, stderr_tail: String },
    #[error(
        "MCP server `{server}`: the environment variable `{variable}` named by \
         `bearer_token_env` is not set or empty"
    )]
    MissingToken { server: String, variable: String },
    #[error("MCP server `{server}` is declared twice")]
    DuplicateServer { server: String },
    #[error("`{pattern}` is not an MCP tool pattern: write `SERVER.*` or `SERVER.TOOL`")]
    BadPattern { pattern: String },
    #[error("`{pattern}` names no started MCP server; servers: {}", list(known))]
    UnknownServer { pattern: String, known: Vec<String> },
    #[error(
        "MCP server `{server}` has no tool `{tool}`; its tools: {}",
        list(known)
    )]
    UnknownTool {
        server: String,
        tool: String,
        known: Vec<String>,
    },
}

fn tail(stderr_tail: &str) -> String {
    if stderr_tail.is_empty() {
        String::new()
    } else {
        format!("; stderr tail:\n{stderr_tail}")
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// One started server: its connection and its tools under their exposed names.
struct Server {
    name: String,
    connection: Connection,
    /// (exposed name, the server's declaration), in the server's order.
    tools: Vec<(String, rmcp::model::Tool)>,
}

/// The MCP servers one session started. Dropping it kills every stdio server's process
/// group at once (best effort); [`McpServers::shutdown`] stops them gracefully first.
pub struct McpServers {
    servers: Vec<Server>,
}

impl McpServers {
    /// Starts and initialises each server once, in parallel, and lists its tools. If one
    /// fails (it could not be spawned, exited, refused the handshake or timed out) the
    /// others are stopped and the error names it, with its stderr tail (stdio) or the
    /// HTTP error.
    pub async fn start(specs: Vec<McpServerSpec>) -> Result<McpServers, McpError> {
        let mut names = BTreeSet::new();
        for spec in &specs {
            if !names.insert(spec.name.as_str()) {
                return Err(McpError::DuplicateServer {
                    server: spec.name.clone(),
                });
            }
        }
        let results = futures::future::join_all(specs.iter().map(client::connect)).await;
        let mut connections = Vec::with_capacity(results.len());
        let mut first_error = None;
        for result in results {
            match result {
                Ok(connection) => connections.push(connection),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        if let Some(err) = first_error {
            futures::future::join_all(connections.into_iter().map(client::close)).await;
            return Err(err);
        }
        let mut taken = BTreeSet::new();
        let servers = connections
            .into_iter()
            .map(|mut connection| {
                let name = connection.state.name.clone();
                let tools = std::mem::take(&mut connection.tools)
                    .into_iter()
                    .map(|t| (tool::exposed_name(&name, &t.name, &mut taken), t))
                    .collect();
                Server {
                    name,
                    connection,
                    tools,
                }
            })
            .collect();
        Ok(McpServers { servers })
    }

    /// The tools matching `wanted` as lucid tools named `SERVER__TOOL` (made to fit
    /// `^[a-zA-Z0-9_-]{1,64}$`), with the server's description and input schema.
    /// Patterns are `SERVER.*` (every tool of that server) or `SERVER.TOOL` (the tool's
    /// name on its server); an empty `wanted` gives no tools. Each tool appears once, in
    /// server then listing order.
    pub fn tools(&self, wanted: &[String]) -> Result<Vec<Arc<dyn Tool>>, McpError> {
        let mut chosen: BTreeSet<(usize, usize)> = BTreeSet::new();
        for pattern in wanted {
            let (server_index, tool) = self.split_pattern(pattern)?;
            let server = &self.servers[server_index];
            if tool == "*" {
                chosen.extend((0..server.tools.len()).map(|i| (server_index, i)));
                continue;
            }
            let index = server
                .tools
                .iter()
                .position(|(_, t)| t.name == tool)
                .ok_or_else(|| McpError::UnknownTool {
                    server: server.name.clone(),
                    tool: tool.to_string(),
                    known: server
                        .tools
                        .iter()
                        .map(|(_, t)| crate::event::one_line(&t.name, 100))
                        .collect(),
                })?;
            chosen.insert((server_index, index));
        }
        Ok(chosen
            .into_iter()
            .map(|(s, t)| {
                let server = &self.servers[s];
                let (exposed, declared) = &server.tools[t];
                Arc::new(McpTool::new(
                    tool::spec_of(exposed.clone(), declared),
                    declared.name.to_string(),
                    Arc::clone(&server.connection.state),
                )) as Arc<dyn Tool>
            })
            .collect())
    }

    /// The server a pattern names (the longest matching name, as names may contain
    /// dots) and the rest after its dot.
    fn split_pattern<'p>(&self, pattern: &'p str) -> Result<(usize, &'p str), McpError> {
        if !pattern.contains('.') {
            return Err(McpError::BadPattern {
                pattern: pattern.to_string(),
            });
        }
        self.servers
            .iter()
            .enumerate()
            .filter_map(|(i, server)| {
                let rest = pattern.strip_prefix(server.name.as_str())?;
                let tool = rest.strip_prefix('.')?;
                Some((i, tool))
            })
            .filter(|(_, tool)| !tool.is_empty())
            .max_by_key(|(i, _)| self.servers[*i].name.len())
            .ok_or_else(|| McpError::UnknownServer {
                pattern: pattern.to_string(),
                known: self.servers.iter().map(|s| s.name.clone()).collect(),
            })
    }

    /// Every server and its tools as the server declares them: `name` is the tool's
    /// name on the server (what `SERVER.TOOL` patterns use), description sanitised.
    pub fn listing(&self) -> Vec<(String, Vec<ToolSpec>)> {
        self.servers
            .iter()
            .map(|server| {
                let specs = server
                    .tools
                    .iter()
                    .map(|(_, declared)| tool::spec_of(declared.name.to_string(), declared))
                    .collect();
                (server.name.clone(), specs)
            })
            .collect()
    }

    /// The name a model sees for `server`'s tool `tool`, if both exist.
    pub fn exposed_name(&self, server: &str, tool: &str) -> Option<&str> {
        let server = self.servers.iter().find(|s| s.name == server)?;
        server
            .tools
            .iter()
            .find(|(_, t)| t.name == tool)
            .map(|(exposed, _)| exposed.as_str())
    }

    /// Stops every server: HTTP sessions are closed, stdio servers are asked to stop and
    /// then their whole process groups are killed.
    pub async fn shutdown(mut self) {
        let servers = std::mem::take(&mut self.servers);
        futures::future::join_all(servers.into_iter().map(|s| client::close(s.connection))).await;
    }
}

impl Drop for McpServers {
    fn drop(&mut self) {
        for server in &self.servers {
            if let Some(group) = server.connection.state.group {
                group.kill();
            }
        }
    }
}

impl std::fmt::Debug for McpServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.servers.iter().map(|s| &s.name))
            .finish()
    }
}
