//! One connection to one MCP server through rmcp: connecting (spawn or HTTP,
//! `initialize`, `tools/list`, all bounded by the startup timeout), calling a tool
//! (bounded by the tool timeout) and closing.
//!
//! It maps rmcp's errors to [`McpError`] and tool outcomes to [`ToolOutput`]; it does not
//! name tools for models (see `tool.rs`).

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, JsonObject,
};
use rmcp::service::{ClientInitializeError, Peer, RoleClient, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{IntoTransport, StreamableHttpClientTransport};
use rmcp::ServiceExt;

use super::config::{McpServerSpec, McpTransport};
use super::process::{self, ExitWatch, ProcessGroup, StderrTail};
use super::result;
use super::McpError;
use crate::event::sanitize;
use crate::tool::ToolOutput;

/// How long to wait for a dead server's last stderr lines.
const STDERR_SETTLE: Duration = Duration::from_millis(1000);
/// The most of one rmcp error message kept.
const MAX_ERROR_CHARS: usize = 2000;
/// Bounds closing a connection before its group is killed outright.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long a call may still complete after its server exited (the answer may be in
/// the pipe).
const EXIT_GRACE: Duration = Duration::from_millis(200);

/// What every tool of one server shares: how to reach it and how to report its death.
pub struct ServerState {
    pub name: String,
    pub peer: Peer<RoleClient>,
    pub stderr: StderrTail,
    pub group: Option<ProcessGroup>,
    /// A stdio server's exit.
    pub exit: Option<ExitWatch>,
    pub tool_timeout: Duration,
}

/// A started, initialised server and the tools it listed.
pub struct Connection {
    pub state: Arc<ServerState>,
    pub service: RunningService<RoleClient, ClientConfig>,
    pub tools: Vec<rmcp::model::Tool>,
}

fn client_info() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("lucid", env!("CARGO_PKG_VERSION")),
    )
}

/// Starts `spec`'s server, initialises it and lists its tools within its startup timeout.
pub async fn connect(spec: &McpServerSpec) -> Result<Connection, McpError> {
    match &spec.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            env_vars,
            hidden,
            cwd,
        } => {
            let child = process::spawn(command, args, env, env_vars, hidden, cwd.as_deref())
                .map_err(|err| McpError::Start {
                    server: spec.name.clone(),
                    message: format!("could not run `{command}`: {err}"),
                    stderr_tail: String::new(),
                })?;
            let (group, stderr, exit) = (child.group, child.stderr, child.exit);
            let transport = (child.stdout, child.stdin);
            let started = handshake(spec, transport, None, Some(exit.clone())).await;
            match started {
                Ok((service, tools)) => {
                    Ok(connection(spec, service, tools, stderr, group, Some(exit)))
                }
                Err(mut failure) => {
                    // A closed pipe usually means the server exited: say how.
                    if !matches!(failure, StartFailure::TimedOut) {
                        if let Ok(how) = tokio::time::timeout(EXIT_GRACE, exit.exited()).await {
                            failure = StartFailure::Exited(how);
                        }
                    }
                    if let Some(group) = group {
                        group.kill();
                    }
                    stderr.settle(STDERR_SETTLE).await;
                    Err(failure.into_error(spec, stderr.text()))
                }
            }
        }
        McpTransport::Http {
            url,
            bearer_token_env,
        } => {
            // rmcp's reqwest has no TLS provider of its own; ring is lucid's.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
            let mut token = None;
            if let Some(var) = bearer_token_env {
                let value = std::env::var(var).unwrap_or_default().trim().to_string();
                if value.is_empty() {
                    return Err(McpError::MissingToken {
                        server: spec.name.clone(),
                        variable: var.clone(),
                    });
                }
                crate::event::register_secret(&value);
                config = config.auth_header(value.clone());
                token = Some(value);
            }
            let transport = StreamableHttpClientTransport::from_config(config);
            match handshake(spec, transport, token.as_deref(), None).await {
                Ok((service, tools)) => Ok(connection(
                    spec,
                    service,
                    tools,
                    StderrTail::empty(),
                    None,
                    None,
                )),
                Err(failure) => Err(failure.into_error(spec, String::new())),
            }
        }
    }
}

