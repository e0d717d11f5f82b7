//! Which policy answers a request: the one registered for its system prompt (exactly,
//! else the longest registered prompt it starts with), else the one registered for
//! the tools it offers (the same set, else the largest overlap).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::model::{ModelRequest, Policy};

/// Policies keyed by system prompt, with tool names as the fallback.
#[derive(Default, Clone)]
pub struct PolicyRouter {
    by_system: Vec<(String, Arc<dyn Policy>)>,
    by_tools: Vec<(BTreeSet<String>, Arc<dyn Policy>)>,
}

impl PolicyRouter {
    pub fn new() -> Self {
        PolicyRouter::default()
    }

    /// Answers requests whose system prompt is (or starts with) `prompt`.
    pub fn system(mut self, prompt: impl Into<String>, policy: Arc<dyn Policy>) -> Self {
        self.by_system.push((prompt.into(), policy));
        self
    }

    /// Answers requests offering these tools when no system prompt matched.
    pub fn tools<I, S>(mut self, names: I, policy: Arc<dyn Policy>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.by_tools
            .push((names.into_iter().map(Into::into).collect(), policy));
        self
    }

    /// The policy for `request`, if any matches.
    pub fn pick(&self, request: &ModelRequest) -> Option<Arc<dyn Policy>> {
        let system = request.system.as_str();
        if let Some((_, policy)) = self.by_system.iter().find(|(p, _)| p == system) {
            return Some(Arc::clone(policy));
        }
        let prefixed = self
            .by_system
            .iter()
            .filter(|(p, _)| !p.is_empty() && system.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len());
        if let Some((_, policy)) = prefixed {
            return Some(Arc::clone(policy));
        }
        let offered: BTreeSet<String> = request.tools.iter().map(|t| t.name.clone()).collect();
        if let Some((_, policy)) = self.by_tools.iter().find(|(names, _)| *names == offered) {
            return Some(Arc::clone(policy));
        }
        self.by_tools
            .iter()
            .map(|(names, policy)| (names.intersection(&offered).count(), policy))
            .filter(|(overlap, _)| *overlap > 0)
            // first registered wins a tie
            .fold(
                None::<(usize, &Arc<dyn Policy>)>,
                |best, (overlap, policy)| match best {
                    Some((b, _)) if b >= overlap => best,
                    _ => Some((overlap, policy)),
                },
            )
            .map(|(_, policy)| Arc::clone(policy))
    }
}
