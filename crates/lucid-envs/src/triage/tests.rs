//! Build triage: fleets (determinism, variety, realistic content), tools and their
//! errors, facts, and the triager policy with and without learned rules.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};

use super::fleet::{phrase, preferred, signature_phrases, Cause, Fleet};
use super::policy::{Triager, THOROUGH};
use super::tools::TriageEpisode;
use super::verdict::judge;
use super::{capabilities, BuildTriage, DEFAULT_LOGS};
use lucid_core::model::{ContentBlock, Message, ModelRequest, Policy, Role, ToolChoice};
use lucid_core::tool::Tool;
use lucid_core::world::{Environment, Episode};

fn episode(world: u64, seed: u64, logs: u32) -> TriageEpisode {
    TriageEpisode::new(Arc::new(Fleet::generate(world, seed, logs)))
}

async fn call(episode: &TriageEpisode, name: &str, input: Value) -> (String, bool) {
    let tool = episode
        .tools()
        .into_iter()
        .find(|t| t.spec().name == name)
        .unwrap();
    let out = tool.call(input).await;
    (out.content, out.is_error)
}

/// Plays one triager on one log the way the runner would; returns its turns.
async fn triage(episode: &TriageEpisode, log: u32, system: &str, thorough: bool) -> u32 {
    let tools: Vec<Arc<dyn Tool>> = episode.tools();
    let mut subtask = format!("Triage log {log}.\nLOG id={log}");
    if thorough {
        subtask.push('\n');
        subtask.push_str(THOROUGH);
    }
    let mut messages = vec![Message::user_text(subtask)];
    for turn in 1..=12 {
        let request = ModelRequest {
            system: system.to_string(),
            messages: messages.clone().into(),
            tools: tools.iter().map(|t| t.spec()).collect(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 1000,
            temperature: None,
        };
        let response = Triager.respond(&request);
        let uses: Vec<(String, String, Value)> = response
            .tool_uses()
            .map(|(id, name, input)| (id.to_string(), name.to_string(), input.clone()))
            .collect();
        messages.push(Message {
            role: Role::Assistant,
            content: response.content,
        });
        if uses.is_empty() {
            return turn;
        }
        let mut results = Vec::new();
        for (id, name, input) in uses {
            let (content, is_error) = call(episode, &name, input).await;
            results.push(ContentBlock::ToolResult {
                tool_use_id: id,
                content,
                is_error,
            });
        }
        messages.push(Message {
            role: Role::User,
            content: results,
        });
    }
    panic!("the triager did not finish log {log}");
}

async fn triage_all(episode: &TriageEpisode, logs: u32, system: &str, thorough: bool) {
    for log in 1..=logs {
        triage(episode, log, system, thorough).await;
    }
}

fn number(facts: &lucid_core::event::Facts, name: &str) -> f64 {
    facts[name].as_f64().unwrap()
}

#[test]
fn fleets_repeat_for_a_world_and_seed_and_vary_across_seeds_and_worlds() {
    assert_eq!(Fleet::generate(1, 7, 50), Fleet::generate(1, 7, 50));
    assert_ne!(
        Fleet::generate(1, 7, 50).logs,
        Fleet::generate(1, 8, 50).logs
    );
    // Worlds differ in which signature each cause prefers.
    let differing = Cause::ALL
        .iter()
        .filter(|c| {
            (1..=6)
                .map(|w| preferred(w, **c))
                .collect::<BTreeSet<_>>()
                .len()
                > 1
        })
        .count();
    assert!(differing >= 6, "only {differing} causes vary across worlds");
    // Every cause shows up in a default-size fleet, and logs differ in length.
    let fleet = Fleet::generate(3, 1, DEFAULT_LOGS);
    let causes: BTreeSet<Cause> = fleet.logs.iter().map(|l| l.cause).collect();
    assert_eq!(causes.len(), Cause::ALL.len());
    let lengths: BTreeSet<usize> = fleet.logs.iter().map(|l| l.lines.len()).collect();
    assert!(lengths.len() > 30 && lengths.iter().all(|n| (30..140).contains(n)));
}

#[test]
fn logs_read_like_ci_output_with_the_cause_buried_in_noise() {
    let fleet = Fleet::generate(2, 5, DEFAULT_LOGS);
    let mut herrings = 0;
    for log in &fleet.logs {
        assert!(log.lines[0].starts_with("Running with ci-runner"));
        assert_eq!(
            log.lines.last().unwrap(),
            "Uploading artifacts for failed job"
        );
        assert!(!log.evidence.is_empty());
        // The decisive line carries one of its cause's signatures.
        let decisive = log.line(*log.evidence.last().unwrap()).unwrap();
        let signature = phrase(decisive).unwrap();
        assert!(
            signature_phrases(log.cause).contains(&signature),
            "{:?}: {decisive}",
            log.cause
        );
        // Most lines are noise.
        assert!(log.lines.len() >= 10 * log.evidence.len());
        herrings += log
            .lines
            .iter()
            .filter(|l| {
                l.starts_with("warning:") || l.contains("retry") || l.contains("deprecated")
            })
            .count();
    }
    assert!(herrings > 50, "too few red herrings: {herrings}");
    // Realistic text per cause.
    let text_of = |cause: Cause| -> String {
        fleet
            .logs
            .iter()
            .filter(|l| l.cause == cause)
            .map(|l| l.lines.join("\n"))
            .collect()
    };
    assert!(
        text_of(Cause::Oom).contains("Killed")
            || text_of(Cause::Oom).contains("OutOfMemory")
            || text_of(Cause::Oom).contains("out of memory")
            || text_of(Cause::Oom).contains("137")
    );
    assert!(
        text_of(Cause::DiskFull).to_lowercase().contains("space")
            || text_of(Cause::DiskFull).contains("quota")
    );
    assert!(text_of(Cause::Network).contains("https://"));
}

#[test]
fn no_signature_phrase_appears_in_a_log_of_another_cause() {
    // Otherwise grepping for a learned signature could not be trusted.
    for world in 1..=3 {
        let fleet = Fleet::generate(world, 11, 400);
        for cause in Cause::ALL {
            for signature in signature_phrases(cause) {
                for log in fleet.logs.iter().filter(|l| l.cause != cause) {
                    assert!(
                        log.lines.iter().all(|l| !l.contains(&signature)),
                        "`{signature}` ({cause:?}) in a {:?} log",
                        log.cause
                    );
                }
            }
        }
    }
}

#[test]
fn phrases_are_the_constant_words_of_a_line() {
    assert_eq!(
        phrase("[12.3] Killed process 4412 (cc1plus) total-vm:1kB").as_deref(),
        Some("Killed process")
    );
    assert_eq!(
        phrase("OSError: [Errno 28] No space left on device: '/tmp/x'").as_deref(),
        Some("No space left on")
    );
    assert_eq!(phrase("test tests::t5 ... ok"), None);
    assert_eq!(phrase(""), None);
}

#[tokio::test]
async fn tools_read_grep_and_report_and_say_what_is_wrong() {
    let ep = episode(1, 1, 5);
    let (info, err) = call(&ep, "log_info", json!({"log": 2})).await;
    assert!(!err && info.contains("INFO log=2 lines="), "{info}");
    let (page, err) = call(&ep, "read_log", json!({"log": 2, "from": 1, "to": 3})).await;
    assert!(
        !err && page.contains("   1| Running with ci-runner"),
        "{page}"
    );
    let (grep, err) = call(
        &ep,
        "grep_log",
        json!({"log": 2, "patterns": ["Checking out", "zzz"]}),
    )
    .await;
    assert!(
        !err && grep.contains("   2| Checking out") && grep.contains("\"zzz\": no hit(s)"),
        "{grep}"
    );
    for (tool, input, needle) in [
        ("log_info", json!({"log": 99}), "there is no log 99"),
        ("log_info", json!({"log": "x"}), "invalid arguments"),
        (
            "read_log",
            json!({"log": 1, "from": 5, "to": 2}),
            "not a range",
        ),
        (
            "read_log",
            json!({"log": 1, "from": 1, "to": 100}),
            "at most 40 lines",
        ),
        (
            "read_log",
            json!({"log": 1, "from": 999, "to": 1000}),
            "not a range",
        ),
        (
            "grep_log",
            json!({"log": 1, "patterns": []}),
            "non-empty patterns",
        ),
        (
            "grep_log",
            json!({"log": 1, "patterns": [" "]}),
            "non-empty patterns",
        ),
        (
            "report_cause",
            json!({"log": 1, "cause": "gremlins", "line": 3}),
            "unknown cause",
        ),
        (
            "report_cause",
            json!({"log": 1, "cause": "oom"}),
            "invalid arguments",
        ),
    ] {
        let (text, err) = call(&ep, tool, input.clone()).await;
        assert!(err && text.contains(needle), "{tool} {input}: {text}");
    }
    // A citation past the end is recorded and counted, with a note.
    let (text, err) = call(
        &ep,
        "report_cause",
        json!({"log": 1, "cause": "oom", "line": 5000}),
    )
    .await;
    assert!(!err && text.contains("has no line 5000"), "{text}");
    let facts = ep.facts();
    assert_eq!(facts["invalid_citations"], json!(1));
    assert_eq!(facts["reported"], json!(1));
    // Failed calls cost nothing; successful ones count for their log.
    assert_eq!(facts["tool_calls"], json!(4));
    let cases = facts["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    assert_eq!(cases[1]["tool_calls"], json!(3));
    assert!(cases[1]["observed"]
        .as_array()
        .unwrap()
        .contains(&json!("Checking out")));
    assert_eq!(cases[0]["chosen"], json!("oom"));
    assert_eq!(cases[0]["line"], json!(5000));
    assert!(cases[0]["reason"]
        .as_str()
        .unwrap()
        .contains("line 5000 does not exist"));
    // A log without a finding is judged wrong, and says so.
    assert_eq!(cases[1]["chosen"], json!(""));
    assert_eq!(cases[1]["line"], Value::Null);
    assert_eq!(cases[1]["verdict"], json!("wrong"));
    assert!(cases[1]["reason"]
        .as_str()
        .unwrap()
        .contains("no cause was filed"));
}

/// Whether a grader's text names a cause: its name, the name in words, or its
/// description.
fn names(text: &str, cause: Cause) -> bool {
    let text = text.to_lowercase();
    text.contains(cause.name())
        || text.contains(&cause.name().replace('_', " "))
        || text.contains(cause.description())
}

#[test]
fn the_grader_says_right_or_wrong_and_why_without_naming_the_hidden_cause() {
    let fleet = Fleet::generate(1, 3, 120);
    for log in &fleet.logs {
        let failure = *log.evidence.last().unwrap();
        let elsewhere = (1..=log.lines.len() as u32)
            .find(|n| !log.evidence.contains(n))
            .unwrap();
        for cause in Cause::ALL {
            for line in [failure, elsewhere, 9999] {
                let verdict = judge(log, Some((cause, line)));
                assert_eq!(verdict.right, cause == log.cause);
                assert_eq!(verdict.cites_failure, log.evidence.contains(&line));
                assert_eq!(
                    verdict.word(),
                    if verdict.right { "right" } else { "wrong" }
                );
                assert!(
                    verdict.reason.starts_with(verdict.word()),
                    "{}",
                    verdict.reason
                );
                // The team's own choice is named; the hidden cause only when it is
                // the team's choice.
                assert!(verdict.reason.contains(&format!("`{}`", cause.name())));
                if !verdict.right {
                    assert!(!names(&verdict.reason, log.cause), "{}", verdict.reason);
                }
                // What the log shows: where the failure is, when the citation missed.
                if !verdict.cites_failure {
                    assert!(
                        verdict.reason.contains(&format!("line {failure}")),
                        "{}",
                        verdict.reason
                    );
                }
            }
        }
        let none = judge(log, None);
        assert!(
            !none.right && !names(&none.reason, log.cause),
            "{}",
            none.reason
        );
    }
}

#[tokio::test]
async fn the_revealed_records_carry_verdicts_never_the_hidden_cause() {
    let fleet = Arc::new(Fleet::generate(2, 4, 60));
    let ep = TriageEpisode::new(fleet.clone());
    triage_all(&ep, 60, "You triage a log.", false).await;
    let facts = ep.facts();
    let text = serde_json::to_string(&facts).unwrap().to_lowercase();
    assert!(!text.contains("truth"), "{text}");
    let cases = facts["cases"].as_array().unwrap();
    let (mut right, mut wrong) = (0, 0);
    for (log, case) in fleet.logs.iter().zip(cases) {
        let keys: BTreeSet<&str> = case
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "log",
                "observed",
                "chosen",
                "line",
                "verdict",
                "reason",
                "tool_calls"
            ])
        );
        let chosen = case["chosen"].as_str().unwrap();
        let judged_right = case["verdict"] == json!("right");
        assert_eq!(judged_right, chosen == log.cause.name());
        if judged_right {
            right += 1;
            continue;
        }
        wrong += 1;
        // Apart from the log text the triager read, nothing in a wrong record names
        // the log's hidden cause.
        let mut told = case.clone();
        told.as_object_mut().unwrap().remove("observed");
        assert!(!names(&told.to_string(), log.cause), "{told}");
    }
    assert!(right > 10 && wrong > 10, "{right} right, {wrong} wrong");
    assert_eq!(facts["correct"], json!(right));
    // Precision per cause the team filed: what the verdicts alone can say.
    let precision = facts["per_cause_precision"].as_object().unwrap();
    let filed: BTreeSet<&str> = cases.iter().filter_map(|c| c["chosen"].as_str()).collect();
    assert_eq!(
        precision
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        filed
    );
}

