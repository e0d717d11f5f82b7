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

/// Most bytes of progress gathered into one write.
const WRITE_BYTES: usize = 64 * 1024;
/// Most events read for one write (most events make no line), so a steady stream of
/// them cannot keep the printer from yielding.
const WRITE_EVENTS: usize = 4096;

/// Prints every event's line on stderr until the bus is dropped. The lines of every
/// event that has arrived by the time the printer looks go out in one write: a fan-out
/// of 10,000 agents makes tens of thousands of lines in a burst, and a write each kept
/// the printer behind the run, its queue of events growing (an offline fleet of 10,000
/// peaked 30-40 MB higher than with `--quiet`).
pub fn spawn_printer(events: UnboundedReceiver<Event>) -> JoinHandle<()> {
    tokio::spawn(print(events, std::io::stderr()))
}

/// Writes every event's line to `out` until the bus is dropped, a burst at a time.
async fn print(mut events: UnboundedReceiver<Event>, mut out: impl Write) {
    let mut formatter = ProgressFormatter::default();
    let mut text = String::new();
    while let Some(event) = events.recv().await {
        text.clear();
        add_line(&mut formatter, &event, &mut text);
        let mut read = 1;
        while text.len() < WRITE_BYTES && read < WRITE_EVENTS {
            read += 1;
            match events.try_recv() {
                Ok(event) => add_line(&mut formatter, &event, &mut text),
                Err(_) => break,
            }
        }
        if !text.is_empty() {
            // Progress is best effort: a closed stderr must not stop the run.
            let _ = out.write_all(text.as_bytes());
        }
    }
}

/// Adds the event's line, if it has one, to `text`. Every part of a line may come from
/// a model (tool names too): all of it is sanitized.
fn add_line(formatter: &mut ProgressFormatter, event: &Event, text: &mut String) {
    if let Some(line) = formatter.line(event) {
        text.push_str(&sanitize(&line));
        text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucid_core::event::{AgentId, SessionId};

    /// Keeps each write apart.
    struct Writes(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut writes = self.0.lock().unwrap_or_else(|e| e.into_inner());
            writes.push(String::from_utf8_lossy(buf).into_owned());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An event that makes a progress line: a tool called with `text`.
    fn text(session: SessionId, seq: u64, text: &str) -> Event {
        Event {
            session,
            seq,
            at_ms: 0,
            agent: Some(AgentId(1)),
            kind: EventKind::ToolCalled {
                call_id: format!("t{seq}"),
                tool: "note".into(),
                input: serde_json::json!({ "text": text }),
            },
        }
    }

    #[tokio::test]
    async fn a_burst_of_events_goes_out_in_one_write_with_every_line_in_order() {
        let session = SessionId::generate();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut expected = String::new();
        let mut formatter = ProgressFormatter::default();
        for seq in 1..=200 {
            let event = text(session, seq, &format!("thought {seq}"));
            add_line(&mut formatter, &event, &mut expected);
            tx.send(event).unwrap();
        }
        drop(tx);
        let writes = std::sync::Arc::default();
        print(rx, Writes(std::sync::Arc::clone(&writes))).await;
        let writes = writes.lock().unwrap().clone();
        assert_eq!(writes.len(), 1, "{} writes", writes.len());
        assert_eq!(writes.concat(), expected);
        assert_eq!(expected.lines().count(), 200);
        assert!(expected.contains("thought 1\""), "{expected}");
        assert!(expected.ends_with("thought 200\"}\n"), "{expected}");
    }

    #[tokio::test]
    async fn a_long_burst_is_cut_into_writes_of_bounded_size() {
        let session = SessionId::generate();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let long = "x".repeat(DETAIL_CHARS);
        for seq in 1..=5000 {
            tx.send(text(session, seq, &long)).unwrap();
        }
        drop(tx);
        let writes = std::sync::Arc::default();
        print(rx, Writes(std::sync::Arc::clone(&writes))).await;
        let writes = writes.lock().unwrap().clone();
        assert!(writes.len() > 1);
        let lines: usize = writes.iter().map(|w| w.lines().count()).sum();
        assert_eq!(lines, 5000);
        for write in &writes {
            assert!(
                write.len() < WRITE_BYTES + 4 * DETAIL_CHARS,
                "{}",
                write.len()
            );
            assert!(write.ends_with('\n'));
        }
    }
}
