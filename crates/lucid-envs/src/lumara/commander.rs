//! The commander's scripted policy: split the survey between two detectors (in
//! parallel), compare their recommendations, hand the chosen site to the navigator, and
//! end with a mission report; on grader feedback, revise.
//!
//! The policy is stateless: every turn it re-reads the conversation, splits it into
//! attempts at the grader-feedback messages, and works out where the current attempt
//! stands from its own `delegate` calls and their results. Revisions follow the failed
//! facts named in the feedback: slope or hazards → exclude that site, survey again and
//! verify the new pick with a low pass; touchdown speed → same site, navigator told the
//! previous telemetry so it adds margin; propellant → same site, navigator told the
//! shortfall so it trims margin (or another site if it cannot). For those two, the
//! feedback goes as a follow-up (`delegate` with `thread`) to the navigator thread that
//! flew the descent, which keeps its earlier work, rather than to a new navigator briefed
//! from zero; a refused follow-up falls back to a new one. Playbook rules in its prompt
//! may `avoid` a terrain when choosing between recommendations, and a playbook saying the
//! grader keeps failing the ground (slope or hazards) has the site it is about to fly
//! verified with a low pass from the first attempt (a revision verifies every pick). An
//! attempt that would commit nothing uses its last turn to fly the best candidate anyway
//! (`FORCE`, an untried and checked one first): a descent might pass, no descent cannot
//! (the navigator still declines a descent already shown short at its margin).

use std::collections::BTreeSet;

use serde_json::json;

use super::history::{
    attempts, briefing_sites, candidates, previous_candidate, specialists, thread_of, Attempt,
    Candidate, Delegation, DELEGATE,
};
use super::text::{self, Feedback};
use lucid_core::model::{ModelRequest, ModelResponse, Policy, ResponseBuilder};
use lucid_core::world::rules::{self, parse_rules, Rule};

/// Failed facts about the descent itself, which the navigator that flew it can correct.
const DESCENT_FACTS: [&str; 4] = [
    "touchdown_speed_mps",
    "landed",
    "fuel_remaining_kg",
    "fuel_return_kg",
];
/// Delegations one attempt may make before the commander reports what it has.
const MAX_DELEGATIONS_PER_ATTEMPT: usize = 10;
/// Turns one attempt may take before the commander reports what it has, so that it
/// finishes within a modest `max_turns` (the example session allows 8).
const MAX_TURNS_BEFORE_REPORT: usize = 6;

pub(super) struct Commander;

impl Policy for Commander {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        if text::tool_spec(request, DELEGATE).is_none() {
            return text::answer(request, "I have no specialists to delegate to, so I cannot run the landing. No descent was committed.");
        }
        let (detector, navigator) = specialists(request);
        let sites = briefing_sites(&text::first_user_text(request));
        let rules = parse_rules(&request.system);
        let history = attempts(&request.messages);
        let Some((current, prior)) = history.split_last() else {
            return text::answer(request, "No descent was committed.");
        };
        let team = Team {
            detector: &detector,
            navigator: &navigator,
            ground_keeps_failing: text::standing_feedback(&request.system).clear_ground_failed(),
            rules: &rules,
        };
        team.next(request, current, prior, &sites)
    }
}

struct Team<'a> {
    detector: &'a str,
    navigator: &'a str,
    /// A playbook says the grader keeps failing the ground: from the first attempt, the
    /// site about to be flown is verified with a low pass.
    ground_keeps_failing: bool,
    rules: &'a [Rule],
}

