//! The navigator's scripted policy: plan the powered descent to the site the subtask
//! names, check it in simulation, commit it once, and report the telemetry.
//!
//! Baseline: read `vehicle_status`, estimate the zero-margin burn altitude from the
//! braking kinematics (v² / 2·net deceleration, with the coast before it), refine it
//! with `simulate_descent` until the plan brakes out a fixed safety margin (30 m,
//! above the altimeter's ±20 m spec) above the ground at 80 % throttle, check the
//! propellant reserve, then `commit_descent`. If the reserve is short it trims the
//! margin (hovering costs propellant); if even the minimum margin is short it does not
//! commit and says so (`NO_COMMIT`), unless the subtask says `FORCE` — and even then not
//! when a descent here at that margin already ended short, since it would again
//! (except at a rule's margin, where flying gathers the evidence to depart from it).
//!
//! It improves only through its request: `PREVIOUS …` lines in the subtask (telemetry
//! of earlier attempts at the same site and which facts failed) and playbook rules
//! (`burn_margin_m`, `throttle` directives for the site's observed features).
//!
//! A rule is a prior. The navigator departs from one, and says so on a
//! `RULE_OVERRIDDEN` line, when its own evidence contradicts it: every simulation at a
//! ruled throttle crashes, or two descents here at the ruled margin ended short of the
//! return propellant (the same check failing twice), after which it trims the margin to
//! what the propellant allows, keeping clear of the altimeter's reading at contact, and
//! declares the departure with a commit below the rule's margin.
//!
//! Followed up (its commander sends it the grader's feedback as a new message), it reads
//! its orders from every message it was sent and plans a new descent from the latest:
//! this segment's calls decide (its commit, its simulations); the vehicle's state and
//! its earlier simulations of the same site still inform the plan, so it does not ask
//! for the state again and starts from the burn point it already found.

use serde_json::{json, Value};

use super::text::{self, Exchange, Pairs};
use super::tools::{COMMIT_DESCENT, SIMULATE_DESCENT, VEHICLE_STATUS};
use super::world::SITE_NAMES;
use lucid_core::model::{ContentBlock, ModelRequest, ModelResponse, Policy, ResponseBuilder, Role};
use lucid_core::world::rules::{self, parse_rules, Rule};

const BASE_MARGIN_M: f64 = 30.0;
const MIN_MARGIN_M: f64 = 10.0;
const BASE_THROTTLE: f64 = 0.8;
const MAX_SIMULATIONS: usize = 6;
/// Simulations at a rule's setting that must all crash before the navigator departs
/// from the rule.
const MIN_CONTRADICTING_SIMULATIONS: usize = 3;
/// Descents here at a rule's margin that must end short of the return propellant before
/// the navigator departs from the rule's margin.
const MIN_SHORT_AT_RULED_MARGIN: usize = 2;
/// Clearance kept above the altimeter's reading at contact when trimming a margin
/// below a rule's.
const CONTACT_CLEARANCE_M: f64 = 15.0;
/// How far (as a share of the rule's margin) a descent's measured margin may be from a
/// rule's margin and still count as flown at it.
const RULED_MARGIN_TOLERANCE: f64 = 0.05;
/// Extra altitude added on top of a measured shortfall after a hard landing.
const HARD_LANDING_SAFETY_M: f64 = 20.0;
const G0: f64 = 9.80665;
const ADVISOR_TOOL: &str = "ask_advisor";

pub(super) struct Navigator;

/// The vehicle as `vehicle_status` describes it (defaults where a value is missing).
#[derive(Debug, Clone, Copy)]
struct Vehicle {
    mass: f64,
    thrust: f64,
    gravity: f64,
    isp: f64,
    v0: f64,
    h0: f64,
    vt: f64,
}

impl Vehicle {
    fn from_status(status: &Pairs) -> Self {
        let get = |key: &str, default: f64| {
            text::num(status, key)
                .filter(|x| *x > 0.0)
                .unwrap_or(default)
        };
        let fuel = get("fuel_at_descent_kg", get("fuel_kg", 900.0));
        Vehicle {
            mass: get("descent_mass_kg", get("dry_mass_kg", 1600.0) + fuel),
            thrust: get("max_thrust_n", 12_000.0),
            gravity: get("gravity_mps2", 1.62),
            isp: get("isp_s", 311.0),
            v0: get("start_speed_mps", 35.0),
            h0: get("start_altitude_m", 1500.0),
            vt: get("terminal_speed_mps", 1.5),
        }
    }

