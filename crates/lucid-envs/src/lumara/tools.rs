//! The tools agents use on the mission, bound to one episode's state:
//! `survey_site` (detector), `vehicle_status`, `simulate_descent` and `commit_descent`
//! (navigator).
//!
//! Each answer is a readable sentence or two followed by one machine-readable line
//! (`SURVEY …`, `STATUS …`, `SIMULATION …`, `TOUCHDOWN …`) of `key=value` pairs. Bad
//! arguments are tool errors that say what to change, never panics. Planning tools use
//! the altimeter as the crew believes it (no bias); only the committed descent meets
//! the real ground.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use super::episode::{Shared, SURVIVABLE_SPEED_MPS};
use super::physics::{fly, DescentOutcome};
use super::world::{SITE_NAMES, TERRAINS};
use lucid_core::tool::{parse_args, Tool, ToolOutput, ToolSpec};

pub(super) const SURVEY_SITE: &str = "survey_site";
pub(super) const VEHICLE_STATUS: &str = "vehicle_status";
pub(super) const SIMULATE_DESCENT: &str = "simulate_descent";
pub(super) const COMMIT_DESCENT: &str = "commit_descent";

/// Highest burn altitude a plan may command, metres.
const MAX_BURN_ALTITUDE_M: f64 = 3000.0;
/// Lowest throttle the engine can hold.
const MIN_THROTTLE: f64 = 0.1;
const DEFAULT_THROTTLE: f64 = 0.8;

/// Every tool of an episode.
pub(super) fn all(shared: &Shared) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(SurveySite(shared.clone())),
        Arc::new(VehicleStatus(shared.clone())),
        Arc::new(Descent {
            shared: shared.clone(),
            commit: false,
        }),
        Arc::new(Descent {
            shared: shared.clone(),
            commit: true,
        }),
    ]
}

fn ready(output: ToolOutput) -> BoxFuture<'static, ToolOutput> {
    Box::pin(async move { output })
}

fn site_schema() -> Value {
    json!({"type": "string", "enum": SITE_NAMES, "description": "Candidate site name, A to F."})
}

/// Finds a site by name or says which names exist.
fn find_site(shared: &Shared, tool: &str, name: &str) -> Result<usize, ToolOutput> {
    shared
        .mission
        .site(name)
        .map(|(index, _)| index)
        .ok_or_else(|| {
            ToolOutput::error(format!(
                "{tool}: unknown site `{name}`; the candidate sites are {}",
                SITE_NAMES.join(", ")
            ))
        })
}

struct SurveySite(Shared);

#[derive(Deserialize)]
struct SurveyArgs {
    site: String,
    #[serde(default)]
    mode: Option<String>,
}

impl SurveySite {
    fn run(&self, input: Value) -> Result<String, ToolOutput> {
        let args: SurveyArgs = parse_args(SURVEY_SITE, input)?;
        let index = find_site(&self.0, SURVEY_SITE, &args.site)?;
        let mode = args
            .mode
            .as_deref()
            .unwrap_or("orbital")
            .trim()
            .to_ascii_lowercase();
        let mission = &self.0.mission;
        let Some(site) = mission.sites.get(index) else {
            return Err(ToolOutput::error(format!(
                "{SURVEY_SITE}: unknown site `{}`",
                args.site
            )));
        };
        let (slope, hazards, cost) = match mode.as_str() {
            "orbital" => (site.orbital_slope_deg, site.orbital_hazards, 0.0),
            "low_pass" | "lowpass" | "low-pass" => {
                let mut state = self.0.state();
                if state.landing.is_some() {
                    return Err(ToolOutput::error(format!(
                        "{SURVEY_SITE}: the lander is on the surface; a low_pass survey is no longer possible"
                    )));
                }
                let cost = mission.low_pass_cost_kg;
                if self.0.fuel_on_board(&state) - cost < site.approach_fuel_kg {
                    return Err(ToolOutput::error(format!(
                        "{SURVEY_SITE}: not enough propellant for another low_pass survey"
                    )));
                }
                state.low_pass_surveys += 1;
                state.survey_fuel_kg += cost;
                state.low_passed.insert(index);
                (site.low_pass_slope_deg, site.hazards, cost)
            }
            other => {
                return Err(ToolOutput::error(format!(
                    "{SURVEY_SITE}: unknown mode `{other}`; use `orbital` (free, coarse) or `low_pass` (accurate, costs propellant)"
                )))
            }
        };
        let mode = if cost > 0.0 { "low_pass" } else { "orbital" };
        Ok(format!(
            "Site {name}, {mode} survey: {terrain} terrain, slope {slope:.1}°, {hazards} hazard(s) seen, \
             albedo {albedo:.2}, {dust} dust. Reaching it costs {approach:.0} kg of propellant; returning to orbit from it needs {ret:.0} kg. \
             This survey cost {cost:.0} kg.\n\
             SURVEY site={name} mode={mode} terrain={terrain} slope_deg={slope:.1} hazards={hazards} \
             albedo={albedo:.2} dust={dust} approach_fuel_kg={approach:.0} return_fuel_kg={ret:.0} cost_kg={cost:.0}",
            albedo = site.albedo,
            dust = site.dust,
            name = site.name,
            terrain = site.terrain_name(),
            approach = site.approach_fuel_kg,
            ret = site.return_fuel_kg,
        ))
    }
}

