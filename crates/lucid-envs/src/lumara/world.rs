//! The Lumara world and mission: what is true on the ground, and what is hidden.
//!
//! A *world* number fixes regularities no agent is told about: which terrain type fools
//! orbital surveys where they read it smooth (a combination: on that terrain, sites
//! whose orbital slope reading is below a world-drawn cut are rough, boulder-strewn
//! ground that reads clean; the others are honest), which terrain type makes the radar
//! altimeter read high near the ground and by how much, gravity and how rough each
//! terrain is. Surveys also report each site's albedo and dust cover, which vary and
//! matter for nothing (distractors). **World 0 has no hidden regularity**: surveys are
//! honest and the altimeter is true everywhere — a control on which dreams should find
//! no rule. A *seed* then draws one mission in that world: six
//! candidate sites with terrain, true slope and hazards, survey readings, approach and
//! return propellant, and the propellant on board. Everything is derived with
//! [`SplitMix64`], so the same world and seed give the same mission.
//!
//! This module owns the ground truth and the public briefing text; it does not simulate
//! descents (see `physics`) or hold an attempt's state (see `episode`).

use super::rng::{mix, SplitMix64};

/// Terrain types a site can have. Order matters only for drawing.
pub(super) const TERRAINS: [&str; 6] = [
    "mare",
    "highland",
    "ridged",
    "dune",
    "crater_floor",
    "ejecta",
];

/// Site names, in order.
pub(super) const SITE_NAMES: [&str; 6] = ["A", "B", "C", "D", "E", "F"];

/// The vehicle, the same in every world.
pub(super) const DRY_MASS_KG: f64 = 1600.0;
pub(super) const MAX_THRUST_N: f64 = 12_000.0;
pub(super) const ISP_S: f64 = 311.0;
pub(super) const START_ALTITUDE_M: f64 = 1500.0;
pub(super) const START_SPEED_MPS: f64 = 35.0;
pub(super) const TERMINAL_SPEED_MPS: f64 = 1.5;
/// What the briefing promises about the altimeter on ordinary ground.
pub(super) const ALTIMETER_TOLERANCE_M: f64 = 20.0;
/// How often the two hidden-regularity terrains turn up, relative to the others.
const SPECIAL_TERRAIN_WEIGHT: f64 = 2.5;
/// Sites with clear ground every mission has at least.
const MIN_CLEAR_SITES: usize = 2;
/// Default propellant cost of a low-pass survey.
pub(super) const DEFAULT_LOW_PASS_COST_KG: f64 = 30.0;

/// Dust cover a survey reports; a distractor.
pub(super) const DUST: [&str; 3] = ["light", "moderate", "heavy"];
/// Share of the deceptive terrain's sites that are deceptive (those reading smooth).
const DECEPTIVE_SHARE: f64 = 0.6;
/// Chance that any other site hides a hazard orbital surveys miss: bad luck tied to no
/// feature, in every world (world 0 too), so that chance failures exist to mislead.
const SURPRISE_HAZARD_CHANCE: f64 = 0.12;

/// The regularities a world number fixes. Hidden from agents; visible in telemetry.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Hidden {
    /// Whether the world has the hidden regularities at all (every world but 0).
    pub regular: bool,
    pub gravity_mps2: f64,
    /// Terrain index whose orbital readings under-report slope and miss hazards.
    pub deceptive_terrain: usize,
    pub slope_underreport_deg: f64,
    /// On the deceptive terrain, sites whose orbital slope reading is below this are the
    /// deceptive ones; the others read their true slope.
    pub deceptive_reading_below_deg: f64,
    /// Terrain index over which the radar altimeter reads high.
    pub altimeter_terrain: usize,
    pub altimeter_bias_m: f64,
    /// Typical slope (degrees) of each terrain.
    pub roughness: [f64; 6],
}