    fn net_decel(&self, throttle: f64) -> f64 {
        (throttle * self.thrust / self.mass - self.gravity).max(0.05)
    }

    /// Zero-margin burn altitude from constant-mass kinematics: coast from h0 at v0,
    /// then brake at the net deceleration to vt exactly at the ground.
    fn analytic_nominal(&self, throttle: f64) -> f64 {
        let a = self.net_decel(throttle);
        let numerator = self.v0 * self.v0 + 2.0 * self.gravity * self.h0 - self.vt * self.vt;
        (numerator / (2.0 * (a + self.gravity))).clamp(0.0, self.h0)
    }

    /// How many metres higher braking ends per metre the burn starts higher: a higher
    /// burn also starts slower, so it brakes out in less distance (1 + g/a).
    fn gain(&self, throttle: f64) -> f64 {
        1.0 + self.gravity / self.net_decel(throttle)
    }

    /// Braking distance still missing at contact, in burn-altitude metres.
    fn shortfall(&self, speed: f64, throttle: f64) -> f64 {
        ((speed * speed - self.vt * self.vt) / (2.0 * self.net_decel(throttle))).max(0.0)
            / self.gain(throttle)
    }

    /// Propellant one extra metre of burn margin costs (hovering down at vt).
    fn kg_per_margin_m(&self, throttle: f64) -> f64 {
        (self.gain(throttle) * self.mass * self.gravity / (self.isp * G0) / self.vt.max(0.1))
            .max(0.05)
    }
}

/// What the subtask asks for.
#[derive(Debug, Clone, Default)]
struct Orders {
    site: Option<String>,
    terrain: Option<String>,
    /// What the commander passed on of the site's surveys (the `SITE` line).
    observed: Pairs,
    force: bool,
    notes: Vec<Pairs>,
}

fn orders(subtask: &str, known: &[String]) -> Orders {
    let is_known = |s: &str| known.iter().any(|k| k.eq_ignore_ascii_case(s));
    let mut orders = Orders {
        force: subtask
            .lines()
            .any(|l| l.trim() == "FORCE" || l.trim().starts_with("FORCE ")),
        notes: text::tagged(subtask, "PREVIOUS"),
        ..Orders::default()
    };
    if let Some(line) = text::last_tagged(subtask, "SITE") {
        orders.site = text::word(&line, "site")
            .filter(|s| is_known(s))
            .map(str::to_ascii_uppercase);
        orders.terrain = text::word(&line, "terrain").map(str::to_string);
        orders.observed = line;
    }
    if orders.site.is_none() {
        let words: Vec<&str> = subtask
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '='))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, w) in words.iter().enumerate() {
            let candidate = if let Some(v) = w.strip_prefix("site=") {
                Some(v)
            } else if w.eq_ignore_ascii_case("site") {
                words.get(i + 1).copied()
            } else {
                None
            };
            if let Some(c) = candidate.filter(|c| is_known(c)) {
                orders.site = Some(c.to_ascii_uppercase());
                break;
            }
        }
    }
    if orders.terrain.is_none() {
        orders.terrain = text::pairs(subtask)
            .get("terrain")
            .cloned()
            .filter(|t| !t.is_empty());
    }
    orders
}

/// Everything the thread was sent (its subtask, then each follow-up), one message a
/// paragraph, and the index of the latest message sent: its calls after that are this
/// segment's.
fn messages_sent(request: &ModelRequest) -> (usize, String) {
    let mut since = 0;
    let mut sent = Vec::new();
    for (index, message) in request.messages.iter().enumerate() {
        if message.role != Role::User {
            continue;
        }
        for block in &message.content {
            if let ContentBlock::Text { text } = block {
                since = index;
                sent.push(text.as_str());
            }
        }
    }
    (since, sent.join("\n"))
}

