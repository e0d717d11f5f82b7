//! Synthesis: turning mined patterns into drafts of memories — plain text a person can
//! review, structured rules a scripted policy can read, and citations of the sessions
//! each claim rests on. This is the offline dreamer; the model dreamer (`model`)
//! writes drafts of the same shape.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::cases::CasePattern;
use super::digest::SessionDigest;
use super::mine::{Evidence, FailurePattern, FeedbackPattern, Patterns, Remedy, WorkflowPattern};
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
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        other => other.to_string(),
    }
}

fn number(x: f64) -> String {
    let rounded = (x * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

fn citations(evidence: &[Evidence], describe: impl Fn(&Evidence) -> String) -> Vec<Citation> {
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

fn failure_draft(pattern: &FailurePattern, owner: &dyn Fn(&str) -> Option<String>) -> Draft {
    let FailurePattern {
        criterion,
        feature,
        value,
        ..
    } = pattern;
    let condition = format!("`{feature}` = `{}`", show(value));
    let when: BTreeMap<String, Value> = BTreeMap::from([(feature.clone(), value.clone())]);
    let (title, remedy_text, then, agent) = match &pattern.remedy {
        Remedy::AtLeast { choice, threshold, passes, separated } => (
            format!("When {feature} is {}, keep {choice} at least {}", show(value), number(*threshold)),
            format!(
                "The attempts that passed there all had `{choice}` of at least {} ({passes} of them); {separated} of the {} failures had less. Keep `{choice}` at or above {} when {condition}.",
                number(*threshold),
                pattern.failed,
                number(*threshold)
            ),
            json!({ choice: {"min": threshold} }),
            owner(choice),
        ),
        Remedy::AtMost { choice, threshold, passes, separated } => (
            format!("When {feature} is {}, keep {choice} at most {}", show(value), number(*threshold)),
            format!(
                "The attempts that passed there all had `{choice}` of at most {} ({passes} of them); {separated} of the {} failures had more. Keep `{choice}` at or below {} when {condition}.",
                number(*threshold),
                pattern.failed,
                number(*threshold)
            ),
            json!({ choice: {"max": threshold} }),
            owner(choice),
        ),
        Remedy::Use { choice, value: chosen, passes, separated } => (
            format!("When {feature} is {}, use {choice} = {}", show(value), show(chosen)),
            format!(
                "The attempts that passed there all used `{choice}` = `{}` ({passes} of them); {separated} of the {} failures did not. Use it when {condition}.",
                show(chosen),
                pattern.failed
            ),
            json!({ choice: chosen }),
            owner(choice),
        ),
        Remedy::Avoid => (
            format!("Avoid {feature} {}: {criterion} keeps failing there", show(value)),
            format!("No choice the team made there separated passes from failures, so prefer another option whenever {condition}."),
            json!({"avoid": true}),
            None,
        ),
    };
    let choice = match &pattern.remedy {
        Remedy::AtLeast { choice, .. }
        | Remedy::AtMost { choice, .. }
        | Remedy::Use { choice, .. } => Some(choice.clone()),
        Remedy::Avoid => None,
    };
    let cited = citations(&pattern.evidence, |e| {
        let verdict = if e.passed { "passed" } else { "failed" };
        let choice_part = match (&choice, &e.choice_value) {
            (Some(c), Some(v)) => format!(" with {c} = {}", show(v)),
            _ => String::new(),
        };
        format!(
            "iteration {}: {criterion} {verdict} where {feature} = {}{choice_part}",
            e.iteration,
            show(value)
        )
    });
    let mut body = format!(
        "`{criterion}` failed in {} of {} attempts where {condition}, against {} of {} elsewhere (p = {:.1e}; {:.1e} after correcting for every condition the dream tested in this environment).\n\n{remedy_text}\n\nEvidence:\n",
        pattern.failed, pattern.total, pattern.failed_elsewhere, pattern.total_elsewhere, pattern.p_value, pattern.q_value
    );
    for citation in &cited {
        body.push_str(&format!("- {}: {}\n", citation.session, citation.summary));
    }
    let then: BTreeMap<String, Value> = then
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Draft {
        kind: MemoryKind::Playbook,
        agent,
        title,
        body,
        rules: vec![Rule { when, then }],
        citations: cited,
        key: format!(
            "{}|{criterion}|{feature}={}",
            pattern.environment,
            show(value)
        ),
    }
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
