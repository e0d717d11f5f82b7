//! The navigator's margin plan: when a margin rule binds and when the navigator departs
//! from it.

use super::*;
use lucid_core::world::rules::parse_rules;

const RULE: &str = "```lucid-rules\n{\"when\": {\"terrain\": \"mare\"}, \"then\": {\"burn_margin_m\": {\"min\": 400}}}\n```\n";

/// A descent to C at `margin` that ended `short_kg` short of the return propellant,
/// with the altimeter reading `altimeter` at contact.
fn short(margin: f64, short_kg: f64, altimeter: f64) -> String {
    format!(
        "PREVIOUS site=C terrain=mare burn_margin_m={margin} throttle=1.00 touchdown_speed_mps=1.50 \
         altimeter_at_contact_m={altimeter} fuel_remaining_kg={} fuel_return_kg=420 failed=fuel_remaining_kg,fuel_return_kg",
        420.0 - short_kg
    )
}

fn plan_for(notes: &[String]) -> (MarginPlan, Vehicle) {
    let subtask = format!(
        "Fly to site C.\nSITE site=C terrain=mare\n{}",
        notes.join("\n")
    );
    let orders = orders(&subtask, &["C".to_string()]);
    let vehicle = Vehicle::from_status(&Pairs::new());
    let rules = parse_rules(RULE);
    let applicable: Vec<&Rule> = rules.iter().collect();
    (
        plan_margin(&vehicle, 1.0, &orders, &applicable, None),
        vehicle,
    )
}

#[test]
fn two_short_descents_at_the_rules_margin_make_the_navigator_trim_below_it() {
    // The older descent was far shorter; the latest, flown after it, sets the trim.
    let (plan, vehicle) = plan_for(&[short(405.0, 220.0, 40.0), short(401.0, 5.0, 40.0)]);
    let expected = 401.0 - 20.0 / vehicle.kg_per_margin_m(1.0);
    assert!(expected < 400.0);
    assert!((plan.margin - expected).abs() < 1e-6, "{}", plan.margin);
    // It keeps 15 m above the altimeter's reading at contact.
    assert_eq!(plan.floor, 55.0);
    assert!(plan
        .departure
        .as_deref()
        .is_some_and(|d| d.contains("2 descents here")));
}

#[test]
fn the_altimeters_reading_at_contact_bounds_a_departure() {
    // The altimeter read 300 m at contact: the margin stays at least 315 m.
    let (plan, _) = plan_for(&[short(405.0, 220.0, 300.0), short(401.0, 200.0, 300.0)]);
    assert!(plan.departure.is_some());
    assert_eq!(plan.floor, 315.0);
    assert_eq!(plan.margin, 315.0);
    // Read above the rule's margin, there is nothing to depart to.
    let (plan, _) = plan_for(&[short(405.0, 220.0, 390.0), short(401.0, 200.0, 390.0)]);
    assert!(plan.departure.is_none());
    assert_eq!((plan.floor, plan.margin), (400.0, 400.0));
}

#[test]
fn the_rule_binds_after_one_short_descent_or_shorts_at_other_margins() {
    let (plan, _) = plan_for(&[short(401.0, 50.0, 40.0)]);
    assert!(plan.departure.is_none());
    assert_eq!((plan.floor, plan.margin), (400.0, 400.0));
    // Descents far above the rule's margin say nothing about the rule's margin.
    let (plan, _) = plan_for(&[short(600.0, 50.0, 40.0), short(590.0, 50.0, 40.0)]);
    assert!(plan.departure.is_none());
    assert_eq!(plan.floor, 400.0);
    assert!(plan.margin >= 400.0);
}
