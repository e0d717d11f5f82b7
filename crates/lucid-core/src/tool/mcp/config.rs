//! `[mcp_servers.NAME]`: the raw TOML shape and the checked spec a session starts.
//!
//! Owns validation (stdio xor HTTP, timeouts) and `{root}` expansion. Holds no secrets:
//! an HTTP server's token is named by an environment variable and read only when the
//! server starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default bound on starting a server (spawn, `initialize`, `tools/list`).
pub const DEFAULT_STARTUP_TIMEOUT_S: u64 = 30;
/// Default bound on one tool call.
pub const DEFAULT_TOOL_TIMEOUT_S: u64 = 120;

/// `[mcp_servers.NAME]` as written in a session file or the user's config.
///
/// A stdio server has `command`, `args` (default `[]`), `env` (default `{}`; added to
/// lucid's own environment, which the server inherits without any variable that looks
/// secret), `env_vars` (default `[]`: names of secret variables passed through anyway,
/// e.g. `GITHUB_TOKEN`) and `cwd` (default: lucid's working directory). A streamable HTTP server has `url` and optionally
/// `bearer_token_env`, the environment variable holding its bearer token (never the
/// token itself). Both take `startup_timeout_s` (default 30) and `tool_timeout_s`
/// (default 120).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerEntry {
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub env_vars: Vec<String>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    pub bearer_token_env: Option<String>,
    pub startup_timeout_s: Option<u64>,
    pub tool_timeout_s: Option<u64>,
}

/// Why an `[mcp_servers.NAME]` entry cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpEntryError {
    #[error("an MCP server needs a non-empty name")]
    NoName,
    #[error("MCP server `{name}` needs either `command` (a stdio server) or `url` (streamable HTTP), not both")]
    CommandOrUrl { name: String },
    #[error("MCP server `{name}`: `command` is empty")]
    EmptyCommand { name: String },
    #[error("MCP server `{name}`: `bearer_token_env` is for HTTP servers (`url`), not stdio ones")]
    TokenOnStdio { name: String },
    #[error("MCP server `{name}`: `args`, `env` and `cwd` are for stdio servers (`command`), not HTTP ones")]
    StdioKeysOnHttp { name: String },
    #[error("MCP server `{name}`: `url` must start with http:// or https://")]
    NotHttp { name: String, url: String },
    #[error("MCP server `{name}`: `bearer_token_env` must name an environment variable")]
    BadTokenVariable { name: String, variable: String },
    #[error("MCP server `{name}`: `{key}` must be at least 1")]
    ZeroTimeout { name: String, key: &'static str },
}

/// A server ready to start: its name, how to reach it, and its time bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerSpec {
    pub name: String,
    pub transport: McpTransport,
    pub startup_timeout: Duration,
    pub tool_timeout: Duration,
}

/// How lucid talks to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTransport {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout. Its
    /// environment is lucid's plus `env`.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// Secret variables of lucid's environment the server may still see.
        env_vars: Vec<String>,
        /// More variables the server must not see (the model profiles' key variables,
        /// whatever their names), on top of every name that looks secret.
        hidden: Vec<String>,
        cwd: Option<PathBuf>,
    },
    /// A streamable HTTP endpoint; `bearer_token_env` names the variable holding the
    /// token sent as `Authorization: Bearer …`.
    Http {
        url: String,
        bearer_token_env: Option<String>,
    },
}

impl McpServerEntry {
    /// Checks the entry and gives the spec for server `name`.
    pub fn resolve(&self, name: &str) -> Result<McpServerSpec, McpEntryError> {
        if name.is_empty() {
            return Err(McpEntryError::NoName);
        }
        let owned = || name.to_string();
        let stdio_only = !self.args.is_empty()
            || !self.env.is_empty()
            || !self.env_vars.is_empty()
            || self.cwd.is_some();
        let transport = match (&self.command, &self.url) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(McpEntryError::CommandOrUrl { name: owned() });
            }
            (Some(command), None) => {
                if command.trim().is_empty() {
                    return Err(McpEntryError::EmptyCommand { name: owned() });
                }
                if self.bearer_token_env.is_some() {
                    return Err(McpEntryError::TokenOnStdio { name: owned() });
                }
                McpTransport::Stdio {
                    command: command.clone(),
                    args: self.args.clone(),
                    env: self.env.clone(),
                    env_vars: self.env_vars.clone(),
                    hidden: Vec::new(),
                    cwd: self.cwd.as_ref().map(PathBuf::from),
                }
            }
            (None, Some(url)) => {
                if stdio_only {
                    return Err(McpEntryError::StdioKeysOnHttp { name: owned() });
                }
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(McpEntryError::NotHttp {
                        name: owned(),
                        url: url.clone(),
                    });
                }
                if let Some(var) = &self.bearer_token_env {
                    if var.is_empty() || var.contains('=') || var.contains('\0') {
                        return Err(McpEntryError::BadTokenVariable {
                            name: owned(),
                            variable: var.clone(),
                        });
                    }
                }
                McpTransport::Http {
                    url: url.clone(),
                    bearer_token_env: self.bearer_token_env.clone(),
                }
            }
        };
        let seconds =
            |value: Option<u64>, default: u64, key: &'static str| match value.unwrap_or(default) {
                0 => Err(McpEntryError::ZeroTimeout { name: owned(), key }),
                s => Ok(Duration::from_secs(s)),
            };
        Ok(McpServerSpec {
            name: name.to_string(),
            transport,
            startup_timeout: seconds(
                self.startup_timeout_s,
                DEFAULT_STARTUP_TIMEOUT_S,
                "startup_timeout_s",
            )?,
            tool_timeout: seconds(
                self.tool_timeout_s,
                DEFAULT_TOOL_TIMEOUT_S,
                "tool_timeout_s",
            )?,
        })
    }
}

