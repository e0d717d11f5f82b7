//! Secrets (API keys, bearer tokens) kept out of everything lucid records or shows: one
//! mechanism, applied where outside text enters lucid — a provider's answers and errors
//! (`model`), an MCP server's errors (`tool::mcp`) — and again where events are recorded
//! (the bus), so no path to the store, a terminal or a log skips it.
//!
//! A secret is registered once, when a provider or an MCP client reads it from its
//! environment variable, in a registry of the process (secrets come from the process's
//! environment, so every session of the process shares them). [`redact`] then replaces
//! every form of every registered secret: in any letter case, and any prefix of it at
//! least [`MIN_PREFIX`] bytes long (a key cut by an excerpt, a log line or a stream piece
//! still counts). A secret shorter than that is only recognised whole; one shorter than
//! [`MIN_SECRET`] is too short to tell apart from ordinary text and is not redacted.
//!
//! [`clean`] is the boundary for text from outside on its way to a person: secrets
//! redacted, then terminal control sequences removed ([`super::sanitize`]).

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

use super::EventKind;

/// The shortest prefix of a secret that counts as the secret.
pub const MIN_PREFIX: usize = 8;
/// The shortest secret lucid redacts.
pub const MIN_SECRET: usize = 4;
/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Every secret of the process, ASCII-lower-cased.
static SECRETS: RwLock<Vec<Vec<u8>>> = RwLock::new(Vec::new());

/// Registers a secret: from now on [`redact`] removes it (a repeat is ignored).
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET {
        return;
    }
    let lower = secret.as_bytes().to_ascii_lowercase();
    let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    if !secrets.contains(&lower) {
        secrets.push(lower);
    }
}

/// `text` with every form of every registered secret replaced by `[redacted]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if let Cow::Owned(changed) = redact_one(&out, secret) {
            out = Cow::Owned(changed);
        }
    }
    out
}

/// Whether any secret is registered (nothing to do otherwise).
fn any_secret() -> bool {
    !SECRETS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
}

/// Text from outside made fit for a person: secrets redacted, control sequences removed.
pub fn clean(text: &str) -> String {
    super::sanitize(&redact(text))
}

/// Redacts one (lower-cased) secret from `text`.
fn redact_one<'t>(text: &'t str, secret: &[u8]) -> Cow<'t, str> {
    let anchor = &secret[..secret.len().min(MIN_PREFIX)];
    if text.len() < anchor.len() {
        return Cow::Borrowed(text);
    }
    let lower = text.as_bytes().to_ascii_lowercase();
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = find(&lower[from..], anchor) {
        let start = from + found;
        let mut end = start + anchor.len();
        while end < lower.len() && end - start < secret.len() && lower[end] == secret[end - start] {
            end += 1;
        }
        // A non-ASCII secret may match part of a character: keep characters whole.
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end - start < anchor.len() || !text.is_char_boundary(start) {
            from = start + 1;
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = end;
        from = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Redacts a string in place.
pub fn redact_in_place(text: &mut String) {
    if let Cow::Owned(changed) = redact(text) {
        *text = changed;
    }
}

/// Redacts every string of a JSON value in place, object keys included.
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => redact_in_place(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => {
            let keyed = map.keys().any(|k| matches!(redact(k), Cow::Owned(_)));
            if keyed {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    redact_json(&mut item);
                    map.insert(redact(&key).into_owned(), item);
                }
            } else {
                map.values_mut().for_each(redact_json);
            }
        }
        _ => {}
    }
}

