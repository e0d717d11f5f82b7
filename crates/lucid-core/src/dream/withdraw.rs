//! Withdrawal: a dream's pending proposal that the history no longer supports.
//!
//! Every dream mines the team's whole history (or its window), so a claim it does not
//! derive again is one the evidence no longer shows: a workflow three early sessions
//! shared that twenty-four do not, a condition more missions dissolved. While such a
//! proposal is still pending and no person has edited it, the next dream withdraws it —
//! marks it rejected by the dream, with the reason — so that dreaming every few sessions
//! ends with the proposals one dream over the same sessions makes. A person's proposals,
//! edits, approvals and rejections are never touched, nor are retirement proposals; a
//! withdrawn proposal comes back (curation restores it) once the history supports it
//! again.
//!
//! Only the offline dreamer's drafts withdraw anything: they are a function of the
//! history, while a model's answers vary from one call to the next, so a claim a model did
//! not repeat is no evidence against it.

use std::collections::{BTreeMap, BTreeSet};

use super::curate::{same_claim, Action};
use super::synth::Draft;
use crate::memory::{Author, Change, Memory, MemoryStatus};

/// How the reason of a withdrawn proposal begins (curation knows a withdrawal by it).
pub const WITHDRAWN: &str = "withdrawn by a dream";

/// The environment a dream-made key is about (`lumara|soft_landing|terrain=dune`), if the
/// key comes from mined patterns (not from a model dreamer).
fn environment_of(key: &str) -> Option<&str> {
    let (environment, rest) = key.split_once('|')?;
    (environment != "model" && !rest.is_empty()).then_some(environment)
}

/// Withdrawals of the team's pending dream proposals that `drafts` — everything the
/// offline dreamer derives from the mined history — no longer support. Only proposals
/// about an environment the history held are considered: a window with no session of an
/// environment says nothing about it.
pub fn withdrawals(
    drafts: &[Draft],
    memories: &[Memory],
    mined_environments: &BTreeSet<&str>,
    window: &str,
) -> Vec<Action> {
    let by_key: BTreeMap<&str, &Draft> = drafts.iter().map(|d| (d.key.as_str(), d)).collect();
    let reason =
        format!("{WITHDRAWN}: the team's history (window: {window}) no longer supports it");
    memories
        .iter()
        .filter(|m| m.status == MemoryStatus::Proposed)
        .filter(|m| matches!(m.author, Author::Dream { .. }))
        .filter(|m| {
            let Some(key) = m.key.as_deref() else {
                return false;
            };
            if !environment_of(key).is_some_and(|e| mined_environments.contains(e)) {
                return false;
            }
            match (&m.change, by_key.get(key)) {
                (Change::Retire { .. }, _) => false,
                (_, None) => true,
                // An update whose target already says what the history shows is moot.
                (Change::Update { target }, Some(draft)) => memories
                    .iter()
                    .find(|t| t.id == *target)
                    .is_some_and(|t| same_claim(t, draft)),
                (Change::New, Some(_)) => false,
            }
        })
        .map(|m| Action::Withdraw {
            id: m.id,
            reason: reason.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dream::curate::tests::{dream_author as dream, memory};
    use crate::event::MemoryId;
    use crate::memory::MemoryKind;
    use serde_json::json;

    fn draft(key: &str, min: f64) -> Draft {
        Draft {
            kind: MemoryKind::Playbook,
            agent: None,
            title: format!("margin {min}"),
            body: "evidence".into(),
            rules: vec![serde_json::from_value(
                json!({"when": {"terrain": "dune"}, "then": {"burn_margin_m": {"min": min}}}),
            )
            .unwrap()],
            citations: vec![],
            key: key.into(),
        }
    }

    fn withdrawn_ids(actions: &[Action]) -> Vec<MemoryId> {
        actions
            .iter()
            .map(|a| match a {
                Action::Withdraw { id, reason } => {
                    assert!(reason.contains("window: all"), "{reason}");
                    *id
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn only_a_dreams_pending_claims_the_history_dropped_are_withdrawn() {
        let kept = draft("lumara|soft_landing|terrain=dune", 120.0);
        let dropped = draft("lumara|workflow|commander", 0.0);
        let elsewhere = draft("triage|workflow|lead", 0.0);
        let by_model = draft("model|keep-margins", 0.0);
        let pending = memory(&kept, MemoryStatus::Proposed, Change::New, dream());
        let stale = memory(&dropped, MemoryStatus::Proposed, Change::New, dream());
        let persons = memory(
            &dropped,
            MemoryStatus::Proposed,
            Change::New,
            Author::Person { name: "ana".into() },
        );
        let approved = memory(&dropped, MemoryStatus::Approved, Change::New, dream());
        let other_environment = memory(&elsewhere, MemoryStatus::Proposed, Change::New, dream());
        let models = memory(&by_model, MemoryStatus::Proposed, Change::New, dream());
        let retirement = memory(
            &dropped,
            MemoryStatus::Proposed,
            Change::Retire {
                target: approved.id,
            },
            dream(),
        );
        let memories = [
            pending,
            stale.clone(),
            persons,
            approved,
            other_environment,
            models,
            retirement,
        ];
        let actions = withdrawals(&[kept], &memories, &BTreeSet::from(["lumara"]), "all");
        assert_eq!(withdrawn_ids(&actions), [stale.id]);
        // No history of the environment: nothing about it is withdrawn.
        assert!(withdrawals(&[], &memories, &BTreeSet::new(), "all").is_empty());
    }

    #[test]
    fn an_update_the_target_already_says_is_withdrawn() {
        let key = "lumara|soft_landing|terrain=dune";
        let base = memory(
            &draft(key, 120.0),
            MemoryStatus::Approved,
            Change::New,
            dream(),
        );
        let update = memory(
            &draft(key, 150.0),
            MemoryStatus::Proposed,
            Change::Update { target: base.id },
            dream(),
        );
        let memories = [base, update.clone()];
        let envs = BTreeSet::from(["lumara"]);
        // The history says 150 still: the update stands.
        assert!(withdrawals(&[draft(key, 150.0)], &memories, &envs, "all").is_empty());
        // The history says 120 again, as the approved memory does: the update is moot.
        let actions = withdrawals(&[draft(key, 120.0)], &memories, &envs, "all");
        assert_eq!(withdrawn_ids(&actions), [update.id]);
    }
}