#[tokio::test]
async fn the_uninformed_triager_reads_everything_and_is_mediocre() {
    let ep = episode(1, 1, 80);
    triage_all(&ep, 80, "You triage a log.", false).await;
    let facts = ep.facts();
    assert_eq!(facts["reported"], json!(80));
    assert_eq!(facts["invalid_citations"], json!(0));
    let accuracy = number(&facts, "accuracy");
    assert!((0.3..0.65).contains(&accuracy), "accuracy {accuracy}");
    let per_log = number(&facts, "tool_calls_per_log");
    assert!(per_log >= 4.0, "tool calls per log {per_log}");
    // A thorough reading (what grader feedback asks for) does better.
    let again = episode(1, 1, 80);
    triage_all(&again, 80, "You triage a log.", true).await;
    let thorough = number(&again.facts(), "accuracy");
    assert!(thorough > accuracy, "{thorough} vs {accuracy}");
}

#[tokio::test]
async fn signature_rules_in_the_prompt_make_the_triager_grep_first() {
    let fleet = Fleet::generate(1, 1, 60);
    // Rules as a dream would write them, for every signature of every cause.
    let mut rules = Vec::new();
    for cause in Cause::ALL {
        for signature in signature_phrases(cause) {
            rules.push(
                json!({"when": {"log_contains": signature}, "then": {"cause": cause.name()}})
                    .to_string(),
            );
        }
    }
    rules
        .push(json!({"when": {"log_contains": "x"}, "then": {"cause": "not-a-cause"}}).to_string());
    let system = format!(
        "You triage a log.\n\n## Playbooks\n```lucid-rules\n{}\n```\n",
        rules.join("\n")
    );
    let ep = TriageEpisode::new(Arc::new(fleet));
    let mut turns = 0;
    for log in 1..=60 {
        turns += triage(&ep, log, &system, false).await;
    }
    let facts = ep.facts();
    assert_eq!(number(&facts, "accuracy"), 1.0);
    assert_eq!(number(&facts, "tool_calls_per_log"), 2.0);
    assert_eq!(number(&facts, "evidence_on_signature"), 60.0);
    assert_eq!(turns, 60 * 3);
}

#[test]
fn options_and_capabilities() {
    let table = |text: &str| -> toml::Table { toml::from_str(text).unwrap() };
    let env = BuildTriage::new(&table("logs = 7"), 1, 1).unwrap();
    assert!(env.briefing().contains("LOGS count=7"));
    assert!(env.policy("triager").is_some() && env.policy("grader").is_none());
    for bad in ["logs = 0", "logs = 5000", "logs = \"many\"", "colour = 1"] {
        assert!(BuildTriage::new(&table(bad), 1, 1).is_err(), "{bad}");
    }
    let caps = capabilities();
    let cases = caps.cases.unwrap();
    assert_eq!(
        (
            cases.fact.as_str(),
            cases.feature.as_str(),
            cases.label.as_str()
        ),
        ("cases", "log_contains", "cause")
    );
    assert!(caps.facts.contains(&"tool_calls_per_log".to_string()));
    let directions: BTreeMap<String, bool> = caps
        .figures
        .into_iter()
        .map(|f| (f.fact, f.higher_is_better))
        .collect();
    assert!(directions["accuracy"]);
    assert!(!directions["tool_calls_per_log"]);
}
