//! What the commander reads from its conversation: the attempts (split at grader
//! feedback), each attempt's delegations and their results, the candidate sites the
//! detectors put forward, the specialists it may call and the sites the briefing lists.
//!
//! Reading only; the decisions are in `commander`.

use super::text::{self, Exchange, Feedback, Pairs};
use super::world::SITE_NAMES;
use lucid_core::model::{Message, ModelRequest, Role};

/// The runner's delegation tool.
pub(super) const DELEGATE: &str = "delegate";
/// How many degrees of slope a kilogram of approach-plus-return propellant is worth.
const FUEL_WEIGHT_PER_KG: f64 = 1.0 / 250.0;

/// One delegation and what came back.
#[derive(Debug, Clone)]
pub(super) struct Delegation {
    pub specialist: String,
    pub subtask: String,
    /// The thread this delegation followed up, if it was a follow-up.
    pub follow_up: Option<u32>,
    /// The child's final answer; `Err` if the child failed. `None` while it has not
    /// answered.
    pub result: Option<Result<String, DelegationFailed>>,
}

/// A delegation whose tool result came back as an error, with the runner's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub(super) struct DelegationFailed {
    pub reason: String,
}

/// One pass of the team, between grader feedbacks.
#[derive(Debug, Clone, Default)]
pub(super) struct Attempt {
    /// The commander's own turns in this attempt so far.
    pub turns: usize,
    pub delegations: Vec<Delegation>,
    pub feedback: Option<Feedback>,
}

impl Attempt {
    pub(super) fn by(&self, name: &str) -> impl Iterator<Item = &Delegation> {
        let name = name.to_string();
        self.delegations
            .iter()
            .filter(move |d| d.specialist == name)
    }

    /// The navigator thread that flew this attempt's committed descent, if its result
    /// named one.
    pub(super) fn touchdown_thread(&self, navigator: &str) -> Option<u32> {
        self.by(navigator)
            .filter_map(|d| match &d.result {
                Some(Ok(answer)) if text::last_tagged(answer, "TOUCHDOWN").is_some() => {
                    Some(thread_of(answer))
                }
                _ => None,
            })
            .last()
            .flatten()
    }

    /// The touchdown telemetry of this attempt's committed descent, if any.
    pub(super) fn touchdown(&self, navigator: &str) -> Option<Pairs> {
        self.by(navigator)
            .filter_map(|d| match &d.result {
                Some(Ok(answer)) => text::last_tagged(answer, "TOUCHDOWN"),
                _ => None,
            })
            .last()
    }
}

pub(super) fn attempts(messages: &[Message]) -> Vec<Attempt> {
    let exchanges = text::exchanges(messages);
    let mut out = vec![Attempt::default()];
    for (index, message) in messages.iter().enumerate() {
        for exchange in exchanges
            .iter()
            .filter(|e| e.message == index && e.name == DELEGATE)
        {
            if let Some(current) = out.last_mut() {
                current.delegations.push(delegation(exchange));
            }
        }
        if message.role == Role::Assistant {
            if let Some(current) = out.last_mut() {
                current.turns += 1;
            }
        }
        if message.role == Role::User {
            if let Some(feedback) = text::parse_feedback(&message.text()) {
                if let Some(current) = out.last_mut() {
                    current.feedback = Some(feedback);
                }
                out.push(Attempt::default());
            }
        }
    }
    out
}

/// The thread a delegation's result names on its last line, `(thread N: …)`.
pub(super) fn thread_of(result: &str) -> Option<u32> {
    let line = result.lines().rev().find(|l| !l.trim().is_empty())?;
    let rest = line.trim().strip_prefix("(thread ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn delegation(exchange: &Exchange) -> Delegation {
    Delegation {
        specialist: exchange.input_str("specialist").unwrap_or("").to_string(),
        subtask: exchange.input_str("subtask").unwrap_or("").to_string(),
        follow_up: exchange
            .input
            .get("thread")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        result: exchange.result.clone().map(|(content, is_error)| {
            if is_error {
                Err(DelegationFailed { reason: content })
            } else {
                Ok(content)
            }
        }),
    }
}

/// A site a detector put forward.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub site: String,
    pub terrain: String,
    pub line: Pairs,
    pub verified: bool,
    pub score: f64,
    pub rejected: bool,
}

