//! Approved playbooks as the runner applies them: rendered into agents' system prompts.

use crate::world::rules::{render_rules, Rule};

/// An approved playbook, ready to steer a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub id: String,
    pub version: u32,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// Structured rules scripted policies can read.
    pub rules: Vec<Rule>,
    /// `None` applies to the whole team; `Some(agent)` to that agent only.
    pub agent: Option<String>,
    /// This session tests, on purpose, a choice the playbook says to avoid
    /// (`[dreaming] explore`; see [`choose_exploration`]).
    pub explore: bool,
}

impl Playbook {
    pub fn applies_to(&self, agent: &str) -> bool {
        self.agent.as_deref().is_none_or(|a| a == agent)
    }

    /// Whether a rule of it says to avoid something the team can choose: the only rules
    /// whose evidence cannot come back unless a session tries the avoided choice. A
    /// condition on what a tool reported (`probe.load`, dotted) is a state of the world,
    /// not a choice: there is nothing to try.
    pub fn avoids(&self) -> bool {
        self.rules.iter().any(|rule| {
            rule.flag("avoid") == Some(true) && rule.when.keys().all(|k| !k.contains('.'))
        })
    }
}

/// The most a team may explore: at most every second session tests an avoided choice.
pub const MAX_EXPLORE: f64 = 0.5;

/// `[dreaming] explore = share`: marks which avoid-playbook, if any, the team's
/// `session_number`-th session (1-based) tests on purpose. Exactly `share` of the
/// sessions explore (session n explores when ⌊n·share⌋ grows), one playbook each, taking
/// the avoid-playbooks in turn; a share of 0 (the default) never explores.
pub fn choose_exploration(playbooks: &mut [Playbook], share: f64, session_number: u64) {
    let share = share.clamp(0.0, MAX_EXPLORE);
    let explorations = |n: u64| (n as f64 * share).floor() as u64;
    let (now, before) = (
        explorations(session_number),
        explorations(session_number.saturating_sub(1)),
    );
    if now == before {
        return;
    }
    let avoiding: Vec<usize> = (0..playbooks.len())
        .filter(|&i| playbooks[i].avoids())
        .collect();
    if avoiding.is_empty() {
        return;
    }
    let pick = avoiding[((now - 1) % avoiding.len() as u64) as usize];
    playbooks[pick].explore = true;
}

/// An agent's system prompt with its playbooks appended.
pub fn render_playbooks(prompt: &str, playbooks: &[&Playbook]) -> String {
    if playbooks.is_empty() {
        return prompt.to_string();
    }
    let mut out = prompt.trim_end().to_string();
    out.push_str(&format!(
        "\n\n## Playbooks\nLessons from this team's earlier sessions, approved by a person. \
         Treat them as strong advice, not orders: when your own evidence in this session \
         contradicts one (every check of its setting fails, the same check fails twice), \
         depart from it and say so on a line of its own: \
         `{} memory=<the rule's memory> evidence=<what you saw>`.\n",
        crate::world::rules::OVERRIDE_TAG
    ));
    for playbook in playbooks {
        out.push_str(&format!(
            "\n### {}\n{}\n",
            playbook.title,
            playbook.body.trim_end()
        ));
        if playbook.explore {
            out.push_str(
                "\nThis session explores this playbook (the team's `[dreaming] explore` setting): \
                 where a choice it says to avoid is otherwise acceptable, try it once, on purpose, \
                 and report it as a departure with `evidence=exploration`, so the team learns \
                 whether the rule still holds.\n",
            );
        }
        if !playbook.rules.is_empty() {
            let rules: Vec<Rule> = playbook
                .rules
                .iter()
                .map(|rule| Rule {
                    memory: Some(playbook.id.clone()),
                    explore: playbook.explore && rule.flag("avoid") == Some(true),
                    ..rule.clone()
                })
                .collect();
            out.push_str(&render_rules(&rules));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::rules::parse_rules;
    use serde_json::json;

    #[test]
    fn playbooks_render_into_the_prompt_with_their_rules() {
        let rule: Rule = serde_json::from_value(
            json!({"when": {"terrain": "dune"}, "then": {"burn_margin_m": {"min": 150}}}),
        )
        .unwrap();
        let playbook = Playbook {
            id: "m1".into(),
            version: 2,
            title: "Brake early over dunes".into(),
            body: "Dunes fool the altimeter.".into(),
            rules: vec![rule.clone()],
            agent: Some("navigator".into()),
            explore: false,
        };
        assert!(playbook.applies_to("navigator") && !playbook.applies_to("detector"));
        let prompt = render_playbooks("You fly the lander.", &[&playbook]);
        assert!(prompt.starts_with("You fly the lander.\n\n## Playbooks"));
        assert!(prompt.contains("### Brake early over dunes\nDunes fool the altimeter."));
        // Each rule carries its playbook's id, for an agent to cite if it departs.
        let cited = Rule {
            memory: Some("m1".into()),
            ..rule
        };
        assert_eq!(parse_rules(&prompt), vec![cited]);
        assert_eq!(render_playbooks("plain", &[]), "plain");
    }

    fn playbook(id: &str, then: serde_json::Value) -> Playbook {
        Playbook {
            id: id.into(),
            version: 1,
            title: id.into(),
            body: String::new(),
            rules: vec![
                serde_json::from_value(json!({"when": {"terrain": "dune"}, "then": then})).unwrap(),
            ],
            agent: None,
            explore: false,
        }
    }

    #[test]
    fn exploration_takes_its_share_of_sessions_and_the_avoid_playbooks_in_turn() {
        let explored = |share: f64, sessions: u64| -> Vec<(u64, String)> {
            (1..=sessions)
                .flat_map(|n| {
                    let mut playbooks = vec![
                        playbook("margin", json!({"burn_margin_m": {"min": 150}})),
                        playbook("a", json!({"avoid": true})),
                        playbook("b", json!({"avoid": true})),
                    ];
                    choose_exploration(&mut playbooks, share, n);
                    playbooks
                        .into_iter()
                        .filter(|p| p.explore)
                        .map(move |p| (n, p.id))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        assert!(explored(0.0, 40).is_empty(), "off by default");
        assert_eq!(
            explored(0.25, 12),
            vec![(4, "a".into()), (8, "b".into()), (12, "a".into())]
        );
        // Bounded: a share above the cap explores every second session at most.
        assert_eq!(explored(1.0, 10).len(), 5);
        // Only avoid-rules are explored: there is nothing to test in a margin.
        let mut margin = vec![playbook("margin", json!({"burn_margin_m": {"min": 150}}))];
        choose_exploration(&mut margin, 0.5, 2);
        assert!(!margin[0].explore);
    }

    #[test]
    fn an_explored_playbook_marks_its_avoid_rules_in_the_prompt() {
        let mut avoid = playbook("m2", json!({"avoid": true}));
        avoid.explore = true;
        let prompt = render_playbooks("You lead.", &[&avoid]);
        assert!(prompt.contains("evidence=exploration"), "{prompt}");
        let rules = parse_rules(&prompt);
        assert!(rules.len() == 1 && rules[0].explore, "{rules:?}");
        avoid.explore = false;
        assert!(!parse_rules(&render_playbooks("You lead.", &[&avoid]))[0].explore);
    }
}
