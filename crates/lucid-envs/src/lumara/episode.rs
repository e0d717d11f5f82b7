//! One attempt at the mission: the mutable state the tools share (surveys flown,
//! propellant spent on them, the committed descent) and the result facts it amounts to.
//!
//! Every iteration of the revise loop gets a fresh [`LumaraEpisode`] over the same
//! [`Mission`]. This module owns the fact vocabulary; the tools that change the state
//! live in `tools`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};

use super::physics::{fly, nominal_burn_altitude, DescentOutcome, DescentStart};
use super::tools;
use super::world::{
    round_to, Mission, DRY_MASS_KG, ISP_S, MAX_THRUST_N, START_ALTITUDE_M, START_SPEED_MPS,
    TERMINAL_SPEED_MPS,
};
use lucid_core::event::Facts;
use lucid_core::tool::Tool;
use lucid_core::world::Episode;

/// A touchdown faster than this wrecks the lander: `landed` is false.
pub(super) const SURVIVABLE_SPEED_MPS: f64 = 5.0;

/// Every fact an episode reports, in a stable order.
pub(super) const FACT_NAMES: [&str; 22] = [
    "landed",
    "site",
    "terrain",
    "orbital_slope_deg",
    "albedo",
    "dust",
    "touchdown_speed_mps",
    "slope_deg",
    "hazards",
    "fuel_remaining_kg",
    "fuel_return_kg",
    "approach_fuel_kg",
    "descent_fuel_kg",
    "burn_altitude_m",
    "burn_margin_m",
    "throttle",
    "altimeter_at_contact_m",
    "site_verified",
    "survey",
    "low_pass_surveys",
    "survey_fuel_kg",
    "committed",
];

/// The committed descent.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Landing {
    pub site: usize,
    pub burn_altitude_m: f64,
    pub throttle: f64,
    pub burn_margin_m: f64,
    pub outcome: DescentOutcome,
}

/// What the tools have done so far in this attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct EpisodeState {
    pub low_pass_surveys: u32,
    pub survey_fuel_kg: f64,
    pub low_passed: BTreeSet<usize>,
    pub landing: Option<Landing>,
}

/// Shared handle on one attempt, cloned into each tool.
#[derive(Clone)]
pub(super) struct Shared {
    pub mission: Arc<Mission>,
    state: Arc<Mutex<EpisodeState>>,
}

impl Shared {
    pub(super) fn new(mission: Arc<Mission>) -> Self {
        Shared {
            mission,
            state: Arc::new(Mutex::new(EpisodeState::default())),
        }
    }

    /// The state, even if a tool panicked while holding the lock (the state is plain
    /// data and stays consistent between statements).
    pub(super) fn state(&self) -> MutexGuard<'_, EpisodeState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Propellant on board now: initial minus low-pass surveys.
    pub(super) fn fuel_on_board(&self, state: &EpisodeState) -> f64 {
        self.mission.initial_fuel_kg - state.survey_fuel_kg
    }

    /// Where the descent to `site` would start, given the surveys flown so far.
    pub(super) fn descent_start(&self, state: &EpisodeState, site: usize) -> DescentStart {
        let approach = self
            .mission
            .sites
            .get(site)
            .map_or(0.0, |s| s.approach_fuel_kg);
        DescentStart {
            gravity_mps2: self.mission.hidden.gravity_mps2,
            altitude_m: START_ALTITUDE_M,
            speed_mps: START_SPEED_MPS,
            terminal_speed_mps: TERMINAL_SPEED_MPS,
            dry_mass_kg: DRY_MASS_KG,
            fuel_kg: (self.fuel_on_board(state) - approach).max(0.0),
            max_thrust_n: MAX_THRUST_N,
            isp_s: ISP_S,
        }
    }

    /// Flies the descent for real and records it.
    pub(super) fn commit(
        &self,
        state: &mut EpisodeState,
        site: usize,
        burn_altitude_m: f64,
        throttle: f64,
    ) -> Landing {
        let start = self.descent_start(state, site);
        let bias = self
            .mission
            .sites
            .get(site)
            .map_or(0.0, |s| s.altimeter_bias_m);
        let outcome = fly(&start, burn_altitude_m, throttle, bias);
        let nominal = nominal_burn_altitude(&start, throttle);
        let landing = Landing {
            site,
            burn_altitude_m,
            throttle,
            burn_margin_m: burn_altitude_m - nominal,
            outcome,
        };
        state.landing = Some(landing.clone());
        landing
    }

