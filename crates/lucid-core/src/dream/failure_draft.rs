//! The draft of a playbook for one failure condition, written for the agent that will
//! read it: when the rule applies (conditions it can check while it plans), what to do
//! (a number or a choice it can act on), why (the failure excess and the mechanism the
//! data shows), and the evidence for the number (the passing attempts that set a
//! threshold as well as the failures).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::mine::{FailurePattern, Remedy};
use super::remedy::MARGIN_SHARE;
use super::synth::{citations, number, show, Draft};
use crate::memory::MemoryKind;
use crate::world::rules::Rule;

/// `terrain is dune and orbital_slope_deg is at least 5.1`; an observation of a tool's
/// result reads `probe reports load at least 0.65`.
pub(super) fn describe_when(when: &BTreeMap<String, Value>) -> String {
    when.iter()
        .map(|(feature, value)| match feature.split_once('.') {
            Some((tool, field)) => format!("`{tool}` reports `{field}` {}", shown(value)),
            None => format!("`{feature}` is {}", show(value)),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// A value after a verb: a range as it is, a single value with `=`.
fn shown(value: &Value) -> String {
    match value {
        Value::Object(_) => show(value),
        other => format!("= `{}`", show(other)),
    }
}

/// How the body names a choice: `` `burn_margin_m` ``, or for a tool's argument
/// `` `deploy`'s `strategy` ``.
fn choice_name(choice: &str) -> String {
    match choice.split_once('.') {
        Some((tool, argument)) => format!("`{tool}`'s `{argument}`"),
        None => format!("`{choice}`"),
    }
}

pub(super) fn failure_draft(
    pattern: &FailurePattern,
    owner: &dyn Fn(&str) -> Option<String>,
) -> Draft {
    let when = if pattern.when.is_empty() {
        BTreeMap::from([(pattern.feature.clone(), pattern.value.clone())])
    } else {
        pattern.when.clone()
    };
    let condition = describe_when(&when);
    let short = when
        .iter()
        .map(|(f, v)| format!("{f} {}", show(v)))
        .collect::<Vec<_>>()
        .join(", ");
    let criterion = &pattern.criterion;
    let choice = pattern.remedy.choice().map(str::to_string);
    let (title, what, then, agent) = match &pattern.remedy {
        Remedy::AtLeast { choice, threshold, .. } => (
            format!("When {short}, plan {choice} of at least {}", number(*threshold)),
            format!("Plan {} at {} or more before you commit; the rule is a floor, so go higher when your own checks ask for it.", choice_name(choice), number(*threshold)),
            json!({ choice: {"min": threshold} }),
            owner(choice),
        ),
        Remedy::AtMost { choice, threshold, .. } => (
            format!("When {short}, plan {choice} of at most {}", number(*threshold)),
            format!("Plan {} at {} or less before you commit; the rule is a ceiling, so go lower when your own checks ask for it.", choice_name(choice), number(*threshold)),
            json!({ choice: {"max": threshold} }),
            owner(choice),
        ),
        Remedy::Use { choice, value, .. } => (
            format!("When {short}, use {choice} = {}", show(value)),
            format!("Use {} = `{}` there.", choice_name(choice), show(value)),
            json!({ choice: value }),
            owner(choice),
        ),
        // A condition on what a tool reported is a state of the world the team cannot
        // pick another of: the playbook warns instead of asking for another option.
        Remedy::Avoid if when.keys().any(|f| f.contains('.')) => (
            format!("When {short}, {criterion} keeps failing: change approach there"),
            "Expect the usual approach to fail there: no choice the team made separated the passes from the failures. Check the condition before you act, and try a different way of doing the work, or say plainly that it cannot be done safely.".to_string(),
            json!({"avoid": true}),
            None,
        ),
        Remedy::Avoid => (
            format!("Avoid {short}: {criterion} keeps failing there"),
            "Prefer another option; no choice the team made there separated the passes from the failures. If nothing else is open, check this option with your most accurate means first.".to_string(),
            json!({"avoid": true}),
            None,
        ),
    };
    let mut body = format!("**When it applies:** whenever {condition} — check it while you plan, before you act.\n\n**What to do:** {what}\n\n");
    body.push_str(&format!(
        "**Why:** `{criterion}` failed at the first attempt in {} of {} missions there, against {} of {} elsewhere (p = {:.1e}; {:.1e} after correcting for every condition the dream tested).",
        pattern.failed, pattern.total, pattern.failed_elsewhere, pattern.total_elsewhere, pattern.p_value, pattern.q_value
    ));
    if let Some(m) = &pattern.mechanism {
        body.push_str(&format!(
            " The data shows what goes on there: `{}` was {}–{} there against {}–{} elsewhere (middle 80 % of the attempts).",
            m.fact,
            number(m.under.0),
            number(m.under.1),
            number(m.elsewhere.0),
            number(m.elsewhere.1)
        ));
    }
    body.push('\n');
    if let Some(choice) = &choice {
        body.push_str(&threshold_evidence(pattern, choice));
    }
    // The passing attempts set the number: cite them first.
    let mut evidence = pattern.evidence.clone();
    evidence.sort_by_key(|e| !e.passed);
    let cited = citations(&evidence, |e| {
        let verdict = if e.passed { "passed" } else { "failed" };
        let choice_part = match (&choice, &e.choice_value) {
            (Some(c), Some(v)) => format!(" with {c} = {}", show(v)),
            _ => String::new(),
        };
        format!(
            "iteration {}: {criterion} {verdict} where {short}{choice_part}",
            e.iteration
        )
    });
    body.push_str("\nEvidence:\n");
    for citation in &cited {
        body.push_str(&format!("- {}: {}\n", citation.session, citation.summary));
    }
    let then: BTreeMap<String, Value> = then
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    // Band edges move as the history grows: a band is keyed by its side (below, within,
    // above), so a moved edge revises the claim instead of making a new one.
    let key_when = when
        .iter()
        .map(|(f, v)| match v {
            Value::Object(range) => {
                let side = match (range.contains_key("min"), range.contains_key("max")) {
                    (false, true) => "low",
                    (true, true) => "mid",
                    _ => "high",
                };
                format!("{f}~{side}")
            }
            _ => format!("{f}={}", show(v)),
        })
        .collect::<Vec<_>>()
        .join("&");
    Draft {
        kind: MemoryKind::Playbook,
        agent,
        title,
        body,
        rules: vec![Rule {
            when,
            then,
            memory: None,
            explore: false,
        }],
        citations: cited,
        key: format!("{}|{criterion}|{key_when}", pattern.environment),
    }
}

/// Where a threshold or value comes from: the choices of the passing and failing
/// attempts under the condition.
fn threshold_evidence(pattern: &FailurePattern, choice: &str) -> String {
    let values = |passed: bool| -> Vec<&Value> {
        pattern
            .evidence
            .iter()
            .filter(|e| e.passed == passed)
            .filter_map(|e| e.choice_value.as_ref())
            .collect()
    };
    let (passes, failures) = (values(true), values(false));
    let span = |vs: &[&Value]| -> String {
        let mut numbers: Vec<f64> = vs.iter().filter_map(|v| v.as_f64()).collect();
        numbers.sort_by(f64::total_cmp);
        match (numbers.first(), numbers.last()) {
            (Some(a), Some(b)) if numbers.len() == vs.len() => {
                format!("from {} to {}", number(*a), number(*b))
            }
            _ => {
                let mut words: Vec<String> = vs.iter().map(|v| show(v)).collect();
                words.sort();
                words.dedup();
                words.join(", ")
            }
        }
    };
    let how = match &pattern.remedy {
        Remedy::AtLeast { .. } => format!(
            " The threshold is the lower quartile of the passing values plus {:.0} %, not the least safe value that passed.",
            MARGIN_SHARE * 100.0
        ),
        Remedy::AtMost { .. } => format!(
            " The threshold is the upper quartile of the passing values less {:.0} %, not the least safe value that passed.",
            MARGIN_SHARE * 100.0
        ),
        _ => String::new(),
    };
    format!(
        "\n**Evidence for the number:** the {} passing attempt(s) there had `{choice}` {}; the {} failing one(s) had {}.{how}\n",
        passes.len(),
        span(&passes),
        failures.len(),
        span(&failures),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(feature: &str, remedy: Remedy) -> FailurePattern {
        FailurePattern {
            environment: "project".into(),
            criterion: "healthy".into(),
            feature: feature.into(),
            value: json!({"min": 0.65}),
            failed: 6,
            total: 8,
            failed_elsewhere: 0,
            total_elsewhere: 8,
            p_value: 0.0035,
            q_value: 0.01,
            remedy,
            evidence: Vec::new(),
            when: BTreeMap::new(),
            mechanism: None,
        }
    }

    #[test]
    fn a_tools_reading_and_argument_read_in_the_teams_terms() {
        let use_canary = Remedy::Use {
            choice: "deploy.opts.mode".into(),
            value: json!("canary"),
            passes: 2,
            separated: 6,
        };
        let draft = failure_draft(&pattern("probe.cpu.load", use_canary), &|_| None);
        // Split at the first dot: tool names have none, fields and arguments may.
        assert!(
            draft
                .body
                .contains("whenever `probe` reports `cpu.load` at least 0.65"),
            "{}",
            draft.body
        );
        assert!(
            draft
                .body
                .contains("Use `deploy`'s `opts.mode` = `canary` there."),
            "{}",
            draft.body
        );
        // With no remedy, a reading of the world is warned about, not "avoided".
        let draft = failure_draft(&pattern("probe.load", Remedy::Avoid), &|_| None);
        assert_eq!(
            draft.title,
            "When probe.load at least 0.65, healthy keeps failing: change approach there"
        );
        assert!(
            !draft.body.contains("Prefer another option"),
            "{}",
            draft.body
        );
    }
}
