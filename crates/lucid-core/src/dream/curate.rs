//! Curation: deciding what a dream's drafts become, given the memories the team
//! already has. A claim already on record is not proposed again; a changed claim
//! becomes a new version (of a pending proposal) or an update proposal (of an approved
//! memory); a person's rejection stands; a proposal a dream withdrew (see [`super::withdraw`])
//! comes back when the history supports it again; an approved rule the mined history
//! contradicts is proposed for retirement. Dreams mine the whole history again and again,
//! so every decision here is idempotent: the same drafts against the memories they
//! produced propose nothing.

use std::collections::BTreeMap;

use serde_json::Value;

use super::digest::SessionDigest;
use super::synth::Draft;
use crate::event::MemoryId;
use crate::memory::{Author, Change, Citation, Memory, MemoryStatus};
use crate::world::rules::{Directive, Rule};

/// Share of contradicting attempts that makes an approved rule a retirement candidate.
const CONTRADICTION_RATE: f64 = 0.6;
/// Fewest contradicting attempts before retirement is proposed.
const MIN_CONTRADICTIONS: u32 = 3;
/// Fewest distinct missions whose team departed from a rule before its retirement is
/// proposed on that evidence.
const MIN_OVERRIDE_MISSIONS: usize = 3;

/// The key segment of drafts learned from per-case records (see `synth::case_drafts`).
pub const CASES_KEY: &str = "|cases|";

/// Signatures learned from cases accumulate: a new draft keeps the rules of the version
/// on record that the mined sessions did not derive again (they rest on earlier sessions'
/// evidence), so a revision or update never silently forgets one. Rules stay sorted so
/// that the same set is the same claim.
fn keep_learned_rules(base: &Memory, draft: &mut Draft) {
    let kept: Vec<Rule> = base
        .rules
        .iter()
        .filter(|rule| !draft.rules.contains(rule))
        .cloned()
        .collect();
    draft
        .rules
        .sort_by_key(|rule| serde_json::to_string(rule).unwrap_or_default());
    if kept.is_empty() {
        return;
    }
    draft
        .body
        .push_str("\nKept from the version on record (earlier sessions' evidence):\n");
    for rule in &kept {
        let when: Vec<String> = rule
            .when
            .values()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect();
        draft.body.push_str(&format!("- `{}`\n", when.join(", ")));
    }
    draft.rules.extend(kept);
    draft
        .rules
        .sort_by_key(|rule| serde_json::to_string(rule).unwrap_or_default());
}

/// What curation decided for one draft.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A new proposal.
    Propose(Draft),
    /// A new version of a pending proposal.
    Revise { id: MemoryId, draft: Draft },
    /// A proposal a dream withdrew, proposed again with this content.
    Restore { id: MemoryId, draft: Draft },
    /// A dream's pending proposal the history no longer supports, withdrawn.
    Withdraw { id: MemoryId, reason: String },
    /// A proposal to replace an approved memory's content.
    ProposeUpdate { target: MemoryId, draft: Draft },
    /// A proposal to retire an approved memory.
    ProposeRetire {
        target: MemoryId,
        title: String,
        body: String,
        citations: Vec<Citation>,
    },
}

pub(super) fn same_claim(memory: &Memory, draft: &Draft) -> bool {
    memory.title == draft.title && memory.rules == draft.rules && memory.agent == draft.agent
}

