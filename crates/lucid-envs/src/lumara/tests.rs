//! Lumara's tests: the public surface, tools, determinism, world variety, robustness of
//! the policies, and the calibration bands (through the fake runner in `harness`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::harness::{self, run_session, Prompts};
use super::world::{Hidden, TERRAINS};
use super::*;
use lucid_core::model::{ContentBlock, Message, ModelRequest, Role, ToolChoice, ToolSpec};
use lucid_core::tool::{Tool, ToolOutput};

fn env(seed: u64, world: u64) -> Lumara {
    Lumara::new(&toml::Table::new(), seed, world).expect("default options are valid")
}

fn tool(episode: &Arc<dyn Episode>, name: &str) -> Arc<dyn Tool> {
    episode
        .tools()
        .into_iter()
        .find(|t| t.spec().name == name)
        .expect("tool exists")
}

fn call(tool: &Arc<dyn Tool>, input: Value) -> ToolOutput {
    let mut future = tool.call(input);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("tool future not ready"),
    }
}

#[test]
fn capabilities_list_tools_facts_and_roles() {
    let caps = capabilities();
    for name in [
        "survey_site",
        "vehicle_status",
        "simulate_descent",
        "commit_descent",
    ] {
        assert!(caps.tools.iter().any(|t| t == name));
    }
    for fact in [
        "landed",
        "site",
        "terrain",
        "touchdown_speed_mps",
        "slope_deg",
        "hazards",
        "fuel_remaining_kg",
        "fuel_return_kg",
    ] {
        assert!(caps.facts.iter().any(|f| f == fact), "{fact}");
    }
    for role in ["commander", "detector", "navigator", "advisor", "grader"] {
        assert!(caps.roles.iter().any(|r| r == role));
        assert!(env(1, 1).policy(role).is_some());
    }
    assert!(env(1, 1).policy("pilot").is_none());
    let facts = env(1, 1).episode().facts();
    for fact in &caps.facts {
        assert!(facts.contains_key(fact), "episode lacks fact {fact}");
    }
    assert_eq!(facts.len(), caps.facts.len());
}

#[test]
fn options_are_checked() {
    let table: toml::Table = toml::from_str("low_pass_cost_kg = 45").unwrap();
    let lumara = Lumara::new(&table, 1, 1).unwrap();
    assert!(lumara.briefing().contains("costs 45 kg"));
    let unknown: toml::Table = toml::from_str("sites = 6").unwrap();
    assert!(
        matches!(Lumara::new(&unknown, 1, 1), Err(EnvError::BadOption { key, .. }) if key == "sites")
    );
    let wrong: toml::Table = toml::from_str("low_pass_cost_kg = \"lots\"").unwrap();
    assert!(matches!(
        Lumara::new(&wrong, 1, 1),
        Err(EnvError::BadOption { .. })
    ));
    let negative: toml::Table = toml::from_str("low_pass_cost_kg = -1").unwrap();
    assert!(Lumara::new(&negative, 1, 1).is_err());
}

#[test]
fn no_descent_means_facts_that_fail() {
    let facts = env(3, 1).episode().facts();
    assert_eq!(facts["landed"], json!(false));
    assert_eq!(facts["site"], json!(""));
    assert!(facts["touchdown_speed_mps"].as_f64().unwrap() > 2.0);
    assert!(
        facts["fuel_remaining_kg"].as_f64().unwrap() < facts["fuel_return_kg"].as_f64().unwrap()
    );
    assert_eq!(harness::check(&facts).len(), 3);
}

#[test]
fn tool_argument_errors_are_tool_errors() {
    let episode = env(1, 1).episode();
    let survey = tool(&episode, "survey_site");
    let sim = tool(&episode, "simulate_descent");
    let commit = tool(&episode, "commit_descent");
    let status = tool(&episode, "vehicle_status");
    for (tool, input) in [
        (&survey, json!({})),
        (&survey, json!({"site": "Q"})),
        (&survey, json!({"site": "A", "mode": "x-ray"})),
        (&survey, json!("{\"site\":")),
        (&sim, json!({"site": "A"})),
        (&sim, json!({"site": "A", "burn_altitude_m": -5})),
        (
            &sim,
            json!({"site": "A", "burn_altitude_m": 700, "throttle": 1.5}),
        ),
        (&sim, json!({"site": "A", "burn_altitude_m": "high"})),
        (&commit, json!({"site": "Z", "burn_altitude_m": 700})),
        (&status, json!({"site": "Z"})),
        (&status, json!(42)),
    ] {
        let out = call(tool, input.clone());
        assert!(out.is_error, "{input} should fail: {}", out.content);
        assert!(
            out.content.starts_with(&tool.spec().name),
            "{}",
            out.content
        );
    }
    assert!(!call(&status, Value::Null).is_error);
    assert!(!call(&status, json!({})).is_error);
    assert!(
        !call(&survey, json!({"site": "a"})).is_error,
        "site names are case-insensitive"
    );
}

