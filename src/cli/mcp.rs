//! `lucid mcp list SPEC`: start a session file's MCP servers and print each one's tools,
//! a quick check that a server configuration works before a team depends on it.
//!
//! `{root}` expands to the project's folder (or the session file's folder); nothing is
//! copied and no session is recorded.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::exit;
use lucid_core::event::one_line;
use lucid_core::tool::mcp::McpServers;

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Start the session file's MCP servers (and the user config's) and list their tools.
    List {
        /// The session file.
        spec: PathBuf,
        /// Print JSON: an object of server name → its tools (name, description, input schema).
        #[arg(long)]
        json: bool,
    },
}

pub async fn mcp(command: McpCommand) -> u8 {
    match command {
        McpCommand::List { spec, json } => list(&spec, json).await,
    }
}

async fn list(path: &Path, json: bool) -> u8 {
    let user = match lucid_core::config::user_config() {
        Ok(user) => user,
        Err(err) => {
            say!("lucid: {err}");
            return exit::USAGE;
        }
    };
    let spec = match lucid_core::spec::load_with(path, &lucid_envs::catalog(), &user) {
        Ok(spec) => spec,
        Err(err) => {
            say!("lucid: {err}");
            return exit::USAGE;
        }
    };
    let servers = &spec.mcp_servers;
    if servers.is_empty() {
        say!(
            "lucid: {} declares no MCP servers ([mcp_servers.NAME], here or in the user's config)",
            path.display()
        );
        return exit::USAGE;
    }
    let environment = &spec.environment;
    let root = environment
        .root
        .as_ref()
        .map(|r| environment.base_dir.join(r.get_ref()))
        .unwrap_or_else(|| environment.base_dir.clone());
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let specs = servers
        .values()
        .map(|s| s.expand_root(&root).hiding(&environment.secret_env))
        .collect();
    if !json {
        say!("starting {} MCP server(s)…", servers.len());
    }
    let started = match McpServers::start(specs).await {
        Ok(started) => started,
        Err(err) => {
            say!("lucid: {}", lucid_core::event::sanitize(&err.to_string()));
            return exit::RUNTIME;
        }
    };
    let listing = started.listing();
    started.shutdown().await;
    if json {
        let document: serde_json::Map<String, serde_json::Value> = listing
            .iter()
            .map(|(server, tools)| {
                (
                    server.clone(),
                    serde_json::to_value(tools).unwrap_or_default(),
                )
            })
            .collect();
        match serde_json::to_string_pretty(&document) {
            Ok(text) => outln!("{text}"),
            Err(err) => {
                say!("lucid: cannot encode the listing: {err}");
                return exit::RUNTIME;
            }
        }
        return exit::OK;
    }
    for (server, tools) in &listing {
        outln!("{server}: {} tool(s)", tools.len());
        for tool in tools {
            // A tool's name is the server's word: shown like any text from outside.
            outln!(
                "  {server}.{:<28} {}",
                one_line(&tool.name, 64),
                one_line(&tool.description, 90)
            );
        }
    }
    exit::OK
}