/// Whether a note is about the ordered site (a note without a site is taken to be).
fn same_site(orders: &Orders, note: &Pairs) -> bool {
    orders
        .site
        .as_deref()
        .is_some_and(|s| text::word(note, "site").is_none_or(|n| n.eq_ignore_ascii_case(s)))
}

fn is_hard(note: &Pairs) -> bool {
    let failed = note.get("failed").map(String::as_str).unwrap_or("");
    failed.contains("touchdown_speed_mps")
        || failed.contains("landed")
        || text::num(note, "touchdown_speed_mps").is_some_and(|v| v > 2.0)
}

fn is_short(note: &Pairs) -> bool {
    let failed = note.get("failed").map(String::as_str).unwrap_or("");
    let numbers = text::num(note, "fuel_remaining_kg").zip(text::num(note, "fuel_return_kg"));
    failed.contains("fuel_remaining_kg")
        || failed.contains("fuel_return_kg")
        || numbers.is_some_and(|(rem, ret)| rem < ret)
}

/// The `RULE_OVERRIDDEN` lines for departing, with this evidence, from every rule that
/// sets `parameter`.
fn override_lines(rules: &[&Rule], parameter: &str, evidence: &str) -> String {
    rules
        .iter()
        .filter(|rule| rule.number(parameter).is_some())
        .map(|rule| rules::override_line(rule, evidence))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a descent here at about `margin` (within the measurement's tolerance, or
/// lower) already ended short of the return propellant.
fn short_at(orders: &Orders, margin: f64) -> bool {
    orders
        .notes
        .iter()
        .filter(|n| is_short(n) && same_site(orders, n))
        .filter_map(|n| text::num(n, "burn_margin_m"))
        .any(|flown| flown <= margin * (1.0 + RULED_MARGIN_TOLERANCE) + 1.0)
}

/// The margin a plan flies: the margin, the lowest one fuel trimming may go to, why, and
/// the evidence for departing from a rule's margin floor, if the navigator may (it
/// declares the departure only if the descent it commits goes below the rule).
struct MarginPlan {
    margin: f64,
    floor: f64,
    why: Vec<String>,
    departure: Option<String>,
}

fn plan_margin(
    v: &Vehicle,
    throttle: f64,
    orders: &Orders,
    rules: &[&Rule],
    advice: Option<f64>,
) -> MarginPlan {
    let mut margin = BASE_MARGIN_M;
    let mut floor = MIN_MARGIN_M;
    let mut why = Vec::new();
    let same_site = |note: &Pairs| same_site(orders, note);
    let same_terrain = |note: &Pairs| {
        orders.terrain.is_some() && text::word(note, "terrain") == orders.terrain.as_deref()
    };
    // A hard landing teaches something about this site or this terrain; a propellant
    // shortfall only about this site.
    for note in orders
        .notes
        .iter()
        .filter(|n| is_hard(n) && (same_site(n) || same_terrain(n)))
    {
        let prev = text::num(note, "burn_margin_m").unwrap_or(BASE_MARGIN_M);
        let speed = text::num(note, "touchdown_speed_mps").unwrap_or(v.vt);
        let shortfall = v.shortfall(speed, text::num(note, "throttle").unwrap_or(throttle));
        let mut need = prev + shortfall + HARD_LANDING_SAFETY_M;
        if let Some(alt) = text::num(note, "altimeter_at_contact_m").filter(|x| *x > 0.0) {
            need = need.max(alt + BASE_MARGIN_M);
        }
        if let Some(extra) = advice {
            need = need.max(prev + extra + HARD_LANDING_SAFETY_M / 2.0);
        }
        why.push(format!(
            "an earlier descent {} touched down at {speed:.2} m/s with a {prev:.0} m margin: the burn started about {shortfall:.0} m too low, so I fly a {need:.0} m margin",
            if same_site(note) { "here".to_string() } else { format!("on {} terrain", orders.terrain.as_deref().unwrap_or("the same")) }
        ));
        margin = margin.max(need);
        floor = floor.max(need - HARD_LANDING_SAFETY_M + 5.0);
    }
    let ruled = text::apply_number(rules, "burn_margin_m", margin);
    if (ruled - margin).abs() > 1e-9 {
        why.push(format!(
            "a playbook rule sets the burn margin to {ruled:.0} m"
        ));
        margin = ruled;
    }
    // Trim from the latest descent here that ended short: it flew whatever margin the
    // earlier ones taught.
    let latest_short = orders
        .notes
        .iter()
        .rfind(|n| is_short(n) && same_site(n))
        .and_then(|note| {
            let remaining = text::num(note, "fuel_remaining_kg")?;
            let needed = text::num(note, "fuel_return_kg")?;
            Some((note, remaining, needed))
        });
    if let Some((note, rem, ret)) = latest_short {
        let prev = text::num(note, "burn_margin_m").unwrap_or(margin);
        let trimmed = prev - ((ret - rem).max(0.0) + 15.0) / v.kg_per_margin_m(throttle);
        if trimmed < margin {
            why.push(format!(
                "an earlier descent here ended {:.0} kg short of the return propellant, so I trim the margin",
                ret - rem
            ));
            margin = trimmed;
        }
    }
    // A rule's margin is a floor, unless two descents here flown at it (within the
    // measurement's tolerance) ended short: then the floor is what the altimeter showed,
    // and the commit declares the departure if it goes below the rule's margin.
    let mut departure = None;
    if let Some(min) = text::rule_floor(rules, "burn_margin_m") {
        let at_rule = |m: f64| (m - min).abs() <= min * RULED_MARGIN_TOLERANCE;
        let short_at_rule = orders
            .notes
            .iter()
            .filter(|n| is_short(n) && same_site(n))
            .filter(|n| text::num(n, "burn_margin_m").is_some_and(at_rule))
            .count();
        // Departing from the rule's margin, not from what the descents measured: the
        // altimeter's reading at contact is how far above the ground it said zero.
        let read_at_contact = orders
            .notes
            .iter()
            .filter(|n| same_site(n) || same_terrain(n))
            .filter_map(|n| text::num(n, "altimeter_at_contact_m"))
            .fold(0.0, f64::max);
        let keep = read_at_contact + CONTACT_CLEARANCE_M;
        if short_at_rule >= MIN_SHORT_AT_RULED_MARGIN && keep < min {
            floor = floor.max(keep);
            departure = Some(format!(
                "{short_at_rule} descents here at the rule's {min:.0} m margin ended short of the return propellant; I trim the margin to what the propellant allows, keeping {keep:.0} m (the altimeter read {read_at_contact:.0} m at contact)"
            ));
        } else {
            floor = floor.max(min);
        }
    }
    MarginPlan {
        margin: margin.max(floor),
        floor,
        why,
        departure,
    }
}

/// One parsed simulation.
#[derive(Debug, Clone)]
struct Sim {
    burn: f64,
    throttle: f64,
    speed: f64,
    brake_end: Option<f64>,
    soft: bool,
    reserve: f64,
}

fn sim(pairs: &Pairs, vt: f64) -> Option<Sim> {
    let speed = text::num(pairs, "touchdown_speed_mps")?;
    Some(Sim {
        burn: text::num(pairs, "burn_altitude_m")?,
        throttle: text::num(pairs, "throttle").unwrap_or(BASE_THROTTLE),
        speed,
        brake_end: text::num(pairs, "brake_end_altitude_m"),
        soft: text::word(pairs, "contact_phase") == Some("descend") && speed <= vt + 0.3,
        reserve: text::num(pairs, "reserve_kg").unwrap_or(0.0),
    })
}

impl Policy for Navigator {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let prefix = text::turn_prefix(request);
        let known: Vec<String> = text::tool_spec(request, SIMULATE_DESCENT)
            .or_else(|| text::tool_spec(request, VEHICLE_STATUS))
            .map(|spec| text::schema_enum(spec, "site"))
            .filter(|names| !names.is_empty())
            .unwrap_or_else(|| SITE_NAMES.iter().map(|s| s.to_string()).collect());
        let (since, sent) = messages_sent(request);
        let orders = orders(&sent, &known);
        let all = text::exchanges(&request.messages);
        // This segment's calls: those after the latest message sent to it.
        let of = |name: &str| {
            all.iter()
                .filter(|e| e.name == name && e.message > since)
                .collect::<Vec<&Exchange>>()
        };
        let ever = |name: &str| {
            all.iter()
                .filter(|e| e.name == name)
                .collect::<Vec<&Exchange>>()
        };

        if let Some(commit) = of(COMMIT_DESCENT).last() {
            return report_commit(request, commit);
        }
        let Some(site) = orders.site.clone() else {
            return text::answer(request, "The subtask names no candidate site I know, so I cannot plan a descent.\nNO_COMMIT reason=no_site");
        };
        if text::tool_spec(request, COMMIT_DESCENT).is_none()
            || text::tool_spec(request, SIMULATE_DESCENT).is_none()
        {
            return text::answer(request, format!("I lack the descent tools, so I cannot fly to site {site}.\nNO_COMMIT site={site} reason=no_tools"));
        }
        let statuses = of(VEHICLE_STATUS);
        let Some(status) = ever(VEHICLE_STATUS)
            .iter()
            .rev()
            .find_map(|e| text::last_tagged(e.ok()?, "STATUS"))
        else {
            if statuses.len() >= 2 {
                return text::answer(request, format!("vehicle_status keeps failing; I will not fly blind.\nNO_COMMIT site={site} reason=status"));
            }
            return ResponseBuilder::new(prefix)
                .text(format!(
                    "Checking the lander's state for the descent to site {site}."
                ))
                .tool(VEHICLE_STATUS, json!({"site": site}))
                .build();
        };
        let vehicle = Vehicle::from_status(&status);
        let rules = parse_rules(&request.system);
        let mut features = text::line_features(&orders.observed);
        features.extend(text::site_features(&site, orders.terrain.as_deref()));
        let applicable = text::applicable(&rules, &features);
        let short_before = orders
            .notes
            .iter()
            .any(|n| is_short(n) && same_site(&orders, n));
        let own_throttle = if short_before { 1.0 } else { BASE_THROTTLE };
        let ruled_throttle =
            text::apply_number(&applicable, "throttle", own_throttle).clamp(0.3, 1.0);
        // A rule is a prior: when every simulation at the throttle it sets crashes, the
        // navigator trusts its own checks and flies its own throttle.
        let of_site = |e: &&&Exchange| {
            e.input_str("site")
                .is_none_or(|s| s.eq_ignore_ascii_case(&site))
        };
        let all_sims: Vec<Sim> = ever(SIMULATE_DESCENT)
            .iter()
            .filter(of_site)
            .filter_map(|e| text::last_tagged(e.ok()?, "SIMULATION"))
            .filter_map(|p| sim(&p, vehicle.vt))
            .collect();
        let at = |t: f64| -> Vec<&Sim> {
            all_sims
                .iter()
                .filter(|s| (s.throttle - t).abs() < 0.005)
                .collect()
        };
        let ruled_sims = at(ruled_throttle);
        let departs = (ruled_throttle - own_throttle).abs() >= 0.005
            && ruled_sims.len() >= MIN_CONTRADICTING_SIMULATIONS
            && ruled_sims.iter().all(|s| !s.soft);
        let throttle = if departs {
            own_throttle
        } else {
            ruled_throttle
        };
        // The departure is declared once per flight: in a follow-up, again, before its
        // first simulation at its own throttle.
        let own_this_flight = of(SIMULATE_DESCENT)
            .iter()
            .filter(|e| {
                e.input
                    .get("throttle")
                    .and_then(Value::as_f64)
                    .is_some_and(|t| (t - own_throttle).abs() < 0.005)
            })
            .count();
        let departure = (departs && own_this_flight == 0).then(|| {
            let speeds = ruled_sims.iter().map(|s| s.speed);
            let (low, high) = speeds.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let evidence = format!(
                "all {} simulations at throttle {ruled_throttle:.2} touched down at {low:.1}-{high:.1} m/s; I fly {own_throttle:.2}",
                ruled_sims.len()
            );
            override_lines(&applicable, "throttle", &evidence)
        });

        // A hard landing before: ask the advisor once, if there is one.
        let hard = orders.notes.iter().find(|n| is_hard(n));
        let advice_calls = of(ADVISOR_TOOL);
        if let (Some(note), Some(spec), true) = (
            hard,
            text::tool_spec(request, ADVISOR_TOOL),
            advice_calls.is_empty(),
        ) {
            let key = advisor_key(&spec.input_schema);
            let question = format!(
                "Our last descent to site {site} touched down at {} m/s while still braking. The braking burn gives a net \
                 deceleration of {:.2} m/s² under gravity of {:.2} m/s² and ends at {} m/s. How much higher should the burn start?",
                note.get("touchdown_speed_mps").map_or("?", String::as_str),
                vehicle.net_decel(text::num(note, "throttle").unwrap_or(throttle)),
                vehicle.gravity,
                vehicle.vt
            );
            return ResponseBuilder::new(prefix)
                .text("Before re-planning I ask the advisor to check my correction.")
                .tool(ADVISOR_TOOL, json!({ key: question }))
                .build();
        }
        let advice = advice_calls
            .iter()
            .find_map(|e| text::last_tagged(e.ok()?, "ADVICE"))
            .and_then(|p| text::num(&p, "extra_altitude_m"));
        let MarginPlan {
            margin: planned,
            floor,
            why,
            departure: margin_departure,
        } = plan_margin(&vehicle, throttle, &orders, &applicable, advice);
        let sims_made = of(SIMULATE_DESCENT);
        let at_throttle = |made: &[&Exchange]| -> Vec<Sim> {
            made.iter()
                .filter(of_site)
                .filter_map(|e| text::last_tagged(e.ok()?, "SIMULATION"))
                .filter_map(|p| sim(&p, vehicle.vt))
                .filter(|s| (s.throttle - throttle).abs() < 0.005)
                .collect()
        };
        // Every simulation of the site informs the burn point; this segment's decide.
        let known_sims = at_throttle(&ever(SIMULATE_DESCENT));
        let sims = at_throttle(&sims_made);
        let errors = sims_made.iter().filter(|e| e.ok().is_none()).count();
        if errors >= 3 {
            return text::answer(request, format!("simulate_descent keeps failing; I will not commit an unchecked plan.\nNO_COMMIT site={site} reason=simulation"));
        }
        let mut nominal = vehicle.analytic_nominal(throttle);
        let mut margin = planned;
        for s in &known_sims {
            let flown = match s.brake_end {
                Some(end) if s.soft => end / vehicle.gain(s.throttle),
                _ => -vehicle.shortfall(s.speed, s.throttle),
            };
            nominal = s.burn - flown;
            if s.soft && s.reserve < 0.0 {
                margin = margin
                    .min(flown - (-s.reserve + 10.0) / vehicle.kg_per_margin_m(throttle))
                    .max(floor);
            }
        }
        let target = (nominal + margin).round().clamp(0.0, 3000.0);
        let plan = Plan {
            site: &site,
            throttle,
            target,
            nominal,
            margin,
            why: &why,
        };
        match sims.last() {
            Some(last) if (last.burn - target).abs() <= 2.0 || sims.len() >= MAX_SIMULATIONS => {
                // A departure from a margin rule is declared when the descent committed
                // goes below the rule's margin, with the commit.
                let ruled = text::rule_floor(&applicable, "burn_margin_m");
                let margin_departure = margin_departure
                    .filter(|_| ruled.is_some_and(|min| margin < min - 0.5))
                    .map(|evidence| override_lines(&applicable, "burn_margin_m", &evidence));
                decide(
                    request,
                    &prefix,
                    &plan,
                    last,
                    margin <= floor + 0.5,
                    // Told to fly regardless, it still declines a descent a previous one
                    // here at this margin already showed short (that fails for sure),
                    // unless the margin is a rule's: flying it gathers the evidence to
                    // depart from the rule.
                    orders.force
                        && (ruled.is_some_and(|min| (floor - min).abs() < 0.5)
                            || !short_at(&orders, margin)),
                    margin_departure,
                )
            }
            _ => ResponseBuilder::new(prefix)
                .text(format!(
                    "{}Simulating a burn at {target:.0} m (estimated zero-margin point {nominal:.0} m plus {margin:.0} m margin) at {:.0}% throttle.",
                    departure.map(|d| format!("{d}\n")).unwrap_or_default(),
                    throttle * 100.0
                ))
                .tool(SIMULATE_DESCENT, json!({"site": site, "burn_altitude_m": target, "throttle": throttle}))
                .build(),
        }
    }
}

struct Plan<'a> {
    site: &'a str,
    throttle: f64,
    target: f64,
    nominal: f64,
    margin: f64,
    why: &'a [String],
}