impl Hidden {
    pub(super) fn for_world(world: u64) -> Self {
        let mut rng = SplitMix64::new(mix(0x4C55_4D41_5241_0057, world));
        let gravity_mps2 = round_to(rng.range(1.45, 1.85), 0.01);
        // Consecutive worlds get different terrains for both regularities.
        let n = TERRAINS.len() as u64;
        let deceptive_terrain = ((world.wrapping_add(1)) % n) as usize;
        let altimeter_terrain =
            ((deceptive_terrain as u64 + 1 + world.wrapping_mul(3) % (n - 1)) % n) as usize;
        let slope_underreport_deg = round_to(rng.range(4.5, 6.5), 0.1);
        let altimeter_bias_m = round_to(rng.range(60.0, 160.0), 1.0);
        let mut roughness = [0.0; 6];
        for (index, value) in roughness.iter_mut().enumerate() {
            // The altimeter terrain is smooth (radar-bright fine regolith), so it is
            // often attractive; that is part of why its bias shows up in sessions.
            *value = if index == altimeter_terrain {
                rng.range(2.0, 3.5)
            } else {
                rng.range(3.0, 5.5)
            };
        }
        // Drawn from a stream of their own, so the draws above stay as they were.
        let mut cut = SplitMix64::new(mix(0x4355_5400_0000_0001, world));
        Hidden {
            regular: world != 0,
            gravity_mps2,
            deceptive_terrain,
            slope_underreport_deg,
            deceptive_reading_below_deg: round_to(cut.range(2.8, 3.6), 0.1),
            altimeter_terrain,
            altimeter_bias_m,
            roughness,
        }
    }
}

/// One candidate landing site.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Site {
    pub name: &'static str,
    pub terrain: usize,
    pub slope_deg: f64,
    pub hazards: u32,
    pub orbital_slope_deg: f64,
    pub orbital_hazards: u32,
    pub low_pass_slope_deg: f64,
    pub approach_fuel_kg: f64,
    pub return_fuel_kg: f64,
    /// How much higher than the truth the altimeter reads over this site.
    pub altimeter_bias_m: f64,
    /// Rough ground that reads smooth from orbit (hidden).
    pub deceptive: bool,
    /// Survey readings that matter for nothing.
    pub albedo: f64,
    pub dust: &'static str,
}

impl Site {
    /// Honest clear ground with room under the 8° limit.
    fn is_clear(&self) -> bool {
        !self.deceptive && self.hazards == 0 && self.slope_deg <= 6.5
    }

    /// Whether a hidden regularity of the world acts on this site, and which: the
    /// benchmarks score rules against this, nothing else reads it.
    pub(super) fn regularity(&self, hidden: &Hidden) -> Option<&'static str> {
        if self.deceptive {
            Some("deceptive_ground")
        } else if hidden.regular && self.terrain == hidden.altimeter_terrain {
            Some("altimeter_bias")
        } else {
            None
        }
    }

    pub(super) fn terrain_name(&self) -> &'static str {
        TERRAINS.get(self.terrain).copied().unwrap_or("unknown")
    }
}

/// One mission: a world's regularities and a seed's sites.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mission {
    pub world: u64,
    pub seed: u64,
    pub hidden: Hidden,
    pub sites: Vec<Site>,
    /// Propellant on board at mission start, before the approach.
    pub initial_fuel_kg: f64,
    pub low_pass_cost_kg: f64,
}

impl Mission {
    pub(super) fn generate(world: u64, seed: u64, low_pass_cost_kg: f64) -> Self {
        let hidden = Hidden::for_world(world);
        let mut rng = SplitMix64::new(mix(mix(world, 0x5345_4544), seed));
        // Draws added later (distractors, which deceptive-terrain sites deceive) come
        // from a stream of their own, so the original draws stay as they were.
        let mut extra = SplitMix64::new(mix(mix(world, 0x4558_5452_4100), seed));
        let initial_fuel_kg = round_to(rng.range(990.0, 1130.0), 5.0);
        // Every mission can be won: draw again (same stream, so still deterministic)
        // until at least two sites have clear ground.
        let mut sites: Vec<Site> = Vec::new();
        for _ in 0..64 {
            sites = SITE_NAMES
                .iter()
                .map(|name| draw_site(&mut rng, &mut extra, &hidden, name))
                .collect();
            if sites.iter().filter(|site| site.is_clear()).count() >= MIN_CLEAR_SITES {
                break;
            }
        }
        Mission {
            world,
            seed,
            hidden,
            sites,
            initial_fuel_kg,
            low_pass_cost_kg,
        }
    }

    pub(super) fn site(&self, name: &str) -> Option<(usize, &Site)> {
        let wanted = name.trim().trim_start_matches("site ").trim();
        self.sites
            .iter()
            .enumerate()
            .find(|(_, site)| site.name.eq_ignore_ascii_case(wanted))
    }

