//! The kinds of events a session is made of.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AgentId, FileChange};

/// Most bytes of one turn's text that stream to live watchers (`TextDelta`s); a live
/// view keeps no more of it.
pub const MAX_LIVE_TEXT: usize = 32 * 1024;

/// Most bytes of an agent's system prompt an `AgentBriefed` event records.
pub const MAX_BRIEF: usize = 32 * 1024;

/// An environment's result facts: name → number, bool or string.
pub type Facts = BTreeMap<String, serde_json::Value>;

fn judged_by_default() -> bool {
    true
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl EventKind {
    /// An `AgentBriefed` of `system`, bounded by [`MAX_BRIEF`] (cut at a character
    /// boundary).
    pub fn briefed(system: &str) -> EventKind {
        let mut end = system.len().min(MAX_BRIEF);
        while !system.is_char_boundary(end) {
            end -= 1;
        }
        EventKind::AgentBriefed {
            system: system[..end].to_string(),
            cut: (system.len() - end) as u64,
        }
    }
}

/// Where an agent thread stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Running,
    Done,
    Failed,
    Cancelled,
}

impl EventKind {
    /// Whether the event is only for live watchers: the bus broadcasts it without
    /// recording it or giving it a sequence number of its own (it carries the number the
    /// next recorded event will have), so stored sessions, replay and resume never see it.
    pub fn is_live_only(&self) -> bool {
        matches!(self, EventKind::TextDelta { .. })
    }
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Running => "running",
            AgentStatus::Done => "done",
            AgentStatus::Failed => "failed",
            AgentStatus::Cancelled => "cancelled",
        }
    }
}

