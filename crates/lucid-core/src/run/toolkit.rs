//! The tools an agent kind works with in one attempt: built for the kind's first thread
//! and shared by every later one, so a fleet of 10,000 workers holds one copy of their
//! tool declarations (JSON schemas, often kilobytes each for MCP tools) instead of
//! 10,000, and no thread rebuilds them.
//!
//! What a kind's tools are depends only on things fixed for the attempt: the episode's
//! tools, the session's tools, the kind's MCP tools and its spec (the tools it names,
//! whom it delegates to, its advisor). The toolkits live beside the attempt's episode
//! and go with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::tool::{ToolRegistry, ToolSpec};

/// One agent kind's tools.
pub(super) struct Toolkit {
    /// The tools it may call by name (the orchestration tools are the run's own).
    pub registry: ToolRegistry,
    /// What every turn's request declares: its own tools, then the orchestration tools
    /// as offered before any delegation has returned.
    pub specs: Arc<[ToolSpec]>,
    /// How many of `specs` are its own tools.
    pub own: usize,
}

/// The toolkits of one attempt, by agent name.
#[derive(Default)]
pub(super) struct Toolkits(Mutex<HashMap<String, Arc<Toolkit>>>);

impl Toolkits {
    /// The kind's toolkit, built with `build` if no thread of the kind has asked yet.
    /// The lock is not held while building; two first threads at once both build, and
    /// the first to finish is the one kept.
    pub fn of(&self, kind: &str, build: impl FnOnce() -> Toolkit) -> Arc<Toolkit> {
        if let Some(toolkit) = self.lock().get(kind) {
            return Arc::clone(toolkit);
        }
        let built = Arc::new(build());
        Arc::clone(self.lock().entry(kind.to_string()).or_insert(built))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Toolkit>>> {
        // Single lookups and inserts: a poisoned map is still whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toolkit(name: &str) -> Toolkit {
        let spec = ToolSpec {
            name: name.into(),
            description: String::new(),
            input_schema: serde_json::json!({"type": "object"}),
        };
        Toolkit {
            registry: ToolRegistry::new(),
            specs: vec![spec].into(),
            own: 1,
        }
    }

    #[test]
    fn a_kind_is_built_once_and_shared() {
        let toolkits = Toolkits::default();
        let first = toolkits.of("worker", || toolkit("tick"));
        let second = toolkits.of("worker", || panic!("built twice"));
        assert!(Arc::ptr_eq(&first, &second));
        assert!(Arc::ptr_eq(&first.specs, &second.specs));
        let lead = toolkits.of("lead", || toolkit("survey"));
        assert_eq!(lead.specs[0].name, "survey");
        assert_eq!(first.specs[0].name, "tick");
    }
}
