//! Lumara: a lunar landing mission for a commander, detectors and a navigator.
//!
//! Six candidate sites (A–F) wait below. Detectors learn about them only through
//! `survey_site` (free coarse `orbital` readings, or accurate `low_pass` passes that cost
//! propellant); the navigator plans a time-stepped powered descent with
//! `vehicle_status` and `simulate_descent`, then flies it once with `commit_descent`.
//! The committed descent fixes the result facts: touchdown speed, slope and hazards at
//! the touchdown point, propellant left and the propellant the return needs.
//!
//! The world number seeds regularities nobody is told about (a terrain that fools
//! orbital surveys, a terrain over which the radar altimeter reads high, gravity,
//! roughness); they show only in the telemetry of recorded sessions. The seed draws the
//! mission. Everything is deterministic for a world and seed.
//!
//! Files: `world` (ground truth, briefing), `physics` (descent simulation), `episode`
//! (one attempt's state and facts), `tools`, and the scripted policies `commander` (with
//! `history`, its reading of the conversation), `detector`, `navigator`, `grader`,
//! `advisor` over shared parsing in `text`; `rng` is the deterministic generator.
//!
//! # Options (`[environment]` table)
//! - `low_pass_cost_kg` (number, 0–200, default 30): propellant one `low_pass` survey
//!   costs.
//!
//! Unknown keys are rejected with [`EnvError::BadOption`].

mod advisor;
mod commander;
mod detector;
mod episode;
mod grader;
mod history;
mod navigator;
mod physics;
pub(crate) mod rng;
mod text;
mod tools;
mod world;

#[cfg(test)]
mod calibration;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use lucid_core::model::Policy;
use lucid_core::spec::EnvironmentCapabilities;
use lucid_core::world::{EnvError, Environment, Episode};

use episode::{LumaraEpisode, FACT_NAMES};
use world::{Mission, DEFAULT_LOW_PASS_COST_KG};

pub const KIND: &str = "lumara";

/// Tool names, by the role that uses them.
pub const TOOLS: [&str; 4] = [
    tools::SURVEY_SITE,
    tools::VEHICLE_STATUS,
    tools::SIMULATE_DESCENT,
    tools::COMMIT_DESCENT,
];

/// Roles Lumara ships scripted policies for.
pub const ROLES: [&str; 5] = ["commander", "detector", "navigator", "advisor", "grader"];

/// What Lumara offers a session file: tools, result facts, roles, and for dreams the
/// facts that measure the attempt's result (known only after the descent) and the facts
/// that record the team's choices (burn margin, throttle, how the site was surveyed).
/// Every other fact (site, terrain, survey readings, propellant figures) is something
/// the team could see before acting.
pub fn capabilities() -> EnvironmentCapabilities {
    lucid_core::world::with_learning(
        lucid_core::world::capabilities(&TOOLS, &FACT_NAMES, &ROLES),
        &OUTCOMES,
        &["burn_margin_m", "throttle", "survey"],
    )
}

/// Facts measured by the attempt itself.
const OUTCOMES: [&str; 12] = [
    "landed",
    "touchdown_speed_mps",
    "slope_deg",
    "hazards",
    "fuel_remaining_kg",
    "descent_fuel_kg",
    "burn_altitude_m",
    "altimeter_at_contact_m",
    "site_verified",
    "low_pass_surveys",
    "survey_fuel_kg",
    "committed",
];

/// One candidate site as the benchmarks see it: what surveys show of it (named as the
/// mission's facts name it) and the hidden regularity acting on it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteTruth {
    pub features: std::collections::BTreeMap<String, serde_json::Value>,
    /// `deceptive_ground` or `altimeter_bias`; `None` for ordinary ground.
    pub regularity: Option<&'static str>,
}

/// Every candidate site of `world` and `seed` with its hidden regularity. For
/// benchmarks that score learned rules against the generator's truth: nothing a policy,
/// the store or a dream reads comes from here.
pub fn ground_truth(world: u64, seed: u64) -> Vec<SiteTruth> {
    let mission = Mission::generate(world, seed, DEFAULT_LOW_PASS_COST_KG);
    mission
        .sites
        .iter()
        .map(|site| SiteTruth {
            features: std::collections::BTreeMap::from([
                ("site".to_string(), serde_json::json!(site.name)),
                (
                    "terrain".to_string(),
                    serde_json::json!(site.terrain_name()),
                ),
                (
                    "orbital_slope_deg".to_string(),
                    serde_json::json!(site.orbital_slope_deg),
                ),
                ("albedo".to_string(), serde_json::json!(site.albedo)),
                ("dust".to_string(), serde_json::json!(site.dust)),
                (
                    "approach_fuel_kg".to_string(),
                    serde_json::json!(site.approach_fuel_kg),
                ),
                (
                    "fuel_return_kg".to_string(),
                    serde_json::json!(site.return_fuel_kg),
                ),
            ]),
            regularity: site.regularity(&mission.hidden),
        })
        .collect()
}

/// The Lumara environment for one world and seed.
pub struct Lumara {
    mission: Arc<Mission>,
}

impl Lumara {
    /// Builds the mission for `world` and `seed`; see the module docs for `options`.
    pub fn new(options: &toml::Table, seed: u64, world: u64) -> Result<Self, EnvError> {
        let mut low_pass_cost_kg = DEFAULT_LOW_PASS_COST_KG;
        for (key, value) in options {
            match key.as_str() {
                "low_pass_cost_kg" => {
                    let number = match value {
                        toml::Value::Integer(n) => *n as f64,
                        toml::Value::Float(x) => *x,
                        _ => f64::NAN,
                    };
                    if !number.is_finite() || !(0.0..=200.0).contains(&number) {
                        return Err(EnvError::BadOption {
                            key: key.clone(),
                            message: format!(
                                "must be a number of kilograms from 0 to 200 (it was {value})"
                            ),
                        });
                    }
                    low_pass_cost_kg = number;
                }
                other => {
                    return Err(EnvError::BadOption {
                        key: other.to_string(),
                        message: "unknown option for lumara; the only option is `low_pass_cost_kg`"
                            .into(),
                    })
                }
            }
        }
        Ok(Lumara {
            mission: Arc::new(Mission::generate(world, seed, low_pass_cost_kg)),
        })
    }
}

impl Environment for Lumara {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn briefing(&self) -> String {
        self.mission.briefing()
    }

    fn policy(&self, role: &str) -> Option<Arc<dyn Policy>> {
        match role {
            "commander" => Some(Arc::new(commander::Commander)),
            "detector" => Some(Arc::new(detector::Detector)),
            "navigator" => Some(Arc::new(navigator::Navigator)),
            "advisor" => Some(Arc::new(advisor::Advisor)),
            "grader" => Some(Arc::new(grader::Grader)),
            _ => None,
        }
    }

    fn episode(&self) -> Arc<dyn Episode> {
        Arc::new(LumaraEpisode::new(self.mission.clone()))
    }
}