pub(super) fn candidates(answers: &[&str]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for answer in answers {
        // An avoided site is acceptable to its detector; the commander weighs the rule.
        for (tag, rejected) in [
            ("RECOMMEND", false),
            ("ALTERNATE", false),
            ("AVOIDED", false),
            ("REJECTED", true),
        ] {
            for line in text::tagged(answer, tag) {
                let Some(site) = text::word(&line, "site").map(str::to_ascii_uppercase) else {
                    continue;
                };
                if site == "NONE" {
                    continue;
                }
                // A later answer (e.g. a verification) supersedes an earlier one.
                out.retain(|c| c.site != site);
                let slope = text::num(&line, "slope_deg").unwrap_or(99.0);
                let fuel = text::num(&line, "approach_fuel_kg").unwrap_or(0.0)
                    + text::num(&line, "fuel_return_kg").unwrap_or(0.0);
                let hazards = text::num(&line, "hazards").unwrap_or(0.0);
                out.push(Candidate {
                    terrain: text::word(&line, "terrain")
                        .unwrap_or("unknown")
                        .to_string(),
                    verified: text::word(&line, "survey") == Some("low_pass"),
                    score: slope + fuel * FUEL_WEIGHT_PER_KG + 10.0 * hazards,
                    site,
                    line,
                    rejected,
                });
            }
        }
    }
    out
}

/// The specialists to use, chosen from the `delegate` tool's enum by role name.
pub(super) fn specialists(request: &ModelRequest) -> (String, String) {
    let names = text::tool_spec(request, DELEGATE)
        .map(|s| text::schema_enum(s, "specialist"))
        .unwrap_or_default();
    let pick = |role: &str, stem: &str, fallback: usize| {
        names
            .iter()
            .find(|n| n.as_str() == role)
            .or_else(|| names.iter().find(|n| n.to_ascii_lowercase().contains(stem)))
            .or_else(|| names.get(fallback))
            .or_else(|| names.first())
            .cloned()
            .unwrap_or_else(|| role.to_string())
    };
    (pick("detector", "detect", 0), pick("navigator", "navig", 1))
}

pub(super) fn briefing_sites(briefing: &str) -> Vec<String> {
    let from_line = text::last_tagged(briefing, "SITES").and_then(|pairs| {
        let list = pairs
            .keys()
            .find(|k| !k.contains('=') && pairs.get(*k).is_some_and(String::is_empty))?
            .clone();
        let sites: Vec<String> = list
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        (!sites.is_empty()).then_some(sites)
    });
    from_line.unwrap_or_else(|| SITE_NAMES.iter().map(|s| s.to_string()).collect())
}

/// The previous site as a candidate, from the navigator subtask that flew it.
pub(super) fn previous_candidate(
    prior: &[Attempt],
    navigator: &str,
    site: &str,
    touchdown: &Pairs,
) -> Candidate {
    let line = prior
        .iter()
        .rev()
        .flat_map(|a| a.by(navigator).collect::<Vec<_>>())
        .filter_map(|d| text::last_tagged(&d.subtask, "SITE"))
        .find(|p| text::word(p, "site") == Some(site))
        .unwrap_or_else(|| touchdown.clone());
    Candidate {
        site: site.to_string(),
        terrain: text::word(touchdown, "terrain")
            .or_else(|| text::word(&line, "terrain"))
            .unwrap_or("unknown")
            .to_string(),
        line,
        // Its ground passed the clear-ground check.
        verified: true,
        score: 0.0,
        rejected: false,
    }
}
