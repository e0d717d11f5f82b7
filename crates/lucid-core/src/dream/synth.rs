//! Synthesis: turning mined patterns into drafts of memories — plain text a person can
//! review, structured rules a scripted policy can read, and citations of the sessions
//! each claim rests on. This is the offline dreamer; the model dreamer (`model`)
//! writes drafts of the same shape.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::cases::CasePattern;
use super::digest::SessionDigest;
use super::failure_draft::failure_draft;
use super::mine::{Evidence, FeedbackPattern, Patterns, WorkflowPattern};
use crate::memory::{Citation, MemoryKind};
use crate::world::rules::Rule;

/// How many sessions a draft cites at most.
const MAX_CITATIONS: usize = 12;

/// A memory a dream would like to propose, before curation.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub kind: MemoryKind,
    pub agent: Option<String>,
    pub title: String,
    pub body: String,
    pub rules: Vec<Rule>,
    pub citations: Vec<Citation>,
    /// What the claim is about; equal keys are the same claim.
    pub key: String,
}

/// Drafts for every pattern. `digests` tell which agent's work a choice records.
pub fn drafts(patterns: &Patterns, digests: &[&SessionDigest]) -> Vec<Draft> {
    let mut mentions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for digest in digests {
        for (agent, facts) in &digest.mentions {
            for fact in facts {
                mentions
                    .entry(fact.as_str())
                    .or_default()
                    .insert(agent.as_str());
            }
        }
    }
    let owner = |choice: &str| -> Option<String> {
        let agents = mentions.get(choice)?;
        (agents.len() == 1)
            .then(|| agents.iter().next().map(|a| a.to_string()))
            .flatten()
    };
    let mut out: Vec<Draft> = patterns
        .failures
        .iter()
        .map(|p| failure_draft(p, &owner))
        .collect();
    out.extend(patterns.workflows.iter().map(workflow_draft));
    out.extend(patterns.feedback.iter().map(feedback_draft));
    out.extend(case_drafts(&patterns.cases));
    out
}

/// One playbook per learned label: every signature of it as a rule, best supported
/// first, with the grader's verdicts behind each and the sessions they rest on.
pub fn case_drafts(patterns: &[CasePattern]) -> Vec<Draft> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&CasePattern>> = BTreeMap::new();
    for pattern in patterns {
        groups
            .entry((&pattern.environment, &pattern.label, &pattern.truth))
            .or_default()
            .push(pattern);
    }
    groups
        .into_iter()
        .map(|((environment, label, meaning), mut signatures)| {
            signatures.sort_by(|a, b| b.support.cmp(&a.support).then(a.value.cmp(&b.value)));
            let feature = signatures.first().map_or("", |p| p.feature.as_str());
            let mut body = format!(
                "The grader's verdicts show these signatures of `{label}` = `{meaning}`: when `{feature}` \
                 matched one and the team said `{meaning}`, the grader judged it right, and (nearly) never \
                 judged another {label} right on such a case. Check for them first.\n\n"
            );
            for p in &signatures {
                body.push_str(&format!(
                    "- `{}`: judged right as `{meaning}` {} times in {} sessions; ruled out {} times \
                     (judged right as another {label}, or wrong as `{meaning}`); labelled otherwise \
                     and judged wrong {} times\n",
                    p.value,
                    p.support,
                    p.sessions,
                    p.observed.saturating_sub(p.support),
                    p.mistakes
                ));
            }
            let evidence: Vec<Evidence> = signatures
                .iter()
                .flat_map(|p| p.evidence.iter().cloned())
                .collect();
            let cited = citations(&evidence, |e| {
                format!(
                    "iteration {}: cases whose {feature} matched a signature, labelled {label} {meaning} and judged right",
                    e.iteration
                )
            });
            body.push_str("\nEvidence:\n");
            for citation in &cited {
                body.push_str(&format!("- {}: {}\n", citation.session, citation.summary));
            }
            // Sorted, so the same signatures are the same claim whatever their counts.
            let mut rules: Vec<Rule> = signatures
                .iter()
                .map(|p| Rule {
                    when: BTreeMap::from([(p.feature.clone(), Value::from(p.value.clone()))]),
                    then: BTreeMap::from([(p.label.clone(), Value::from(p.truth.clone()))]),
                    memory: None,
                    explore: false,
                })
                .collect();
            rules.sort_by_key(|rule| serde_json::to_string(rule).unwrap_or_default());
            Draft {
                kind: MemoryKind::Playbook,
                agent: None,
                title: format!("Failure signatures of {label} {meaning}"),
                body,
                rules,
                citations: cited,
                key: format!("{environment}{}{label}={meaning}", super::curate::CASES_KEY),
            }
        })
        .collect()
}

