//! Running a command confined to a root folder, enforced by the kernel.
//!
//! Every command an agent causes (the `shell` tool, custom command tools, facts from
//! commands) runs through [`Sandbox::run`]. The module owns confinement and supervision:
//!
//! - **Backends** ([`Backend`]): Landlock (the child restricts itself after `fork`:
//!   read and execute everywhere, write only beneath the root and the scratch dir; see
//!   `landlock`), bubblewrap (`bwrap` with a read-only view of `/` and the root bound
//!   read-write; see `bwrap`), or none when the user opts out with `sandbox = "off"`.
//! - **Network** is cut unless the policy allows it: a fresh network namespace (or a user
//!   and network namespace for unprivileged callers) plus Landlock's TCP rules.
//! - **Secrets** never reach the child: variables whose names look secret are stripped
//!   (see `env`).
//! - **Limits**: each run has a time limit and a cancel future; either kills the whole
//!   process group with SIGKILL. Output is captured head-and-tail within a byte budget
//!   and sanitized (see `output`, `spawn`).
//!
//! Flow: [`Sandbox::new`] probes the backend once (Landlock ABI, a working `bwrap`, which
//! namespaces are allowed) and builds the Landlock ruleset; [`Sandbox::run`] resolves the
//! working directory, builds the environment and the command for the backend, spawns it
//! and supervises it to a [`CommandOutput`].
//!
//! Not owned here: which commands an agent may run, the working root's lifetime (copies,
//! worktrees), and how output is shown (callers use [`CommandOutput::render`]). Known
//! limits, stated rather than hidden: Landlock does not govern `chmod`/`chown`/`utimes`
//! on files the caller owns outside the root (bubblewrap's read-only mounts do); under
//! Landlock a process that calls `setsid` leaves the process group and survives a kill
//! (bubblewrap's PID namespace does not have this gap); PDEATHSIG follows the spawning
//! *thread*, so run commands from a runtime's long-lived threads.

mod bwrap;
mod child;
mod env;
mod landlock;
mod output;
mod spawn;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use bwrap::ProbeError;
pub use child::NetCut;
pub use env::{child_env, looks_secret, SECRET_MARKERS};
pub use output::{Capture, CommandOutput};

/// Default time limit for a command, in seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 120;
/// Default output budget per stream (stdout and stderr each): the first and last 32 KiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Which confinement the user asked for (`sandbox = "…"` in configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Landlock if the kernel has it, else bubblewrap if `bwrap` works, else an error.
    #[default]
    Required,
    /// Landlock only.
    Landlock,
    /// Bubblewrap only.
    Bubblewrap,
    /// No confinement (time limit, process group, output caps and secret stripping stay).
    Off,
}

impl SandboxMode {
    /// Every mode, in the order error messages list them.
    pub const ALL: [SandboxMode; 4] = [
        SandboxMode::Required,
        SandboxMode::Landlock,
        SandboxMode::Bubblewrap,
        SandboxMode::Off,
    ];

    /// The configuration string for this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Required => "required",
            SandboxMode::Landlock => "landlock",
            SandboxMode::Bubblewrap => "bubblewrap",
            SandboxMode::Off => "off",
        }
    }
}

impl FromStr for SandboxMode {
    type Err = SandboxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SandboxMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s.trim())
            .ok_or_else(|| SandboxError::UnknownMode {
                given: s.to_string(),
            })
    }
}

impl std::fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What actually confines commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Landlock, with the kernel's ABI version.
    Landlock { abi: i32 },
    /// Bubblewrap (`bwrap`).
    Bubblewrap,
    /// Nothing (mode `off`).
    None,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Landlock { abi } => write!(f, "Landlock (ABI {abi})"),
            Backend::Bubblewrap => f.write_str("bubblewrap"),
            Backend::None => f.write_str("none (unconfined)"),
        }
    }
}

/// Where a command may write and whether it may use the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    /// The only writable tree besides `tmp`; canonicalized by [`Sandbox::new`].
    pub root: PathBuf,
    /// Private scratch dir, writable, given to the child as `TMPDIR`/`TMP`/`TEMP`;
    /// created if missing and canonicalized by [`Sandbox::new`].
    pub tmp: PathBuf,
    /// Allow network access (default false).
    pub network: bool,
    /// Which confinement to use.
    pub mode: SandboxMode,
    /// Extra variable names to strip from the child's environment.
    pub secret_env: Vec<String>,
}