/// What happened. Serialized with a `type` tag, e.g. `{"type": "tool_called", …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    SessionStarted {
        team: String,
        spec_path: String,
        task: String,
        environment: String,
        seed: u64,
        world: u64,
        max_iterations: u32,
    },
    SessionFinished {
        passed: bool,
        iterations: u32,
        duration_ms: u64,
        /// Set when the run ended on a runtime failure rather than a verdict.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The run was cancelled (a person's cancel, Ctrl-C): `error` says so too, and
        /// the session reads as cancelled, not failed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cancelled: bool,
    },
    /// An interrupted session continues from its last completed step.
    SessionResumed {
        iteration: u32,
        /// The lead's completed model turns carried over.
        lead_turns: u32,
        /// Environment calls of completed steps replayed to restore the world.
        replayed_calls: u32,
        /// Finished sub-agents whose answers the lead had not received yet: reused, not
        /// run again.
        #[serde(default)]
        reused_agents: u32,
        /// Unfinished sub-agents continued from their last completed step.
        #[serde(default)]
        continued_agents: u32,
    },
    AgentSpawned {
        name: String,
        role: String,
        parent: Option<AgentId>,
        model: String,
        /// The delegation's stated purpose; `None` for the lead.
        purpose: Option<String>,
        iteration: u32,
    },
    /// What an agent thread was told before its first turn: its system prompt with its
    /// playbooks rendered in, cut at [`MAX_BRIEF`] bytes (then `cut` says how many bytes
    /// were left out). Recorded right after the thread's first `AgentSpawned`; its first
    /// message is the session's task (the lead) or its delegation's subtask. Sessions
    /// recorded before this event have none.
    AgentBriefed {
        system: String,
        #[serde(default, skip_serializing_if = "is_zero")]
        cut: u64,
    },
    ModelTurn {
        turn: u32,
        tokens_in: u64,
        tokens_out: u64,
        stop: String,
        /// What the turn cost in US dollars, when the model profile has prices.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
        /// How many tool calls the answer made (their `ToolCalled` events follow). A
        /// resumed run keeps a turn only when all of them are on record. Absent in
        /// sessions recorded before this field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<u32>,
    },
    Text {
        text: String,
    },
    /// Live only, never recorded: a piece of the text of model turn `turn` as it streams
    /// in. What a live view shows of the turn so far is cut to its first `at` bytes and
    /// `text` is added (`at` is normally the end: a secret recognised once more of it
    /// has arrived rewrites what was shown). A `Retry` voids the partial text; the
    /// turn's `ModelTurn` and `Text` replace it. See [`EventKind::is_live_only`].
    TextDelta {
        turn: u32,
        at: u64,
        text: String,
    },
    ToolCalled {
        call_id: String,
        tool: String,
        input: serde_json::Value,
    },
    ToolReturned {
        call_id: String,
        tool: String,
        output: String,
        is_error: bool,
    },
    /// A parent handed a subtask to a specialist (on the parent's thread). A follow-up
    /// addresses a thread the parent delegated to before: `child` is that thread, whose
    /// `FollowUp` event follows, and `subtask` is the follow-up message.
    Delegated {
        call_id: String,
        child: AgentId,
        specialist: String,
        subtask: String,
        purpose: String,
        /// Absent in sessions recorded before follow-ups, and for a new thread.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        follow_up: bool,
    },
    /// A finished thread works again on its parent's follow-up message, with its earlier
    /// conversation as context (on the child's thread; its turns continue from there).
    FollowUp {
        message: String,
        /// The iteration the follow-up belongs to.
        iteration: u32,
    },
    AdvisorConsulted {
        advisor: String,
        question: String,
        answer: String,
    },
    AgentFinished {
        status: AgentStatus,
        turns: u32,
        answer: Option<String>,
    },
    GradingStarted {
        iteration: u32,
    },
    CriterionJudged {
        iteration: u32,
        criterion: String,
        passed: bool,
        reason: String,
        /// What must change for the criterion to pass; empty when it passed.
        fix: String,
        /// False when the grader could not judge it and it failed closed (absent in
        /// sessions recorded before this field: they were judged).
        #[serde(default = "judged_by_default")]
        judged: bool,
    },
    GradingFinished {
        iteration: u32,
        passed: bool,
        facts: Facts,
    },
    RevisionStarted {
        iteration: u32,
        feedback: String,
    },
    PlaybookApplied {
        memory_id: String,
        version: u32,
        title: String,
        agent_name: String,
        /// This session tests a choice the playbook's rule says to avoid, on purpose
        /// (`[dreaming] explore`); absent when it does not.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        explore: bool,
    },
    /// Tokens a model call outside the agents' own turns used: the grader's, an
    /// advisor's (on the asking agent's thread), the dreamer's. Each is attributed to
    /// its role, so a session's cost counts every call it paid for.
    ModelUsage {
        role: String,
        /// The model profile that answered.
        profile: String,
        tokens_in: u64,
        tokens_out: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// The session file's `[dreaming] choices`: the tool arguments (`TOOL.ARGUMENT`)
    /// that record what the team chose. Recorded once, after `SessionStarted`, when the
    /// file declares any; dreams read it to know what a rule may set (see
    /// `dream::observe`).
    ChoicesDeclared {
        choices: Vec<String>,
    },
    /// An agent departed from a playbook's rule because its own evidence contradicted
    /// it (see `world::rules::OVERRIDE_TAG`).
    RuleOverridden {
        memory_id: String,
        evidence: String,
    },
    /// A dream found a pattern across sessions.
    PatternFound {
        summary: String,
        support: u32,
    },
    /// A dream proposed a memory (new, an update of one, or a retirement).
    MemoryProposed {
        memory_id: String,
        version: u32,
        title: String,
        change: String,
    },
    /// What the team has changed in the project's files so far (recorded after each
    /// attempt of a `project` session).
    FilesChanged {
        iteration: u32,
        /// `copy`, `worktree` or `in_place`.
        isolation: String,
        /// The user's project folder.
        project: String,
        /// Where the agents worked (the scratch copy or worktree).
        work_root: String,
        files: Vec<FileChange>,
        /// A unified diff of the text changes (cut at a bound, which it then says).
        diff: String,
    },
    Retry {
        attempt: u32,
        reason: String,
        delay_ms: u64,
    },
    Error {
        message: String,
    },
}