fn decide(
    request: &ModelRequest,
    prefix: &str,
    plan: &Plan<'_>,
    last: &Sim,
    at_floor: bool,
    force: bool,
    departure: Option<String>,
) -> ModelResponse {
    let site = plan.site;
    if last.soft && last.reserve < 0.0 && at_floor && !force {
        return text::answer(
            request,
            format!(
                "I did not commit the descent to site {site}: even with the smallest margin I accept ({:.0} m) the simulation \
                 leaves {:.1} kg less propellant than the return to orbit needs.\nNO_COMMIT site={site} reason=fuel reserve_kg={:.1} burn_margin_m={:.0}",
                plan.margin, -last.reserve, last.reserve, plan.margin
            ),
        );
    }
    let burn = if last.soft { last.burn } else { plan.target };
    let mut note = format!(
        "The simulation at {:.0} m gives touchdown at {:.2} m/s with a reserve of {:+.1} kg. Committing the descent to site {site}: \
         burn at {burn:.0} m (zero-margin point about {:.0} m, margin {:.0} m), {:.0}% throttle.",
        last.burn,
        last.speed,
        last.reserve,
        plan.nominal,
        plan.margin,
        plan.throttle * 100.0
    );
    if !plan.why.is_empty() {
        note.push_str(&format!(" Why this margin: {}.", plan.why.join("; ")));
    }
    if let Some(departure) = departure {
        note.push('\n');
        note.push_str(&departure);
    }
    ResponseBuilder::new(prefix.to_string())
        .text(note)
        .tool(
            COMMIT_DESCENT,
            json!({"site": site, "burn_altitude_m": burn, "throttle": plan.throttle}),
        )
        .build()
}

