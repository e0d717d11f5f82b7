//! Which policy answers a request: among the entries registered for its system prompt
//! (exactly, else the longest registered prompt it starts with, as when playbooks are
//! appended), the one whose tools match the offered ones best; with no prompt match,
//! the entry whose tools match best (the same set, else the largest overlap).

use std::collections::BTreeSet;
use std::sync::Arc;

use lucid_core::model::{ModelRequest, Policy};

#[derive(Clone)]
struct Entry {
    system: Option<String>,
    tools: BTreeSet<String>,
    policy: Arc<dyn Policy>,
}

/// Policies keyed by system prompt and offered tools.
#[derive(Default, Clone)]
pub struct PolicyRouter {
    entries: Vec<Entry>,
}

fn names<I, S>(tools: I) -> BTreeSet<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    tools.into_iter().map(Into::into).collect()
}

impl PolicyRouter {
    pub fn new() -> Self {
        PolicyRouter::default()
    }

    /// Answers requests whose system prompt is (or starts with) `prompt`.
    pub fn system(self, prompt: impl Into<String>, policy: Arc<dyn Policy>) -> Self {
        self.push(Some(prompt.into()), BTreeSet::new(), policy)
    }

    /// Answers requests offering these tools when no system prompt matched.
    pub fn tools<I, S>(self, tools: I, policy: Arc<dyn Policy>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.push(None, names(tools), policy)
    }

    /// An agent: its prompt, told apart from agents sharing it by its tools.
    pub fn agent<I, S>(self, prompt: impl Into<String>, tools: I, policy: Arc<dyn Policy>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.push(Some(prompt.into()), names(tools), policy)
    }

    fn push(
        mut self,
        system: Option<String>,
        tools: BTreeSet<String>,
        policy: Arc<dyn Policy>,
    ) -> Self {
        self.entries.push(Entry {
            system,
            tools,
            policy,
        });
        self
    }

    /// The policy for `request`, if any matches.
    pub fn pick(&self, request: &ModelRequest) -> Option<Arc<dyn Policy>> {
        let system = request.system.as_str();
        let offered: BTreeSet<String> = request.tools.iter().map(|t| t.name.clone()).collect();
        let exact: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.system.as_deref() == Some(system))
            .collect();
        let by_prompt = if exact.is_empty() {
            let longest = self
                .entries
                .iter()
                .filter_map(|e| e.system.as_deref())
                .filter(|p| !p.is_empty() && system.starts_with(p))
                .map(str::len)
                .max();
            self.entries
                .iter()
                .filter(|e| {
                    e.system
                        .as_deref()
                        .is_some_and(|p| Some(p.len()) == longest && system.starts_with(p))
                })
                .collect()
        } else {
            exact
        };
        if let Some(first) = by_prompt.first() {
            let best = best_by_tools(&by_prompt, &offered).unwrap_or(first);
            return Some(Arc::clone(&best.policy));
        }
        let with_tools: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| !e.tools.is_empty())
            .collect();
        best_by_tools(&with_tools, &offered).map(|e| Arc::clone(&e.policy))
    }
}

/// The entry offering the same tools, else the largest overlap (the first on a tie);
/// `None` when nothing overlaps.
fn best_by_tools<'a>(entries: &[&'a Entry], offered: &BTreeSet<String>) -> Option<&'a Entry> {
    if let Some(same) = entries.iter().find(|e| e.tools == *offered) {
        return Some(same);
    }
    let mut best: Option<(usize, &Entry)> = None;
    for entry in entries {
        let overlap = entry.tools.intersection(offered).count();
        if overlap > 0 && best.is_none_or(|(b, _)| overlap > b) {
            best = Some((overlap, entry));
        }
    }
    best.map(|(_, e)| e)
}
