//! Calibration of the Lumara world against the scripted baseline team, through the fake
//! runner in `harness`: the band tests the brief asks for, a table of figures for worlds
//! 1–5, and ignored diagnostics that print per-session detail for tuning.

use serde_json::Value;

use super::harness::{self, rates, run_session, Prompts};
use super::world::{Hidden, TERRAINS};
use super::Lumara;

fn env(seed: u64, world: u64) -> Lumara {
    Lumara::new(&toml::Table::new(), seed, world).expect("default options are valid")
}

#[test]
fn world_1_is_in_band() {
    let r = rates(1, 1..=30, |_| Prompts::default());
    assert!(
        (0.2..=0.6).contains(&r.first),
        "first-attempt pass rate {r:?}"
    );
    assert!(r.last >= r.first + 0.15, "revisions must help: {r:?}");
}

#[test]
fn perfect_rules_lift_world_1() {
    let r = rates(1, 1..=30, harness::perfect_prompts);
    assert!(r.first >= 0.8, "with perfect rules: {r:?}");
}

#[test]
fn low_pass_rules_for_the_deceptive_terrain_work_too() {
    let r = rates(1, 1..=30, |env| {
        harness::perfect_prompts_with(env, serde_json::json!({"survey": "low_pass"}))
    });
    assert!(r.first >= 0.8, "with survey rules: {r:?}");
}

/// A blanket margin everywhere also prevents hard landings, but the hovering it buys
/// costs propellant: reserves shrink and some attempts run short.
#[test]
fn excess_burn_margin_costs_propellant() {
    let blanket = serde_json::json!({"when": {}, "then": {"burn_margin_m": {"min": 250}}});
    let (mut base_reserve, mut blanket_reserve, mut short) = (0.0, 0.0, 0);
    for seed in 1..=30 {
        let lumara = env(seed, 1);
        let base = run_session(&lumara, &Prompts::default(), 1);
        let mut prompts = Prompts::default();
        prompts.navigator =
            harness::with_playbook(&prompts.navigator, "Margin", std::slice::from_ref(&blanket));
        let cautious = run_session(&lumara, &prompts, 1);
        let reserve = |facts: &lucid_core::event::Facts| {
            let num = |k: &str| facts[k].as_f64().unwrap_or(0.0);
            num("fuel_remaining_kg") - num("fuel_return_kg")
        };
        base_reserve += reserve(&base.facts[0]);
        blanket_reserve += reserve(&cautious.facts[0]);
        short += usize::from(cautious.failures[0].contains(&"fuel_reserve"));
    }
    assert!(
        blanket_reserve < base_reserve - 30.0 * 100.0,
        "{base_reserve} vs {blanket_reserve}"
    );
    assert!(
        short > 0,
        "a blanket margin should leave some attempts short of propellant"
    );
}

/// `cargo test lumara::calibration::table -- --nocapture` prints the figures.
#[test]
fn table() {
    println!("world | first | final | mean iterations | first with perfect rules");
    for world in 1..=5 {
        let base = rates(world, 1..=30, |_| Prompts::default());
        let perfect = rates(world, 1..=30, harness::perfect_prompts);
        println!(
            "{world} | {:.0}% | {:.0}% | {:.2} | {:.0}%",
            base.first * 100.0,
            base.last * 100.0,
            base.mean_iterations,
            perfect.first * 100.0
        );
        // The regularity terrains turn up often (so a couple of dozen missions show
        // them), which makes the baseline's first attempt fail often: hard, not hopeless.
        assert!(
            (0.05..=0.65).contains(&base.first),
            "world {world}: {base:?}"
        );
        assert!(base.last >= base.first + 0.1, "world {world}: {base:?}");
        assert!(perfect.first >= 0.7, "world {world}: {perfect:?}");
    }
}

/// Per-session detail for calibrating a world:
/// `LUMARA_WORLD=2 cargo test lumara::calibration::diagnostics -- --ignored --nocapture`.
#[test]
#[ignore]
fn diagnostics() {
    let world = std::env::var("LUMARA_WORLD")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let perfect = std::env::var("LUMARA_PERFECT").is_ok();
    let hidden = Hidden::for_world(world);
    println!(
        "world {world}: deceptive {} (-{}°), altimeter {} (+{} m), g {}",
        TERRAINS[hidden.deceptive_terrain],
        hidden.slope_underreport_deg,
        TERRAINS[hidden.altimeter_terrain],
        hidden.altimeter_bias_m,
        hidden.gravity_mps2
    );
    let seeds: u64 = std::env::var("LUMARA_SEEDS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(30);
    let mut first_failures: std::collections::BTreeMap<String, u32> = Default::default();
    let (mut passed, mut iterations) = (0, 0);
    for seed in 1..=seeds {
        let lumara = env(seed, world);
        let mut prompts = if perfect {
            harness::perfect_prompts(&lumara)
        } else {
            Prompts::default()
        };
        // Extra rules to try, one JSON object per line, for every role.
        if let Ok(extra) = std::env::var("LUMARA_RULES") {
            let rules: Vec<Value> = extra
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            for prompt in [
                &mut prompts.commander,
                &mut prompts.detector,
                &mut prompts.navigator,
            ] {
                *prompt = harness::with_playbook(prompt, "Trial", &rules);
            }
        }
        let outcome = run_session(&lumara, &prompts, 3);
        let steps: Vec<String> = outcome
            .facts
            .iter()
            .zip(&outcome.failures)
            .map(|(f, failed)| {
                format!(
                    "{}:{} v={} m={} fuel={}/{} [{}]",
                    f["site"].as_str().unwrap_or(""),
                    f["terrain"].as_str().unwrap_or(""),
                    f["touchdown_speed_mps"],
                    f["burn_margin_m"],
                    f["fuel_remaining_kg"],
                    f["fuel_return_kg"],
                    failed.join(",")
                )
            })
            .collect();
        println!(
            "seed {seed:2} {} | {}",
            if outcome.passed { "PASS" } else { "FAIL" },
            steps.join(" → ")
        );
        let first = outcome.failures[0].join(",");
        *first_failures
            .entry(if first.is_empty() {
                "pass".into()
            } else {
                first
            })
            .or_default() += 1;
        passed += u32::from(outcome.passed);
        iterations += outcome.iterations;
    }
    println!("summary world {world}: first attempt {first_failures:?}; final {passed}/{seeds}; mean iterations {:.2}", f64::from(iterations) / seeds as f64);
}

/// Ground truth, every tool result and every report of one session:
/// `LUMARA_WORLD=2 LUMARA_SEED=16 cargo test lumara::calibration::session_transcript -- --ignored --nocapture`.
#[test]
#[ignore]
fn session_transcript() {
    let world = std::env::var("LUMARA_WORLD")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let seed = std::env::var("LUMARA_SEED")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let lumara = env(seed, world);
    for s in &lumara.mission.sites {
        println!("{s:?}");
    }
    let outcome = run_session(&lumara, &Prompts::default(), 3);
    for (tool, out) in &outcome.transcript {
        println!("{tool}: {}", out.lines().last().unwrap_or(""));
    }
    for a in &outcome.answers {
        println!("---\n{a}");
    }
}