impl SandboxPolicy {
    /// A policy with no network, mode `required` and no extra secrets.
    pub fn new(root: impl Into<PathBuf>, tmp: impl Into<PathBuf>) -> Self {
        SandboxPolicy {
            root: root.into(),
            tmp: tmp.into(),
            network: false,
            mode: SandboxMode::Required,
            secret_env: Vec::new(),
        }
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A shell command line, run by `/bin/sh -c`.
    Shell(String),
    /// A program and its arguments, executed directly, never through a shell.
    Argv(Vec<String>),
}

/// One command to run in a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The program.
    pub program: Program,
    /// Working directory relative to the root (must stay inside it); default the root.
    pub cwd: Option<PathBuf>,
    /// Time limit; the process group is killed when it runs out.
    pub timeout: Duration,
    /// Output budget per stream (head and tail half each).
    pub max_output_bytes: usize,
    /// Variables to add to the child's environment (applied last).
    pub extra_env: Vec<(String, String)>,
}

impl CommandSpec {
    /// A shell command with the default limits.
    pub fn shell(command: impl Into<String>) -> Self {
        Self::of(Program::Shell(command.into()))
    }

    /// A directly executed program with the default limits.
    pub fn argv<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Self::of(Program::Argv(argv.into_iter().map(Into::into).collect()))
    }

    fn of(program: Program) -> Self {
        CommandSpec {
            program,
            cwd: None,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_S),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            extra_env: Vec::new(),
        }
    }
}

/// Why a sandbox could not be set up or a command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("unknown sandbox mode {given:?}: choose one of \"required\", \"landlock\", \"bubblewrap\" or \"off\"")]
    UnknownMode { given: String },
    #[error("no sandbox available for mode \"{mode}\": {reason}. Commands need a kernel ≥ 5.13 with Landlock enabled, or bubblewrap (`apt-get install bubblewrap`); set `sandbox = \"off\"` to run them unconfined explicitly")]
    Unavailable {
        mode: SandboxMode,
        reason: BackendErrors,
    },
    #[error("sandbox root {path}: {message}")]
    BadRoot { path: PathBuf, message: String },
    #[error("working directory {cwd}: {reason}")]
    BadCwd { cwd: PathBuf, reason: String },
    #[error("Landlock ruleset: {message}")]
    Landlock { message: String },
    #[error("cannot start {program}: {message}")]
    Spawn { program: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why one backend cannot confine commands here.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the kernel has no Landlock (not built in or not enabled at boot)")]
    NoLandlock,
    #[error("cannot cut the network: namespaces are not permitted and Landlock ABI {abi} < 4 has no TCP rules")]
    NoNetworkCut { abi: i32 },
    /// The kernel has Landlock but refused the ruleset (a [`SandboxError::Landlock`]).
    #[error(transparent)]
    Ruleset(Box<SandboxError>),
    #[error("`bwrap` is not installed (not found on PATH)")]
    NoBwrap,
    #[error("`bwrap` does not work here: {0}")]
    Bwrap(#[source] bwrap::ProbeError),
}

/// Why every backend the mode allows failed, in the order they were tried.
#[derive(Debug)]
pub struct BackendErrors(pub Vec<BackendError>);

impl std::fmt::Display for BackendErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, reason) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{reason}")?;
        }
        Ok(())
    }
}

/// A probed, ready-to-use confinement for one policy.
#[derive(Debug)]
pub struct Sandbox {
    policy: SandboxPolicy,
    backend: Backend,
    net: NetCut,
    ruleset: Option<OwnedFd>,
    bwrap: Option<PathBuf>,
}

impl Sandbox {
    /// Canonicalizes the policy's paths and probes the backend once.
    pub fn new(policy: SandboxPolicy) -> Result<Sandbox, SandboxError> {
        let mut policy = policy;
        policy.root = canonical_dir(&policy.root)?;
        std::fs::create_dir_all(&policy.tmp).map_err(|source| SandboxError::Io {
            context: format!("creating the scratch dir {}", policy.tmp.display()),
            source,
        })?;
        policy.tmp = canonical_dir(&policy.tmp)?;
        let mut sandbox = Sandbox {
            policy,
            backend: Backend::None,
            net: NetCut::Allowed,
            ruleset: None,
            bwrap: None,
        };
        let mode = sandbox.policy.mode;
        if mode != SandboxMode::Off {
            // Commands run by the same user could otherwise read this process's memory
            // and its environment (API keys) through /proc; non-dumpable, that takes a
            // capability the commands no longer have (see `child`).
            // SAFETY: prctl on integers.
            unsafe {
                libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
            }
        }
        let unavailable = |reasons: Vec<BackendError>| SandboxError::Unavailable {
            mode,
            reason: BackendErrors(reasons),
        };
        match mode {
            SandboxMode::Off => {}
            SandboxMode::Landlock => sandbox
                .use_landlock()
                .map_err(|err| unavailable(vec![err]))?,
            SandboxMode::Bubblewrap => sandbox.use_bwrap().map_err(|err| unavailable(vec![err]))?,
            SandboxMode::Required => {
                if let Err(landlock) = sandbox.use_landlock() {
                    sandbox
                        .use_bwrap()
                        .map_err(|bwrap| unavailable(vec![landlock, bwrap]))?;
                }
            }
        }
        Ok(sandbox)
    }