    /// The mission briefing every agent may know: nothing hidden.
    pub(super) fn briefing(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Mission LUMARA-{}-{}: land the lander at one of six candidate sites.\n\n",
            self.world, self.seed
        ));
        out.push_str(&format!(
            "Vehicle: dry mass {DRY_MASS_KG:.0} kg, {:.0} kg of propellant at mission start, \
             main engine {MAX_THRUST_N:.0} N maximum thrust, specific impulse {ISP_S:.0} s.\n",
            self.initial_fuel_kg
        ));
        out.push_str(&format!(
            "Surface gravity: {:.2} m/s². The powered descent starts {START_ALTITUDE_M:.0} m above \
             the chosen site, falling at {START_SPEED_MPS:.0} m/s. The lander coasts until the \
             radar altimeter reads the commanded burn altitude, brakes at the commanded throttle \
             down to {TERMINAL_SPEED_MPS} m/s, then descends at that speed to touchdown. The radar \
             altimeter is specified to ±{ALTIMETER_TOLERANCE_M:.0} m.\n",
            self.hidden.gravity_mps2
        ));
        out.push_str(
            "Landing limits: touchdown at most 2 m/s; ground slope at most 8° and no hazards at \
             the touchdown point; after landing the propellant left must cover the return to \
             orbit from that site.\n",
        );
        out.push_str(&format!(
            "Surveys (detector): `orbital` is free but coarse; `low_pass` flies low over the site, \
             is accurate and costs {:.0} kg of propellant each.\n\n",
            self.low_pass_cost_kg
        ));
        out.push_str(
            "Candidate sites (terrain and ground conditions are known only from surveys):\n",
        );
        out.push_str(
            "| site | approach propellant (kg) | return propellant (kg) |\n|---|---|---|\n",
        );
        for site in &self.sites {
            out.push_str(&format!(
                "| {} | {:.0} | {:.0} |\n",
                site.name, site.approach_fuel_kg, site.return_fuel_kg
            ));
        }
        let names: Vec<&str> = self.sites.iter().map(|site| site.name).collect();
        out.push_str(&format!(
            "\nSITES {} initial_fuel_kg={:.0} low_pass_cost_kg={:.0}\n",
            names.join(","),
            self.initial_fuel_kg,
            self.low_pass_cost_kg
        ));
        out
    }
}

fn draw_site(
    rng: &mut SplitMix64,
    extra: &mut SplitMix64,
    hidden: &Hidden,
    name: &'static str,
) -> Site {
    let weights: Vec<f64> = (0..TERRAINS.len())
        .map(|t| {
            if hidden.regular && (t == hidden.deceptive_terrain || t == hidden.altimeter_terrain) {
                SPECIAL_TERRAIN_WEIGHT
            } else {
                1.0
            }
        })
        .collect();
    let terrain = rng.weighted(&weights);
    // Every draw happens whatever the terrain, so one site's terrain does not shift the
    // random stream of the next.
    let base = rng.unit();
    let hazard_roll = rng.unit();
    let hazard_count = 1 + rng.below(3) as u32;
    let orbital_noise = rng.normal();
    let low_pass_noise = rng.normal();
    let bias_factor = rng.range(0.85, 1.15);
    let altimeter_noise = rng.normal();
    let approach_fuel_kg = round_to(rng.range(150.0, 420.0), 5.0);
    let return_fuel_kg = round_to(rng.range(330.0, 560.0), 5.0);
    let deceives = extra.unit() < DECEPTIVE_SHARE;
    let surprise = extra.unit() < SURPRISE_HAZARD_CHANCE;
    let reading = extra.unit();
    let albedo = round_to(extra.range(0.05, 0.35), 0.01);
    let dust = DUST.get(extra.below(3)).copied().unwrap_or("light");
    let cut = hidden.deceptive_reading_below_deg;
    let on_deceptive_terrain = hidden.regular && terrain == hidden.deceptive_terrain;
    let deceptive = on_deceptive_terrain && deceives;

    let (slope_deg, hazards, orbital_slope_deg, orbital_hazards) = if deceptive {
        // Rough, boulder-strewn ground that reads smooth and clean from orbit: the
        // reading lands below the cut whatever the truth.
        let slope = 6.0 + 6.5 * base;
        let orbital = 0.8 + (cut - 0.9) * reading;
        (slope, hazard_count, orbital, 0)
    } else if on_deceptive_terrain {
        // The same terrain where it does not deceive: honest, moderately sloped ground
        // that reads at or above the cut.
        let slope = cut + 0.3 + 3.0 * base;
        let hazard_chance = 0.10 + 0.05 * hidden.roughness.get(terrain).copied().unwrap_or(4.0);
        let hazards = if hazard_roll < hazard_chance {
            hazard_count
        } else {
            0
        };
        (
            slope,
            hazards,
            (slope + 0.5 * orbital_noise).max(cut),
            hazards,
        )
    } else {
        let roughness = hidden.roughness.get(terrain).copied().unwrap_or(4.0);
        let slope = (roughness * (0.35 + 1.45 * base)).clamp(0.5, 20.0);
        let hazard_chance = 0.10 + 0.05 * roughness;
        let hazards = if hazard_roll < hazard_chance {
            hazard_count
        } else {
            0
        };
        (slope, hazards, (slope + orbital_noise).max(0.3), hazards)
    };
    // A hazard nobody saw from orbit (the low pass sees it).
    let hazards = if surprise && !deceptive {
        hazards.max(1)
    } else {
        hazards
    };
    let altimeter_bias_m = if hidden.regular && terrain == hidden.altimeter_terrain {
        hidden.altimeter_bias_m * bias_factor
    } else {
        6.0 * altimeter_noise
    };
    Site {
        name,
        terrain,
        slope_deg: round_to(slope_deg, 0.1),
        hazards,
        orbital_slope_deg: round_to(orbital_slope_deg, 0.1),
        orbital_hazards,
        low_pass_slope_deg: round_to((slope_deg + 0.15 * low_pass_noise).max(0.1), 0.1),
        approach_fuel_kg,
        return_fuel_kg,
        altimeter_bias_m: round_to(altimeter_bias_m, 0.1),
        deceptive,
        albedo,
        dust,
    }
}

