//! The text a person edits a memory as, and reading it back into an [`Edit`]: the title
//! as a `# ` heading, the body, and the rules as a `lucid-rules` block of one JSON object
//! per line (`$EDITOR` gets it whole; the TUI's editor has the three as fields). Rules
//! are read strictly here: a line that is not a rule is an error with its line number,
//! not a rule silently dropped (a prompt's reader, [`crate::world::rules::parse_rules`],
//! skips them instead).

use super::book::MemoryError;
use super::edit::Edit;
use super::record::Memory;
use crate::world::rules::{render_rules, Rule, FENCE_TAG};

/// The text a person edits: the title as a heading, the body, the rules block.
pub fn editable_text(memory: &Memory) -> String {
    let mut text = format!("# {}\n\n{}\n", memory.title, memory.body.trim_end());
    if !memory.rules.is_empty() {
        text.push('\n');
        text.push_str(&render_rules(&memory.rules));
    }
    text
}

/// One line per rule, as they appear in a rules block.
pub fn rule_lines(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        // A Rule is maps of JSON values; serializing it cannot fail.
        .filter_map(|rule| serde_json::to_string(rule).ok())
        .collect()
}

/// Rules from lines of one JSON object each (blank lines skipped); `first_line` numbers
/// the first line in errors.
pub fn parse_rule_lines(text: &str, first_line: usize) -> Result<Vec<Rule>, MemoryError> {
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let rule = serde_json::from_str::<Rule>(line).map_err(|err| MemoryError::BadRule {
            line: first_line + i,
            message: format!(
                "not a rule ({err}); write one {{\"when\": {{…}}, \"then\": {{…}}}} per line"
            ),
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

/// The edit `text` (as [`editable_text`] wrote it, then changed) makes to `memory`, made
/// from its current version; `None` when it changes nothing.
pub fn read_editable_text(text: &str, memory: &Memory) -> Result<Option<Edit>, MemoryError> {
    let (title, rest, rest_line) = match text.trim_start().strip_prefix("# ") {
        Some(heading) => {
            let skipped = text.len() - text.trim_start().len();
            let before = text[..skipped].matches('\n').count();
            let (title, rest) = heading.split_once('\n').unwrap_or((heading, ""));
            (title.trim().to_string(), rest, before + 2)
        }
        None => (memory.title.clone(), text, 1),
    };
    if title.is_empty() {
        return Err(MemoryError::Invalid(
            "the title (first line, `# …`) must not be empty; nothing changed".into(),
        ));
    }
    let (body, rules) = split_rules_block(rest, rest_line)?;
    let edit = Edit {
        base_version: Some(memory.version),
        title: Some(title),
        body: Some(body),
        rules: Some(rules),
        approve: false,
    };
    Ok(edit.changes(memory).then_some(edit))
}

/// The body (without rules blocks, trimmed) and the rules of every `lucid-rules` block
/// in `text`, whose first line is line `first_line` of the file.
fn split_rules_block(text: &str, first_line: usize) -> Result<(String, Vec<Rule>), MemoryError> {
    let mut body = Vec::new();
    let mut rules = Vec::new();
    let mut opened_at = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let fence = trimmed.strip_prefix("```");
        match (opened_at, fence) {
            (None, Some(tag)) if tag.trim() == FENCE_TAG => opened_at = Some(first_line + i),
            (Some(_), Some(_)) => opened_at = None,
            (Some(_), None) => rules.extend(parse_rule_lines(line, first_line + i)?),
            (None, _) => body.push(line),
        }
    }
    if let Some(line) = opened_at {
        return Err(MemoryError::BadRule {
            line,
            message: "the rules block is not closed with ```".into(),
        });
    }
    Ok((body.join("\n").trim().to_string(), rules))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::memory::testing::proposal;

    fn with_rule() -> Memory {
        let rule: Rule = serde_json::from_str(
            r#"{"when": {"terrain": "dune"}, "then": {"burn_margin_m": {"min": 150}}}"#,
        )
        .unwrap();
        Memory {
            rules: vec![rule],
            ..proposal("t", "Land softly")
        }
    }

    #[test]
    fn the_editable_text_reads_back_as_no_change_and_edits_read_as_edits() {
        let memory = with_rule();
        let text = editable_text(&memory);
        assert!(text.starts_with("# Land softly\n\nBurn late.\n\n```lucid-rules\n"));
        assert_eq!(read_editable_text(&text, &memory).unwrap(), None);

        let edited = text.replace("# Land", "# Land very").replace("150", "200");
        let edit = read_editable_text(&edited, &memory).unwrap().unwrap();
        assert_eq!(edit.title.as_deref(), Some("Land very softly"));
        assert_eq!(edit.body.as_deref(), Some("Burn late."));
        assert!(rule_lines(edit.rules.as_ref().unwrap())[0].contains("200"));
        assert_eq!(edit.base_version, Some(1));
    }

    #[test]
    fn a_garbled_rule_or_an_open_block_is_an_error_with_its_line() {
        let memory = with_rule();
        let text = editable_text(&memory).replace("{\"when\"", "{when");
        let err = read_editable_text(&text, &memory).unwrap_err();
        assert!(
            err.to_string().starts_with("rules line 6: not a rule"),
            "{err}"
        );
        let open = "# T\n\nbody\n```lucid-rules\n";
        let err = read_editable_text(open, &memory).unwrap_err();
        assert!(err.to_string().starts_with("rules line 4:"), "{err}");
        let untitled = read_editable_text("# \nbody", &memory).unwrap_err();
        assert!(matches!(untitled, MemoryError::Invalid(_)));
        let err = parse_rule_lines("\n{\"then\": {\"a\": 1}}\nnope", 1).unwrap_err();
        assert!(err.to_string().starts_with("rules line 3:"), "{err}");
    }
}