impl Tool for SurveySite {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: SURVEY_SITE.into(),
            description: format!(
                "Survey a candidate landing site: terrain type, ground slope (degrees) and hazards \
                 (boulders, craterlets) at the touchdown point, plus the site's approach and return \
                 propellant. mode `orbital` is free but coarse; `low_pass` is accurate but costs {:.0} kg \
                 of propellant. Terrain types: {}.",
                self.0.mission.low_pass_cost_kg,
                TERRAINS.join(", ")
            ),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "site": site_schema(),
                    "mode": {"type": "string", "enum": ["orbital", "low_pass"], "default": "orbital"}
                },
                "required": ["site"]
            }),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        ready(self.run(input).map_or_else(|err| err, ToolOutput::ok))
    }
}

struct VehicleStatus(Shared);

#[derive(Deserialize)]
struct StatusArgs {
    #[serde(default)]
    site: Option<String>,
}

impl VehicleStatus {
    fn run(&self, input: Value) -> Result<String, ToolOutput> {
        let input = if input.is_null() { json!({}) } else { input };
        let args: StatusArgs = parse_args(VEHICLE_STATUS, input)?;
        let state = self.0.state();
        let fuel = self.0.fuel_on_board(&state);
        let base = self.0.descent_start(&state, usize::MAX);
        let mut text = format!(
            "Lander: {mass:.0} kg ({dry:.0} kg dry + {fuel:.1} kg propellant); engine {thrust:.0} N maximum, \
             Isp {isp:.0} s; gravity {g:.2} m/s². Low-pass surveys flown: {surveys} ({spent:.0} kg).\n",
            mass = base.dry_mass_kg + fuel,
            dry = base.dry_mass_kg,
            thrust = base.max_thrust_n,
            isp = base.isp_s,
            g = base.gravity_mps2,
            surveys = state.low_pass_surveys,
            spent = state.survey_fuel_kg,
        );
        let mut line = format!(
            "STATUS dry_mass_kg={:.0} fuel_kg={fuel:.1} max_thrust_n={:.0} isp_s={:.0} gravity_mps2={:.2} \
             start_altitude_m={:.0} start_speed_mps={:.1} terminal_speed_mps={:.1} low_pass_surveys={}",
            base.dry_mass_kg,
            base.max_thrust_n,
            base.isp_s,
            base.gravity_mps2,
            base.altitude_m,
            base.speed_mps,
            base.terminal_speed_mps,
            state.low_pass_surveys,
        );
        if let Some(name) = args.site.as_deref().filter(|name| !name.trim().is_empty()) {
            let index = find_site(&self.0, VEHICLE_STATUS, name)?;
            let start = self.0.descent_start(&state, index);
            if let Some(site) = self.0.mission.sites.get(index) {
                text.push_str(&format!(
                    "Descent to site {name}: the approach costs {approach:.0} kg, leaving {left:.1} kg of propellant \
                     (mass {mass:.0} kg) at {alt:.0} m, falling at {v:.0} m/s; braking ends at {vt} m/s; the return \
                     to orbit needs {ret:.0} kg.\n",
                    name = site.name,
                    approach = site.approach_fuel_kg,
                    left = start.fuel_kg,
                    mass = start.mass_kg(),
                    alt = start.altitude_m,
                    v = start.speed_mps,
                    vt = start.terminal_speed_mps,
                    ret = site.return_fuel_kg,
                ));
                line.push_str(&format!(
                    " site={} approach_fuel_kg={:.0} fuel_at_descent_kg={:.1} descent_mass_kg={:.1} fuel_return_kg={:.0}",
                    site.name,
                    site.approach_fuel_kg,
                    start.fuel_kg,
                    start.mass_kg(),
                    site.return_fuel_kg
                ));
            }
        }
        text.push_str(&line);
        Ok(text)
    }
}

