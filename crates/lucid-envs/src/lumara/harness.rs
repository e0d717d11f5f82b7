//! Test-only fake runner: plays a Lumara team (commander, two detector delegations, a
//! navigator) with the scripted policies, in the request formats the real runner uses,
//! grades each attempt with the default rubric's three checks, feeds the feedback back
//! and reports pass rates. Used to calibrate the world; not part of the library.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use serde_json::{json, Value};

use super::Lumara;
use lucid_core::event::Facts;
use lucid_core::model::{ContentBlock, Message, ModelRequest, Policy, Role, ToolChoice, ToolSpec};
use lucid_core::tool::{Tool, ToolOutput};
use lucid_core::world::Environment;

pub(super) const TASK: &str = "Land the lander softly on clear ground at one of the candidate sites, keeping enough propellant to return to orbit. Report the site, touchdown speed and propellant state.";
const COMMANDER_TURNS: usize = 16;
const SPECIALIST_TURNS: usize = 12;

/// System prompts per role (playbooks already rendered in).
#[derive(Debug, Clone)]
pub(super) struct Prompts {
    pub commander: String,
    pub detector: String,
    pub navigator: String,
}

impl Default for Prompts {
    fn default() -> Self {
        Prompts {
            commander: "You are the mission commander. Delegate surveys to detectors and the descent to the navigator.".into(),
            detector: "You are a detector. Survey landing sites and recommend one.".into(),
            navigator: "You are the navigator. Plan, simulate and commit the powered descent.".into(),
        }
    }
}

/// Adds a playbook with rules to a prompt, as the runner renders it.
pub(super) fn with_playbook(prompt: &str, title: &str, rules: &[Value]) -> String {
    let lines: Vec<String> = rules.iter().map(Value::to_string).collect();
    format!("{prompt}\n\n## Playbooks\n### {title}\nLearned from earlier sessions.\n```lucid-rules\n{}\n```\n", lines.join("\n"))
}

/// How one session went.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Outcome {
    pub passed_first: bool,
    pub passed: bool,
    pub iterations: u32,
    /// Failed criterion ids, per iteration.
    pub failures: Vec<Vec<&'static str>>,
    pub facts: Vec<Facts>,
    /// The lead's final answer per iteration.
    pub answers: Vec<String>,
    /// Every tool call's (name, output) in order, for determinism checks.
    pub transcript: Vec<(String, String)>,
}

/// Polls a future that is ready at once (every Lumara tool's is).
fn now<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a Lumara tool future was not ready at once"),
    }
}

fn delegate_spec() -> ToolSpec {
    ToolSpec {
        name: "delegate".into(),
        description: "Delegate a subtask to a specialist.".into(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "specialist": {"type": "string", "enum": ["detector", "navigator"]},
                "subtask": {"type": "string"},
                "purpose": {"type": "string"}
            },
            "required": ["specialist", "subtask", "purpose"]
        }),
    }
}

fn request(system: &str, messages: &[Message], tools: &[ToolSpec]) -> ModelRequest {
    ModelRequest {
        system: system.to_string(),
        messages: messages.to_vec().into(),
        tools: tools.into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 4096,
        temperature: None,
    }
}

/// Runs one agent until it answers without tool calls; `None` if it ran out of turns.
pub(super) fn run_agent(
    policy: &dyn Policy,
    system: &str,
    messages: &mut Vec<Message>,
    tools: &[ToolSpec],
    max_turns: usize,
    exec: &mut dyn FnMut(&str, &Value) -> ToolOutput,
) -> Option<String> {
    for _ in 0..max_turns {
        let response = policy.respond(&request(system, messages, tools));
        messages.push(Message {
            role: Role::Assistant,
            content: response.content.clone(),
        });
        let calls: Vec<(String, String, Value)> = response
            .tool_uses()
            .map(|(id, name, input)| (id.to_string(), name.to_string(), input.clone()))
            .collect();
        if calls.is_empty() {
            return Some(response.text());
        }
        let results = calls
            .iter()
            .map(|(id, name, input)| {
                let out = exec(name, input);
                ContentBlock::ToolResult {
                    tool_use_id: id.clone(),
                    content: out.content,
                    is_error: out.is_error,
                }
            })
            .collect();
        messages.push(Message {
            role: Role::User,
            content: results,
        });
    }
    None
}

