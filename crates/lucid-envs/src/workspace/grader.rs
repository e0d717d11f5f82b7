//! The grader's scripted policy for workspace criteria without a check expression.
//!
//! It reads only its request (task, rubric, the lead's output, the facts) and judges each
//! listed criterion deterministically, choosing the test by what the criterion's
//! description asks about:
//! - consistency across documents ("consisten", "contradict", "across documents"): the
//!   output has a section whose heading says so, and each of its bullets cites locations
//!   in at least two different documents (or the section says plainly there are none);
//! - fixes ("fix", "what to change", "actionable", "suggest"): every finding bullet (a
//!   bullet with a `path:line` citation) says what to change;
//! - coverage ("every document", "all documents", "each document"): the output names
//!   every file of the `files` fact;
//! - otherwise, grounding: there is at least one finding, every bullet cites a location,
//!   and every cited `path:line` exists according to the `files` fact (path → line count)
//!   in a document the `read` fact lists.
//!
//! Citations are always checked against the facts, so a review that cites lines that do
//! not exist fails whichever test applies. The answer is one `submit_verdicts` call with
//! one verdict per criterion, each with a reason and, when failed, what must change.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::text::{self, Citation};
use lucid_core::model::{ModelRequest, ModelResponse, Policy, ResponseBuilder};
use lucid_core::world::script::{bullets, grading_case, GradingCase};

const SUBMIT: &str = "submit_verdicts";

pub(super) struct Grader;

/// The grading request, taken apart.
#[derive(Debug, Default)]
struct Case {
    rubric: BTreeMap<String, String>,
    output: String,
    files: BTreeMap<String, usize>,
    read: Option<BTreeSet<String>>,
    criteria: Vec<String>,
}

/// The grading request read back, with the workspace's facts about files.
fn case(request: &ModelRequest) -> Case {
    let GradingCase {
        rubric,
        output,
        facts,
        criteria,
    } = grading_case(request);
    Case {
        rubric,
        output,
        files: facts
            .get("files")
            .and_then(Value::as_object)
            .map(|files| {
                files
                    .iter()
                    .filter_map(|(path, n)| Some((path.clone(), n.as_u64()? as usize)))
                    .collect()
            })
            .unwrap_or_default(),
        read: facts.get("read").and_then(Value::as_array).map(|read| {
            read.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        }),
        criteria,
    }
}

impl Case {
    /// Why a citation is not good, if it is not.
    fn bad_citation(&self, citation: &Citation) -> Option<String> {
        let Citation { path, line } = citation;
        match self.files.get(path) {
            None => Some(format!(
                "{path}:{line} names a file that is not in the workspace"
            )),
            Some(total) if line > total => Some(format!(
                "{path}:{line} is past the end of {path} ({total} lines)"
            )),
            Some(_) if self.read.as_ref().is_some_and(|read| !read.contains(path)) => Some(
                format!("{path}:{line} cites a document the team did not read in full"),
            ),
            Some(_) => None,
        }
    }

    /// Problems with every citation of the output, at most a few.
    fn citation_problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = text::citations(&self.output)
            .iter()
            .filter_map(|c| self.bad_citation(c))
            .collect();
        problems.dedup();
        problems
    }

    /// Bullets of the output that cite a location: the findings.
    fn findings(&self) -> Vec<String> {
        bullets(&self.output)
            .into_iter()
            .filter(|b| !text::citations(b).is_empty())
            .collect()
    }
}

fn verdict(id: &str, passed: bool, reason: String, fix: &str) -> Value {
    json!({"criterion": id, "passed": passed, "reason": reason, "fix": if passed { "" } else { fix }})
}

fn first_few(items: &[String]) -> String {
    let mut shown: Vec<&str> = items.iter().take(3).map(String::as_str).collect();
    if items.len() > 3 {
        shown.push("…");
    }
    shown.join("; ")
}

