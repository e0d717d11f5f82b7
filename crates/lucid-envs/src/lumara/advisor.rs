//! The advisor's scripted policy: short, generic advice derived from the question (the
//! `## Question` section of the runner's message; the transcript is ignored).
//!
//! For a braking question that gives a speed (m/s) and a deceleration (m/s²) it works
//! out the braking distance v² / (2·a) beyond the terminal speed and, with gravity given,
//! how much higher to start the burn (`ADVICE extra_altitude_m=…`); for site or propellant
//! questions it gives the rules of thumb a mentor would. It never knows the world.

use super::text;
use lucid_core::model::{ModelRequest, ModelResponse, Policy};

pub(super) struct Advisor;

impl Policy for Advisor {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let message = lucid_core::world::script::request_text(request);
        text::answer(request, advise(question(&message)))
    }
}

/// The `## Question` section of the runner's message (the transcript after it would
/// only add unrelated numbers), or the whole text.
fn question(message: &str) -> &str {
    lucid_core::world::script::advisor_question(message)
}

fn advise(question: &str) -> String {
    let numbers = text::numbers_with_units(question);
    let speeds: Vec<f64> = numbers
        .iter()
        .filter(|(v, u)| u == "m/s" && *v > 0.0)
        .map(|(v, _)| *v)
        .collect();
    let accelerations: Vec<f64> = numbers
        .iter()
        .filter(|(v, u)| u == "m/s2" && *v > 0.0)
        .map(|(v, _)| *v)
        .collect();
    let lower = question.to_ascii_lowercase();
    if let (Some(&a), Some(fast)) = (
        accelerations.first(),
        speeds.iter().copied().reduce(f64::max),
    ) {
        let slow = speeds
            .iter()
            .copied()
            .reduce(f64::min)
            .filter(|s| *s < fast)
            .unwrap_or(0.0);
        let distance = (fast * fast - slow * slow) / (2.0 * a);
        // With gravity given, a burn started Δ higher also starts slower, so braking ends
        // (1 + g/a)·Δ higher: the burn needs only distance / (1 + g/a) more altitude.
        let (extra, how) = match accelerations.get(1) {
            Some(&g) => (
                distance / (1.0 + g / a),
                format!(" A burn started higher also starts slower, so each metre of burn altitude buys 1 + g/a ≈ {:.2} m of braking: raise the burn by about {:.0} m", 1.0 + g / a, distance / (1.0 + g / a)),
            ),
            None => (distance, format!(" Raise the burn by up to {distance:.0} m")),
        };
        return format!(
            "Braking from {} m/s to {} m/s at {} m/s² takes (v₁² − v₀²) / 2a ≈ {distance:.0} m that were missing.{how}, plus a \
             safety margin of 20–30 m, and keep an eye on the propellant the extra hover costs.\n\
             ADVICE extra_altitude_m={extra:.0}",
            text::trim_number(fast, 2),
            text::trim_number(slow, 2),
            text::trim_number(a, 2)
        );
    }
    if lower.contains("site")
        || lower.contains("slope")
        || lower.contains("hazard")
        || lower.contains("survey")
    {
        return "Prefer sites whose slope sits well inside the limit; a coarse reading near the limit or a terrain you have been \
                surprised by before deserves an accurate low-pass survey before you commit to it."
            .into();
    }
    if lower.contains("fuel") || lower.contains("propellant") || lower.contains("reserve") {
        return "Budget the propellant backwards from the return requirement: whatever the approach, surveys and descent use must \
                leave the return amount plus a small buffer. Hovering is the most expensive margin you can buy."
            .into();
    }
    "Check the plan in simulation, keep a margin above the instruments' stated accuracy, and change one thing at a time \
     when an attempt fails."
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braking_distance_from_the_question() {
        let extra = |q: &str| {
            text::last_tagged(&advise(q), "ADVICE")
                .and_then(|p| text::num(&p, "extra_altitude_m"))
                .unwrap()
        };
        let distance = (14.2f64 * 14.2 - 1.5 * 1.5) / 4.4;
        assert!((extra("We touched down at 14.2 m/s; net deceleration 2.2 m/s², terminal 1.5 m/s. How much higher?") - distance).abs() < 1.0);
        let with_gravity = extra("Touched down at 14.2 m/s; net deceleration 2.2 m/s² under gravity of 1.6 m/s², ending at 1.5 m/s.");
        assert!((with_gravity - distance / (1.0 + 1.6 / 2.2)).abs() < 1.0);
        assert!(!advise("Which site?").is_empty());
        let framed = "## Question\nTouched down at 9 m/s; net deceleration 2 m/s².\n\n## Recent work of the agent asking\ngravity 1.6 m/s², 30 m/s";
        assert_eq!(
            question(framed).trim(),
            "Touched down at 9 m/s; net deceleration 2 m/s²."
        );
        assert!(!advise("").is_empty());
    }
}