/// The default rubric's checks: (id, failure reason, what must change) when failing.
pub(super) fn check(facts: &Facts) -> Vec<(&'static str, String, Vec<String>)> {
    let num = |k: &str| facts.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let show = |x: f64| super::text::trim_number(x, 2);
    // Written so that a missing (NaN) fact fails, as the real checks do.
    let fails = |ok: bool| !ok;
    let mut failed = Vec::new();
    let speed = num("touchdown_speed_mps");
    if fails(speed <= 2.0) {
        failed.push((
            "soft_landing",
            format!("touchdown_speed_mps = {}, needs <= 2", show(speed)),
            vec![format!(
                "touchdown_speed_mps must be at most 2 (it was {})",
                show(speed)
            )],
        ));
    }
    let (slope, hazards) = (num("slope_deg"), num("hazards"));
    if fails(slope <= 8.0 && hazards == 0.0) {
        let mut fixes = Vec::new();
        if fails(slope <= 8.0) {
            fixes.push(format!(
                "slope_deg must be at most 8 (it was {})",
                show(slope)
            ));
        }
        if hazards != 0.0 {
            fixes.push(format!("hazards must equal 0 (it was {})", show(hazards)));
        }
        failed.push((
            "clear_ground",
            format!(
                "slope_deg = {}, needs <= 8; hazards = {}, needs == 0",
                show(slope),
                show(hazards)
            ),
            fixes,
        ));
    }
    let (rem, ret) = (num("fuel_remaining_kg"), num("fuel_return_kg"));
    if fails(rem >= ret) {
        failed.push(("fuel_reserve", format!("fuel_remaining_kg = {}, fuel_return_kg = {}, needs fuel_remaining_kg >= fuel_return_kg", show(rem), show(ret)), vec![format!("fuel_remaining_kg must be at least {} (it was {})", show(ret), show(rem))]));
    }
    failed
}

