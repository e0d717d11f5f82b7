//! The detector's scripted policy: survey the assigned sites and recommend one.
//!
//! Baseline (what a careful person without inside knowledge does): survey every
//! assigned site from orbit (free), reject sites showing hazards or a slope too close to
//! the 8° limit for a coarse reading, rank the rest by slope and the propellant the
//! approach and the return cost, and — only when the subtask asks for verification —
//! confirm the top pick with a `low_pass` survey (trying the next one if it fails).
//! Playbook rules can change this per observed feature: `avoid` a terrain, demand a
//! `survey: low_pass` before trusting it, or tighten `max_slope_deg`. Every terrain is
//! treated alike unless a rule says otherwise.
//!
//! The answer is readable text plus machine lines the commander parses:
//! `RECOMMEND …`, `ALTERNATE …`, `AVOIDED …` (acceptable, but a rule says to avoid it) and
//! `REJECTED …`, each with `site terrain slope_deg
//! hazards survey` and what the surveys showed (`orbital_slope_deg albedo dust
//! approach_fuel_kg fuel_return_kg`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::text::{self, Exchange, Pairs};
use super::tools::SURVEY_SITE;
use super::world::SITE_NAMES;
use lucid_core::model::{ModelRequest, ModelResponse, Policy, ResponseBuilder};
use lucid_core::world::rules::parse_rules;

/// Slope accepted on a coarse orbital reading: a safety margin under the 8° limit.
const ORBITAL_SLOPE_LIMIT_DEG: f64 = 7.0;
/// Slope accepted on an accurate low-pass reading.
const LOW_PASS_SLOPE_LIMIT_DEG: f64 = 7.8;
/// Low-pass surveys one detector flies at most (they cost propellant).
const MAX_LOW_PASSES: usize = 3;
/// How many degrees of slope a kilogram of approach-plus-return propellant is worth.
const FUEL_WEIGHT_PER_KG: f64 = 1.0 / 250.0;

pub(super) struct Detector;

/// What the subtask asks for.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Assignment {
    pub sites: Vec<String>,
    pub exclude: BTreeSet<String>,
    pub verify: bool,
}

