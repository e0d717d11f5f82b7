//! lucid's built-in worlds and their scripted policies: the Lumara lunar landing
//! (`lumara`), build triage (`triage`), the many-agent fan-out (`fleet`), a confined
//! document workspace (`workspace`) and a real project folder (`project`).
//!
//! [`worlds`] hands them to the front door (`lucid_core::session`) as one
//! [`Worlds`](lucid_core::world::Worlds); [`catalog`] and [`build`] are the same for
//! callers that validate or build directly. The traits they implement, and the parts
//! every world shares (rules, command facts, work folders), live in `lucid_core::world`.

pub mod fleet;
pub mod lumara;
pub mod project;
pub mod triage;
pub mod workspace;

use std::sync::Arc;

use lucid_core::spec::{EnvironmentCatalog, EnvironmentSpec};
use lucid_core::world::{EnvError, Environment, Worlds};

/// The built-in environment kinds.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltIn;

impl Worlds for BuiltIn {
    fn catalog(&self) -> EnvironmentCatalog {
        catalog()
    }

    fn build(
        &self,
        spec: &EnvironmentSpec,
        seed: u64,
        world: u64,
    ) -> Result<Arc<dyn Environment>, EnvError> {
        build(spec, seed, world)
    }
}

/// The built-in worlds, as the front door takes them.
pub fn worlds() -> Arc<dyn Worlds> {
    Arc::new(BuiltIn)
}

/// Every built-in environment kind and what it offers, for validating session files.
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