impl McpServerSpec {
    /// The same spec with `names` kept from a stdio server's environment too (unless
    /// `env_vars` passes one through).
    pub fn hiding(&self, names: &[String]) -> McpServerSpec {
        let mut spec = self.clone();
        if let McpTransport::Stdio { hidden, .. } = &mut spec.transport {
            hidden.extend(names.iter().cloned());
        }
        spec
    }

    /// The same spec with `{root}` in `args` and `cwd` replaced by `root`.
    pub fn expand_root(&self, root: &Path) -> McpServerSpec {
        let root = root.to_string_lossy();
        let mut spec = self.clone();
        if let McpTransport::Stdio { args, cwd, .. } = &mut spec.transport {
            for arg in args.iter_mut() {
                *arg = arg.replace("{root}", &root);
            }
            if let Some(dir) = cwd {
                *dir = PathBuf::from(dir.to_string_lossy().replace("{root}", &root));
            }
        }
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(toml_text: &str) -> Result<McpServerEntry, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn stdio_entry_resolves_with_defaults() {
        let spec = entry("command = \"npx\"\nargs = [\"-y\", \"pkg\", \"{root}\"]\ncwd = \"{root}/sub\"\nenv = { A = \"1\" }")
            .unwrap()
            .resolve("fs")
            .unwrap();
        assert_eq!(spec.name, "fs");
        assert_eq!(spec.startup_timeout, Duration::from_secs(30));
        assert_eq!(spec.tool_timeout, Duration::from_secs(120));
        let spec = spec.expand_root(Path::new("/work/proj"));
        let McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
            ..
        } = spec.transport
        else {
            panic!("expected stdio");
        };
        assert_eq!(command, "npx");
        assert_eq!(args, vec!["-y", "pkg", "/work/proj"]);
        assert_eq!(env.get("A").map(String::as_str), Some("1"));
        assert_eq!(cwd, Some(PathBuf::from("/work/proj/sub")));
    }

    #[test]
    fn http_entry_resolves_and_keeps_only_the_variable_name() {
        let spec = entry("url = \"http://127.0.0.1:9/mcp\"\nbearer_token_env = \"TOKEN_VAR\"\ntool_timeout_s = 5\nstartup_timeout_s = 2")
            .unwrap()
            .resolve("remote")
            .unwrap();
        assert_eq!(
            spec.transport,
            McpTransport::Http {
                url: "http://127.0.0.1:9/mcp".into(),
                bearer_token_env: Some("TOKEN_VAR".into())
            }
        );
        assert_eq!(spec.tool_timeout, Duration::from_secs(5));
        assert_eq!(spec.startup_timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        let refusal = |toml_text: &str| entry(toml_text).unwrap().resolve("s").unwrap_err();
        assert_eq!(
            refusal("command = \"x\"\nurl = \"http://h\"").to_string(),
            "MCP server `s` needs either `command` (a stdio server) or `url` (streamable HTTP), not both"
        );
        assert_eq!(
            refusal("args = [\"a\"]"),
            McpEntryError::CommandOrUrl { name: "s".into() }
        );
        assert_eq!(
            refusal("url = \"http://h\"\ncwd = \"/\"").to_string(),
            "MCP server `s`: `args`, `env` and `cwd` are for stdio servers (`command`), not HTTP ones"
        );
        assert_eq!(
            refusal("command = \"x\"\nbearer_token_env = \"T\"").to_string(),
            "MCP server `s`: `bearer_token_env` is for HTTP servers (`url`), not stdio ones"
        );
        assert_eq!(
            refusal("command = \"x\"\ntool_timeout_s = 0"),
            McpEntryError::ZeroTimeout {
                name: "s".into(),
                key: "tool_timeout_s"
            }
        );
        assert_eq!(
            refusal("url = \"ftp://h\"").to_string(),
            "MCP server `s`: `url` must start with http:// or https://"
        );
        assert_eq!(
            refusal("url = \"http://h\"\nbearer_token_env = \"A=B\"").to_string(),
            "MCP server `s`: `bearer_token_env` must name an environment variable"
        );
        assert_eq!(
            entry("command = \"x\"").unwrap().resolve("").unwrap_err(),
            McpEntryError::NoName
        );
        let unknown = entry("command = \"x\"\nbearer_token = \"secret\"").unwrap_err();
        assert!(unknown.to_string().contains("bearer_token"), "{unknown}");
    }
}