/// A value as Markdown shows it: strings bare, numbers compact.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(range) => {
            let bound = |key: &str| range.get(key).and_then(Value::as_f64).map(number);
            match (bound("min"), bound("max")) {
                (Some(min), Some(max)) => format!("{min} to below {max}"),
                (Some(min), None) => format!("at least {min}"),
                (None, Some(max)) => format!("below {max}"),
                (None, None) => "any".to_string(),
            }
        }
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        other => other.to_string(),
    }
}

/// A number as a person writes it, keeping the precision a rule states (a rule's 0.65
/// is not shown as 0.7, nor 12.25 as 12.2): up to three decimals from 1 up, three
/// significant digits below, trailing zeros dropped.
pub(super) fn number(x: f64) -> String {
    let magnitude = x.abs();
    let decimals = if magnitude >= 1.0 || magnitude == 0.0 || !magnitude.is_finite() {
        3
    } else {
        (2 - magnitude.log10().floor() as i32).clamp(3, 15) as usize
    };
    let text = format!("{x:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text.as_str()
    };
    match text {
        "-0" | "" => "0".to_string(),
        other => other.to_string(),
    }
}

pub(super) fn citations(
    evidence: &[Evidence],
    describe: impl Fn(&Evidence) -> String,
) -> Vec<Citation> {
    let mut seen = BTreeSet::new();
    evidence
        .iter()
        .filter(|e| seen.insert(e.session))
        .take(MAX_CITATIONS)
        .map(|e| Citation {
            session: e.session,
            events: vec![e.seq],
            summary: describe(e),
        })
        .collect()
}

fn workflow_draft(pattern: &WorkflowPattern) -> Draft {
    let cited = citations(&pattern.evidence, |e| {
        format!("iteration {} passed with this sequence", e.iteration)
    });
    Draft {
        kind: MemoryKind::Note,
        agent: Some(pattern.agent.clone()),
        title: format!("Workflow that passing attempts share ({})", pattern.agent),
        body: format!(
            "{}: {}.\n\n{} of {} passing attempts followed this sequence, against {} of {} failing ones.\n",
            pattern.agent,
            pattern.sequence.join(" → "),
            pattern.passing_with,
            pattern.passing_total,
            pattern.failing_with,
            pattern.failing_total
        ),
        rules: Vec::new(),
        citations: cited,
        key: format!("{}|workflow|{}", pattern.environment, pattern.agent),
    }
}

fn feedback_draft(pattern: &FeedbackPattern) -> Draft {
    let cited = citations(&pattern.evidence, |e| {
        format!("iteration {}: the grader asked for it", e.iteration)
    });
    Draft {
        kind: MemoryKind::Preference,
        agent: None,
        title: format!("The grader keeps asking: {}", pattern.request),
        body: format!(
            "For `{}`, the grader asked \"{}\" {} times across {} sessions.\n",
            pattern.criterion, pattern.request, pattern.count, pattern.sessions
        ),
        rules: Vec::new(),
        citations: cited,
        key: format!(
            "{}|feedback|{}|{}",
            pattern.environment, pattern.criterion, pattern.request
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_the_precision_a_rule_states() {
        assert_eq!(number(0.65), "0.65");
        assert_eq!(number(127.0), "127");
        assert_eq!(number(3.25), "3.25");
        assert_eq!(number(152.46), "152.46");
        assert_eq!(number(150.4567), "150.457");
        assert_eq!(number(1e-12), "0.000000000001");
        assert_eq!(number(12.25), "12.25");
        assert_eq!(number(0.0004), "0.0004");
        assert_eq!(number(-0.25), "-0.25");
        assert_eq!(number(0.0), "0");
        assert_eq!(show(&json!({"min": 0.65})), "at least 0.65");
    }
}