/// The feedback message the runner appends after a failed iteration.
pub(super) fn feedback(
    iteration: u32,
    max: u32,
    failed: &[(&'static str, String, Vec<String>)],
) -> String {
    let mut out = format!("## Grader feedback (iteration {iteration} of {max})\nThe rubric is not met. Failed criteria:\n");
    for (id, reason, fixes) in failed {
        out.push_str(&format!("- {id}: {reason}\n"));
        for fix in fixes {
            out.push_str(&format!("  must change: {fix}\n"));
        }
    }
    let passed: Vec<&str> = ["soft_landing", "clear_ground", "fuel_reserve"]
        .into_iter()
        .filter(|id| !failed.iter().any(|(f, _, _)| f == id))
        .collect();
    if !passed.is_empty() {
        out.push_str(&format!("Passed: {}.\n", passed.join(", ")));
    }
    out.push_str("Take another pass: revise the plan and try again.");
    out
}

/// Plays one session with the scripted team.
pub(super) fn run_session(env: &Lumara, prompts: &Prompts, max_iterations: u32) -> Outcome {
    let policy = |role: &str| -> Arc<dyn Policy> {
        match env.policy(role) {
            Some(policy) => policy,
            None => panic!("lumara has no {role} policy"),
        }
    };
    let (commander, detector, navigator) =
        (policy("commander"), policy("detector"), policy("navigator"));
    let mut messages = vec![Message::user_text(format!(
        "{TASK}\n\n## Briefing\n{}",
        env.briefing()
    ))];
    let mut outcome = Outcome {
        passed_first: false,
        passed: false,
        iterations: 0,
        failures: vec![],
        facts: vec![],
        answers: vec![],
        transcript: vec![],
    };
    let mut transcript = Vec::new();
    for iteration in 1..=max_iterations {
        let episode = env.episode();
        let tools: BTreeMap<String, Arc<dyn Tool>> = episode
            .tools()
            .into_iter()
            .map(|t| (t.spec().name, t))
            .collect();
        let specs = |names: &[&str]| -> Vec<ToolSpec> {
            names
                .iter()
                .filter_map(|n| tools.get(*n))
                .map(|t| t.spec())
                .collect()
        };
        let detector_tools = specs(&["survey_site"]);
        let navigator_tools = specs(&["vehicle_status", "simulate_descent", "commit_descent"]);
        let mut exec = |name: &str, input: &Value| -> ToolOutput {
            if name != "delegate" {
                return ToolOutput::error(format!("unknown tool {name}"));
            }
            let specialist = input
                .get("specialist")
                .and_then(Value::as_str)
                .unwrap_or("");
            let subtask = input.get("subtask").and_then(Value::as_str).unwrap_or("");
            let (child, system, allowed) = match specialist {
                "detector" => (&detector, &prompts.detector, &detector_tools),
                "navigator" => (&navigator, &prompts.navigator, &navigator_tools),
                other => return ToolOutput::error(format!("unknown specialist {other}")),
            };
            let mut child_messages = vec![Message::user_text(subtask)];
            let mut call = |tool: &str, args: &Value| -> ToolOutput {
                let out = match tools
                    .get(tool)
                    .filter(|_| allowed.iter().any(|s| s.name == tool))
                {
                    Some(t) => now(t.call(args.clone())),
                    None => ToolOutput::error(format!("tool {tool} is not available")),
                };
                transcript.push((tool.to_string(), out.content.clone()));
                out
            };
            match run_agent(
                child.as_ref(),
                system,
                &mut child_messages,
                allowed,
                SPECIALIST_TURNS,
                &mut call,
            ) {
                Some(answer) => ToolOutput::ok(answer),
                None => ToolOutput::error(format!("{specialist} ran out of turns")),
            }
        };
        let answer = run_agent(
            commander.as_ref(),
            &prompts.commander,
            &mut messages,
            &[delegate_spec()],
            COMMANDER_TURNS,
            &mut exec,
        );
        outcome.answers.push(answer.unwrap_or_default());
        let facts = episode.facts();
        let failed = check(&facts);
        outcome.iterations = iteration;
        outcome
            .failures
            .push(failed.iter().map(|(id, _, _)| *id).collect());
        outcome.facts.push(facts);
        if failed.is_empty() {
            outcome.passed = true;
            outcome.passed_first = iteration == 1;
            break;
        }
        if iteration < max_iterations {
            messages.push(Message::user_text(feedback(
                iteration,
                max_iterations,
                &failed,
            )));
        }
    }
    outcome.transcript = transcript;
    outcome
}

/// Pass rates over seeds for one world.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rates {
    pub first: f64,
    pub last: f64,
    pub mean_iterations: f64,
}

pub(super) fn rates(
    world: u64,
    seeds: std::ops::RangeInclusive<u64>,
    prompts: impl Fn(&Lumara) -> Prompts,
) -> Rates {
    let (mut first, mut last, mut iterations, mut n) = (0.0, 0.0, 0.0, 0.0);
    for seed in seeds {
        let env = match Lumara::new(&toml::Table::new(), seed, world) {
            Ok(env) => env,
            Err(err) => panic!("world {world} seed {seed}: {err}"),
        };
        let outcome = run_session(&env, &prompts(&env), 3);
        first += f64::from(u8::from(outcome.passed_first));
        last += f64::from(u8::from(outcome.passed));
        iterations += f64::from(outcome.iterations);
        n += 1.0;
    }
    Rates {
        first: first / n,
        last: last / n,
        mean_iterations: iterations / n,
    }
}

/// Rules that encode a world's hidden regularities, read from the ground truth (tests
/// only: this is what a perfect dream would learn).
pub(super) fn perfect_prompts(env: &Lumara) -> Prompts {
    perfect_prompts_with(env, json!({"avoid": true}))
}

/// Like [`perfect_prompts`], with `then` for the deceptive terrain, e.g.
/// `{"survey": "low_pass"}` instead of avoiding it.
pub(super) fn perfect_prompts_with(env: &Lumara, deceptive_then: Value) -> Prompts {
    let hidden = &env.mission.hidden;
    let deceptive = super::world::TERRAINS[hidden.deceptive_terrain];
    let altimeter = super::world::TERRAINS[hidden.altimeter_terrain];
    let avoid = json!({"when": {"terrain": deceptive}, "then": deceptive_then});
    let margin = json!({"when": {"terrain": altimeter}, "then": {"burn_margin_m": {"min": (hidden.altimeter_bias_m * 1.15 + 25.0).round()}}});
    let base = Prompts::default();
    Prompts {
        commander: with_playbook(
            &base.commander,
            "Avoid deceptive ground",
            std::slice::from_ref(&avoid),
        ),
        detector: with_playbook(&base.detector, "Avoid deceptive ground", &[avoid]),
        navigator: with_playbook(&base.navigator, "Altimeter margin", &[margin]),
    }
}
