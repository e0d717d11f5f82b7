//! The headless printer: one readable line per step on stderr, indented by thread depth
//! (read off the session's projection). It only listens to events, like the TUI.

use std::io::Write;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use lucid_core::event::{one_line, sanitize, AgentStatus, Event, EventKind, Projection};

/// How much of a tool input or output a progress line shows.
const DETAIL_CHARS: usize = 110;

/// Formats events as progress lines; each thread's name and depth come from the
/// session's projection.
#[derive(Default)]
pub struct ProgressFormatter {
    view: Projection,
}

impl ProgressFormatter {
    /// The line for an event, if it deserves one.
    pub fn line(&mut self, event: &Event) -> Option<String> {
        self.view.apply(event);
        let (name, depth) = match event.agent {
            Some(id) => self
                .view
                .agents
                .get(&id)
                .map(|agent| (format!("{}{id}", agent.name), agent.depth))
                .unwrap_or_else(|| (format!("agent{id}"), 1)),
            None => (String::new(), 0),
        };
        let indent = "  ".repeat(depth + 1);
        let text = match &event.kind {
            EventKind::SessionStarted {
                team,
                environment,
                seed,
                world,
                max_iterations,
                ..
            } => format!(
                "session {} · team {team} · {environment} world {world} seed {seed} · up to {max_iterations} iterations",
                event.session.short_id()
            ),
            EventKind::AgentSpawned {
                name: agent,
                parent,
                model,
                purpose,
                iteration,
                ..
            } => {
                let indent = "  ".repeat(depth + 1);
                let id = event.agent.map(|a| a.to_string()).unwrap_or_default();
                let why = purpose
                    .as_deref()
                    .map(|p| format!(": {}", one_line(p, DETAIL_CHARS)))
                    .unwrap_or_default();
                let header = if parent.is_none() {
                    format!("iteration {iteration}\n")
                } else {
                    String::new()
                };
                return Some(format!("{header}{indent}{agent}{id} started on {model}{why}"));
            }
            // A delegation shows as the child's start line and its answer.
            EventKind::ToolCalled { tool, .. } if tool == lucid_core::spec::DELEGATE_TOOL => {
                return None
            }
            EventKind::ToolReturned {
                tool,
                output,
                is_error,
                ..
            } if tool == lucid_core::spec::DELEGATE_TOOL => format!(
                "{indent}{name} {} got the answer: {}",
                if *is_error { "✗" } else { "←" },
                one_line(output, DETAIL_CHARS)
            ),
            EventKind::ToolCalled { tool, input, .. } => {
                format!("{indent}{name} → {tool} {}", one_line(&input.to_string(), DETAIL_CHARS))
            }
            EventKind::ToolReturned {
                tool,
                output,
                is_error,
                ..
            } => format!(
                "{indent}{name} {} {tool}: {}",
                if *is_error { "✗" } else { "✓" },
                one_line(output, DETAIL_CHARS)
            ),
            EventKind::AdvisorConsulted { answer, .. } => {
                format!("{indent}{name} asked the advisor: {}", one_line(answer, DETAIL_CHARS))
            }
            EventKind::AgentFinished { status, turns, .. } => {
                let status = match status {
                    AgentStatus::Done => "done",
                    other => other.as_str(),
                };
                let spent = event
                    .agent
                    .and_then(|id| self.view.agents.get(&id))
                    .map(|a| spending(a.tokens_in, a.tokens_out, a.cost_usd))
                    .unwrap_or_default();
                format!("{indent}{name} {status} after {turns} turns{spent}")
            }
            EventKind::ModelUsage {
                role,
                tokens_in,
                tokens_out,
                cost_usd,
                ..
            } => {
                let owner = event
                    .agent
                    .and_then(|id| self.view.agents.get(&id))
                    .map(|a| a.name.as_str());
                let who = match owner {
                    None => role.clone(),
                    // The dreamer's own thread.
                    Some(owner) if owner == role => name.clone(),
                    Some(_) => format!("{name}'s {role}"),
                };
                format!("{indent}{who} answered{}", spending(*tokens_in, *tokens_out, *cost_usd))
            }
            EventKind::SessionResumed {
                iteration,
                lead_turns,
                replayed_calls,
                reused_agents,
                continued_agents,
            } => format!(
                "resuming at iteration {iteration}: the lead's {lead_turns} completed turn(s) kept, {replayed_calls} environment call(s) replayed, {reused_agents} finished specialist(s) reused, {continued_agents} continued"
            ),
            EventKind::RevisionStarted { iteration, .. } => {
                format!("revising: iteration {iteration} gets the grader's feedback")
            }
            EventKind::GradingStarted { iteration } => format!("grading iteration {iteration}"),
            EventKind::CriterionJudged {
                criterion,
                passed,
                reason,
                fix,
                judged,
                ..
            } => {
                let mark = match (*passed, *judged) {
                    (true, _) => "✓",
                    (false, true) => "✗",
                    (false, false) => "?",
                };
                let fix = if fix.is_empty() {
                    String::new()
                } else {
                    format!(" — must change: {}", one_line(fix, DETAIL_CHARS))
                };
                format!("  {mark} {criterion}: {}{fix}", one_line(reason, DETAIL_CHARS))
            }
            EventKind::PlaybookApplied {
                title,
                agent_name,
                explore,
                ..
            } => format!(
                "  playbook applied to {agent_name}: {}{}",
                one_line(title, DETAIL_CHARS),
                if *explore {
                    " (explored: this session tests what it avoids)"
                } else {
                    ""
                }
            ),
            EventKind::ChoicesDeclared { choices } => format!(
                "  choices a dream may learn to set: {}",
                one_line(&choices.join(", "), DETAIL_CHARS)
            ),
            EventKind::RuleOverridden { memory_id, evidence } => {
                format!(
                    "{indent}{name} departs from the rule of {memory_id}: {}",
                    one_line(evidence, DETAIL_CHARS)
                )
            }
            EventKind::PatternFound { summary, support } => {
                format!("{indent}{name} pattern ({support}): {}", one_line(summary, 160))
            }
            EventKind::MemoryProposed { title, change, memory_id, .. } => {
                format!("{indent}{name} proposed {change} {memory_id}: {}", one_line(title, 120))
            }
            EventKind::Retry { attempt, reason, delay_ms } => {
                format!("{indent}{name} retry {attempt} in {delay_ms} ms: {}", one_line(reason, DETAIL_CHARS))
            }
            EventKind::FilesChanged { files, work_root, isolation, .. } => {
                let (added, removed) = files.iter().fold((0, 0), |(a, r), f| {
                    (a + f.lines_added, r + f.lines_removed)
                });
                let place = if isolation == "in_place" {
                    "in place".to_string()
                } else {
                    format!("in {}", one_line(work_root, DETAIL_CHARS))
                };
                format!(
                    "  {} file(s) changed {place} (+{added} -{removed}); review with `lucid sessions diff {}`",
                    files.len(),
                    event.session.short_id()
                )
            }
            EventKind::Error { message } => format!("{indent}{name} error: {}", one_line(message, 300)),
            EventKind::SessionFinished {
                passed,
                iterations,
                duration_ms,
                error,
                cancelled,
            } => match error {
                Some(_) if *cancelled => format!("session cancelled after {duration_ms} ms; its completed steps are saved"),
                Some(error) => format!("session ended with an error after {duration_ms} ms: {}", one_line(error, 300)),
                None => {
                    let (tokens_in, tokens_out) = self.view.tokens();
                    format!(
                        "rubric {} after {iterations} iteration{} ({:.1} s){}",
                        if *passed { "met" } else { "NOT met" },
                        if *iterations == 1 { "" } else { "s" },
                        *duration_ms as f64 / 1000.0,
                        spending(tokens_in, tokens_out, self.view.cost_usd)
                    )
                }
            },
            EventKind::FollowUp { message, .. } => {
                format!("{indent}{name} followed up: {}", one_line(message, DETAIL_CHARS))
            }
            // Progress stays one line per step: text streaming in is for live views, a
            // system prompt for reading in the TUI or the stored session.
            EventKind::ModelTurn { .. }
            | EventKind::AgentBriefed { .. }
            | EventKind::Text { .. }
            | EventKind::TextDelta { .. }
            | EventKind::Delegated { .. }
            | EventKind::GradingFinished { .. } => return None,
        };
        Some(text)
    }
}

/// What calls used, for the end of a line: ` · 3,501/531 tok · $0.0123` (the cost
/// only when the profile has prices; nothing when nothing was used).
fn spending(tokens_in: u64, tokens_out: u64, cost_usd: Option<f64>) -> String {
    if tokens_in == 0 && tokens_out == 0 && cost_usd.is_none() {
        return String::new();
    }
    let cost = cost_usd.map(|c| format!(" · ${c:.4}")).unwrap_or_default();
    format!(" · {tokens_in}/{tokens_out} tok{cost}")
}

/// Prints every event's line on stderr until the bus is dropped.
pub fn spawn_printer(mut events: UnboundedReceiver<Event>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut formatter = ProgressFormatter::default();
        let stderr = std::io::stderr();
        while let Some(event) = events.recv().await {
            if let Some(line) = formatter.line(&event) {
                let mut out = stderr.lock();
                // Progress is best effort: a closed stderr must not stop the run. Every
                // part of a line may come from a model (tool names too): sanitize all.
                let _ = writeln!(out, "{}", sanitize(&line));
            }
        }
    })
}