/// Redacts every string an event carries, in place (the bus does this to every event
/// before it is recorded or shown).
pub fn redact_event(kind: &mut EventKind) {
    if !any_secret() {
        return;
    }
    let text = redact_in_place;
    let maybe = |value: &mut Option<String>| {
        if let Some(value) = value {
            redact_in_place(value);
        }
    };
    // Every variant is spelled out, so a new one cannot be forgotten here.
    match kind {
        EventKind::SessionStarted {
            team,
            spec_path,
            task,
            environment,
            ..
        } => [team, spec_path, task, environment]
            .into_iter()
            .for_each(text),
        EventKind::SessionFinished { error, .. } => maybe(error),
        EventKind::SessionResumed { .. }
        | EventKind::GradingStarted { .. }
        | EventKind::ModelTurn { .. } => {}
        EventKind::AgentSpawned {
            name,
            role,
            model,
            purpose,
            ..
        } => {
            [name, role, model].into_iter().for_each(text);
            maybe(purpose);
        }
        EventKind::Text { text: said } | EventKind::TextDelta { text: said, .. } => text(said),
        EventKind::AgentBriefed { system, .. } => text(system),
        EventKind::ToolCalled {
            call_id,
            tool,
            input,
        } => {
            [call_id, tool].into_iter().for_each(text);
            redact_json(input);
        }
        EventKind::ToolReturned {
            call_id,
            tool,
            output,
            ..
        } => [call_id, tool, output].into_iter().for_each(text),
        EventKind::Delegated {
            call_id,
            specialist,
            subtask,
            purpose,
            ..
        } => [call_id, specialist, subtask, purpose]
            .into_iter()
            .for_each(text),
        EventKind::AdvisorConsulted {
            advisor,
            question,
            answer,
        } => [advisor, question, answer].into_iter().for_each(text),
        EventKind::FollowUp { message, .. } => text(message),
        EventKind::AgentFinished { answer, .. } => maybe(answer),
        EventKind::CriterionJudged {
            criterion,
            reason,
            fix,
            ..
        } => [criterion, reason, fix].into_iter().for_each(text),
        EventKind::GradingFinished { facts, .. } => {
            for (key, mut value) in std::mem::take(facts) {
                redact_json(&mut value);
                facts.insert(redact(&key).into_owned(), value);
            }
        }
        EventKind::RevisionStarted { feedback, .. } => text(feedback),
        EventKind::PlaybookApplied {
            memory_id,
            title,
            agent_name,
            ..
        } => [memory_id, title, agent_name].into_iter().for_each(text),
        EventKind::RuleOverridden {
            memory_id,
            evidence,
        } => [memory_id, evidence].into_iter().for_each(text),
        EventKind::ChoicesDeclared { choices } => choices.iter_mut().for_each(text),
        EventKind::PatternFound { summary, .. } => text(summary),
        EventKind::MemoryProposed {
            memory_id,
            title,
            change,
            ..
        } => [memory_id, title, change].into_iter().for_each(text),
        EventKind::FilesChanged {
            isolation,
            project,
            work_root,
            files,
            diff,
            ..
        } => {
            [isolation, project, work_root, diff]
                .into_iter()
                .for_each(text);
            for file in files {
                text(&mut file.path);
            }
        }
        EventKind::Retry { reason, .. } => text(reason),
        EventKind::Error { message } => text(message),
        EventKind::ModelUsage { role, profile, .. } => [role, profile].into_iter().for_each(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-redact-TEST-4f9a8b7c6d5e";

    fn with_key() {
        register_secret(KEY);
    }

    #[test]
    fn every_case_and_every_long_prefix_is_redacted() {
        with_key();
        let cut: String = KEY.chars().take(MIN_PREFIX).collect();
        let text = format!(
            "a {KEY} b {} c {cut}… d {}x",
            KEY.to_uppercase(),
            &KEY[..12]
        );
        let redacted = redact(&text);
        assert_eq!(
            redacted,
            "a [redacted] b [redacted] c [redacted]… d [redacted]x"
        );
        let short = &KEY[..MIN_PREFIX - 1];
        assert_eq!(redact(short), short, "shorter than a prefix: ordinary text");
        assert!(matches!(redact("nothing secret"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_secrets_count_only_whole_and_tiny_ones_not_at_all() {
        register_secret("Zq7w");
        assert_eq!(redact("a zQ7W b"), "a [redacted] b");
        register_secret("k");
        assert_eq!(redact("keep"), "keep");
    }

    #[test]
    fn clean_redacts_then_sanitizes() {
        with_key();
        assert_eq!(
            clean(&format!("\u{1b}]0;{KEY}\u{7}t\u{1b}[2J{KEY}")),
            "t[redacted]"
        );
    }

    #[test]
    fn every_string_of_an_event_is_redacted() {
        with_key();
        let mut kind = EventKind::ToolCalled {
            call_id: "c".into(),
            tool: "note".into(),
            input: serde_json::json!({"text": KEY, "nested": [KEY.to_uppercase()], KEY: 1}),
        };
        redact_event(&mut kind);
        let json = serde_json::to_string(&kind).unwrap();
        assert!(!json
            .to_ascii_lowercase()
            .contains(&KEY[..MIN_PREFIX].to_ascii_lowercase()));
        assert_eq!(json.matches(REDACTED).count(), 3);
    }
}
