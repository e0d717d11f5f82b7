//! What one model turn may make the run do: at most `max_tool_calls_per_turn` of a
//! network model's tool calls run (the rest are dropped from its answer, and it is told
//! so in the message that carries the results), and delegation starts at most
//! `[limits] max_agents` agents across the session (a delegation past it is answered
//! with a tool error the model can read). Together with the HTTP bounds of a turn (its
//! deadline and byte cap, `model::http`) they keep one hostile answer from spawning
//! thousands of agents or filling the store.

use std::sync::atomic::{AtomicU32, Ordering};

use super::TeamRun;
use crate::model::ContentBlock;
use crate::tool::ToolOutput;

/// Agents delegation may still start in the session.
pub(super) struct AgentBudget(AtomicU32);

impl AgentBudget {
    pub(super) fn new(agents: u32) -> Self {
        AgentBudget(AtomicU32::new(agents))
    }

    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

impl TeamRun {
    /// Takes one agent from the session's budget, or says why none is left.
    pub(super) fn spend_agent(&self) -> Result<(), ToolOutput> {
        if self.agents_left.take() {
            return Ok(());
        }
        Err(ToolOutput::error(format!(
            "the session's budget of {} agents is used up (limits.max_agents): no specialist \
             was started; do the subtask yourself or finish with what you have",
            self.spec.limits.max_agents
        )))
    }
}

/// Keeps the first `max` tool calls of an answer and drops the rest; returns what to tell
/// the model (and the record) when some were dropped.
pub(super) fn cap_tool_calls(content: &mut Vec<ContentBlock>, max: Option<u32>) -> Option<String> {
    let max = usize::try_from(max?).unwrap_or(usize::MAX);
    let calls = content
        .iter()
        .filter(|b| matches!(b, ContentBlock::ToolUse { .. }))
        .count();
    if calls <= max {
        return None;
    }
    let mut kept = 0;
    content.retain(|block| match block {
        ContentBlock::ToolUse { .. } => {
            kept += 1;
            kept <= max
        }
        _ => true,
    });
    Some(format!(
        "Only the first {max} of the {calls} tool calls of that turn ran (the model profile's \
         max_tool_calls_per_turn); the other {} were not run. Make the ones still needed in \
         later turns.",
        calls - max
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(n: usize) -> ContentBlock {
        ContentBlock::ToolUse {
            id: format!("c{n}"),
            name: "delegate".into(),
            input: json!({}),
        }
    }

    #[test]
    fn calls_past_the_cap_are_dropped_and_said() {
        let mut content = vec![ContentBlock::Text { text: "go".into() }];
        content.extend((0..10).map(call));
        let note = cap_tool_calls(&mut content, Some(3)).unwrap();
        assert_eq!(content.len(), 4, "the text and three calls");
        assert_eq!(content[3], call(2));
        assert!(note.contains("first 3 of the 10") && note.contains("other 7"));
        assert_eq!(cap_tool_calls(&mut content, Some(3)), None);
        assert_eq!(cap_tool_calls(&mut content, None), None, "no cap");
    }

    #[test]
    fn the_agent_budget_runs_out() {
        let budget = AgentBudget::new(2);
        assert!(budget.take() && budget.take());
        assert!(!budget.take());
    }
}
