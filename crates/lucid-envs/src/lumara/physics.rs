//! The powered-descent simulation: a time-stepped vertical descent under gravity with
//! thrust, throttle and a mass that falls as propellant burns (mass flow = thrust /
//! (Isp·g₀), so the rocket equation holds step by step).
//!
//! Phases: *coast* (engine off) until the altimeter reads the commanded burn altitude;
//! *brake* at the commanded throttle until the descent speed is down to the terminal
//! speed; *descend* at that speed (thrust balancing gravity) to touchdown. The altimeter
//! reads the true altitude plus a bias; planning (`simulate_descent`) assumes no bias,
//! the real flight (`commit_descent`) uses the site's. This module knows nothing about
//! sites, tools or agents.

/// Standard gravity, for specific impulse.
const G0: f64 = 9.80665;
/// Integration step.
const DT: f64 = 0.05;
/// Safety cap on simulated time; a descent always ends long before.
const MAX_TIME_S: f64 = 6000.0;

/// The state a descent starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct DescentStart {
    pub gravity_mps2: f64,
    pub altitude_m: f64,
    pub speed_mps: f64,
    pub terminal_speed_mps: f64,
    pub dry_mass_kg: f64,
    pub fuel_kg: f64,
    pub max_thrust_n: f64,
    pub isp_s: f64,
}

impl DescentStart {
    pub(super) fn mass_kg(&self) -> f64 {
        self.dry_mass_kg + self.fuel_kg.max(0.0)
    }
}

/// Which phase the lander was in when it touched the ground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Coast,
    Brake,
    Descend,
}

impl Phase {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Phase::Coast => "coast",
            Phase::Brake => "brake",
            Phase::Descend => "descend",
        }
    }
}

/// How a descent went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct DescentOutcome {
    pub touchdown_speed_mps: f64,
    pub fuel_used_kg: f64,
    pub fuel_left_kg: f64,
    /// Altimeter reading when braking finished (terminal speed reached), if it did.
    pub brake_end_reading_m: Option<f64>,
    /// True altitude when the burn started.
    pub burn_start_altitude_m: f64,
    /// Altimeter reading at the moment of contact (the bias, give or take).
    pub altimeter_at_contact_m: f64,
    pub duration_s: f64,
    pub contact_phase: Phase,
    pub fuel_exhausted: bool,
}

/// Flies one descent: coast, brake from `burn_altitude_m` (altimeter reading) at
/// `throttle`, descend at terminal speed. `altimeter_bias_m` is added to every reading.
pub(super) fn fly(
    start: &DescentStart,
    burn_altitude_m: f64,
    throttle: f64,
    altimeter_bias_m: f64,
) -> DescentOutcome {
    let g = start.gravity_mps2;
    let exhaust = start.isp_s * G0;
    let throttle = throttle.clamp(0.0, 1.0);
    let mut h = start.altitude_m;
    let mut v = start.speed_mps; // positive downwards
    let mut fuel = start.fuel_kg.max(0.0);
    let mut t = 0.0;
    let mut phase = Phase::Coast;
    let mut brake_end_reading_m = None;
    let mut burn_start_altitude_m = f64::NAN;
    let mut exhausted = false;

    while t < MAX_TIME_S {
        if phase == Phase::Coast && h + altimeter_bias_m <= burn_altitude_m {
            phase = Phase::Brake;
            burn_start_altitude_m = h;
        }
        if phase == Phase::Brake && v <= start.terminal_speed_mps {
            phase = Phase::Descend;
            brake_end_reading_m = Some(h + altimeter_bias_m);
        }
        let mass = start.dry_mass_kg + fuel;
        let wanted = match phase {
            Phase::Coast => 0.0,
            Phase::Brake => throttle * start.max_thrust_n,
            Phase::Descend => (mass * g).min(start.max_thrust_n),
        };
        let thrust = if fuel > 0.0 { wanted } else { 0.0 };
        if wanted > 0.0 && fuel <= 0.0 {
            exhausted = true;
        }
        let accel = g - thrust / mass; // downwards
                                       // Contact within this step? Solve h = v·τ + ½·a·τ² for the first τ in (0, DT].
        if let Some(tau) = contact_time(h, v, accel, DT) {
            let burned = (thrust / exhaust * tau).min(fuel);
            fuel -= burned;
            let speed = (v + accel * tau).max(0.0);
            return DescentOutcome {
                touchdown_speed_mps: speed,
                fuel_used_kg: start.fuel_kg.max(0.0) - fuel,
                fuel_left_kg: fuel,
                brake_end_reading_m,
                burn_start_altitude_m: if burn_start_altitude_m.is_nan() {
                    0.0
                } else {
                    burn_start_altitude_m
                },
                altimeter_at_contact_m: altimeter_bias_m,
                duration_s: t + tau,
                contact_phase: phase,
                fuel_exhausted: exhausted,
            };
        }
        let burned = (thrust / exhaust * DT).min(fuel);
        fuel -= burned;
        h -= v * DT + 0.5 * accel * DT * DT;
        v += accel * DT;
        if phase == Phase::Brake && v < start.terminal_speed_mps {
            // Braking finishes inside the step; hold the terminal speed from here on.
            v = start.terminal_speed_mps;
        }
        if phase == Phase::Descend {
            v = start.terminal_speed_mps;
        }
        t += DT;
    }
    // Unreachable in practice: every phase keeps descending at least at terminal speed.
    DescentOutcome {
        touchdown_speed_mps: v,
        fuel_used_kg: start.fuel_kg.max(0.0) - fuel,
        fuel_left_kg: fuel,
        brake_end_reading_m,
        burn_start_altitude_m: 0.0,
        altimeter_at_contact_m: h + altimeter_bias_m,
        duration_s: t,
        contact_phase: phase,
        fuel_exhausted: exhausted,
    }
}