#[test]
fn second_commit_is_refused_and_facts_follow_the_first() {
    let lumara = env(2, 1);
    let episode = lumara.episode();
    let commit = tool(&episode, "commit_descent");
    let first = call(
        &commit,
        json!({"site": "B", "burn_altitude_m": 900, "throttle": 0.8}),
    );
    assert!(!first.is_error, "{}", first.content);
    assert!(first.content.contains("TOUCHDOWN"));
    let second = call(&commit, json!({"site": "C", "burn_altitude_m": 900}));
    assert!(
        second.is_error && second.content.contains("already committed"),
        "{}",
        second.content
    );
    let low_pass = call(
        &tool(&episode, "survey_site"),
        json!({"site": "A", "mode": "low_pass"}),
    );
    assert!(low_pass.is_error, "no low pass after landing");
    let facts = episode.facts();
    assert_eq!(facts["site"], json!("B"));
    assert_eq!(facts["committed"], json!(true));
    // A fresh episode starts over.
    let again = lumara.episode();
    assert_eq!(again.facts()["site"], json!(""));
    assert!(
        !call(
            &tool(&again, "commit_descent"),
            json!({"site": "C", "burn_altitude_m": 900})
        )
        .is_error
    );
}

#[test]
fn low_pass_surveys_cost_propellant_and_are_accurate() {
    let lumara = env(4, 1);
    let episode = lumara.episode();
    let survey = tool(&episode, "survey_site");
    let status = tool(&episode, "vehicle_status");
    let before = harness_num(&call(&status, json!({})).content, "STATUS", "fuel_kg");
    let out = call(&survey, json!({"site": "D", "mode": "low_pass"}));
    assert!(!out.is_error);
    let after = harness_num(&call(&status, json!({})).content, "STATUS", "fuel_kg");
    assert!((before - after - 30.0).abs() < 1e-6);
    let site = &lumara.mission.sites[3];
    assert_eq!(
        harness_num(&out.content, "SURVEY", "hazards"),
        f64::from(site.hazards)
    );
    assert!((harness_num(&out.content, "SURVEY", "slope_deg") - site.slope_deg).abs() < 1.0);
    let facts = episode.facts();
    assert_eq!(facts["low_pass_surveys"], json!(1));
}

fn harness_num(text: &str, tag: &str, key: &str) -> f64 {
    super::text::last_tagged(text, tag)
        .and_then(|p| super::text::num(&p, key))
        .unwrap_or(f64::NAN)
}

#[test]
fn same_world_and_seed_give_identical_sessions() {
    let a = run_session(&env(7, 2), &Prompts::default(), 3);
    let b = run_session(&env(7, 2), &Prompts::default(), 3);
    assert_eq!(a, b);
    assert!(!a.transcript.is_empty());
}

#[test]
fn seeds_vary_the_mission_and_the_outcome() {
    let facts: Vec<_> = (1..=8)
        .map(|seed| run_session(&env(seed, 1), &Prompts::default(), 1).facts[0].clone())
        .collect();
    let sites: std::collections::BTreeSet<String> =
        facts.iter().map(|f| f["site"].to_string()).collect();
    let speeds: std::collections::BTreeSet<String> = facts
        .iter()
        .map(|f| f["fuel_remaining_kg"].to_string())
        .collect();
    assert!(sites.len() >= 3, "{sites:?}");
    assert_eq!(speeds.len(), facts.len());
    assert_ne!(env(1, 1).briefing(), env(2, 1).briefing());
}

