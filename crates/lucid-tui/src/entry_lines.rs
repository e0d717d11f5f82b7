//! A transcript entry as text: its logical lines, each with the [`Tone`] it is drawn in,
//! folded (one summary line for most entries) or whole (every byte it holds: a tool's
//! full input and result, a delegation's subtask, an advisor's question and answer, the
//! final answer). The transcript and the pager draw these, wrapped or cut by `wrap`;
//! the pager searches them. Nothing here knows widths or colours.

use crate::run_state::Entry;
use lucid_core::event::{one_line, AgentStatus};

/// How a line is drawn (the views map it to a theme style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Text,
    Turn,
    Tool,
    ToolError,
    Output,
    Delegate,
    Advisor,
    Retry,
    Error,
    Pattern,
    Proposed,
    Prompt,
    Finished(AgentStatus),
}

/// Folded summaries cut long inputs and purposes at this many characters.
const SUMMARY: usize = 200;

/// The lines of `entry`: whole when `open`, else its folded form.
pub fn lines(entry: &Entry, open: bool) -> Vec<(Tone, String)> {
    let one = |tone: Tone, text: String| vec![(tone, text)];
    let indented = |tone: Tone, body: &[String]| {
        body.iter()
            .map(|l| (tone, format!("    {l}")))
            .collect::<Vec<_>>()
    };
    let flat = |text: &str, max: usize| {
        if open {
            text.to_string()
        } else {
            one_line(text, max)
        }
    };
    match entry {
        Entry::Prompt { system, cut, task } => {
            let first = task.iter().find(|l| !l.trim().is_empty());
            let what = match system {
                Some(system) => format!("system prompt ({} lines) and task", system.len()),
                None => "task".to_string(),
            };
            if !open {
                let task = first.map(|t| one_line(t, SUMMARY)).unwrap_or_default();
                return one(Tone::Prompt, format!("▸ {what}: {task}"));
            }
            let mut rows = one(Tone::Prompt, format!("▾ {what}"));
            match system {
                Some(system) => {
                    rows.push((Tone::Prompt, "    system:".into()));
                    rows.extend(indented(Tone::Output, system));
                    if *cut > 0 {
                        rows.push((Tone::Prompt, format!("    … {cut} more bytes not recorded")));
                    }
                }
                None => rows.push((
                    Tone::Prompt,
                    "    (no system prompt on record: the session predates it)".into(),
                )),
            }
            rows.push((Tone::Prompt, "    task:".into()));
            rows.extend(indented(Tone::Output, task));
            rows
        }
        Entry::FollowUp(message) => {
            let mut rows = vec![(Tone::Prompt, "⇠ follow-up from its lead:".to_string())];
            rows.extend(indented(Tone::Output, message));
            rows
        }
        Entry::Text(text) if text.is_empty() => one(Tone::Text, String::new()),
        Entry::Text(text) => text.iter().map(|l| (Tone::Text, l.clone())).collect(),
        Entry::Streaming { lines, .. } => {
            // The text so far, with a cursor where the next piece lands.
            let last = lines.len().saturating_sub(1);
            let mut out: Vec<(Tone, String)> =
                lines.iter().map(|l| (Tone::Text, l.clone())).collect();
            match out.get_mut(last) {
                Some((_, line)) => line.push('▍'),
                None => out.push((Tone::Text, "▍".into())),
            }
            out
        }
        Entry::Turn {
            turn,
            tokens_in,
            tokens_out,
        } => one(
            Tone::Turn,
            format!(
                "── turn {turn} · {} in · {} out",
                crate::views::tokens(*tokens_in),
                crate::views::tokens(*tokens_out)
            ),
        ),
        Entry::Tool {
            tool,
            input,
            command,
            output,
            is_error,
            ..
        } => {
            let (mark, tone) = match output {
                None => ("…", Tone::Tool),
                Some(_) if *is_error => ("✗", Tone::ToolError),
                Some(_) => ("✓", Tone::Tool),
            };
            let fold = if open { "▾" } else { "▸" };
            let summary = match output {
                Some(out) if !open => {
                    format!(" → {}", out.first().map(String::as_str).unwrap_or(""))
                }
                _ => String::new(),
            };
            // A shell call reads as its command line and, folded, its status (`exit 0`).
            let call = match command {
                Some(command) => format!("{tool}: {}", flat(command, SUMMARY)),
                None => format!("{tool}({})", flat(input, SUMMARY)),
            };
            let mut rows = split(tone, format!("{fold} {mark} {call}{summary}"));
            if open {
                if let Some(out) = output {
                    let tone = if *is_error {
                        Tone::ToolError
                    } else {
                        Tone::Output
                    };
                    rows.extend(indented(tone, out));
                }
            }
            rows
        }
        Entry::Delegated {
            child,
            specialist,
            purpose,
            subtask,
        } => {
            let mut rows = one(
                Tone::Delegate,
                format!(
                    "⇢ delegated to {specialist} {child}: {}",
                    flat(purpose, SUMMARY)
                ),
            );
            if open {
                rows.push((Tone::Delegate, "    subtask:".into()));
                rows.extend(indented(Tone::Output, subtask));
            }
            rows
        }
        Entry::Advisor {
            advisor,
            question,
            answer,
        } => {
            let fold = if open { "▾" } else { "▸" };
            let mut rows = one(
                Tone::Advisor,
                format!("{fold} asked {advisor}: {}", flat(question, SUMMARY)),
            );
            if open {
                rows.push((Tone::Advisor, "    answer:".into()));
                rows.extend(indented(Tone::Output, answer));
            }
            rows
        }
        Entry::Retry {
            attempt,
            reason,
            delay_ms,
        } => one(
            Tone::Retry,
            format!(
                "↻ retry {attempt} in {}: {}",
                crate::views::duration(*delay_ms),
                flat(reason, SUMMARY)
            ),
        ),
        Entry::Error(message) => split(Tone::Error, format!("! {}", flat(message, 500))),
        Entry::Pattern { summary, support } => split(
            Tone::Pattern,
            format!("◆ pattern (support {support}): {}", flat(summary, 300)),
        ),
        Entry::Proposal {
            title,
            change,
            version,
        } => one(
            Tone::Proposed,
            format!("✚ proposed ({change}) v{version}: {}", flat(title, SUMMARY)),
        ),
        Entry::Finished { status, answer } => {
            let answer = answer
                .as_deref()
                .map(|a| format!(": {}", flat(a, 300)))
                .unwrap_or_default();
            split(
                Tone::Finished(*status),
                format!("■ {}{answer}", status.as_str()),
            )
        }
    }
}

/// A text that may hold line breaks (when whole) as one line per break.
fn split(tone: Tone, text: String) -> Vec<(Tone, String)> {
    text.split('\n')
        .map(|l| (tone, l.replace('\t', "    ")))
        .collect()
}

/// The plain text of an entry, whole: what the pager shows and searches.
pub fn whole_text(entry: &Entry) -> Vec<String> {
    lines(entry, true).into_iter().map(|(_, l)| l).collect()
}