/// Decides each draft's fate, and proposes retirements of contradicted rules.
pub fn curate(drafts: Vec<Draft>, memories: &[Memory], sessions: &[&SessionDigest]) -> Vec<Action> {
    let base_of = |key: &str| -> Option<&Memory> {
        memories
            .iter()
            .rfind(|m| m.key.as_deref() == Some(key) && m.change == Change::New)
    };
    let updates_of = |target: MemoryId| {
        memories
            .iter()
            .filter(move |m| m.change == Change::Update { target })
    };
    let mut actions = Vec::new();
    for mut draft in drafts {
        let Some(base) = base_of(&draft.key) else {
            actions.push(Action::Propose(draft));
            continue;
        };
        if draft.key.contains(CASES_KEY) {
            keep_learned_rules(base, &mut draft);
        }
        match base.status {
            // A person's edit of a pending proposal stands: a dream never overwrites it.
            MemoryStatus::Proposed if !same_claim(base, &draft) && !edited_by_person(base) => {
                actions.push(Action::Revise { id: base.id, draft })
            }
            // Withdrawn by a dream, supported again: proposed again.
            MemoryStatus::Rejected if withdrawn(base) => {
                actions.push(Action::Restore { id: base.id, draft })
            }
            MemoryStatus::Approved if !same_claim(base, &draft) => {
                // The same update, proposed before in any state (pending, rejected,
                // approved), is not proposed again: a person's rejection stands. One a
                // dream withdrew comes back.
                if let Some(update) = updates_of(base.id).find(|u| same_claim(u, &draft)) {
                    if withdrawn(update) {
                        actions.push(Action::Restore {
                            id: update.id,
                            draft,
                        });
                    }
                    continue;
                }
                let pending = updates_of(base.id).rfind(|m| m.status == MemoryStatus::Proposed);
                let withdrawn_update = updates_of(base.id).rfind(|m| withdrawn(m));
                match (pending, withdrawn_update) {
                    (Some(update), _) if !edited_by_person(update) => {
                        actions.push(Action::Revise {
                            id: update.id,
                            draft,
                        })
                    }
                    (Some(_), _) => {}
                    (None, Some(update)) => actions.push(Action::Restore {
                        id: update.id,
                        draft,
                    }),
                    (None, None) => actions.push(Action::ProposeUpdate {
                        target: base.id,
                        draft,
                    }),
                }
            }
            // Already on record, or a person said no: nothing new to propose.
            _ => {}
        }
    }
    let updated: Vec<MemoryId> = actions
        .iter()
        .filter_map(|a| match a {
            Action::ProposeUpdate { target, .. } => Some(*target),
            _ => None,
        })
        .collect();
    for memory in memories
        .iter()
        .filter(|m| m.is_active() && !updated.contains(&m.id))
    {
        let retirement_on_record = memories.iter().any(|m| {
            m.status != MemoryStatus::Approved && m.change == Change::Retire { target: memory.id }
        });
        if retirement_on_record {
            continue;
        }
        if let Some(action) =
            contradiction(memory, sessions).or_else(|| overridden(memory, sessions))
        {
            actions.push(action);
        }
    }
    actions
}

fn edited_by_person(memory: &Memory) -> bool {
    matches!(memory.author, Author::Person { .. })
}

/// Rejected by a dream (withdrawn when the history stopped supporting it), not by a
/// person: a person's rejection stands, a dream's does not.
pub fn withdrawn(memory: &Memory) -> bool {
    memory.status == MemoryStatus::Rejected
        && matches!(memory.author, Author::Dream { .. })
        && memory.reason.starts_with(super::withdraw::WITHDRAWN)
}

/// Whether a rule's directive was followed by a fact value.
fn followed(rule: &Rule, facts: &BTreeMap<String, Value>) -> Option<bool> {
    let (parameter, _) = rule.then.iter().find(|(k, _)| k.as_str() != "avoid")?;
    let value = facts.get(parameter)?;
    Some(match rule.number(parameter) {
        Some(Directive::AtLeast(min)) => value.as_f64()? >= min,
        Some(Directive::AtMost(max)) => value.as_f64()? <= max,
        Some(Directive::Set(x)) => value.as_f64().is_some_and(|v| (v - x).abs() < 1e-9),
        None => Some(value) == rule.then.get(parameter),
    })
}

