//! Built-in environments: the worlds agents act in.
//!
//! An [`Environment`] is built from the session's `[environment]` table with a seed and
//! a world number. It offers scripted policies per agent role (the offline model) and
//! makes a fresh [`Episode`] for each iteration of the revise loop; an episode owns the
//! tools' state and reports the result facts the rubric checks. Environments never see
//! the store, events or playbooks except as text inside model requests.

pub mod command_facts;
pub mod command_tool;
pub(crate) mod files;
pub mod fleet;
pub mod folder;
pub mod lumara;
pub mod paths;
pub mod project;
pub mod rules;
pub mod script;
pub mod triage;
pub mod workspace;

use std::sync::Arc;

use crate::event::Facts;
use crate::model::Policy;
use crate::spec::{EnvironmentCapabilities, EnvironmentCatalog, EnvironmentSpec};
use crate::tool::Tool;

/// Why an environment could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    #[error("unknown environment kind `{0}`")]
    UnknownKind(String),
    #[error("environment option `{key}`: {message}")]
    BadOption { key: String, message: String },
}

/// A world agents act in, fixed by kind, world number and seed.
pub trait Environment: Send + Sync {
    fn kind(&self) -> &'static str;

    /// Facts about the mission every agent may know, appended to the lead's task.
    fn briefing(&self) -> String;

    /// The scripted policy for an agent role, if the environment ships one.
    fn policy(&self, role: &str) -> Option<Arc<dyn Policy>>;

    /// A fresh attempt at the mission; the revise loop makes one per iteration.
    fn episode(&self) -> Arc<dyn Episode>;

    /// Whether a resumed session restores the world by calling the completed steps'
    /// tools again. An environment whose state outlives the process (files on disk)
    /// says no: its completed steps are already there.
    fn replays_calls(&self) -> bool {
        true
    }

    /// The real folder commands run in (facts from commands, `[tools]` commands), if the
    /// environment works in one.
    fn folder(&self) -> Option<Arc<folder::WorkFolder>> {
        None
    }
}

/// What a team changed in a project's files, and where.
#[derive(Debug, Clone)]
pub struct WorkChanges {
    pub isolation: &'static str,
    pub project: std::path::PathBuf,
    pub work_root: std::path::PathBuf,
    pub set: project::ChangeSet,
}

/// One attempt: tools bound to its state, and the facts that state amounts to.
pub trait Episode: Send + Sync {
    fn tools(&self) -> Vec<Arc<dyn Tool>>;

    /// The result facts the rubric checks, read when the team has finished.
    fn facts(&self) -> Facts;

    /// What the attempt has changed in a project's files (after [`Episode::facts`]).
    fn changes(&self) -> Option<WorkChanges> {
        None
    }
}

/// Every environment kind and what it offers, for validating session files.
pub fn catalog() -> EnvironmentCatalog {
    let mut catalog = EnvironmentCatalog::new();
    catalog.insert(lumara::KIND.to_string(), lumara::capabilities());
    catalog.insert(fleet::KIND.to_string(), fleet::capabilities());
    catalog.insert(triage::KIND.to_string(), triage::capabilities());
    catalog.insert(workspace::KIND.to_string(), workspace::capabilities());
    catalog.insert(project::KIND.to_string(), project::capabilities());
    catalog
}

/// Builds the environment a session asks for, with its seed and world overridden when
/// the command line says so. Relative paths in the options (the workspace's `root`) are
/// resolved against `spec.base_dir`, the session file's folder.
pub fn build(
    spec: &EnvironmentSpec,
    seed: u64,
    world: u64,
) -> Result<Arc<dyn Environment>, EnvError> {
    match spec.kind.get_ref().as_str() {
        lumara::KIND => Ok(Arc::new(lumara::Lumara::new(&spec.options, seed, world)?)),
        triage::KIND => Ok(Arc::new(triage::BuildTriage::new(
            &spec.options,
            seed,
            world,
        )?)),
        fleet::KIND => Ok(Arc::new(fleet::Fleet::new(&spec.options)?)),
        workspace::KIND => Ok(Arc::new(workspace::Workspace::for_session(spec)?)),
        project::KIND => Ok(Arc::new(project::Project::new(spec)?)),
        other => Err(EnvError::UnknownKind(other.to_string())),
    }
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Convenience for environments' `capabilities()`.
pub fn capabilities(tools: &[&str], facts: &[&str], roles: &[&str]) -> EnvironmentCapabilities {
    EnvironmentCapabilities {
        tools: owned(tools),
        facts: owned(facts),
        roles: owned(roles),
        ..EnvironmentCapabilities::default()
    }
}

/// Adds the facts a dream may learn rules over: what agents observe before acting, and
/// what records their choices.
pub fn with_learning(
    mut capabilities: EnvironmentCapabilities,
    observations: &[&str],
    choices: &[&str],
) -> EnvironmentCapabilities {
    capabilities.observations = owned(observations);
    capabilities.choices = owned(choices);
    capabilities
}