/// Reads the `SURVEY sites=… exclude=… verify=…` line, or falls back to site names
/// mentioned in the text.
pub(super) fn assignment(subtask: &str, known: &[String]) -> Assignment {
    let split = |value: Option<&String>| -> Vec<String> {
        value
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_ascii_uppercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(line) = text::last_tagged(subtask, "SURVEY") {
        let mut sites = split(line.get("sites"));
        sites.retain(|s| known.contains(s));
        if sites.is_empty() {
            sites = known.to_vec();
        }
        return Assignment {
            sites,
            exclude: split(line.get("exclude")).into_iter().collect(),
            verify: text::word(&line, "verify").is_some_and(|v| v != "none" && v != "false"),
        };
    }
    let words: BTreeSet<String> = subtask
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .map(str::to_string)
        .collect();
    let mut sites: Vec<String> = known
        .iter()
        .filter(|s| words.contains(*s))
        .cloned()
        .collect();
    if sites.is_empty() {
        sites = known.to_vec();
    }
    let lower = subtask.to_ascii_lowercase();
    Assignment {
        sites,
        exclude: BTreeSet::new(),
        verify: lower.contains("low_pass")
            || lower.contains("low-pass")
            || lower.contains("verify"),
    }
}

/// One parsed survey reading.
#[derive(Debug, Clone)]
struct Reading {
    low_pass: bool,
    terrain: String,
    slope: f64,
    hazards: f64,
    approach: f64,
    ret: f64,
    albedo: Option<f64>,
    dust: Option<String>,
}

fn reading(pairs: &Pairs) -> Option<Reading> {
    Some(Reading {
        low_pass: text::word(pairs, "mode") == Some("low_pass"),
        terrain: text::word(pairs, "terrain").unwrap_or("").to_string(),
        slope: text::num(pairs, "slope_deg")?,
        hazards: text::num(pairs, "hazards")?,
        approach: text::num(pairs, "approach_fuel_kg").unwrap_or(0.0),
        ret: text::num(pairs, "return_fuel_kg").unwrap_or(0.0),
        albedo: text::num(pairs, "albedo"),
        dust: text::word(pairs, "dust").map(str::to_string),
    })
}

/// What the detector knows and thinks about one site.
#[derive(Debug, Clone)]
struct Assessment {
    site: String,
    best: Reading,
    /// The orbital survey's slope reading, when one was flown.
    orbital_slope: Option<f64>,
    verified: bool,
    /// `None` when acceptable; otherwise why not.
    rejection: Option<String>,
    /// Acceptable, but a playbook rule says to avoid it: reported apart (`AVOIDED`), for
    /// the commander to fly only when nothing else will do.
    avoided: bool,
    /// A rule wants a low-pass survey before trusting the site.
    wants_low_pass: bool,
    score: f64,
}

fn assess(
    site: &str,
    orbital: Option<&Reading>,
    low_pass: Option<&Reading>,
    rules: &[lucid_core::world::rules::Rule],
) -> Option<Assessment> {
    let best = low_pass.or(orbital)?.clone();
    let orbital_slope = orbital.map(|o| o.slope);
    let features = text::line_features(&observed(site, &best, orbital_slope));
    let applicable = text::applicable(rules, &features);
    // A rule this session explores does not reject: the commander decides to test it.
    let avoid = applicable
        .iter()
        .any(|rule| rule.flag("avoid") == Some(true) && !rule.explore);
    let wants_low_pass = applicable
        .iter()
        .any(|rule| rule.word("survey") == Some("low_pass"));
    let base_limit = if best.low_pass {
        LOW_PASS_SLOPE_LIMIT_DEG
    } else {
        ORBITAL_SLOPE_LIMIT_DEG
    };
    let limit = text::apply_number(&applicable, "max_slope_deg", base_limit);
    let rejection = if best.hazards > 0.0 {
        Some(format!("{} hazard(s) seen", best.hazards))
    } else if best.slope > limit {
        Some(format!(
            "slope {:.1}° is above the {:.1}° I accept on a {} reading",
            best.slope,
            limit,
            mode(&best)
        ))
    } else {
        None
    };
    Some(Assessment {
        site: site.to_string(),
        verified: low_pass.is_some(),
        score: best.slope + (best.approach + best.ret) * FUEL_WEIGHT_PER_KG,
        best,
        orbital_slope,
        rejection,
        avoided: avoid,
        wants_low_pass,
    })
}

fn mode(reading: &Reading) -> &'static str {
    if reading.low_pass {
        "low_pass"
    } else {
        "orbital"
    }
}

/// What the surveys showed of a site, named as the mission's facts name it: what
/// rules are checked against and what the machine line reports.
fn observed(site: &str, best: &Reading, orbital_slope: Option<f64>) -> Pairs {
    let mut pairs = Pairs::new();
    let mut put = |key: &str, value: String| {
        pairs.insert(key.to_string(), value);
    };
    put("site", site.to_string());
    put("terrain", best.terrain.clone());
    if let Some(slope) = orbital_slope {
        put("orbital_slope_deg", format!("{slope:.1}"));
    }
    if let Some(albedo) = best.albedo {
        put("albedo", format!("{albedo:.2}"));
    }
    if let Some(dust) = &best.dust {
        put("dust", dust.clone());
    }
    put("approach_fuel_kg", format!("{:.0}", best.approach));
    put("fuel_return_kg", format!("{:.0}", best.ret));
    pairs
}

