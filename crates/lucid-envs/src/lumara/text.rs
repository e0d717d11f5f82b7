//! Reading model requests, for Lumara's scripted policies: the conversation's tool
//! exchanges, machine-readable `TAG key=value …` lines, grader feedback, numbers with
//! units, and the features rules are matched against.
//!
//! Everything here is tolerant: garbled text yields "nothing found", never a panic. This
//! module decides nothing; the policies do.

use std::collections::BTreeMap;

use serde_json::Value;

use lucid_core::world::rules::{self, Directive, Rule};
pub(super) use lucid_core::world::script::{
    answer, exchanges, first_user_text, schema_enum, tool_spec, turn_prefix, Exchange,
};

/// `key=value` pairs of one tagged line.
pub(super) type Pairs = BTreeMap<String, String>;

/// Facts the Lumara rubric vocabulary uses, as they may appear in grader feedback.
pub(super) const FEEDBACK_FACTS: [&str; 7] = [
    "touchdown_speed_mps",
    "landed",
    "slope_deg",
    "hazards",
    "fuel_remaining_kg",
    "fuel_return_kg",
    "site",
];

/// Every line of `text` that starts with `tag` (as a word), parsed into pairs. Bare
/// words after the tag are kept under their own name with an empty value.
pub(super) fn tagged(text: &str, tag: &str) -> Vec<Pairs> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix(tag)?;
            if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
                return None;
            }
            Some(pairs(rest))
        })
        .collect()
}

pub(super) fn last_tagged(text: &str, tag: &str) -> Option<Pairs> {
    tagged(text, tag).pop()
}

/// `key=value` tokens of a line.
pub(super) fn pairs(line: &str) -> Pairs {
    line.split_whitespace()
        .map(|token| match token.split_once('=') {
            Some((key, value)) => (
                key.to_string(),
                value.trim_end_matches([',', ';']).to_string(),
            ),
            None => (token.to_string(), String::new()),
        })
        .collect()
}

/// The numbers of every `key=value` token anywhere in `text`.
pub(super) fn values_anywhere(text: &str, key: &str) -> Vec<f64> {
    text.split_whitespace()
        .filter_map(|token| token.strip_prefix(key)?.strip_prefix('='))
        .filter_map(|value| value.trim_end_matches([',', ';', '.']).parse::<f64>().ok())
        .collect()
}

pub(super) fn num(pairs: &Pairs, key: &str) -> Option<f64> {
    pairs
        .get(key)?
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
}

pub(super) fn word<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs.get(key).map(String::as_str).filter(|s| !s.is_empty())
}

/// Formats a pair for a machine line, skipping absent values.
pub(super) fn put(line: &mut String, key: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        line.push_str(&format!(" {key}={value}"));
    }
}

/// Grader feedback as the runner appends it to the lead's conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Feedback {
    /// Each failed criterion's text (its bullet and continuation lines).
    pub failed: Vec<String>,
}

impl Feedback {
    /// Whether any failed criterion talks about `fact`.
    pub(super) fn mentions(&self, fact: &str) -> bool {
        self.failed.iter().any(|text| contains_word(text, fact))
    }

    /// Fact names among [`FEEDBACK_FACTS`] that failed criteria mention.
    pub(super) fn failed_facts(&self) -> Vec<&'static str> {
        FEEDBACK_FACTS
            .iter()
            .copied()
            .filter(|fact| self.mentions(fact))
            .collect()
    }

    pub(super) fn clear_ground_failed(&self) -> bool {
        self.mentions("slope_deg") || self.mentions("hazards")
    }
}

/// Parses a grader-feedback message; `None` if the text is not one.
pub(super) fn parse_feedback(text: &str) -> Option<Feedback> {
    if !text.contains("## Grader feedback") {
        return None;
    }
    let mut feedback = Feedback::default();
    let has_header = text.contains("Failed criteria");
    let mut inside = !has_header;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.contains("Failed criteria") {
            inside = true;
            continue;
        }
        if trimmed.starts_with("Passed") || trimmed.starts_with("Take another pass") {
            inside = false;
            continue;
        }
        if !inside || trimmed.is_empty() {
            continue;
        }
        if let Some(bullet) = trimmed.strip_prefix("- ") {
            feedback.failed.push(bullet.to_string());
        } else if let Some(last) = feedback.failed.last_mut() {
            last.push('\n');
            last.push_str(trimmed);
        }
    }
    Some(feedback)
}

/// What the approved playbooks in a system prompt say the grader keeps asking for, read
/// as standing grader feedback: each playbook whose heading names the grader, heading
/// and body.
pub(super) fn standing_feedback(system: &str) -> Feedback {
    let Some((_, playbooks)) = system.split_once("## Playbooks") else {
        return Feedback::default();
    };
    Feedback {
        failed: playbooks
            .split("\n### ")
            .skip(1)
            .filter(|playbook| {
                playbook
                    .lines()
                    .next()
                    .is_some_and(|heading| heading.to_lowercase().contains("grader"))
            })
            .map(|playbook| playbook.trim().to_string())
            .collect(),
    }
}

