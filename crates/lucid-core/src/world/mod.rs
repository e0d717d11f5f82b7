//! The worlds agents act in, as traits: what every environment offers and what the
//! loop needs of it. The built-in worlds live in `lucid-envs`; a program hands them to
//! the front door as [`Worlds`].
//!
//! An [`Environment`] is built from the session's `[environment]` table with a seed and
//! a world number. It offers scripted policies per agent role (the offline model) and
//! makes a fresh [`Episode`] for each iteration of the revise loop; an episode owns the
//! tools' state and reports the result facts the rubric checks. Environments never see
//! the store, events or playbooks except as text inside model requests.

pub mod beneath;
pub mod changes;
pub mod command_facts;
pub mod command_tool;
pub mod files;
pub mod folder;
pub mod paths;
pub mod rules;
pub mod script;
pub mod walk;

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
    pub set: changes::ChangeSet,
}

/// One attempt: tools bound to its state, and the facts that state amounts to.
pub trait Episode: Send + Sync {
    /// The attempt's tools. Asked when the first thread of each agent kind starts in the
    /// attempt (twice if two start at once; and once to replay a resumed attempt's
    /// calls); the tools it gives are shared by every thread of that kind, at once, so a
    /// tool's state belongs to the episode, never to one caller.
    fn tools(&self) -> Vec<Arc<dyn Tool>>;

    /// The result facts the rubric checks, read when the team has finished.
    fn facts(&self) -> Facts;

    /// What the attempt has changed in a project's files (after [`Episode::facts`]).
    fn changes(&self) -> Option<WorkChanges> {
        None
    }
}

/// The environment kinds a program knows: validates session files against what each
/// offers and builds the one a session asks for. `lucid-envs` provides the built-in ones.
pub trait Worlds: Send + Sync {
    /// Every kind and what it offers, for validating session files.
    fn catalog(&self) -> EnvironmentCatalog;

    /// Builds the environment a session asks for with this seed and world. Relative
    /// paths in the options are resolved against `spec.base_dir`, the session file's
    /// folder.
    fn build(
        &self,
        spec: &EnvironmentSpec,
        seed: u64,
        world: u64,
    ) -> Result<Arc<dyn Environment>, EnvError>;
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

/// Declares, for dreams, which facts measure the attempt's result (never a rule's
/// condition) and which record the team's choices (what a rule may set). The dream
/// treats every other fact as a possible condition; an environment does not say which
/// observations matter.
pub fn with_learning(
    mut capabilities: EnvironmentCapabilities,
    outcomes: &[&str],
    choices: &[&str],
) -> EnvironmentCapabilities {
    capabilities.outcomes = owned(outcomes);
    capabilities.choices = owned(choices);
    capabilities
}