#[test]
fn worlds_have_different_regularities() {
    let hidden: Vec<Hidden> = (1..=5).map(Hidden::for_world).collect();
    let pairs: std::collections::BTreeSet<(usize, usize)> = hidden
        .iter()
        .map(|h| (h.deceptive_terrain, h.altimeter_terrain))
        .collect();
    assert_eq!(pairs.len(), 5, "worlds 1-5 should differ: {pairs:?}");
    for h in &hidden {
        assert_ne!(h.deceptive_terrain, h.altimeter_terrain);
        assert!((60.0..=160.0).contains(&h.altimeter_bias_m));
        assert!((4.0..=7.0).contains(&h.slope_underreport_deg));
    }
    assert!(hidden
        .windows(2)
        .any(|w| w[0].gravity_mps2 != w[1].gravity_mps2));
    assert_eq!(Hidden::for_world(1), Hidden::for_world(1));
    assert!(TERRAINS.len() == 6);
}

/// Requests no runner would send well-formed; every policy must answer without panic.
#[test]
fn policies_survive_odd_requests() {
    let lumara = env(1, 1);
    let garbled_tools = vec![
        ToolSpec {
            name: "delegate".into(),
            description: String::new(),
            input_schema: json!({"properties": {"specialist": {"enum": []}}}),
        },
        ToolSpec {
            name: "survey_site".into(),
            description: String::new(),
            input_schema: json!(null),
        },
        ToolSpec {
            name: "vehicle_status".into(),
            description: String::new(),
            input_schema: json!({}),
        },
        ToolSpec {
            name: "simulate_descent".into(),
            description: String::new(),
            input_schema: json!({}),
        },
        ToolSpec {
            name: "commit_descent".into(),
            description: String::new(),
            input_schema: json!({}),
        },
        ToolSpec {
            name: "submit_verdicts".into(),
            description: String::new(),
            input_schema: json!({}),
        },
        ToolSpec {
            name: "ask_advisor".into(),
            description: String::new(),
            input_schema: json!({"properties": {"q": {}}}),
        },
    ];
    let conversations: Vec<Vec<Message>> = vec![
        vec![],
        vec![Message::user_text("")],
        vec![Message::user_text("## Grader feedback (iteration 1 of 3)\nsomething odd\n- ???: ¿\nPassed: nothing.")],
        vec![
            Message::user_text("SITE site=C terrain=dune\nPREVIOUS touchdown_speed_mps=abc failed=touchdown_speed_mps\nSURVEY sites=Q,C verify=low_pass"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::ToolUse { id: "t1_1".into(), name: "vehicle_status".into(), input: json!({"site": "C"}) },
                    ContentBlock::ToolUse { id: "t1_2".into(), name: "delegate".into(), input: json!({"specialist": 3}) },
                    ContentBlock::ToolUse { id: "t1_3".into(), name: "survey_site".into(), input: json!(null) },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::ToolResult { tool_use_id: "t1_1".into(), content: "STATUS mass=?? gravity_mps2=-1 terminal_speed_mps=0".into(), is_error: false },
                    ContentBlock::ToolResult { tool_use_id: "t1_2".into(), content: "RECOMMEND site=C slope_deg=NaN\nTOUCHDOWN site=C".into(), is_error: false },
                    ContentBlock::ToolResult { tool_use_id: "nope".into(), content: "SURVEY site=C slope_deg=1 hazards=0".into(), is_error: true },
                ],
            },
            Message::user_text("## Grader feedback (iteration 1 of 3)\nThe rubric is not met. Failed criteria:\n- x: hazards = 2, needs == 0\nPassed: .\n"),
        ],
    ];
    for role in ROLES {
        let policy = lumara.policy(role).unwrap();
        for messages in &conversations {
            for tools in [vec![], garbled_tools.clone()] {
                let request = ModelRequest {
                    system: "```lucid-rules\n{\"when\":{},\"then\":{\"burn_margin_m\":{\"min\":\"x\"},\"avoid\":\"yes\"}}\nnot json\n```".into(),
                    messages: messages.clone().into(),
                    tools: tools.into(),
                    tool_choice: ToolChoice::Auto,
                    max_tokens: 100,
                    temperature: None,
                };
                let response = policy.respond(&request);
                assert!(!response.content.is_empty(), "{role} gave an empty answer");
            }
        }
    }
}