    pub(super) fn facts(&self) -> Facts {
        let state = self.state();
        let mut facts = Facts::new();
        let mut put = |name: &str, value: Value| {
            facts.insert(name.to_string(), value);
        };
        put("low_pass_surveys", json!(state.low_pass_surveys));
        put("survey_fuel_kg", json!(round_to(state.survey_fuel_kg, 0.1)));
        let Some(landing) = &state.landing else {
            // Nothing was flown: values that fail any sensible rubric.
            put("committed", json!(false));
            put("landed", json!(false));
            put("site", json!(""));
            put("terrain", json!(""));
            put("orbital_slope_deg", Value::Null);
            put("albedo", Value::Null);
            put("dust", Value::Null);
            put("touchdown_speed_mps", json!(999.0));
            put("slope_deg", json!(99.0));
            put("hazards", json!(99));
            put("fuel_remaining_kg", json!(0.0));
            // Nothing was approached: no site's approach figure (a number here would
            // look like data to a dream); the return need stays impossible to meet, so
            // the propellant check fails rather than goes unjudged.
            put("fuel_return_kg", json!(9999.0));
            put("approach_fuel_kg", Value::Null);
            put("descent_fuel_kg", json!(0.0));
            put("burn_altitude_m", json!(0.0));
            put("burn_margin_m", json!(0.0));
            put("throttle", json!(0.0));
            put("altimeter_at_contact_m", json!(0.0));
            put("site_verified", json!(false));
            put("survey", json!(""));
            return facts;
        };
        let site = self.mission.sites.get(landing.site);
        let outcome = &landing.outcome;
        let speed = round_to(outcome.touchdown_speed_mps, 0.01);
        put("committed", json!(true));
        put("landed", json!(speed <= SURVIVABLE_SPEED_MPS));
        put("site", json!(site.map_or("", |s| s.name)));
        put("terrain", json!(site.map_or("", |s| s.terrain_name())));
        // What the orbital survey showed of the site (whether or not the team looked).
        put(
            "orbital_slope_deg",
            site.map_or(Value::Null, |s| json!(s.orbital_slope_deg)),
        );
        put("albedo", site.map_or(Value::Null, |s| json!(s.albedo)));
        put("dust", site.map_or(Value::Null, |s| json!(s.dust)));
        put("touchdown_speed_mps", json!(speed));
        put("slope_deg", json!(site.map_or(99.0, |s| s.slope_deg)));
        put("hazards", json!(site.map_or(99, |s| s.hazards)));
        put(
            "fuel_remaining_kg",
            json!(round_to(outcome.fuel_left_kg, 0.1)),
        );
        put(
            "fuel_return_kg",
            json!(site.map_or(9999.0, |s| s.return_fuel_kg)),
        );
        put(
            "approach_fuel_kg",
            json!(site.map_or(0.0, |s| s.approach_fuel_kg)),
        );
        put(
            "descent_fuel_kg",
            json!(round_to(outcome.fuel_used_kg, 0.1)),
        );
        put(
            "burn_altitude_m",
            json!(round_to(landing.burn_altitude_m, 0.1)),
        );
        put("burn_margin_m", json!(round_to(landing.burn_margin_m, 0.1)));
        put("throttle", json!(round_to(landing.throttle, 0.01)));
        put(
            "altimeter_at_contact_m",
            json!(round_to(outcome.altimeter_at_contact_m, 0.1)),
        );
        let verified = state.low_passed.contains(&landing.site);
        put("site_verified", json!(verified));
        put(
            "survey",
            json!(if verified { "low_pass" } else { "orbital" }),
        );
        facts
    }
}

/// An attempt, as the revise loop sees it.
pub(super) struct LumaraEpisode {
    shared: Shared,
}

impl LumaraEpisode {
    pub(super) fn new(mission: Arc<Mission>) -> Self {
        LumaraEpisode {
            shared: Shared::new(mission),
        }
    }
}

impl Episode for LumaraEpisode {
    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        tools::all(&self.shared)
    }

    fn facts(&self) -> Facts {
        self.shared.facts()
    }
}
