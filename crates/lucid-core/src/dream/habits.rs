//! Habits of the team the history shows beside failure conditions: tool-call workflows
//! that successful iterations share, and requests the grader keeps repeating.

use std::collections::BTreeMap;

use super::mine::{FeedbackPattern, MiningLimits, Point, WorkflowPattern};
use crate::event::SessionId;

pub(super) fn workflows(
    environment: &str,
    points: &[Point],
    limits: &MiningLimits,
) -> Vec<WorkflowPattern> {
    let mut agents: Vec<&String> = points
        .iter()
        .flat_map(|p| p.iteration.tools.iter().map(|t| &t.agent))
        .collect();
    agents.sort();
    agents.dedup();
    let passing: Vec<&Point> = points.iter().filter(|p| p.iteration.passed).collect();
    let failing: Vec<&Point> = points.iter().filter(|p| !p.iteration.passed).collect();
    let mut found = Vec::new();
    for agent in agents {
        let mut counts: BTreeMap<Vec<String>, u32> = BTreeMap::new();
        for point in &passing {
            let sequence = point.iteration.sequence_of(agent);
            if !sequence.is_empty() {
                *counts.entry(sequence).or_default() += 1;
            }
        }
        let Some((sequence, passing_with)) = counts
            .into_iter()
            .max_by_key(|(seq, n)| (*n, std::cmp::Reverse(seq.len())))
        else {
            continue;
        };
        let failing_with = failing
            .iter()
            .filter(|p| p.iteration.sequence_of(agent) == sequence)
            .count() as u32;
        let share_passing = f64::from(passing_with) / passing.len().max(1) as f64;
        let share_failing = f64::from(failing_with) / failing.len().max(1) as f64;
        if passing_with < limits.min_feedback_sessions
            || share_passing < 0.6
            || share_passing - share_failing < 0.25
        {
            continue;
        }
        found.push(WorkflowPattern {
            environment: environment.to_string(),
            agent: agent.clone(),
            evidence: passing
                .iter()
                .filter(|p| p.iteration.sequence_of(agent) == sequence)
                .map(|p| p.evidence(None, None))
                .collect(),
            sequence,
            passing_with,
            passing_total: passing.len() as u32,
            failing_with,
            failing_total: failing.len() as u32,
        });
    }
    found
}

/// The grader's most repeated request for a criterion, with the values it quoted cut
/// off ("… (it was 4.31)").
pub(super) fn repeated_feedback(
    environment: &str,
    criterion: &str,
    points: &[Point],
    limits: &MiningLimits,
) -> Option<FeedbackPattern> {
    let mut requests: BTreeMap<String, Vec<&Point>> = BTreeMap::new();
    for point in points {
        if let Some(fix) = point.iteration.fixes.get(criterion) {
            for part in fix.split("; ").filter(|p| !p.trim().is_empty()) {
                let request = part
                    .split(" (it was")
                    .next()
                    .unwrap_or(part)
                    .trim()
                    .to_string();
                requests.entry(request).or_default().push(point);
            }
        }
    }
    let (request, cited) = requests.into_iter().max_by_key(|(_, ps)| ps.len())?;
    let mut sessions: Vec<SessionId> = cited.iter().map(|p| p.session).collect();
    sessions.sort();
    sessions.dedup();
    if (sessions.len() as u32) < limits.min_feedback_sessions {
        return None;
    }
    Some(FeedbackPattern {
        environment: environment.to_string(),
        criterion: criterion.to_string(),
        request,
        count: cited.len() as u32,
        sessions: sessions.len() as u32,
        evidence: cited
            .iter()
            .map(|p| p.evidence(Some(criterion), None))
            .collect(),
    })
}
