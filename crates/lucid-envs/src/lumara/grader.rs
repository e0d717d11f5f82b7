//! The grader's scripted policy for rubric criteria without a check expression, e.g.
//! "the report names the landing site and states the touchdown speed".
//!
//! It reads only its request (task, rubric, the lead's output, the facts) and judges
//! each listed criterion deterministically by comparing what the output states with
//! the facts: the landing site (`site X`), the touchdown speed (a number in m/s within
//! 0.1 of `touchdown_speed_mps`), the propellant left (a number in kg within 1 % of
//! `fuel_remaining_kg`), whichever the criterion's description asks about (site and
//! speed when it names none). Without a landing, the output must say so. It answers
//! with one `submit_verdicts` call holding one verdict per criterion, each with a
//! reason and, when failed, what must change.

use serde_json::{json, Value};

use super::text;
use lucid_core::model::{ModelRequest, ModelResponse, Policy, ResponseBuilder};

const SUBMIT: &str = "submit_verdicts";

pub(super) struct Grader;

/// One verdict.
fn judge(
    id: &str,
    description: &str,
    output: &str,
    facts: &serde_json::Map<String, Value>,
) -> Value {
    let d = description.to_ascii_lowercase();
    let mut wants_site = d.contains("site");
    let mut wants_speed = d.contains("speed") || d.contains("touchdown");
    let wants_fuel = d.contains("fuel") || d.contains("propellant") || d.contains("reserve");
    if !(wants_site || wants_speed || wants_fuel) {
        wants_site = true;
        wants_speed = true;
    }
    let lower = output.to_ascii_lowercase();
    let site = facts.get("site").and_then(Value::as_str).unwrap_or("");
    let verdict = |passed: bool, reason: String, fix: String| json!({"criterion": id, "passed": passed, "reason": reason, "fix": if passed { String::new() } else { fix }});
    if output.is_empty() {
        return verdict(
            false,
            "The output is empty.".into(),
            "Write a mission report that states the landing site and the touchdown telemetry."
                .into(),
        );
    }
    if site.is_empty() {
        let admits = [
            "no descent",
            "did not land",
            "not land",
            "no landing",
            "aborted",
        ]
        .iter()
        .any(|p| lower.contains(p));
        return if admits {
            verdict(
                true,
                "No descent was committed and the output says so.".into(),
                String::new(),
            )
        } else {
            verdict(false, "The facts show no committed descent, but the output does not say the lander did not land.".into(), "State plainly that no descent was committed and the lander did not land.".into())
        };
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut fixes = Vec::new();
    if wants_site {
        let named = text::contains_word(&lower, &format!("site {}", site.to_ascii_lowercase()))
            || text::contains_word(&lower, &format!("site={}", site.to_ascii_lowercase()));
        if named {
            good.push(format!("names site {site}"));
        } else {
            bad.push(format!("does not name the landing site {site}"));
            fixes.push(format!("name the landing site as \"site {site}\""));
        }
    }
    let stated = text::numbers_with_units(output);
    let pair_values = |key: &str| text::values_anywhere(output, key);
    if wants_speed {
        match facts.get("touchdown_speed_mps").and_then(Value::as_f64) {
            Some(fact) => {
                let close = stated
                    .iter()
                    .filter(|(_, unit)| unit == "m/s")
                    .map(|(v, _)| *v)
                    .chain(pair_values("touchdown_speed_mps"))
                    .any(|v| (v - fact).abs() <= 0.1);
                if close {
                    good.push(format!("states the touchdown speed {fact} m/s"));
                } else {
                    bad.push(format!(
                        "does not state the touchdown speed of {fact} m/s (within 0.1 m/s)"
                    ));
                    fixes.push(format!("state the touchdown speed as {fact} m/s"));
                }
            }
            None => {
                bad.push("cannot be checked for speed: the facts lack touchdown_speed_mps".into())
            }
        }
    }
    if wants_fuel {
        match facts.get("fuel_remaining_kg").and_then(Value::as_f64) {
            Some(fact) => {
                let tolerance = (fact.abs() * 0.01).max(1.0);
                let close = stated
                    .iter()
                    .filter(|(_, unit)| unit == "kg")
                    .map(|(v, _)| *v)
                    .chain(pair_values("fuel_remaining_kg"))
                    .any(|v| (v - fact).abs() <= tolerance);
                if close {
                    good.push(format!("states the propellant left, {fact} kg"));
                } else {
                    bad.push(format!("does not state the propellant left, {fact} kg"));
                    fixes.push(format!("state the propellant remaining as {fact} kg"));
                }
            }
            None => bad
                .push("cannot be checked for propellant: the facts lack fuel_remaining_kg".into()),
        }
    }
    if bad.is_empty() {
        verdict(
            true,
            format!("The output {}, matching the facts.", good.join(" and ")),
            String::new(),
        )
    } else {
        let fix = if fixes.is_empty() {
            "Report values that match the recorded facts.".to_string()
        } else {
            format!("The report must {}.", fixes.join(" and "))
        };
        verdict(false, format!("The output {}.", bad.join(" and ")), fix)
    }
}

impl Policy for Grader {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let case = lucid_core::world::script::grading_case(request);
        let criteria = case.criteria.clone();
        let verdicts: Vec<Value> = criteria
            .iter()
            .map(|id| {
                judge(
                    id,
                    case.rubric.get(id).map_or("", String::as_str),
                    &case.output,
                    &case.facts,
                )
            })
            .collect();
        let input = json!({"verdicts": verdicts});
        if text::tool_spec(request, SUBMIT).is_some() {
            ResponseBuilder::new(text::turn_prefix(request))
                .tool(SUBMIT, input)
                .build()
        } else {
            text::answer(request, input.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucid_core::model::ContentBlock;

    fn request(output: &str, facts: Value) -> ModelRequest {
        lucid_core::world::script::grading_request(
            "Land.",
            &[
                (
                    "report",
                    "the report names the landing site and states the touchdown speed",
                ),
                ("fuel_stated", "states the propellant left"),
            ],
            output,
            facts,
        )
    }

    fn verdicts(response: &ModelResponse) -> Vec<Value> {
        match &response.content[0] {
            ContentBlock::ToolUse { input, .. } => {
                input["verdicts"].as_array().cloned().unwrap_or_default()
            }
            other => panic!("expected a tool call, got {other:?}"),
        }
    }

    #[test]
    fn judges_each_criterion_against_the_facts() {
        let facts = json!({"site": "C", "touchdown_speed_mps": 1.5, "fuel_remaining_kg": 700.2});
        let good = Grader.respond(&request(
            "Landed at site C at 1.50 m/s with 700.2 kg left.",
            facts.clone(),
        ));
        let v = verdicts(&good);
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|v| v["passed"] == true), "{v:?}");
        let bad = Grader.respond(&request("Landed at site D at 3.1 m/s.", facts));
        let v = verdicts(&bad);
        assert!(v.iter().all(|v| v["passed"] == false), "{v:?}");
        assert!(v[0]["fix"].as_str().unwrap().contains("site C"));
    }

    #[test]
    fn no_landing_must_be_admitted() {
        let facts = json!({"site": "", "touchdown_speed_mps": 999});
        let v = verdicts(&Grader.respond(&request(
            "All went to plan at site C, 1.5 m/s.",
            facts.clone(),
        )));
        assert_eq!(v[0]["passed"], false);
        let v = verdicts(&Grader.respond(&request("No descent was committed.", facts)));
        assert_eq!(v[0]["passed"], true);
    }
}
