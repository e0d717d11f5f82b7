//! The `lucid` command line: argument parsing, and each command turning library results
//! into output and an exit code. Errors become one clear sentence naming the file, line
//! or id involved, written through `say!`, which cleans every line (secrets redacted,
//! control sequences removed) before the terminal sees it. The binary (`main.rs`) only calls [`main`].

// First: every module after it writes its stderr lines with `say!`.
#[macro_use]
mod say;

#[macro_use]
mod output;

pub mod bench;
mod changes;
mod dream;
mod dream_schedule;
mod figures;
mod fleet_bench;
mod headless;
mod heap;
mod hostile_bench;
pub mod learning;
mod malloc;
mod mcp;
mod memories;
mod memory;
mod memory_edit;
mod otel;
mod remote;
mod replay;
pub mod rule_truth;
mod run;
mod serve;
mod sessions;
mod store;
mod tui;
mod tui_client;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use lucid_core::store::Store;

/// Exit codes shared by every command.
pub mod exit {
    /// The rubric was met / the command succeeded.
    pub const OK: u8 = 0;
    /// The rubric was not met after the last iteration.
    pub const RUBRIC_NOT_MET: u8 = 1;
    /// Bad usage or an invalid session file.
    pub const USAGE: u8 = 2;
    /// A runtime failure: provider unreachable, store error, …
    pub const RUNTIME: u8 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "lucid",
    version,
    about = "Run teams of LLM agents that check their own work and learn from their history.",
    long_about = None,
    after_help = "Start with: lucid run sessions/lumara.toml   (or --headless for plain output)"
)]
pub struct Cli {
    /// The store (a sled directory). Default: the user's data directory, e.g.
    /// ~/.local/share/lucid/store.
    #[arg(long, global = true, env = lucid_core::config::DB_ENV, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// The TUI's theme: dark (default), light, high-contrast, or themes/NAME.toml.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,

    /// The pace of offline (scripted) models in runs the TUI shows: milliseconds each
    /// answer takes, streaming in as a real model's would (profiles that set `latency_ms`
    /// keep theirs). Default 350; 0 runs at full speed. Headless runs are never paced.
    #[arg(long, value_name = "MS")]
    pub pace: Option<u64>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a session file: the team works, the grader judges, the team revises.
    Run(run::RunArgs),
    /// Replay a recorded session in the TUI (pause, step and speed keys), or print its
    /// progress lines with --headless.
    Replay {
        /// The session's short id or id, or a unique prefix of either.
        id: String,
        /// Print the progress lines `run --headless` printed, on stdout, instead of
        /// opening the TUI.
        #[arg(long)]
        headless: bool,
        /// The TUI's theme: dark (default), light, high-contrast, or themes/NAME.toml.
        #[arg(long, value_name = "NAME")]
        theme: Option<String>,
    },
    /// List and inspect recorded sessions.
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// Review a team's history and propose playbooks for a person to approve.
    Dream(dream::DreamArgs),
    /// Inspect, approve, reject, edit, export and import memories.
    #[command(subcommand)]
    Memory(memory::MemoryCommand),
    /// Check MCP servers: start a session file's servers and list their tools.
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// Apply a project session's change to the project's files (after reviewing it with
    /// `lucid sessions diff ID`). Refuses, changing nothing, if the project changed
    /// underneath in a file the session also changed.
    Apply {
        /// The session's short id or id, or a unique prefix of either.
        id: String,
        /// Only check that the change applies; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Check the store: read every record back, say what is damaged and how to recover.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Serve the store to other lucid commands (on <store>/lucid.sock) with no window:
    /// they run sessions through it and read its history. Stops on Ctrl-C or SIGTERM,
    /// after the live runs finish the step in hand.
    Serve {
        /// Dream every DURATION (e.g. 30s, 10m, 2h) for each team with sessions no dream
        /// has read yet (offline dreamer); runs and other commands go on meanwhile.
        #[arg(long, value_name = "DURATION", value_parser = dream::parse_duration)]
        dream_every: Option<std::time::Duration>,
    },
    /// Print figures: orchestration overhead, event store throughput, dreaming at scale,
    /// calibration of a baseline team, learning from dreams. Without a subcommand: all
    /// the scale figures.
    Bench(bench::BenchArgs),
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    malloc::tune();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            // Printing help or an error to the terminal; nothing to do if that fails.
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            say!("lucid: cannot start the async runtime: {err}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Some(Command::Run(args)) => {
            let theme = args.theme.clone().or(cli.theme);
            let pace = args.pace.or(cli.pace);
            run::run(cli.db, theme.as_deref(), pace, args).await
        }
        Some(Command::Replay { id, headless, .. }) if headless => {
            replay::headless(cli.db, &id).await
        }
        Some(Command::Replay { id, theme, .. }) => {
            let theme = theme.or(cli.theme);
            tui::open(cli.db, theme.as_deref(), cli.pace, tui::Start::Replay(id)).await
        }
        Some(Command::Sessions(command)) => sessions::sessions(cli.db, command).await,
        Some(Command::Serve { dream_every }) => serve::serve(cli.db, dream_every).await,
        Some(Command::Dream(args)) => dream::run(cli.db, args).await,
        Some(Command::Memory(command)) => memory::memory(cli.db, command).await,
        Some(Command::Bench(command)) => bench::bench(command).await,
        Some(Command::Apply { id, check }) => changes::apply(cli.db, &id, check).await,
        Some(Command::Mcp(command)) => mcp::mcp(command).await,
        Some(Command::Store(command)) => store::store(cli.db, command),
        None => tui::open(cli.db, cli.theme.as_deref(), cli.pace, tui::Start::Home).await,
    }
}

/// The exit code of a store failure: an ambiguous id is the user's to fix (2), the
/// rest are runtime failures (3).
fn store_error_code(err: &lucid_core::store::StoreError) -> u8 {
    match err {
        lucid_core::store::StoreError::Ambiguous { .. } => exit::USAGE,
        _ => exit::RUNTIME,
    }
}

/// Opens the store, reporting failure as one sentence.
fn open_store(db: Option<PathBuf>) -> Result<Store, u8> {
    let path = db.unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    Store::open(&path).map_err(|err| {
        say!("lucid: {err}");
        exit::RUNTIME
    })
}

/// A store opened here, or the lucid that holds it and serves it.
enum Opened {
    Store(Store),
    Owner(lucid_server::client::Client),
}

/// Opens the store; when another lucid holds it and answers on its socket, gives a
/// client of that owner instead. Failure is reported as one sentence.
fn open_or_owner(db: Option<PathBuf>) -> Result<Opened, u8> {
    let path = db.unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    locate(&path).map_err(|err| {
        say!("lucid: {err}");
        exit::RUNTIME
    })
}

/// The store at `path`, opened here, or a client of the lucid that holds and serves it.
/// A served store is not tried first: opening a held store waits a second for its lock.
fn locate(path: &std::path::Path) -> Result<Opened, lucid_core::store::StoreError> {
    let owner = || Opened::Owner(lucid_server::client::Client::new(path));
    if lucid_server::is_served(path) {
        return Ok(owner());
    }
    match Store::open(path) {
        Ok(store) => Ok(Opened::Store(store)),
        Err(lucid_core::store::StoreError::Locked { .. }) if lucid_server::is_served(path) => {
            Ok(owner())
        }
        Err(err) => Err(err),
    }
}
