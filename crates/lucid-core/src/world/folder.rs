//! A real folder that commands run in: the working root, its sandbox and the time limit
//! of a command. The project environment works in one; the workspace has one for facts
//! from commands and `[tools]` commands. Running is the sandbox's; this module only
//! builds it from the session's settings.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::sandbox::{
    CommandOutput, CommandSpec, Program, Sandbox, SandboxError, SandboxMode, SandboxPolicy,
};
use crate::spec::EnvironmentSpec;
use crate::world::EnvError;

/// Seconds a `shell` command may run when the session file says nothing.
pub const DEFAULT_SHELL_TIMEOUT_S: u64 = 120;

/// The folder commands run in, and how they are confined.
pub struct WorkFolder {
    /// Where commands run and may write (canonical).
    pub root: PathBuf,
    pub sandbox: Sandbox,
    /// The time limit of a command that names none.
    pub shell_timeout: Duration,
    /// Whether the commands' temporary folder goes with this folder (see
    /// [`WorkFolder::removing_tmp`]).
    pub(crate) removes_tmp: bool,
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        if self.removes_tmp {
            // Best effort: what a command left there is of no use to anyone now.
            let _ = std::fs::remove_dir_all(&self.sandbox.policy().tmp);
        }
    }
}

impl WorkFolder {
    /// Builds the sandbox for `root` from the `[environment]` settings; `tmp` is the
    /// commands' private temporary folder. A sandbox that is required but not available
    /// is an error saying how to get one.
    pub fn new(spec: &EnvironmentSpec, root: PathBuf, tmp: PathBuf) -> Result<Self, EnvError> {
        let mode = match &spec.sandbox {
            Some(mode) => {
                SandboxMode::from_str(mode.get_ref()).map_err(|err| EnvError::BadOption {
                    key: "sandbox".into(),
                    message: err.to_string(),
                })?
            }
            None => SandboxMode::Required,
        };
        let policy = SandboxPolicy {
            root: root.clone(),
            tmp,
            network: spec.network,
            mode,
            secret_env: spec.secret_env.clone(),
        };
        let sandbox = Sandbox::new(policy).map_err(|err| EnvError::BadOption {
            key: "sandbox".into(),
            message: err.to_string(),
        })?;
        Ok(WorkFolder {
            root: sandbox.policy().root.clone(),
            sandbox,
            shell_timeout: Duration::from_secs(
                spec.shell_timeout_s.unwrap_or(DEFAULT_SHELL_TIMEOUT_S),
            ),
            removes_tmp: false,
        })
    }

    /// The same folder, removing the commands' temporary folder when it is dropped: for
    /// a temporary folder made for one session (a workspace's), not one kept with the
    /// store (a project's).
    pub fn removing_tmp(mut self) -> Self {
        self.removes_tmp = true;
        self
    }

    /// Runs a program in the root, within `timeout` (default the shell time limit) or
    /// until `cancel` resolves.
    pub async fn run(
        &self,
        program: Program,
        timeout: Option<Duration>,
        cancel: impl std::future::Future<Output = ()> + Send,
    ) -> Result<CommandOutput, SandboxError> {
        let mut command = match program {
            Program::Shell(line) => CommandSpec::shell(line),
            Program::Argv(argv) => CommandSpec::argv(argv),
        };
        command.timeout = timeout.unwrap_or(self.shell_timeout);
        self.sandbox.run(command, cancel).await
    }
}