    fn use_landlock(&mut self) -> Result<(), BackendError> {
        let abi = landlock::kernel_abi().ok_or(BackendError::NoLandlock)?;
        let net = if self.policy.network {
            NetCut::Allowed
        } else {
            child::probe_net_cut(abi >= 4).ok_or(BackendError::NoNetworkCut { abi })?
        };
        let writable = [self.policy.root.as_path(), self.policy.tmp.as_path()];
        let ruleset = landlock::build_ruleset(&writable, self.policy.network)
            .map_err(|err| BackendError::Ruleset(Box::new(err)))?;
        self.backend = Backend::Landlock { abi };
        self.net = net;
        self.ruleset = Some(ruleset);
        Ok(())
    }

    fn use_bwrap(&mut self) -> Result<(), BackendError> {
        let bwrap = bwrap::find().ok_or(BackendError::NoBwrap)?;
        let (root, tmp) = (&self.policy.root, &self.policy.tmp);
        bwrap::probe(&bwrap, root, tmp, self.policy.network).map_err(BackendError::Bwrap)?;
        self.backend = Backend::Bubblewrap;
        self.net = if self.policy.network {
            NetCut::Allowed
        } else {
            NetCut::Namespace
        };
        self.bwrap = Some(bwrap);
        Ok(())
    }

    /// What confines commands.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The policy, with canonical paths.
    pub fn policy(&self) -> &SandboxPolicy {
        &self.policy
    }

    /// How the network is cut (or [`NetCut::Allowed`]).
    pub fn net_cut(&self) -> NetCut {
        self.net
    }

    /// Runs a command to completion, until its time limit, or until `cancel` resolves.
    pub async fn run(
        &self,
        command: CommandSpec,
        cancel: impl Future<Output = ()> + Send,
    ) -> Result<CommandOutput, SandboxError> {
        let cwd = resolve_cwd(&self.policy.root, command.cwd.as_deref())?;
        let argv = match &command.program {
            Program::Shell(line) => vec!["/bin/sh".to_string(), "-c".to_string(), line.clone()],
            Program::Argv(argv) if argv.is_empty() => {
                return Err(SandboxError::Spawn {
                    program: String::new(),
                    message: "empty argument list".to_string(),
                })
            }
            Program::Argv(argv) => argv.clone(),
        };
        let label = argv[0].clone();
        let (mut std_command, setup) = match (&self.backend, &self.bwrap) {
            (Backend::Bubblewrap, Some(bwrap)) => {
                let mut c = std::process::Command::new(bwrap);
                let (root, tmp) = (&self.policy.root, &self.policy.tmp);
                c.args(bwrap::args(root, tmp, &cwd, self.policy.network));
                c.args(&argv).current_dir(&cwd);
                (c, child::ChildSetup::new(NetCut::Allowed, None))
            }
            _ => {
                let mut c = std::process::Command::new(&argv[0]);
                c.args(&argv[1..]).current_dir(&cwd);
                let fd = self.ruleset.as_ref().map(|fd| fd.as_raw_fd());
                (c, child::ChildSetup::new(self.net, fd))
            }
        };
        std_command.env_clear().envs(child_env(
            std::env::vars_os(),
            &self.policy.secret_env,
            &self.policy.tmp,
            &command.extra_env,
        ));
        setup.install(&mut std_command);
        spawn::supervise(std_command, label, &command, cancel).await
    }
}

fn canonical_dir(path: &Path) -> Result<PathBuf, SandboxError> {
    let bad = |message: String| SandboxError::BadRoot {
        path: path.to_path_buf(),
        message,
    };
    let canonical = path.canonicalize().map_err(|e| bad(e.to_string()))?;
    if !canonical.is_dir() {
        return Err(bad("not a directory".to_string()));
    }
    Ok(canonical)
}

/// The canonical working directory for `cwd` (relative to `root`), which must exist, be a
/// directory and stay inside `root` after symlinks are resolved.
pub fn resolve_cwd(root: &Path, cwd: Option<&Path>) -> Result<PathBuf, SandboxError> {
    let Some(cwd) = cwd else {
        return Ok(root.to_path_buf());
    };
    let bad = |reason: String| SandboxError::BadCwd {
        cwd: cwd.to_path_buf(),
        reason,
    };
    let canonical = root
        .join(cwd)
        .canonicalize()
        .map_err(|e| bad(e.to_string()))?;
    if !canonical.starts_with(root) {
        return Err(bad(format!("outside the root {}", root.display())));
    }
    if !canonical.is_dir() {
        return Err(bad("not a directory".to_string()));
    }
    Ok(canonical)
}