fn connection(
    spec: &McpServerSpec,
    service: RunningService<RoleClient, ClientConfig>,
    tools: Vec<rmcp::model::Tool>,
    stderr: StderrTail,
    group: Option<ProcessGroup>,
    exit: Option<ExitWatch>,
) -> Connection {
    let state = Arc::new(ServerState {
        name: spec.name.clone(),
        peer: service.peer().clone(),
        stderr,
        group,
        exit,
        tool_timeout: spec.tool_timeout,
    });
    Connection {
        state,
        service,
        tools,
    }
}

/// Why a server did not come up.
enum StartFailure {
    TimedOut,
    Closed,
    Exited(String),
    Failed(String),
}

impl StartFailure {
    fn into_error(self, spec: &McpServerSpec, stderr_tail: String) -> McpError {
        let server = spec.name.clone();
        match self {
            StartFailure::TimedOut => McpError::Timeout {
                server,
                seconds: spec.startup_timeout.as_secs(),
                stderr_tail,
            },
            StartFailure::Closed => McpError::Crashed {
                server,
                stderr_tail,
            },
            StartFailure::Exited(how) => McpError::Start {
                server,
                message: format!("the server exited before it was ready ({how})"),
                stderr_tail,
            },
            StartFailure::Failed(message) => McpError::Start {
                server,
                message,
                stderr_tail,
            },
        }
    }
}

async fn handshake<T, E, A>(
    spec: &McpServerSpec,
    transport: T,
    secret: Option<&str>,
    exit: Option<ExitWatch>,
) -> Result<
    (
        RunningService<RoleClient, ClientConfig>,
        Vec<rmcp::model::Tool>,
    ),
    StartFailure,
>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let start = async {
        let service = client_info()
            .serve(transport)
            .await
            .map_err(|err| StartFailure::Failed(describe_init(err, secret)))?;
        match service.peer().list_all_tools().await {
            Ok(tools) => Ok((service, tools)),
            Err(ServiceError::TransportClosed) => Err(StartFailure::Closed),
            Err(err) => Err(StartFailure::Failed(format!(
                "listing its tools failed: {}",
                describe(&err, secret)
            ))),
        }
    };
    let bounded = async {
        tokio::time::timeout(spec.startup_timeout, start)
            .await
            .unwrap_or(Err(StartFailure::TimedOut))
    };
    tokio::select! {
        biased;
        outcome = bounded => outcome,
        how = exited(exit) => Err(StartFailure::Exited(how)),
    }
}

/// How the server exited; never resolves for servers lucid did not spawn.
async fn exited(exit: Option<ExitWatch>) -> String {
    match exit {
        Some(exit) => exit.exited().await,
        None => std::future::pending().await,
    }
}

/// A failed handshake in one line, without rmcp's transport type names.
fn describe_init(err: ClientInitializeError, secret: Option<&str>) -> String {
    match err {
        ClientInitializeError::TransportError { error, context } => {
            format!("{} ({context})", describe(error.error.as_ref(), secret))
        }
        other => describe(&other, secret),
    }
}