/// A retirement proposal when sessions that applied the memory, met its condition and
/// followed its rule still failed its criterion most of the time.
fn contradiction(memory: &Memory, sessions: &[&SessionDigest]) -> Option<Action> {
    let criterion = memory.key.as_deref()?.split('|').nth(1)?.to_string();
    let id = memory.id.to_string();
    let mut failed = 0u32;
    let mut total = 0u32;
    let mut cited = Vec::new();
    for session in sessions.iter().filter(|s| s.playbooks.contains(&id)) {
        for iteration in &session.iterations {
            let Some(passed) = iteration.criteria.get(&criterion) else {
                continue;
            };
            let features = iteration.features();
            let applies = memory
                .rules
                .iter()
                .any(|rule| rule.applies(&features) && followed(rule, &features) == Some(true));
            if !applies {
                continue;
            }
            total += 1;
            if !passed {
                failed += 1;
                cited.push(Citation {
                    session: session.session,
                    events: vec![iteration.graded_at_seq],
                    summary: format!(
                        "iteration {}: {criterion} failed although the rule was followed",
                        iteration.iteration
                    ),
                });
            }
        }
    }
    if failed < MIN_CONTRADICTIONS
        || f64::from(failed) / f64::from(total.max(1)) < CONTRADICTION_RATE
    {
        return None;
    }
    Some(Action::ProposeRetire {
        target: memory.id,
        title: format!("Retire \"{}\"", memory.title),
        body: format!(
            "Sessions that applied this playbook and followed its rule still failed `{criterion}` in {failed} of {total} attempts, so the rule does not hold. Retire it.\n"
        ),
        citations: cited,
    })
}