fn contact_time(h: f64, v: f64, accel: f64, dt: f64) -> Option<f64> {
    if h <= 0.0 {
        return Some(0.0);
    }
    let drop = v * dt + 0.5 * accel * dt * dt;
    if drop < h {
        return None;
    }
    // 0.5·a·τ² + v·τ − h = 0
    let tau = if accel.abs() < 1e-9 {
        h / v.max(1e-9)
    } else {
        let disc = (v * v + 2.0 * accel * h).max(0.0);
        (-v + disc.sqrt()) / accel
    };
    Some(tau.clamp(0.0, dt))
}

/// The lowest burn altitude (altimeter reading, no bias) at `throttle` for which braking
/// finishes before contact: the burn point with zero margin.
pub(super) fn nominal_burn_altitude(start: &DescentStart, throttle: f64) -> f64 {
    let soft = |burn: f64| {
        let outcome = fly(start, burn, throttle, 0.0);
        outcome.contact_phase == Phase::Descend
    };
    let (mut lo, mut hi) = (0.0, start.altitude_m);
    if !soft(hi) {
        return hi;
    }
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if soft(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DescentStart {
        DescentStart {
            gravity_mps2: 1.62,
            altitude_m: 1500.0,
            speed_mps: 35.0,
            terminal_speed_mps: 1.5,
            dry_mass_kg: 1600.0,
            fuel_kg: 900.0,
            max_thrust_n: 12_000.0,
            isp_s: 311.0,
        }
    }

    #[test]
    fn a_burn_above_nominal_lands_softly_and_below_lands_hard() {
        let s = start();
        let nominal = nominal_burn_altitude(&s, 0.8);
        assert!((600.0..900.0).contains(&nominal), "nominal {nominal}");
        let soft = fly(&s, nominal + 30.0, 0.8, 0.0);
        assert!((soft.touchdown_speed_mps - 1.5).abs() < 0.05, "{soft:?}");
        assert_eq!(soft.contact_phase, Phase::Descend);
        let hard = fly(&s, nominal + 30.0, 0.8, 100.0);
        assert!(hard.touchdown_speed_mps > 10.0, "{hard:?}");
        assert!((hard.altimeter_at_contact_m - 100.0).abs() < 1e-9);
    }

    #[test]
    fn hovering_costs_propellant_and_fuel_runs_out() {
        let s = start();
        let nominal = nominal_burn_altitude(&s, 0.8);
        let low = fly(&s, nominal + 20.0, 0.8, 0.0);
        let high = fly(&s, nominal + 120.0, 0.8, 0.0);
        let per_metre = (high.fuel_used_kg - low.fuel_used_kg) / 100.0;
        // A metre of burn margin buys (1 + g/a) metres of hover at terminal speed.
        assert!((1.0..2.0).contains(&per_metre), "{per_metre}");
        let starved = DescentStart { fuel_kg: 40.0, ..s };
        let crash = fly(&starved, nominal + 30.0, 0.8, 0.0);
        assert!(crash.fuel_exhausted && crash.touchdown_speed_mps > 5.0);
        // Never-braking throttle still ends.
        let none = fly(&s, 500.0, 0.0, 0.0);
        assert!(none.touchdown_speed_mps > 50.0);
    }
}