/// One verdict.
fn judge(id: &str, description: &str, case: &Case) -> Value {
    let d = description.to_ascii_lowercase();
    if case.output.is_empty() {
        return verdict(
            id,
            false,
            "The output is empty.".into(),
            "Answer with the review itself: findings that cite path:line.",
        );
    }
    let problems = case.citation_problems();
    if !problems.is_empty() {
        return verdict(
            id,
            false,
            format!("The output cites locations the facts do not support: {}.", first_few(&problems)),
            "Cite only path:line locations that exist in documents the team read; check each against the file before citing it.",
        );
    }
    let findings = case.findings();
    let has = |words: &[&str]| words.iter().any(|w| d.contains(w));
    if has(&[
        "consisten",
        "contradict",
        "across documents",
        "cross-document",
        "different documents",
    ]) {
        return judge_consistency(id, case);
    }
    if has(&["fix", "what to change", "actionable", "suggest"]) {
        let vague: Vec<String> = findings
            .iter()
            .filter(|f| !says_what_to_change(f))
            .map(|f| f.chars().take(60).collect())
            .collect();
        return if findings.is_empty() {
            verdict(
                id,
                false,
                "The output has no findings citing path:line.".into(),
                "List each finding as a bullet citing path:line, with what to change.",
            )
        } else if vague.is_empty() {
            verdict(
                id,
                true,
                format!("All {} findings say what to change.", findings.len()),
                "",
            )
        } else {
            verdict(
                id,
                false,
                format!(
                    "{} of {} findings do not say what to change: {}.",
                    vague.len(),
                    findings.len(),
                    first_few(&vague)
                ),
                "End every finding with what to change, e.g. \"Fix: …\".",
            )
        };
    }
    if has(&[
        "every document",
        "all documents",
        "each document",
        "every file",
    ]) {
        let missing: Vec<String> = case
            .files
            .keys()
            .filter(|f| !case.output.contains(f.as_str()))
            .cloned()
            .collect();
        return if missing.is_empty() {
            verdict(
                id,
                true,
                format!("The output names all {} documents.", case.files.len()),
                "",
            )
        } else {
            verdict(id, false, format!("The output does not mention {}.", first_few(&missing)), "Review every document and name each one in the review, even those without findings.")
        };
    }
    let uncited: Vec<String> = bullets(&case.output)
        .into_iter()
        .filter(|b| text::citations(b).is_empty())
        .map(|b| b.chars().take(60).collect())
        .collect();
    if findings.is_empty() {
        verdict(
            id,
            false,
            "The output has no findings that cite a path:line location.".into(),
            "Give each finding as a bullet citing path:line.",
        )
    } else if !uncited.is_empty() {
        verdict(
            id,
            false,
            format!(
                "{} bullet(s) cite no location: {}.",
                uncited.len(),
                first_few(&uncited)
            ),
            "Cite path:line in every finding.",
        )
    } else {
        let cited: BTreeSet<String> = text::citations(&case.output)
            .into_iter()
            .map(|c| c.path)
            .collect();
        verdict(id, true, format!("All {} findings cite existing lines of documents the team read ({} documents cited).", findings.len(), cited.len()), "")
    }
}