fn machine_line(tag: &str, a: &Assessment) -> String {
    let mut line = format!(
        "{tag} site={} terrain={} slope_deg={:.1} hazards={} survey={}",
        a.site,
        if a.best.terrain.is_empty() {
            "unknown"
        } else {
            &a.best.terrain
        },
        a.best.slope,
        a.best.hazards,
        mode(&a.best),
    );
    for (key, value) in observed(&a.site, &a.best, a.orbital_slope) {
        if key != "site" && key != "terrain" {
            line.push_str(&format!(" {key}={value}"));
        }
    }
    if let Some(reason) = &a.rejection {
        line.push_str(&format!(" reason={}", reason.replace(' ', "_")));
    }
    line
}

impl Policy for Detector {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let prefix = text::turn_prefix(request);
        let Some(spec) = text::tool_spec(request, SURVEY_SITE) else {
            return text::answer(
                request,
                "I have no survey tool, so I cannot assess any landing site.\nRECOMMEND none",
            );
        };
        let mut known = text::schema_enum(spec, "site");
        if known.is_empty() {
            known = SITE_NAMES.iter().map(|s| s.to_string()).collect();
        }
        let subtask = text::first_user_text(request);
        let task = assignment(&subtask, &known);
        let rules = parse_rules(&request.system);
        let surveys: Vec<Exchange> = text::exchanges(&request.messages)
            .into_iter()
            .filter(|e| e.name == SURVEY_SITE)
            .collect();
        let is_low_pass = |e: &Exchange| e.input_str("mode") == Some("low_pass");
        let attempts = |site: &str, low: bool| {
            surveys
                .iter()
                .filter(|e| {
                    e.input_str("site")
                        .is_some_and(|s| s.eq_ignore_ascii_case(site))
                        && is_low_pass(e) == low
                })
                .count()
        };
        let latest = |site: &str, low: bool| -> Option<Reading> {
            surveys
                .iter()
                .filter_map(|e| text::last_tagged(e.ok()?, "SURVEY"))
                .filter(|p| text::word(p, "site").is_some_and(|s| s.eq_ignore_ascii_case(site)))
                .filter_map(|p| reading(&p))
                .rfind(|r| r.low_pass == low)
        };
        let assigned: Vec<&String> = task
            .sites
            .iter()
            .filter(|s| !task.exclude.contains(*s))
            .collect();