impl Tool for VehicleStatus {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: VEHICLE_STATUS.into(),
            description: "The lander's mass, propellant, engine, gravity and descent profile. With `site`, \
                          also the propellant left when the descent to that site starts and the propellant \
                          the return to orbit from it needs."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {"site": site_schema()}
            }),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        ready(self.run(input).map_or_else(|err| err, ToolOutput::ok))
    }
}

/// `simulate_descent` (plan, no bias, repeatable) and `commit_descent` (fly, once).
struct Descent {
    shared: Shared,
    commit: bool,
}

#[derive(Deserialize)]
struct DescentArgs {
    site: String,
    burn_altitude_m: f64,
    #[serde(default)]
    throttle: Option<f64>,
}

impl Descent {
    fn name(&self) -> &'static str {
        if self.commit {
            COMMIT_DESCENT
        } else {
            SIMULATE_DESCENT
        }
    }

    fn run(&self, input: Value) -> Result<String, ToolOutput> {
        let tool = self.name();
        let args: DescentArgs = parse_args(tool, input)?;
        let index = find_site(&self.shared, tool, &args.site)?;
        if !args.burn_altitude_m.is_finite()
            || !(0.0..=MAX_BURN_ALTITUDE_M).contains(&args.burn_altitude_m)
        {
            return Err(ToolOutput::error(format!(
                "{tool}: burn_altitude_m must be between 0 and {MAX_BURN_ALTITUDE_M:.0} (it was {})",
                args.burn_altitude_m
            )));
        }
        let throttle = args.throttle.unwrap_or(DEFAULT_THROTTLE);
        if !throttle.is_finite() || !(MIN_THROTTLE..=1.0).contains(&throttle) {
            return Err(ToolOutput::error(format!(
                "{tool}: throttle must be between {MIN_THROTTLE} and 1 (it was {throttle})"
            )));
        }
        let mut state = self.shared.state();
        let mission = &self.shared.mission;
        let Some(site) = mission.sites.get(index) else {
            return Err(ToolOutput::error(format!(
                "{tool}: unknown site `{}`",
                args.site
            )));
        };
        if !self.commit {
            let start = self.shared.descent_start(&state, index);
            let outcome = fly(&start, args.burn_altitude_m, throttle, 0.0);
            return Ok(simulation_text(
                site.name,
                site.return_fuel_kg,
                args.burn_altitude_m,
                throttle,
                &outcome,
            ));
        }
        if let Some(done) = &state.landing {
            let name = mission.sites.get(done.site).map_or("?", |s| s.name);
            return Err(ToolOutput::error(format!(
                "{COMMIT_DESCENT}: a descent was already committed in this attempt (to site {name}); it cannot be flown twice"
            )));
        }
        let landing = self
            .shared
            .commit(&mut state, index, args.burn_altitude_m, throttle);
        let o = &landing.outcome;
        let speed = (o.touchdown_speed_mps * 100.0).round() / 100.0;
        let landed = speed <= SURVIVABLE_SPEED_MPS;
        let verdict = if landed { "Touchdown" } else { "Hard impact" };
        Ok(format!(
            "Descent committed to site {name} ({terrain}). {verdict} at {speed:.2} m/s in the {phase} phase; \
             the altimeter read {alt:.1} m at contact. Ground at the touchdown point: slope {slope:.1}°, \
             {hazards} hazard(s). Propellant left {left:.1} kg; the return to orbit needs {ret:.0} kg.\n\
             TOUCHDOWN landed={landed} site={name} terrain={terrain} touchdown_speed_mps={speed:.2} \
             slope_deg={slope:.1} hazards={hazards} fuel_remaining_kg={left:.1} fuel_return_kg={ret:.0} \
             burn_altitude_m={burn:.1} burn_margin_m={margin:.1} throttle={throttle:.2} \
             altimeter_at_contact_m={alt:.1} brake_end_altitude_m={brake_end} contact_phase={phase} \
             descent_fuel_kg={used:.1}",
            name = site.name,
            terrain = site.terrain_name(),
            phase = o.contact_phase.as_str(),
            alt = o.altimeter_at_contact_m,
            slope = site.slope_deg,
            hazards = site.hazards,
            left = o.fuel_left_kg,
            ret = site.return_fuel_kg,
            burn = landing.burn_altitude_m,
            margin = landing.burn_margin_m,
            brake_end = o.brake_end_reading_m.map_or("none".to_string(), |h| format!("{h:.1}")),
            used = o.fuel_used_kg,
        ))
    }
}