fn report_commit(request: &ModelRequest, commit: &Exchange) -> ModelResponse {
    let site = commit.input_str("site").unwrap_or("?");
    match &commit.result {
        Some((content, false)) => {
            let line = content.lines().find(|l| l.trim_start().starts_with("TOUCHDOWN")).unwrap_or("");
            let pairs = text::pairs(line);
            let get = |k: &str| pairs.get(k).map_or("?", String::as_str);
            let soft = text::num(&pairs, "touchdown_speed_mps").is_some_and(|v| v <= 2.0);
            let reserve = text::num(&pairs, "fuel_remaining_kg").zip(text::num(&pairs, "fuel_return_kg")).map(|(a, b)| a - b);
            text::answer(
                request,
                format!(
                    "Descent to site {site} flown. Touchdown at {} m/s ({}); the altimeter read {} m at contact. Propellant left {} kg \
                     against {} kg for the return ({}). Burn at {} m, {} m over the zero-margin point, throttle {}.\n{}",
                    get("touchdown_speed_mps"),
                    if soft { "soft" } else { "too fast" },
                    get("altimeter_at_contact_m"),
                    get("fuel_remaining_kg"),
                    get("fuel_return_kg"),
                    reserve.map_or("unknown".to_string(), |r| format!("reserve {r:+.1} kg")),
                    get("burn_altitude_m"),
                    get("burn_margin_m"),
                    get("throttle"),
                    line.trim()
                ),
            )
        }
        Some((error, true)) => text::answer(
            request,
            format!("commit_descent refused the descent to site {site}: {error}\nNO_COMMIT site={site} reason=commit_refused"),
        ),
        None => text::answer(request, format!("The descent to site {site} returned no telemetry.\nNO_COMMIT site={site} reason=no_result")),
    }
}

/// The property of the advisor tool that carries the question.
fn advisor_key(schema: &Value) -> String {
    let properties = schema.get("properties").and_then(Value::as_object);
    if properties.is_some_and(|p| p.contains_key("question")) {
        return "question".into();
    }
    schema
        .get("required")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .or_else(|| properties.and_then(|p| p.keys().next()).map(String::as_str))
        .unwrap_or("question")
        .to_string()
}

#[cfg(test)]
#[path = "navigator_tests.rs"]
mod tests;