/// Rounds to the nearest multiple of `step`.
pub(super) fn round_to(value: f64, step: f64) -> f64 {
    if step <= 0.0 || !value.is_finite() {
        return value;
    }
    let rounded = (value / step).round() * step;
    // Clean binary noise such as 3.1000000000000005.
    (rounded * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missions_are_deterministic_and_vary() {
        let a = Mission::generate(1, 5, DEFAULT_LOW_PASS_COST_KG);
        assert_eq!(a, Mission::generate(1, 5, DEFAULT_LOW_PASS_COST_KG));
        assert_ne!(
            a.sites,
            Mission::generate(1, 6, DEFAULT_LOW_PASS_COST_KG).sites
        );
        assert_eq!(a.sites.len(), 6);
        assert!(a.site("c").is_some() && a.site("Z").is_none());
    }

    #[test]
    fn every_mission_has_clear_ground() {
        for world in 1..=5 {
            for seed in 1..=100 {
                let mission = Mission::generate(world, seed, DEFAULT_LOW_PASS_COST_KG);
                let clear = mission.sites.iter().filter(|s| s.is_clear()).count();
                assert!(clear >= MIN_CLEAR_SITES, "world {world} seed {seed}");
            }
        }
    }

    #[test]
    fn deceptive_ground_is_a_combination_of_terrain_and_a_smooth_reading() {
        let (mut deceptive, mut honest) = (0, 0);
        for seed in 1..200 {
            let mission = Mission::generate(3, seed, DEFAULT_LOW_PASS_COST_KG);
            let cut = mission.hidden.deceptive_reading_below_deg;
            for site in &mission.sites {
                if site.terrain != mission.hidden.deceptive_terrain {
                    assert!(!site.deceptive);
                    continue;
                }
                // On the terrain, the reading tells the two kinds apart.
                assert_eq!(site.deceptive, site.orbital_slope_deg < cut, "{site:?}");
                if site.deceptive {
                    deceptive += 1;
                    assert!(site.hazards > 0 && site.orbital_hazards == 0);
                    assert!(site.orbital_slope_deg < site.slope_deg);
                } else {
                    honest += 1;
                    assert!(site.slope_deg <= 8.0 && site.orbital_slope_deg >= cut);
                }
            }
        }
        assert!(
            deceptive > 2 * honest / 3 && honest > deceptive / 3,
            "{deceptive} {honest}"
        );
    }

    #[test]
    fn world_zero_has_no_hidden_regularity() {
        for seed in 1..100 {
            let mission = Mission::generate(0, seed, DEFAULT_LOW_PASS_COST_KG);
            for site in &mission.sites {
                assert!(site.regularity(&mission.hidden).is_none());
                assert!(site.altimeter_bias_m.abs() < 40.0);
                assert!(!site.deceptive);
            }
        }
    }

    #[test]
    fn briefing_hides_the_ground_truth() {
        let mission = Mission::generate(1, 1, DEFAULT_LOW_PASS_COST_KG);
        let briefing = mission.briefing();
        assert!(briefing.contains("SITES A,B,C,D,E,F"));
        for terrain in TERRAINS {
            assert!(
                !briefing.contains(terrain),
                "briefing names terrain {terrain}"
            );
        }
    }
}