/// Whether a finding says what to change.
fn says_what_to_change(finding: &str) -> bool {
    let lower = finding.to_ascii_lowercase();
    [
        "fix:", "should", "must", "add ", "remove", "replace", "correct", "change", "rename",
        "state ",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

fn judge_consistency(id: &str, case: &Case) -> Value {
    let fix = "Compare the values that different documents give for the same setting or number, and list each contradiction under a \"Cross-document consistency\" heading with its locations in both documents (say so if there are none).";
    let mut section = String::new();
    let mut inside = false;
    for line in case.output.lines() {
        if line.starts_with('#') {
            let heading = line.to_ascii_lowercase();
            inside = ["consisten", "contradict", "cross-document"]
                .iter()
                .any(|w| heading.contains(w));
            continue;
        }
        if inside {
            section.push_str(line);
            section.push('\n');
        }
    }
    if section.trim().is_empty() {
        return verdict(id, false, "The output has no section comparing the documents with each other; it reviews each document on its own.".into(), fix);
    }
    let items = bullets(&section);
    let one_sided: Vec<String> = items
        .iter()
        .filter(|b| {
            text::citations(b)
                .iter()
                .map(|c| &c.path)
                .collect::<BTreeSet<_>>()
                .len()
                < 2
        })
        .map(|b| b.chars().take(60).collect())
        .collect();
    let lower = section.to_ascii_lowercase();
    let says_none = [
        "no setting is given different",
        "no contradiction",
        "no inconsistenc",
        "none found",
    ]
    .iter()
    .any(|w| lower.contains(w));
    if items.is_empty() && says_none {
        verdict(
            id,
            true,
            "The consistency section states that the documents agree.".into(),
            "",
        )
    } else if items.is_empty() {
        verdict(
            id,
            false,
            "The consistency section lists no contradictions and does not say there are none."
                .into(),
            fix,
        )
    } else if !one_sided.is_empty() {
        verdict(
            id,
            false,
            format!(
                "{} contradiction(s) cite only one document: {}.",
                one_sided.len(),
                first_few(&one_sided)
            ),
            fix,
        )
    } else {
        verdict(id, true, format!("The review lists {} contradiction(s) across documents, each with locations in both.", items.len()), "")
    }
}

impl Policy for Grader {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let case = case(request);
        let criteria = case.criteria.clone();
        let verdicts: Vec<Value> = criteria
            .iter()
            .map(|id| judge(id, case.rubric.get(id).map_or("", String::as_str), &case))
            .collect();
        let input = json!({"verdicts": verdicts});
        if text::has_tool(request, SUBMIT) {
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

    const RUBRIC: [(&str, &str); 4] = [
        (
            "grounded",
            "Every finding cites a path:line location that exists, in a document the team read.",
        ),
        (
            "actionable",
            "Every finding says what is wrong and what to change (a fix).",
        ),
        (
            "cross_document",
            "The review lists each contradiction across documents with both locations.",
        ),
        ("coverage", "The review names every document."),
    ];

    fn request(output: &str) -> ModelRequest {
        let facts = json!({
            "files": {"README.md": 20, "config.md": 30, "notes.md": 5},
            "read": ["README.md", "config.md", "notes.md"],
            "files_unread": 0
        });
        lucid_core::world::script::grading_request("Review.", &RUBRIC, output, facts)
    }

    /// (criterion, passed, reason) per verdict.
    fn verdicts(output: &str) -> Vec<(String, bool, String)> {
        let response = Grader.respond(&request(output));
        let ContentBlock::ToolUse { input, .. } = &response.content[0] else {
            panic!("expected a submit_verdicts call: {response:?}");
        };
        input["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                assert!(!v["reason"].as_str().unwrap().is_empty());
                if v["passed"] == false {
                    assert!(
                        !v["fix"].as_str().unwrap().is_empty(),
                        "a failure says what must change"
                    );
                }
                (
                    v["criterion"].as_str().unwrap().to_string(),
                    v["passed"].as_bool().unwrap(),
                    v["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    const GOOD: &str =
        "# Review\nDocuments: README.md, config.md, notes.md.\n\n## Findings by document\n\
        - README.md:4 — broken link to `faq.md`. Fix: add the file.\n\
        - config.md:12 — TODO left. Fix: finish it.\n\n\
        ## Cross-document consistency\n\
        - `port` is 80 at README.md:7 but 8080 at config.md:3. Fix: state one value.\n";

    #[test]
    fn a_good_review_passes_every_criterion() {
        let v = verdicts(GOOD);
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|(_, passed, _)| *passed), "{v:?}");
    }

    #[test]
    fn citations_the_facts_do_not_support_fail() {
        for bad in ["README.md:21", "missing.md:1"] {
            let output = GOOD.replace("config.md:12", bad);
            let v = verdicts(&output);
            assert!(v.iter().all(|(_, passed, _)| !passed), "{bad}: {v:?}");
            assert!(v[0].2.contains(bad), "{v:?}");
        }
    }

    #[test]
    fn each_criterion_looks_at_its_own_part_of_the_output() {
        // No consistency section: only cross_document fails.
        let output = GOOD.split("## Cross-document").next().unwrap();
        let v = verdicts(output);
        assert_eq!(
            v.iter()
                .map(|(id, passed, _)| (id.as_str(), *passed))
                .collect::<Vec<_>>(),
            vec![
                ("grounded", true),
                ("actionable", true),
                ("cross_document", false),
                ("coverage", true)
            ]
        );
        // A contradiction that cites one document only is not a comparison.
        let one_sided = GOOD.replace("but 8080 at config.md:3", "and 8080 at README.md:9");
        assert!(!verdicts(&one_sided)[2].1);
        // Saying plainly there are none passes.
        let none = format!("{output}\n## Cross-document consistency\nNo contradictions found.\n");
        assert!(verdicts(&none)[2].1);
        // A finding without a fix, a bullet without a location, a document not named.
        let vague = GOOD.replace(" Fix: finish it.", "");
        assert!(!verdicts(&vague)[1].1);
        let uncited = format!("{GOOD}- the tone is uneven\n");
        assert!(!verdicts(&uncited)[0].1);
        let partial = GOOD.replace(", notes.md", "");
        assert!(!verdicts(&partial)[3].1);
        assert!(verdicts("").iter().all(|(_, passed, _)| !passed));
    }
}
