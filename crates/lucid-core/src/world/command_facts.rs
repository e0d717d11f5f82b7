//! Facts from commands: `[environment.facts.NAME]` run in the environment's folder after
//! each attempt, in the sandbox, and their output turned into facts by kind.
//!
//! - `exit_ok`: `true` when the command exits 0;
//! - `number`: the first number on stdout (a missing number leaves the fact out, so a
//!   check reading it fails saying the fact is missing);
//! - `json`: stdout parsed as JSON; an object's fields become `NAME.field` (nested
//!   objects `NAME.a.b`), and the whole value is `NAME`;
//! - `text`: stdout, trimmed.
//!
//! Each command also leaves a [`CommandReport`] (its status and the tail of its output),
//! which the grader quotes when a check over the fact fails.

use std::time::Duration;

use serde_json::Value;

use crate::event::{sanitize, Facts};
use crate::sandbox::Program;
use crate::spec::{CommandLine, FactCommand, FactKind};
use crate::world::folder::WorkFolder;

/// Bytes of a command's output the grader quotes.
const TAIL_BYTES: usize = 2_000;
/// Most fields a `json` fact spreads into facts.
const MAX_JSON_FIELDS: usize = 200;

/// How a fact's command went, for the grader.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandReport {
    pub fact: String,
    pub command: String,
    /// `exit 0`, `exit 101`, `killed after 120 s (time limit)`, …
    pub status: String,
    pub success: bool,
    /// The end of the output (stdout then stderr), sanitised.
    pub tail: String,
}

/// Runs every fact command in `folder` and returns the facts and the reports. When
/// `cancel` resolves, the command in hand is killed and the rest are not run.
pub async fn evaluate<C>(
    folder: &WorkFolder,
    commands: &[FactCommand],
    cancel: impl Fn() -> C,
) -> (Facts, Vec<CommandReport>)
where
    C: std::future::Future<Output = ()> + Send,
{
    let mut facts = Facts::new();
    let mut reports = Vec::new();
    for command in commands {
        let program = match &command.command {
            CommandLine::Shell(line) => Program::Shell(line.clone()),
            CommandLine::Argv(argv) => Program::Argv(argv.clone()),
        };
        let timeout = command.timeout_s.map(Duration::from_secs);
        let mut cancelled = false;
        let (stdout, report) = match folder.run(program, timeout, cancel()).await {
            Ok(output) => {
                cancelled = output.cancelled;
                let mut combined = output.stdout.clone();
                if !output.stderr.trim().is_empty() {
                    combined.push('\n');
                    combined.push_str(&output.stderr);
                }
                let report = CommandReport {
                    fact: command.name.clone(),
                    command: command.command.display(),
                    status: output.status_line(),
                    success: output.success(),
                    tail: tail(&combined),
                };
                (Some(output.stdout), report)
            }
            Err(err) => (
                None,
                CommandReport {
                    fact: command.name.clone(),
                    command: command.command.display(),
                    status: format!("could not run: {err}"),
                    success: false,
                    tail: String::new(),
                },
            ),
        };
        match command.kind {
            FactKind::ExitOk => {
                facts.insert(command.name.clone(), Value::Bool(report.success));
            }
            FactKind::Number => {
                if let Some(number) = stdout.as_deref().and_then(first_number) {
                    facts.insert(command.name.clone(), number);
                }
            }
            FactKind::Text => {
                if let Some(text) = &stdout {
                    facts.insert(command.name.clone(), Value::String(sanitize(text.trim())));
                }
            }
            FactKind::Json => {
                if let Some(value) = stdout
                    .as_deref()
                    .and_then(|s| serde_json::from_str::<Value>(s.trim()).ok())
                {
                    spread(&command.name, &value, &mut facts);
                    facts.insert(command.name.clone(), value);
                }
            }
        }
        reports.push(report);
        if cancelled {
            break;
        }
    }
    (facts, reports)
}

/// The last [`TAIL_BYTES`] of a text, on a character boundary, sanitised.
fn tail(text: &str) -> String {
    let text = text.trim_end();
    let mut start = text.len().saturating_sub(TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = if start > 0 { "…" } else { "" };
    sanitize(&format!("{cut}{}", &text[start..]))
}

/// The first number in a text: an optional sign, digits, an optional fraction.
fn first_number(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start_digit = bytes[i].is_ascii_digit();
        let signed = (bytes[i] == b'-' || bytes[i] == b'+')
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if start_digit || signed {
            let mut end = i + 1;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
                end += 1;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
            }
            let number: f64 = text[i..end].parse().ok()?;
            return serde_json::Number::from_f64(number).map(Value::Number);
        }
        i += 1;
    }
    None
}

/// Puts an object's fields in as `prefix.field`, recursively, up to a bound.
fn spread(prefix: &str, value: &Value, facts: &mut Facts) {
    let Value::Object(fields) = value else { return };
    for (key, field) in fields {
        if facts.len() >= MAX_JSON_FIELDS {
            return;
        }
        let name = format!("{prefix}.{key}");
        spread(&name, field, facts);
        facts.insert(name, field.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_number_is_found_with_sign_and_fraction() {
        assert_eq!(first_number("warnings: 3"), Some(json!(3.0)));
        assert_eq!(first_number("coverage -1.5% of x2"), Some(json!(-1.5)));
        assert_eq!(first_number("v2 build"), Some(json!(2.0)));
        assert_eq!(first_number("none"), None);
    }

    #[test]
    fn json_objects_spread_into_dotted_facts() {
        let mut facts = Facts::new();
        spread(
            "report",
            &json!({"passed": 3, "lint": {"warnings": 0}}),
            &mut facts,
        );
        assert_eq!(facts["report.passed"], json!(3));
        assert_eq!(facts["report.lint.warnings"], json!(0));
        assert_eq!(facts["report.lint"], json!({"warnings": 0}));
    }

    #[test]
    fn a_tail_keeps_the_end_on_a_character_boundary() {
        let long = format!("{}é\u{1b}[31mend", "x".repeat(5000));
        let cut = tail(&long);
        assert!(cut.starts_with('…') && cut.ends_with("end"), "{cut}");
        assert!(!cut.contains('\u{1b}'));
    }

    #[tokio::test]
    async fn a_cancel_kills_the_command_in_hand_and_skips_the_rest() {
        use crate::sandbox::{Sandbox, SandboxMode, SandboxPolicy};
        let dir = tempfile::tempdir().unwrap();
        let mut policy = SandboxPolicy::new(dir.path(), dir.path().join("tmp"));
        policy.mode = SandboxMode::Off;
        let folder = WorkFolder {
            root: dir.path().to_path_buf(),
            sandbox: Sandbox::new(policy).unwrap(),
            shell_timeout: Duration::from_secs(60),
            removes_tmp: false,
        };
        let fact = |name: &str, line: &str| FactCommand {
            name: name.into(),
            command: CommandLine::Shell(line.into()),
            kind: FactKind::ExitOk,
            timeout_s: None,
        };
        let commands = [fact("slow", "sleep 30"), fact("next", "touch ran")];
        let started = std::time::Instant::now();
        let (facts, reports) = evaluate(&folder, &commands, || {
            tokio::time::sleep(Duration::from_millis(200))
        })
        .await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(facts["slow"], json!(false));
        assert!(!dir.path().join("ran").exists());
    }
}