#[test]
fn commander_fans_out_two_detectors_in_its_first_turn() {
    let lumara = env(1, 1);
    let outcome = run_session(&lumara, &Prompts::default(), 1);
    assert!(
        outcome.answers[0].contains("Mission report"),
        "{}",
        outcome.answers[0]
    );
    let commander = lumara.policy("commander").unwrap();
    let request = ModelRequest {
        system: String::new(),
        messages: vec![Message::user_text(format!(
            "{}\n\n## Briefing\n{}",
            harness::TASK,
            lumara.briefing()
        ))].into(),
        tools: vec![ToolSpec {
            name: "delegate".into(),
            description: String::new(),
            input_schema: json!({"properties": {"specialist": {"enum": ["scout", "detector", "navigator"]}}}),
        }].into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 100,
        temperature: None,
    };
    let response = commander.respond(&request);
    let calls: Vec<_> = response.tool_uses().collect();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|(id, name, input)| id.starts_with("t1_")
        && *name == "delegate"
        && input["specialist"] == "detector"));
    assert!(calls[0].2["subtask"]
        .as_str()
        .unwrap()
        .contains("sites=A,B,C"));
    assert!(calls[1].2["subtask"]
        .as_str()
        .unwrap()
        .contains("sites=D,E,F"));
}

#[test]
fn the_mission_report_satisfies_a_model_graded_report_criterion() {
    let grader = env(1, 1).policy("grader").unwrap();
    for seed in 1..=6 {
        let outcome = run_session(&env(seed, 1), &Prompts::default(), 3);
        for (answer, facts) in outcome.answers.iter().zip(&outcome.facts) {
            let body = format!(
                "## Task\n{}\n\n## Rubric\n- report: the output names the landing site and states the touchdown speed and propellant left\n\n## Output\n{answer}\n\n## Facts\n{}\n\n## Criteria to judge\n- report\n",
                harness::TASK,
                serde_json::to_string(facts).unwrap()
            );
            let request = ModelRequest {
                system: "Grade.".into(),
                messages: vec![Message::user_text(body)].into(),
                tools: vec![ToolSpec {
                    name: "submit_verdicts".into(),
                    description: String::new(),
                    input_schema: json!({}),
                }]
                .into(),
                tool_choice: ToolChoice::Tool {
                    name: "submit_verdicts".into(),
                },
                max_tokens: 100,
                temperature: None,
            };
            let response = grader.respond(&request);
            let (_, _, input) = response.tool_uses().next().expect("a verdict call");
            assert_eq!(
                input["verdicts"][0]["passed"],
                json!(true),
                "seed {seed}: {input}\n{answer}"
            );
        }
    }
}

/// The site whose approach and return cost the least propellant.
fn cheapest_site(lumara: &Lumara) -> &'static str {
    lumara
        .mission
        .sites
        .iter()
        .min_by(|a, b| {
            (a.approach_fuel_kg + a.return_fuel_kg)
                .total_cmp(&(b.approach_fuel_kg + b.return_fuel_kg))
        })
        .map(|s| s.name)
        .unwrap()
}

/// One navigator flight in an episode of its own (an episode takes one commit): what
/// it said along the way, and its answer.
fn fly_navigator(lumara: &Lumara, system: &str, subtask: String) -> (String, String) {
    let navigator = lumara.policy("navigator").unwrap();
    let episode = lumara.episode();
    let tools: Vec<Arc<dyn Tool>> = ["vehicle_status", "simulate_descent", "commit_descent"]
        .iter()
        .map(|name| tool(&episode, name))
        .collect();
    let specs: Vec<ToolSpec> = tools.iter().map(|t| t.spec()).collect();
    let mut messages = vec![Message::user_text(subtask)];
    let answer = harness::run_agent(
        navigator.as_ref(),
        system,
        &mut messages,
        &specs,
        12,
        &mut |name, input| {
            let tool = tools.iter().find(|t| t.spec().name == name).unwrap();
            call(tool, input.clone())
        },
    )
    .unwrap();
    let said = messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .map(|m| m.text())
        .collect::<Vec<_>>()
        .join("\n");
    (said, answer)
}