/// Whether `word` occurs in `text` delimited by non-identifier characters.
pub(super) fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Numbers in free text with the unit that follows them (`""` if none), e.g.
/// `14.2 m/s` → `(14.2, "m/s")`, `2.2 m/s²` → `(2.2, "m/s2")`.
pub(super) fn numbers_with_units(text: &str) -> Vec<(f64, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            || (chars[i] == '-'
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
                && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()));
        if !starts_number
            || (i > 0 && (chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_'))
        {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let literal: String = chars[start..i].iter().collect();
        let Ok(value) = literal.parse::<f64>() else {
            continue;
        };
        let mut j = i;
        while j < chars.len() && chars[j] == ' ' {
            j += 1;
        }
        let mut unit = String::new();
        while j < chars.len()
            && !chars[j].is_whitespace()
            && !matches!(chars[j], ',' | ';' | ')' | '(')
        {
            unit.push(chars[j]);
            j += 1;
        }
        let unit = unit
            .trim_end_matches(['.', ':'])
            .replace(['²', '^'], "2")
            .to_ascii_lowercase();
        out.push((value, unit));
    }
    out
}

/// The rules in a system prompt that apply to the given features.
pub(super) fn applicable<'a>(
    rules: &'a [Rule],
    features: &BTreeMap<String, Value>,
) -> Vec<&'a Rule> {
    rules.iter().filter(|rule| rule.applies(features)).collect()
}

/// Every `key=value` of a machine line as a feature rules can name: numbers as
/// numbers, the rest as words.
pub(super) fn line_features(line: &Pairs) -> BTreeMap<String, Value> {
    line.iter()
        .filter(|(key, value)| !key.is_empty() && !value.is_empty())
        .map(|(key, value)| {
            let feature = value
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map_or_else(|| Value::from(value.as_str()), Value::from);
            (key.clone(), feature)
        })
        .collect()
}

/// Features of a site as rules see them.
pub(super) fn site_features(site: &str, terrain: Option<&str>) -> BTreeMap<String, Value> {
    let mut features = BTreeMap::new();
    features.insert("site".to_string(), Value::from(site));
    if let Some(terrain) = terrain.filter(|t| !t.is_empty()) {
        features.insert("terrain".to_string(), Value::from(terrain));
    }
    features
}

/// Applies every applicable rule's directive for `parameter`, in prompt order.
pub(super) fn apply_number(rules: &[&Rule], parameter: &str, value: f64) -> f64 {
    rules
        .iter()
        .filter_map(|rule| rule.number(parameter))
        .fold(value, rules::apply)
}

/// The lowest bound the rules put on `parameter`, if any.
pub(super) fn rule_floor(rules: &[&Rule], parameter: &str) -> Option<f64> {
    rules
        .iter()
        .filter_map(|rule| match rule.number(parameter) {
            Some(Directive::AtLeast(min)) | Some(Directive::Set(min)) => Some(min),
            _ => None,
        })
        .reduce(f64::max)
}

/// Formats a number without trailing zeros, e.g. `3`, `2.5`, `0.12`.
pub(super) fn trim_number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_lines_and_pairs() {
        let text = "Hello\nSURVEY site=C mode=orbital slope_deg=3.1\nSURVEYOR x=1\n  SURVEY site=D";
        let lines = tagged(text, "SURVEY");
        assert_eq!(lines.len(), 2);
        assert_eq!(num(&lines[0], "slope_deg"), Some(3.1));
        assert_eq!(word(&lines[1], "site"), Some("D"));
        assert!(num(&lines[1], "nope").is_none());
    }

    #[test]
    fn feedback_is_read_by_fact_names() {
        let text = "## Grader feedback (iteration 1 of 3)\nThe rubric is not met. Failed criteria:\n\
                    - soft_landing: touchdown_speed_mps = 4.31, needs <= 2\n  must change: touchdown_speed_mps must be at most 2 (it was 4.31)\n\
                    - ground: slope_deg = 9.1, needs <= 8\nPassed: fuel.\nTake another pass.";
        let feedback = parse_feedback(text).unwrap();
        assert_eq!(feedback.failed.len(), 2);
        assert!(feedback.clear_ground_failed());
        assert_eq!(
            feedback.failed_facts(),
            vec!["touchdown_speed_mps", "slope_deg"]
        );
        assert!(parse_feedback("just text").is_none());
        assert!(contains_word("a hazards=0", "hazards") && !contains_word("nohazards", "hazards"));
    }

    #[test]
    fn numbers_and_units() {
        let found = numbers_with_units("touched down at 14.2 m/s, net 2.2 m/s² and t3 -5 kg");
        assert_eq!(found[0], (14.2, "m/s".to_string()));
        assert_eq!(found[1], (2.2, "m/s2".to_string()));
        assert_eq!(found.last(), Some(&(-5.0, "kg".to_string())));
        assert_eq!(trim_number(2.50, 2), "2.5");
        assert_eq!(trim_number(3.0, 1), "3");
    }
}