/// A retirement proposal when teams in several missions (at least
/// [`MIN_OVERRIDE_MISSIONS`], each having applied the memory) departed from its rule on
/// their own evidence (`rule_overridden`) and at least half of the attempts where they
/// did passed: the team's own checks speak against the rule.
fn overridden(memory: &Memory, sessions: &[&SessionDigest]) -> Option<Action> {
    let id = memory.id.to_string();
    let mut missions = Vec::new();
    let (mut passed, mut total) = (0u32, 0u32);
    let mut cited = Vec::new();
    for session in sessions.iter().filter(|s| s.playbooks.contains(&id)) {
        let departures: Vec<_> = session
            .overrides
            .iter()
            .filter(|o| o.memory_id == id)
            .collect();
        let Some(first) = departures.first() else {
            continue;
        };
        missions.push(session.session);
        let mut iterations: Vec<u32> = departures.iter().map(|o| o.iteration).collect();
        iterations.dedup();
        for number in iterations {
            if let Some(iteration) = session.iterations.iter().find(|i| i.iteration == number) {
                total += 1;
                passed += u32::from(iteration.passed);
            }
        }
        cited.push(Citation {
            session: session.session,
            events: vec![first.seq],
            summary: format!(
                "iteration {}: the team departed from the rule: {}",
                first.iteration, first.evidence
            ),
        });
    }
    if missions.len() < MIN_OVERRIDE_MISSIONS || total == 0 || passed * 2 < total {
        return None;
    }
    Some(Action::ProposeRetire {
        target: memory.id,
        title: format!("Retire \"{}\"", memory.title),
        body: format!(
            "In {} mission(s) the team's own evidence contradicted this playbook's rule and it departed from it; {passed} of the {total} attempts where it did passed. Retire the rule, or edit it to fit what those sessions saw.\n",
            missions.len()
        ),
        citations: cited,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::event::DreamId;
    use crate::memory::MemoryKind;
    use serde_json::json;

    fn draft(title: &str, min: f64) -> Draft {
        Draft {
            kind: MemoryKind::Playbook,
            agent: Some("navigator".into()),
            title: title.into(),
            body: "evidence".into(),
            rules: vec![serde_json::from_value(
                json!({"when": {"terrain": "dune"}, "then": {"burn_margin_m": {"min": min}}}),
            )
            .unwrap()],
            citations: vec![],
            key: "lumara|soft_landing|terrain=dune".into(),
        }
    }

    /// A version-1 record of `from` (the dream tests' fixture).
    pub(in crate::dream) fn memory(
        from: &Draft,
        status: MemoryStatus,
        change: Change,
        author: Author,
    ) -> Memory {
        Memory {
            id: MemoryId::generate(),
            version: 1,
            kind: from.kind,
            team: "t".into(),
            agent: from.agent.clone(),
            title: from.title.clone(),
            body: from.body.clone(),
            rules: from.rules.clone(),
            status,
            provenance: vec![],
            author,
            change,
            key: Some(from.key.clone()),
            created_at_ms: 0,
            updated_at_ms: 0,
            reason: String::new(),
        }
    }

    pub(in crate::dream) fn dream_author() -> Author {
        Author::Dream {
            dream: DreamId::generate(),
        }
    }

    #[test]
    fn a_claim_on_record_is_not_proposed_again() {
        let old = draft("Keep the margin at least 120", 120.0);
        let base = memory(&old, MemoryStatus::Approved, Change::New, dream_author());
        assert!(curate(vec![old.clone()], std::slice::from_ref(&base), &[]).is_empty());
        let pending = memory(&old, MemoryStatus::Proposed, Change::New, dream_author());
        assert!(curate(vec![old], &[pending], &[]).is_empty());
    }

    #[test]
    fn a_changed_claim_updates_an_approved_memory_once() {
        let old = draft("Keep the margin at least 120", 120.0);
        let new = draft("Keep the margin at least 150", 150.0);
        let base = memory(&old, MemoryStatus::Approved, Change::New, dream_author());
        let actions = curate(vec![new.clone()], std::slice::from_ref(&base), &[]);
        assert!(
            matches!(&actions[..], [Action::ProposeUpdate { target, .. }] if *target == base.id)
        );
        // Rejected by a person: the same update does not come back.
        let rejected = memory(
            &new,
            MemoryStatus::Rejected,
            Change::Update { target: base.id },
            dream_author(),
        );
        assert!(curate(vec![new.clone()], &[base.clone(), rejected], &[]).is_empty());
        // A pending update is revised, not duplicated.
        let pending = memory(
            &old,
            MemoryStatus::Proposed,
            Change::Update { target: base.id },
            dream_author(),
        );
        let actions = curate(vec![new], &[base, pending.clone()], &[]);
        assert!(matches!(&actions[..], [Action::Revise { id, .. }] if *id == pending.id));
    }

    #[test]
    fn a_pending_retirement_is_never_revised_into_an_update() {
        let old = draft("Keep the margin at least 120", 120.0);
        let new = draft("Keep the margin at least 150", 150.0);
        let base = memory(&old, MemoryStatus::Approved, Change::New, dream_author());
        let retirement = memory(
            &old,
            MemoryStatus::Proposed,
            Change::Retire { target: base.id },
            dream_author(),
        );
        let actions = curate(vec![new], &[base.clone(), retirement.clone()], &[]);
        assert!(
            actions
                .iter()
                .all(|a| !matches!(a, Action::Revise { id, .. } if *id == retirement.id)),
            "{actions:?}"
        );
        assert!(
            matches!(&actions[..], [Action::ProposeUpdate { target, .. }] if *target == base.id)
        );
    }

    #[test]
    fn a_persons_edit_of_a_proposal_stands() {
        let old = draft("Keep the margin at least 120", 120.0);
        let edited = memory(
            &old,
            MemoryStatus::Proposed,
            Change::New,
            Author::Person { name: "ana".into() },
        );
        let new = draft("Keep the margin at least 150", 150.0);
        assert!(curate(vec![new.clone()], &[edited], &[]).is_empty());
        let by_dream = memory(&old, MemoryStatus::Proposed, Change::New, dream_author());
        assert!(
            matches!(&curate(vec![new], std::slice::from_ref(&by_dream), &[])[..], [Action::Revise { id, .. }] if *id == by_dream.id)
        );
    }

    #[test]
    fn a_proposal_a_dream_withdrew_comes_back_but_a_persons_rejection_stands() {
        let claim = draft("Keep the margin at least 120", 120.0);
        let withdraw = |mut m: Memory| {
            m.reason = format!("{} (test)", super::super::withdraw::WITHDRAWN);
            m
        };
        let withdrawn_new = withdraw(memory(
            &claim,
            MemoryStatus::Rejected,
            Change::New,
            dream_author(),
        ));
        let actions = curate(
            vec![claim.clone()],
            std::slice::from_ref(&withdrawn_new),
            &[],
        );
        assert!(
            matches!(&actions[..], [Action::Restore { id, .. }] if *id == withdrawn_new.id),
            "{actions:?}"
        );
        let mut rejected = withdraw(memory(
            &claim,
            MemoryStatus::Rejected,
            Change::New,
            Author::Person { name: "ana".into() },
        ));
        assert!(curate(vec![claim.clone()], std::slice::from_ref(&rejected), &[]).is_empty());
        rejected.author = dream_author();
        rejected.reason = "rejected".into();
        assert!(curate(vec![claim.clone()], &[rejected], &[]).is_empty());

        // An update a dream withdrew: the same one, or a changed one, comes back in it.
        let base = memory(&claim, MemoryStatus::Approved, Change::New, dream_author());
        let new = draft("Keep the margin at least 150", 150.0);
        let withdrawn_update = withdraw(memory(
            &new,
            MemoryStatus::Rejected,
            Change::Update { target: base.id },
            dream_author(),
        ));
        let on_record = [base.clone(), withdrawn_update.clone()];
        for again in [new, draft("Keep the margin at least 170", 170.0)] {
            let actions = curate(vec![again], &on_record, &[]);
            assert!(
                matches!(&actions[..], [Action::Restore { id, .. }] if *id == withdrawn_update.id),
                "{actions:?}"
            );
        }
    }

    fn rule(text: &str) -> Rule {
        serde_json::from_value(json!({"when": {"log_contains": text}, "then": {"cause": "oom"}}))
            .unwrap()
    }

    fn case_draft(rules: Vec<Rule>) -> Draft {
        Draft {
            kind: MemoryKind::Playbook,
            agent: None,
            title: "Failure signatures of cause oom".into(),
            body: "counts".into(),
            rules,
            citations: Vec::new(),
            key: format!("triage{CASES_KEY}cause=oom"),
        }
    }

    #[test]
    fn learned_signatures_accumulate_instead_of_being_forgotten_or_duplicated() {
        let on_record = memory(
            &case_draft(vec![rule("Killed process"), rule("The build container")]),
            MemoryStatus::Approved,
            Change::New,
            dream_author(),
        );
        // The same signatures found again (other counts, other order): nothing to do.
        let again = case_draft(vec![rule("The build container"), rule("Killed process")]);
        assert!(curate(vec![again], std::slice::from_ref(&on_record), &[]).is_empty());
        // Fewer found: the others rest on earlier evidence and are kept.
        let fewer = case_draft(vec![rule("Killed process")]);
        assert!(curate(vec![fewer], std::slice::from_ref(&on_record), &[]).is_empty());
        // A new one: an update proposal holding all three, sorted.
        let more = case_draft(vec![
            rule("fatal error: Killed signal"),
            rule("Killed process"),
        ]);
        let actions = curate(vec![more], std::slice::from_ref(&on_record), &[]);
        let [Action::ProposeUpdate { target, draft }] = actions.as_slice() else {
            panic!("{actions:?}");
        };
        assert_eq!(*target, on_record.id);
        assert_eq!(
            draft.rules,
            vec![
                rule("Killed process"),
                rule("The build container"),
                rule("fatal error: Killed signal")
            ]
        );
        assert!(draft.body.contains("Kept from the version on record"));
    }
}