fn simulation_text(site: &str, ret: f64, burn: f64, throttle: f64, o: &DescentOutcome) -> String {
    let brake_end = match o.brake_end_reading_m {
        Some(h) => format!("braking ends at {h:.1} m"),
        None => "braking does not finish before contact".to_string(),
    };
    let reserve = o.fuel_left_kg - ret;
    format!(
        "Simulated descent to site {site}: burn at {burn:.1} m (altimeter) at {pct:.0}% throttle; {brake_end}; \
         touchdown at {speed:.2} m/s in the {phase} phase after {t:.1} s. Propellant used {used:.1} kg, left \
         {left:.1} kg; the return needs {ret:.0} kg (reserve {reserve:+.1} kg).{exhausted}\n\
         SIMULATION site={site} burn_altitude_m={burn:.1} throttle={throttle:.2} touchdown_speed_mps={speed:.2} \
         brake_end_altitude_m={end} contact_phase={phase} fuel_used_kg={used:.1} fuel_remaining_kg={left:.1} \
         fuel_return_kg={ret:.0} reserve_kg={reserve:.1} duration_s={t:.1}",
        pct = throttle * 100.0,
        speed = o.touchdown_speed_mps,
        phase = o.contact_phase.as_str(),
        t = o.duration_s,
        used = o.fuel_used_kg,
        left = o.fuel_left_kg,
        exhausted = if o.fuel_exhausted { " The propellant ran out." } else { "" },
        end = o.brake_end_reading_m.map_or("none".to_string(), |h| format!("{h:.1}")),
    )
}

impl Tool for Descent {
    fn spec(&self) -> ToolSpec {
        let description = if self.commit {
            "Fly the powered descent to a site for real, once per attempt: coast until the radar altimeter \
             reads burn_altitude_m, brake at throttle to the terminal speed, descend at that speed to \
             touchdown. Returns the touchdown telemetry."
        } else {
            "Simulate the powered descent to a site without flying it, as often as needed: coast until the \
             altimeter reads burn_altitude_m, brake at throttle to the terminal speed, descend at that speed. \
             Returns the predicted touchdown speed, where braking ends, and propellant."
        };
        ToolSpec {
            name: self.name().into(),
            description: description.into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "site": site_schema(),
                    "burn_altitude_m": {"type": "number", "minimum": 0, "maximum": MAX_BURN_ALTITUDE_M,
                        "description": "Altimeter reading at which the braking burn starts."},
                    "throttle": {"type": "number", "minimum": MIN_THROTTLE, "maximum": 1, "default": DEFAULT_THROTTLE,
                        "description": "Fraction of maximum thrust during the braking burn."}
                },
                "required": ["site", "burn_altitude_m"]
            }),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        ready(self.run(input).map_or_else(|err| err, ToolOutput::ok))
    }
}