impl Team<'_> {
    fn next(
        &self,
        request: &ModelRequest,
        current: &Attempt,
        prior: &[Attempt],
        sites: &[String],
    ) -> ModelResponse {
        let number = prior.len() + 1;
        if current.delegations.len() >= MAX_DELEGATIONS_PER_ATTEMPT
            || current.turns >= MAX_TURNS_BEFORE_REPORT
        {
            return self.report(request, current, number);
        }
        // Sites whose ground failed in an earlier attempt are out.
        let excluded: BTreeSet<String> = prior
            .iter()
            .filter(|a| {
                a.feedback
                    .as_ref()
                    .is_some_and(Feedback::clear_ground_failed)
            })
            .filter_map(|a| {
                a.touchdown(self.navigator)
                    .and_then(|t| text::word(&t, "site").map(str::to_string))
            })
            .collect();
        // Keep the previous site when its ground was fine; otherwise survey again.
        let reuse = prior.last().and_then(|last| {
            let touchdown = last.touchdown(self.navigator)?;
            let ground_failed = last
                .feedback
                .as_ref()
                .is_some_and(Feedback::clear_ground_failed);
            (!ground_failed).then_some(touchdown)
        });
        // After a failed attempt the detectors verify their picks; when a playbook says
        // the ground keeps failing, only the site about to be flown is verified (each low
        // pass costs propellant).
        let verify = !prior.is_empty();
        let verify_before_flying = verify || self.ground_keeps_failing;
        let detector_answers: Vec<&str> = current
            .by(self.detector)
            .filter_map(|d| match &d.result {
                Some(Ok(answer)) => Some(answer.as_str()),
                _ => None,
            })
            .collect();
        if reuse.is_none()
            && (current.by(self.detector).next().is_none()
                || (detector_answers.is_empty()
                    && current.by(self.detector).count() < 4
                    && current.by(self.detector).all(|d| d.result.is_some())))
        {
            return self.survey(request, sites, &excluded, verify, number);
        }
        // Candidates: this attempt's surveys, or (keeping the site) the latest earlier
        // ones; later answers, such as verifications, supersede earlier ones.
        let mut answers: Vec<&str> = Vec::new();
        if reuse.is_some() {
            answers = prior
                .iter()
                .rev()
                .map(|a| {
                    a.by(self.detector)
                        .filter_map(|d| d.result.as_ref()?.as_ref().ok().map(String::as_str))
                        .collect::<Vec<_>>()
                })
                .find(|answers| !answers.is_empty())
                .unwrap_or_default();
        }
        answers.extend(detector_answers);
        let mut pool = candidates(&answers);
        pool.retain(|c| !excluded.contains(&c.site));
        // A rule this session explores is tested once, on purpose: its best acceptable
        // site is flown first in the first attempt.
        let explored = (prior.is_empty())
            .then(|| {
                pool.iter()
                    .filter(|c| !c.rejected && self.explorable(c))
                    .min_by(|a, b| a.score.total_cmp(&b.score))
                    .cloned()
            })
            .flatten();
        // A rule to avoid is a prior, not an order: when it would leave no acceptable
        // site, the team departs from it rather than fly nowhere. A site is no longer
        // acceptable once the rubric failed there and the navigator declines it again:
        // the same check failing twice.
        let failed_before: BTreeSet<String> = prior
            .iter()
            .filter(|a| a.feedback.is_some())
            .filter_map(|a| a.touchdown(self.navigator))
            .filter_map(|t| text::word(&t, "site").map(str::to_string))
            .collect();
        let declined: BTreeSet<String> = current
            .by(self.navigator)
            .filter_map(|d| text::last_tagged(&d.subtask, "SITE"))
            .filter_map(|p| text::word(&p, "site").map(str::to_string))
            .filter(|site| failed_before.contains(site))
            .collect();
        let (kept, avoided): (Vec<Candidate>, Vec<Candidate>) =
            pool.into_iter().partition(|c| !self.avoided(c));
        pool = if kept
            .iter()
            .any(|c| !c.rejected && !declined.contains(&c.site))
        {
            kept
        } else {
            kept.into_iter().chain(avoided).collect()
        };
        if verify && reuse.is_none() {
            pool.sort_by(|a, b| {
                (a.rejected, !a.verified)
                    .cmp(&(b.rejected, !b.verified))
                    .then(a.score.total_cmp(&b.score))
            });
        } else {
            pool.sort_by(|a, b| {
                a.rejected
                    .cmp(&b.rejected)
                    .then(a.score.total_cmp(&b.score))
            });
        }
        if let Some(explored) = explored {
            pool.retain(|c| c.site != explored.site);
            pool.insert(0, explored);
        }
        if let Some(touchdown) = &reuse {
            let site = text::word(touchdown, "site").unwrap_or("").to_string();
            pool.retain(|c| c.site != site);
            pool.insert(
                0,
                previous_candidate(prior, self.navigator, &site, touchdown),
            );
        }

        // Where does the navigator stand in this attempt?
        let runs: Vec<&Delegation> = current.by(self.navigator).collect();
        if current.touchdown(self.navigator).is_some() {
            return self.report(request, current, number);
        }
        if runs.iter().any(|d| d.result.is_none()) {
            return self.report(request, current, number);
        }
        // A follow-up that was refused leaves its site to a fresh navigator.
        let tried: BTreeSet<String> = runs
            .iter()
            .filter(|d| !(d.follow_up.is_some() && matches!(d.result, Some(Err(_)))))
            .filter_map(|d| text::last_tagged(&d.subtask, "SITE"))
            .filter_map(|p| text::word(&p, "site").map(str::to_string))
            .collect();
        let forced = runs
            .iter()
            .any(|d| d.subtask.lines().any(|l| l.trim() == "FORCE"));
        // An attempt that commits nothing fails for sure: its last turn flies the best
        // candidate even if the navigator judges the propellant short.
        let last_turn = current.turns + 1 >= MAX_TURNS_BEFORE_REPORT
            || current.delegations.len() + 1 >= MAX_DELEGATIONS_PER_ATTEMPT;
        if last_turn && !forced && !runs.is_empty() {
            // Untried before tried, and a site the low pass checked before one it did
            // not, where picks are verified.
            let checked = |c: &&Candidate| c.verified || !verify_before_flying;
            let best = pool
                .iter()
                .filter(|c| !c.rejected)
                .min_by_key(|c| (tried.contains(&c.site), !checked(c)))
                .or(pool.first());
            if let Some(best) = best {
                return self.fly(request, best, prior, current, true, number);
            }
        }
        if let Some(next) = pool
            .iter()
            .find(|c| !tried.contains(&c.site) && !c.rejected)
        {
            // After a failed attempt, nothing unverified is flown without a low pass first.
            if verify_before_flying && !next.verified && current.by(self.detector).count() < 4 {
                return self.verify(request, next, &excluded, number);
            }
            return self.fly(request, next, prior, current, false, number);
        }
        if !forced {
            if let Some(first) = pool.first() {
                return self.fly(request, first, prior, current, true, number);
            }
        }
        self.report(request, current, number)
    }

    fn avoided(&self, candidate: &Candidate) -> bool {
        !self.avoiding(candidate).is_empty()
    }

    /// Whether only rules this session explores avoid a candidate.
    fn explorable(&self, candidate: &Candidate) -> bool {
        let rules = self.avoiding(candidate);
        !rules.is_empty() && rules.iter().all(|rule| rule.explore)
    }

    /// The rules that say to avoid a candidate.
    fn avoiding(&self, candidate: &Candidate) -> Vec<&Rule> {
        let mut line = candidate.line.clone();
        line.insert("site".into(), candidate.site.clone());
        text::applicable(self.rules, &text::line_features(&line))
            .into_iter()
            .filter(|rule| rule.flag("avoid") == Some(true))
            .collect()
    }

    fn survey(
        &self,
        request: &ModelRequest,
        sites: &[String],
        excluded: &BTreeSet<String>,
        verify: bool,
        number: usize,
    ) -> ModelResponse {
        let mut open: Vec<String> = sites
            .iter()
            .filter(|s| !excluded.contains(*s))
            .cloned()
            .collect();
        if open.is_empty() {
            open = sites.to_vec();
        }
        let halves: Vec<Vec<String>> = if open.len() < 2 {
            vec![open]
        } else {
            let (a, b) = open.split_at(open.len().div_ceil(2));
            vec![a.to_vec(), b.to_vec()]
        };
        let exclude: Vec<&str> = excluded.iter().map(String::as_str).collect();
        let mut intro = if number == 1 && self.ground_keeps_failing {
            "I split the candidate sites between two detectors so they survey in parallel. Our playbooks say the grader keeps failing the ground, so the site I pick is verified with a low-pass survey before it is flown."
                .to_string()
        } else if number == 1 {
            "I split the candidate sites between two detectors so they survey in parallel."
                .to_string()
        } else if exclude.is_empty() {
            "The last attempt did not land, so the detectors survey again and verify their picks with a low-pass survey."
                .to_string()
        } else {
            format!(
                "Site {} failed the clear-ground check, so I rule it out, survey the remaining sites again and have the pick verified with a low-pass survey.",
                exclude.join(", ")
            )
        };
        if halves.len() == 1 {
            intro = "One group of sites remains; one detector surveys it.".into();
        }
        let mut builder = ResponseBuilder::new(text::turn_prefix(request)).text(intro);
        for half in halves {
            let list = half.join(", ");
            let mut subtask = format!(
                "Survey candidate landing sites {list} and recommend the best one for a soft landing on clear ground \
                 (slope at most 8°, no hazards) with the least propellant for the approach and the return.{}\n\
                 SURVEY sites={}",
                if verify { " Verify your pick with a low_pass survey before recommending it." } else { "" },
                half.join(",")
            );
            if !exclude.is_empty() {
                subtask.push_str(&format!(" exclude={}", exclude.join(",")));
            }
            if verify {
                subtask.push_str(" verify=low_pass");
            }
            subtask.push_str("\nEnd with a line: RECOMMEND site=… terrain=… slope_deg=… hazards=… survey=… orbital_slope_deg=… albedo=… dust=… approach_fuel_kg=… fuel_return_kg=…");
            builder = builder.tool(
                DELEGATE,
                json!({"specialist": self.detector, "subtask": subtask, "purpose": format!("Survey sites {list} and recommend a landing site")}),
            );
        }
        builder.build()
    }

    fn verify(
        &self,
        request: &ModelRequest,
        candidate: &Candidate,
        excluded: &BTreeSet<String>,
        number: usize,
    ) -> ModelResponse {
        let site = &candidate.site;
        let mut subtask = format!(
            "Verify candidate landing site {site} with a low_pass survey: is the ground clear (slope at most 8°, no hazards)?\n\
             SURVEY sites={site} verify=low_pass"
        );
        if !excluded.is_empty() {
            subtask.push_str(&format!(
                " exclude={}",
                excluded.iter().cloned().collect::<Vec<_>>().join(",")
            ));
        }
        subtask.push_str(
            "\nEnd with a line: RECOMMEND site=… (or RECOMMEND none) with the low_pass readings.",
        );
        ResponseBuilder::new(text::turn_prefix(request))
            .text(format!("Attempt {number}: site {site} is next but unverified; a detector checks it with a low pass before we fly there."))
            .tool(
                DELEGATE,
                json!({"specialist": self.detector, "subtask": subtask, "purpose": format!("Verify site {site} with a low-pass survey")}),
            )
            .build()
    }

    /// The navigator thread to send the grader's feedback to instead of briefing a new
    /// one: the one that flew the last attempt to this site, when the feedback is about
    /// its descent (touchdown speed or propellant), not the ground, and no follow-up was
    /// refused in this attempt.
    fn follow_up_thread(&self, prior: &[Attempt], current: &Attempt, site: &str) -> Option<u32> {
        let last = prior.last()?;
        let feedback = last.feedback.as_ref()?;
        let about_descent = DESCENT_FACTS.iter().any(|fact| feedback.mentions(fact));
        if !about_descent || feedback.clear_ground_failed() {
            return None;
        }
        let touchdown = last.touchdown(self.navigator)?;
        if text::word(&touchdown, "site") != Some(site) {
            return None;
        }
        let refused = current
            .by(self.navigator)
            .any(|d| d.follow_up.is_some() && matches!(d.result, Some(Err(_))));
        (!refused).then(|| last.touchdown_thread(self.navigator))?
    }

    fn fly(
        &self,
        request: &ModelRequest,
        candidate: &Candidate,
        prior: &[Attempt],
        current: &Attempt,
        force: bool,
        number: usize,
    ) -> ModelResponse {
        let site = &candidate.site;
        let mut line = format!("SITE site={site} terrain={}", candidate.terrain);
        for key in [
            "slope_deg",
            "hazards",
            "survey",
            "orbital_slope_deg",
            "albedo",
            "dust",
            "approach_fuel_kg",
            "fuel_return_kg",
        ] {
            text::put(&mut line, key, candidate.line.get(key).map(String::as_str));
        }
        let mut notes = Vec::new();
        for attempt in prior {
            let Some(t) = attempt.touchdown(self.navigator) else {
                continue;
            };
            let same_site = text::word(&t, "site") == Some(site.as_str());
            let same_terrain = candidate.terrain != "unknown"
                && text::word(&t, "terrain") == Some(candidate.terrain.as_str());
            if !same_site && !same_terrain {
                continue;
            }
            let failed = attempt
                .feedback
                .as_ref()
                .map(|f| f.failed_facts().join(","))
                .unwrap_or_default();
            let mut note = "PREVIOUS".to_string();
            for key in [
                "site",
                "terrain",
                "burn_altitude_m",
                "burn_margin_m",
                "throttle",
                "touchdown_speed_mps",
                "altimeter_at_contact_m",
                "fuel_remaining_kg",
                "fuel_return_kg",
            ] {
                text::put(&mut note, key, t.get(key).map(String::as_str));
            }
            text::put(&mut note, "failed", Some(&failed));
            notes.push(note);
        }
        let thread = (!force)
            .then(|| self.follow_up_thread(prior, current, site))
            .flatten();
        if let Some(thread) = thread {
            return self.follow_up(request, thread, site, &line, &notes, prior, number);
        }
        let mut subtask = format!(
            "Plan and fly the powered descent to site {site} ({} terrain): touch down at 2 m/s or less and keep enough propellant for the return to orbit. \
             Check the plan with simulate_descent, commit it once with commit_descent, and report the touchdown telemetry.",
            candidate.terrain
        );
        if !notes.is_empty() {
            subtask.push_str(" Earlier descents at this site or on this terrain are below; correct for what failed.");
        }
        subtask.push('\n');
        subtask.push_str(&line);
        for note in &notes {
            subtask.push('\n');
            subtask.push_str(note);
        }
        if force {
            subtask.push_str("\nFORCE");
        }
        let intro = if notes.is_empty() {
            format!(
                "Attempt {number}: site {site} ({}) looks best; handing it to the navigator.",
                candidate.terrain
            )
        } else {
            format!("Attempt {number}: site {site}; the navigator gets the telemetry of earlier descents here or on {} terrain to correct for.", candidate.terrain)
        };
        // Flying a site a rule says to avoid happens only when nothing else is open: a
        // departure the team reports with its evidence.
        let departures: Vec<String> = self
            .avoiding(candidate)
            .into_iter()
            .map(|rule| {
                let evidence = if rule.explore {
                    format!("exploration: this session tests the rule on purpose (the team's explore setting), so I fly site {site}, which its survey accepts")
                } else {
                    format!("no other site is acceptable: every other candidate was rejected by its survey, failed before or could not be flown within the rubric, so I fly site {site}")
                };
                rules::override_line(rule, &evidence)
            })
            .collect();
        let intro = if departures.is_empty() {
            intro
        } else {
            format!("{}\n{intro}", departures.join("\n"))
        };
        ResponseBuilder::new(text::turn_prefix(request))
            .text(intro)
            .tool(
                DELEGATE,
                json!({"specialist": self.navigator, "subtask": subtask, "purpose": format!("Plan and fly the descent to site {site}")}),
            )
            .build()
    }

    /// Sends the grader's feedback on the last descent to the navigator thread that flew
    /// it: the thread keeps its earlier work (the vehicle's state, its simulations), so
    /// it gets only what is new: the failed criteria, the site, and the telemetry notes
    /// it has not been sent yet.
    #[allow(clippy::too_many_arguments)]
    fn follow_up(
        &self,
        request: &ModelRequest,
        thread: u32,
        site: &str,
        line: &str,
        notes: &[String],
        prior: &[Attempt],
        number: usize,
    ) -> ModelResponse {
        // What this thread was sent before: its briefing and earlier follow-ups.
        let sent: Vec<&str> = prior
            .iter()
            .flat_map(|a| a.by(self.navigator))
            .filter(|d| match (&d.follow_up, &d.result) {
                (Some(n), _) => *n == thread,
                (None, Some(Ok(answer))) => thread_of(answer) == Some(thread),
                _ => false,
            })
            .map(|d| d.subtask.as_str())
            .collect();
        let failed: Vec<String> = prior
            .last()
            .and_then(|a| a.feedback.as_ref())
            .map(|f| {
                f.failed
                    .iter()
                    .map(|t| format!("- {}", t.replace('\n', " ")))
                    .collect()
            })
            .unwrap_or_default();
        let mut message = format!(
            "The grader's feedback on the descent you flew to site {site}:\n{}\n\
             Fly the descent to site {site} again, correcting for it: check the plan with simulate_descent, \
             commit it once with commit_descent, and report the touchdown telemetry.\n{line}",
            failed.join("\n")
        );
        for note in notes
            .iter()
            .filter(|n| !sent.iter().any(|s| s.contains(n.as_str())))
        {
            message.push('\n');
            message.push_str(note);
        }
        ResponseBuilder::new(text::turn_prefix(request))
            .text(format!(
                "Attempt {number}: site {site} again; the grader's feedback goes to the navigator that flew it (thread {thread}), which keeps its earlier work."
            ))
            .tool(
                DELEGATE,
                json!({
                    "specialist": self.navigator,
                    "subtask": message,
                    "purpose": format!("Correct the descent to site {site} from the grader's feedback"),
                    "thread": thread,
                }),
            )
            .build()
    }

    fn report(&self, request: &ModelRequest, current: &Attempt, number: usize) -> ModelResponse {
        let Some(t) = current.touchdown(self.navigator) else {
            let why: Vec<String> = current
                .by(self.navigator)
                .filter_map(|d| match &d.result {
                    Some(Ok(answer)) => text::last_tagged(answer, "NO_COMMIT").map(|p| {
                        format!(
                            "site {}: {}",
                            text::word(&p, "site").unwrap_or("?"),
                            text::word(&p, "reason").unwrap_or("unknown")
                        )
                    }),
                    Some(Err(failed)) => Some(format!(
                        "navigator failed: {}",
                        failed.reason.lines().next().unwrap_or("")
                    )),
                    None => None,
                })
                .collect();
            return text::answer(
                request,
                format!(
                    "Mission report (attempt {number}): no descent was committed, so the lander did not land.{}\nREPORT landed=false",
                    if why.is_empty() { String::new() } else { format!(" Reasons: {}.", why.join("; ")) }
                ),
            );
        };
        let get = |k: &str| t.get(k).map_or("?", String::as_str);
        let reserve = text::num(&t, "fuel_remaining_kg")
            .zip(text::num(&t, "fuel_return_kg"))
            .map(|(a, b)| a - b);
        let soft = text::num(&t, "touchdown_speed_mps").is_some_and(|v| v <= 2.0);
        let mut report = format!(
            "Mission report (attempt {number}): the lander {} at site {} ({} terrain).\n\
             - Touchdown speed: {} m/s{}.\n\
             - Ground at the touchdown point: slope {}°, {} hazard(s).\n\
             - Propellant: {} kg left; the return to orbit needs {} kg ({}).\n\
             - Descent: burn at {} m altimeter, {} m margin, throttle {}; the altimeter read {} m at contact.\n",
            if get("landed") == "true" { "touched down" } else { "hit the ground hard" },
            get("site"),
            get("terrain"),
            get("touchdown_speed_mps"),
            if soft { ", within the 2 m/s limit" } else { ", above the 2 m/s limit" },
            get("slope_deg"),
            get("hazards"),
            get("fuel_remaining_kg"),
            get("fuel_return_kg"),
            match reserve {
                Some(r) if r >= 0.0 => format!("reserve met, {r:.1} kg to spare"),
                Some(r) => format!("short by {:.1} kg", -r),
                None => "reserve unknown".into(),
            },
            get("burn_altitude_m"),
            get("burn_margin_m"),
            get("throttle"),
            get("altimeter_at_contact_m"),
        );
        let mut line = "REPORT".to_string();
        for key in [
            "site",
            "terrain",
            "touchdown_speed_mps",
            "slope_deg",
            "hazards",
            "fuel_remaining_kg",
            "fuel_return_kg",
        ] {
            text::put(&mut line, key, t.get(key).map(String::as_str));
        }
        report.push_str(&line);
        text::answer(request, report)
    }
}