        // 1. Orbital survey of every assigned site (one retry after an error).
        let missing: Vec<&String> = assigned
            .iter()
            .copied()
            .filter(|s| latest(s, false).is_none() && attempts(s, false) < 2)
            .collect();
        if !missing.is_empty() {
            let mut builder = ResponseBuilder::new(prefix).text(format!(
                "Surveying sites {} from orbit first; it costs no propellant.",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            for site in missing {
                builder = builder.tool(SURVEY_SITE, json!({"site": site, "mode": "orbital"}));
            }
            return builder.build();
        }

        // 2. Assess, then fly the low passes that rules or the subtask call for.
        let mut assessed: Vec<Assessment> = assigned
            .iter()
            .filter_map(|s| {
                assess(
                    s,
                    latest(s, false).as_ref(),
                    latest(s, true).as_ref(),
                    &rules,
                )
            })
            .collect();
        assessed.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.site.cmp(&b.site)));
        let low_passes_flown = surveys.iter().filter(|e| is_low_pass(e)).count();
        let mut want: Vec<String> = assessed
            .iter()
            .filter(|a| {
                a.rejection.is_none()
                    && !a.avoided
                    && a.wants_low_pass
                    && !a.verified
                    && attempts(&a.site, true) == 0
            })
            .map(|a| a.site.clone())
            .collect();
        if task.verify {
            // The pick to verify; when every acceptable site is one a rule avoids, the
            // best of those, so the commander can weigh it on a low pass's readings.
            let top = assessed
                .iter()
                .find(|a| a.rejection.is_none() && !a.avoided)
                .or_else(|| assessed.iter().find(|a| a.rejection.is_none()));
            if let Some(top) = top {
                if !top.verified && attempts(&top.site, true) == 0 && !want.contains(&top.site) {
                    want.push(top.site.clone());
                }
            }
        }
        want.truncate(MAX_LOW_PASSES.saturating_sub(low_passes_flown));
        if !want.is_empty() {
            let mut builder = ResponseBuilder::new(prefix).text(format!(
                "Verifying {} with a low-pass survey before I recommend anything.",
                want.iter()
                    .map(|s| format!("site {s}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
            for site in want {
                builder = builder.tool(SURVEY_SITE, json!({"site": site, "mode": "low_pass"}));
            }
            return builder.build();
        }

        // 3. Recommend. Under verification (or a survey rule) a verified site comes first.
        let needs_verification = |a: &Assessment| task.verify || a.wants_low_pass;
        let mut ranked: Vec<&Assessment> = assessed
            .iter()
            .filter(|a| a.rejection.is_none() && !a.avoided)
            .collect();
        ranked.sort_by_key(|a| needs_verification(a) && !a.verified);
        let avoided: Vec<&Assessment> = assessed
            .iter()
            .filter(|a| a.rejection.is_none() && a.avoided)
            .collect();
        let rejected: Vec<&Assessment> =
            assessed.iter().filter(|a| a.rejection.is_some()).collect();
        respond_with(request, &task, ranked, avoided, rejected, &assigned)
    }
}

fn respond_with(
    request: &ModelRequest,
    task: &Assignment,
    ranked: Vec<&Assessment>,
    avoided: Vec<&Assessment>,
    rejected: Vec<&Assessment>,
    assigned: &[&String],
) -> ModelResponse {
    let mut out = String::new();
    let names: Vec<&str> = assigned.iter().map(|s| s.as_str()).collect();
    out.push_str(&format!("I surveyed sites {}.\n", names.join(", ")));
    let mut details: BTreeMap<&str, String> = BTreeMap::new();
    for a in ranked.iter().chain(&avoided).chain(&rejected) {
        details.insert(
            a.site.as_str(),
            format!(
                "- Site {}: {} terrain, slope {:.1}°, {} hazard(s) ({} survey); approach {:.0} kg, return {:.0} kg.{}",
                a.site,
                if a.best.terrain.is_empty() { "unknown" } else { &a.best.terrain },
                a.best.slope,
                a.best.hazards,
                mode(&a.best),
                a.best.approach,
                a.best.ret,
                match &a.rejection {
                    Some(r) => format!(" Rejected: {r}."),
                    None if a.avoided => " A playbook rule says to avoid it.".to_string(),
                    None => String::new(),
                }
            ),
        );
    }
    for line in details.values() {
        out.push_str(line);
        out.push('\n');
    }
    let unsurveyed: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !details.contains_key(n))
        .collect();
    if !unsurveyed.is_empty() {
        out.push_str(&format!(
            "No usable reading for {}.\n",
            unsurveyed.join(", ")
        ));
    }
    match ranked.first() {
        Some(best) => out.push_str(&format!(
            "\nRecommendation: site {} — slope {:.1}° with no hazards seen on the {} survey, and {:.0} kg of \
             approach plus return propellant.{}\n",
            best.site,
            best.best.slope,
            mode(&best.best),
            best.best.approach + best.best.ret,
            if task.verify && !best.verified { " I could not verify it with a low pass." } else { "" }
        )),
        None => out.push_str("\nNone of my sites is acceptable for a landing.\n"),
    }
    out.push('\n');
    match ranked.first() {
        Some(best) => out.push_str(&machine_line("RECOMMEND", best)),
        None => out.push_str("RECOMMEND none"),
    }
    for a in ranked.iter().skip(1) {
        out.push('\n');
        out.push_str(&machine_line("ALTERNATE", a));
    }
    for a in &avoided {
        out.push('\n');
        out.push_str(&machine_line("AVOIDED", a));
    }
    for a in &rejected {
        out.push('\n');
        out.push_str(&machine_line("REJECTED", a));
    }
    text::answer(request, out)
}