/// An error and its sources in one sanitised, bounded line, with `secret` (and every
/// other secret of the process) redacted.
fn describe(err: &(dyn std::error::Error + 'static), secret: Option<&str>) -> String {
    if let Some(secret) = secret {
        crate::event::register_secret(secret);
    }
    let text = crate::model::http::error_chain(err);
    crate::event::one_line(&crate::event::redact(&text), MAX_ERROR_CHARS)
}

/// Calls `tool` on the server; crashes and timeouts are fatal, other failures tool errors.
pub async fn call(state: Arc<ServerState>, tool: String, input: serde_json::Value) -> ToolOutput {
    let arguments = match input {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => JsonObject::new(),
        _ => {
            return ToolOutput::error(format!(
                "{}: the arguments must be a JSON object",
                sanitize(&tool)
            ))
        }
    };
    let params = CallToolRequestParams::new(tool.clone()).with_arguments(arguments);
    let name = &state.name;
    // The real name came from the server: shown only sanitised.
    let tool = crate::event::one_line(&tool, 100);
    let call = tokio::time::timeout(state.tool_timeout, state.peer.call_tool(params));
    tokio::pin!(call);
    let outcome = tokio::select! {
        biased;
        outcome = &mut call => outcome,
        how = exited(state.exit.clone()) => match tokio::time::timeout(EXIT_GRACE, &mut call).await {
            Ok(Ok(Ok(result))) => Ok(Ok(result)),
            _ => {
                let what = format!("MCP server `{name}` crashed during `{tool}` ({how})");
                return fatal(&state, what).await;
            }
        },
    };
    match outcome {
        Ok(Ok(result)) => result::render(&result),
        Err(_) | Ok(Err(ServiceError::Timeout { .. })) => {
            fatal(
                &state,
                format!(
                    "MCP server `{name}` did not answer `{tool}` within {} s",
                    state.tool_timeout.as_secs()
                ),
            )
            .await
        }
        Ok(Err(ServiceError::TransportClosed)) => {
            fatal(
                &state,
                format!("MCP server `{name}` crashed during `{tool}` (connection closed)"),
            )
            .await
        }
        Ok(Err(ServiceError::TransportSend(err))) => {
            let why = describe(err.error.as_ref(), None);
            fatal(
                &state,
                format!("MCP server `{name}` crashed during `{tool}` (connection failed: {why})"),
            )
            .await
        }
        Ok(Err(ServiceError::McpError(data))) => ToolOutput::error(format!(
            "MCP server `{name}` refused `{tool}`: {}",
            crate::event::one_line(&data.message, MAX_ERROR_CHARS)
        )),
        Ok(Err(ServiceError::UnexpectedResponse)) => ToolOutput::error(format!(
            "MCP server `{name}` answered `{tool}` with a malformed result (not a tool result)"
        )),
        Ok(Err(err)) => ToolOutput::error(format!(
            "MCP server `{name}` failed on `{tool}`: {}",
            describe(&err, None)
        )),
    }
}

/// A fatal output: the server is unusable. Its process group is killed so its last
/// stderr lines can be collected and nothing of it lingers.
async fn fatal(state: &ServerState, what: String) -> ToolOutput {
    if let Some(group) = state.group {
        group.kill();
        state.stderr.settle(STDERR_SETTLE).await;
    }
    let tail = state.stderr.text();
    let message = if tail.is_empty() {
        what
    } else {
        format!("{what}; stderr tail:\n{tail}")
    };
    ToolOutput::fatal(message)
}

/// Closes the connection: the HTTP session ends, a stdio server is asked to stop and
/// then its whole process group is killed.
pub async fn close(connection: Connection) {
    let Connection { state, service, .. } = connection;
    if let Some(group) = state.group {
        group.terminate();
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, service.cancel()).await;
    if let Some(group) = state.group {
        group.kill();
    }
    // The leader is reaped by its exit watch; wait for that so it is gone on return.
    if let Some(exit) = &state.exit {
        let _ = tokio::time::timeout(CLOSE_GRACE, exit.exited()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer with Bearer s3cr3t")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn described_errors_carry_their_sources_and_never_the_secret() {
        let err = Outer(std::io::Error::other("inner \u{1b}[2Jcause s3cr3t"));
        let text = describe(&err, Some("s3cr3t"));
        assert_eq!(text, "outer with Bearer [redacted]: inner cause [redacted]");
    }
}