#[test]
fn navigator_consults_the_advisor_after_a_hard_landing_and_uses_the_answer() {
    let lumara = env(5, 1);
    let navigator = lumara.policy("navigator").unwrap();
    let advisor = lumara.policy("advisor").unwrap();
    let episode = lumara.episode();
    let mut tools: Vec<ToolSpec> = episode
        .tools()
        .iter()
        .map(|t| t.spec())
        .filter(|s| s.name != "survey_site")
        .collect();
    tools.push(ToolSpec {
        name: "ask_advisor".into(),
        description: "Ask the mentor.".into(),
        input_schema: json!({"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}),
    });
    // The cheapest site, so the larger margin fits the propellant budget.
    let site = cheapest_site(&lumara);
    let subtask = format!(
        "Fly to site {site}.\nSITE site={site} terrain=mare\nPREVIOUS site={site} terrain=mare burn_altitude_m=800 \
         burn_margin_m=30 throttle=0.80 touchdown_speed_mps=25.00 altimeter_at_contact_m=120 failed=touchdown_speed_mps"
    );
    let mut messages = vec![Message::user_text(subtask)];
    let mut asked = None;
    for _ in 0..10 {
        let request = ModelRequest {
            system: String::new(),
            messages: messages.clone().into(),
            tools: tools.clone().into(),
            tool_choice: ToolChoice::Auto,
            max_tokens: 100,
            temperature: None,
        };
        let response = navigator.respond(&request);
        messages.push(Message {
            role: Role::Assistant,
            content: response.content.clone(),
        });
        let calls: Vec<(String, String, Value)> = response
            .tool_uses()
            .map(|(id, n, i)| (id.to_string(), n.to_string(), i.clone()))
            .collect();
        if calls.is_empty() {
            break;
        }
        let mut results = Vec::new();
        for (id, name, input) in calls {
            let out = if name == "ask_advisor" {
                let question = input["question"].as_str().unwrap_or("").to_string();
                asked = Some(question.clone());
                let answer = advisor.respond(&ModelRequest {
                    system: String::new(),
                    messages: vec![Message::user_text(question)].into(),
                    tools: vec![].into(),
                    tool_choice: ToolChoice::Auto,
                    max_tokens: 100,
                    temperature: None,
                });
                ToolOutput::ok(answer.text())
            } else {
                call(&tool(&episode, &name), input)
            };
            results.push(ContentBlock::ToolResult {
                tool_use_id: id,
                content: out.content,
                is_error: out.is_error,
            });
        }
        messages.push(Message {
            role: Role::User,
            content: results,
        });
    }
    let question = asked.expect("the navigator asked the advisor");
    let last = messages.last().map(Message::text).unwrap_or_default();
    assert!(question.contains("25.00 m/s"), "{question}");
    let facts = episode.facts();
    assert_eq!(facts["site"], json!(site), "{last}");
    assert!(
        facts["burn_margin_m"].as_f64().unwrap() >= 140.0,
        "margin raised: {facts:?}"
    );
}

/// A site a rule says to avoid is still reported when its survey accepts it, on an
/// `AVOIDED` line apart from the rejected ones, so the commander can weigh the rule
/// against its other options instead of never seeing the site.
#[test]
fn the_detector_reports_an_acceptable_avoided_site_apart_from_the_rejected_ones() {
    let env = env(3, 1);
    let episode = env.episode();
    let survey = tool(&episode, "survey_site");
    let avoid_all = json!({"when": {}, "then": {"avoid": true}});
    let system = harness::with_playbook(&Prompts::default().detector, "Avoid all", &[avoid_all]);
    let mut messages = vec![Message::user_text(
        "Survey candidate landing sites A, B, C, D, E, F and recommend the best one.\nSURVEY sites=A,B,C,D,E,F",
    )];
    let detector = env.policy("detector").unwrap();
    let answer = harness::run_agent(
        detector.as_ref(),
        &system,
        &mut messages,
        &[survey.spec()],
        8,
        &mut |_, input| call(&survey, input.clone()),
    )
    .unwrap();
    let avoided = answer
        .lines()
        .filter(|l| l.starts_with("AVOIDED site="))
        .count();
    let rejected = answer
        .lines()
        .filter(|l| l.starts_with("REJECTED site="))
        .count();
    assert!(avoided >= 1, "{answer}");
    assert_eq!(avoided + rejected, 6, "{answer}");
    assert!(answer.contains("RECOMMEND none"), "{answer}");
    assert!(!answer.contains("reason=avoided"), "{answer}");
    // The commander reads an avoided site as a candidate its survey accepts.
    let candidates = super::history::candidates(&[answer.as_str()]);
    assert_eq!(candidates.iter().filter(|c| !c.rejected).count(), avoided);
}

/// A playbook saying the grader keeps failing the ground has the commander verify its
/// pick with a low pass before flying, from the first attempt, as it would after such
/// feedback; the same words outside a grader playbook change nothing.
#[test]
fn a_standing_ground_complaint_has_picks_verified_from_the_first_attempt() {
    let complaint = "\n\n## Playbooks\n### The grader keeps asking: hazards must equal 0\nFor `clear_ground`, the grader asked \"hazards must equal 0\" 4 times across 4 sessions.\n";
    let unrelated =
        "\n\n## Playbooks\n### Keep the report short\nName the hazards you saw and the slope.\n";
    let with = |extra: &str| Prompts {
        commander: format!("{}{extra}", Prompts::default().commander),
        ..Prompts::default()
    };
    let low_passes = |facts: &lucid_core::event::Facts| facts["low_pass_surveys"].as_u64().unwrap();
    let mut first_ground_failures = 0;
    // World 1 seeds whose first attempt fails the ground without the playbook.
    let seeds = [1, 5, 8, 13, 17, 19];
    for seed in seeds {
        let lumara = env(seed, 1);
        let plain = run_session(&lumara, &with(unrelated), 3);
        assert_eq!(low_passes(&plain.facts[0]), 0, "seed {seed}");
        assert!(plain.failures[0].contains(&"clear_ground"), "seed {seed}");
        let steered = run_session(&lumara, &with(complaint), 3);
        assert!(low_passes(&steered.facts[0]) >= 1, "seed {seed}");
        first_ground_failures += u32::from(steered.failures[0].contains(&"clear_ground"));
        assert!(steered.passed, "seed {seed}: {:?}", steered.failures);
    }
    // Six of six first attempts failed the ground without it; with it, at most two.
    assert!(first_ground_failures <= 2, "{first_ground_failures}");
}

/// A margin rule is a prior too: after two descents at a site flown at the rule's margin
/// both ended short of the return propellant (the same check failing twice), the
/// navigator departs from the rule, says so on a `RULE_OVERRIDDEN` line, and trims the
/// margin to what the propellant allows, keeping clear of what the altimeter read at
/// contact. One such descent is not enough.
#[test]
fn the_navigator_departs_from_a_margin_rule_the_propellant_contradicts_twice() {
    let lumara = env(5, 1);
    let site = cheapest_site(&lumara);
    let rule = json!({"when": {"terrain": "mare"}, "then": {"burn_margin_m": {"min": 400}}, "memory": "01RULE"});
    let system = harness::with_playbook(&Prompts::default().navigator, "Margin on mare", &[rule]);
    let short = |margin: u32| {
        format!(
            "PREVIOUS site={site} terrain=mare burn_altitude_m=1200 burn_margin_m={margin} throttle=1.00 touchdown_speed_mps=1.50 \
             altimeter_at_contact_m=40 fuel_remaining_kg=300 fuel_return_kg=420 failed=fuel_remaining_kg,fuel_return_kg"
        )
    };
    let fly = |notes: &[String]| {
        let subtask = format!(
            "Fly to site {site}.\nSITE site={site} terrain=mare\n{}",
            notes.join("\n")
        );
        fly_navigator(&lumara, &system, subtask)
    };

    let (said, _) = fly(&[short(402)]);
    assert!(!said.contains("RULE_OVERRIDDEN"), "{said}");
    // At the rule's margin the propellant is short: it declines, naming the rule's margin.
    assert!(
        said.contains("NO_COMMIT") && said.contains("(400 m)"),
        "{said}"
    );

    // Told to fly regardless, it flies the rule's margin again though one descent there
    // was short: a second is the evidence a departure needs.
    let (said, answer) = fly(&[short(402), "FORCE".to_string()]);
    assert!(answer.contains("TOUCHDOWN"), "{said}");
    assert!(!said.contains("RULE_OVERRIDDEN"), "{said}");

    let (said, answer) = fly(&[short(405), short(401)]);
    let overrides = lucid_core::world::rules::parse_overrides(&said);
    assert_eq!(overrides.len(), 1, "{said}");
    assert_eq!(overrides[0].0, "01RULE");
    assert!(overrides[0].1.contains("2 descents here"), "{overrides:?}");
    assert!(answer.contains("TOUCHDOWN"), "{answer}");
    // The margin flown is below the rule's and clear of the altimeter's 40 m.
    let flown = said
        .split("(zero-margin point about ")
        .nth(1)
        .and_then(|rest| rest.split("margin ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap();
    assert!((55.0..400.0).contains(&flown), "{flown}: {said}");
}

/// An attempt that commits nothing fails for sure: when every navigator declines (here a
/// rule asks for a margin no propellant budget allows), the commander's last turn of the
/// attempt flies the best candidate anyway.
#[test]
fn the_commanders_last_turn_flies_when_every_navigator_declined() {
    let impossible = json!({"when": {}, "then": {"burn_margin_m": {"min": 1500}}});
    let prompts = Prompts {
        navigator: harness::with_playbook(
            &Prompts::default().navigator,
            "Huge margins",
            &[impossible],
        ),
        ..Prompts::default()
    };
    for seed in [1, 2, 3] {
        let outcome = run_session(&env(seed, 1), &prompts, 1);
        assert_eq!(
            outcome.facts[0]["committed"],
            json!(true),
            "seed {seed}: {}",
            outcome.answers[0]
        );
        // Several navigators were briefed (each checks the lander's state first).
        let navigators = outcome
            .transcript
            .iter()
            .filter(|(name, _)| name == "vehicle_status")
            .count();
        assert!(navigators >= 2, "seed {seed}: {navigators} navigators");
    }
}

/// Asked to verify a site a rule avoids, the detector flies the low pass: the commander
/// weighs an avoided site only on what a low pass shows.
#[test]
fn the_detector_verifies_an_avoided_site_it_is_asked_to_verify() {
    let env = env(3, 1);
    let episode = env.episode();
    let survey = tool(&episode, "survey_site");
    let avoid_all = json!({"when": {}, "then": {"avoid": true}});
    let system = harness::with_playbook(&Prompts::default().detector, "Avoid all", &[avoid_all]);
    let detector = env.policy("detector").unwrap();
    let mut modes = Vec::new();
    let mut messages = vec![Message::user_text(
        "Verify candidate landing site B with a low_pass survey: is the ground clear?\nSURVEY sites=B verify=low_pass",
    )];
    let answer = harness::run_agent(
        detector.as_ref(),
        &system,
        &mut messages,
        &[survey.spec()],
        8,
        &mut |_, input| {
            modes.push(input["mode"].as_str().unwrap_or("").to_string());
            call(&survey, input.clone())
        },
    )
    .unwrap();
    assert!(modes.iter().any(|m| m == "low_pass"), "{modes:?}: {answer}");
    assert!(answer.contains("low_pass survey"), "{answer}");
}

/// Told to fly regardless (`FORCE`), the navigator still declines a descent that a
/// previous one here at the same margin already showed short of the return propellant:
/// flying it again fails for sure. Without that evidence it flies as told.
#[test]
fn a_forced_navigator_declines_a_descent_already_shown_short() {
    // Find a site no margin makes affordable: the navigator declines it at its own
    // smallest margin.
    let system = Prompts::default().navigator;
    let fly = |lumara: &Lumara, subtask: String| fly_navigator(lumara, &system, subtask).1;
    let found = (1..60u64).find_map(|seed| {
        let lumara = env(seed, 1);
        let names: Vec<&str> = lumara.mission.sites.iter().map(|s| s.name).collect();
        names.into_iter().find_map(|site| {
            let answer = fly(&lumara, format!("Fly to site {site}.\nSITE site={site}"));
            answer
                .contains("NO_COMMIT")
                .then(|| text::last_tagged(&answer, "NO_COMMIT"))
                .flatten()
                .and_then(|p| text::num(&p, "burn_margin_m"))
                .map(|margin| (seed, site.to_string(), margin))
        })
    });
    let (seed, site, margin) = found.expect("some site is short even at the smallest margin");
    let lumara = env(seed, 1);
    let forced = format!("Fly to site {site}.\nSITE site={site}\nFORCE");
    assert!(fly(&lumara, forced.clone()).contains("TOUCHDOWN"));
    let shown_short = format!(
        "{forced}\nPREVIOUS site={site} burn_margin_m={margin} throttle=1.00 touchdown_speed_mps=1.50 \
         fuel_remaining_kg=400 fuel_return_kg=420 failed=fuel_remaining_kg,fuel_return_kg"
    );
    let answer = fly(&lumara, shown_short);
    assert!(answer.contains("NO_COMMIT"), "{answer}");
}
