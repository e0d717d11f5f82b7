//! Placeholder: being written.
use std::sync::Arc;

use crate::env::{EnvError, Environment, Episode};
use crate::model::Policy;
use crate::spec::EnvironmentCapabilities;

pub const KIND: &str = "lumara";

pub fn capabilities() -> EnvironmentCapabilities {
    crate::env::capabilities(
        &[
            "survey_site",
            "vehicle_status",
            "simulate_descent",
            "commit_descent",
        ],
        &[
            "landed",
            "site",
            "terrain",
            "touchdown_speed_mps",
            "slope_deg",
            "hazards",
            "fuel_remaining_kg",
            "fuel_return_kg",
        ],
        &["commander", "detector", "navigator", "advisor", "grader"],
    )
}

pub struct Lumara;

impl Lumara {
    pub fn new(_options: &toml::Table, _seed: u64, _world: u64) -> Result<Self, EnvError> {
        Ok(Lumara)
    }
}

impl Environment for Lumara {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn briefing(&self) -> String {
        String::new()
    }
    fn policy(&self, _role: &str) -> Option<Arc<dyn Policy>> {
        None
    }
    fn episode(&self) -> Arc<dyn Episode> {
        unimplemented!()
    }
}
