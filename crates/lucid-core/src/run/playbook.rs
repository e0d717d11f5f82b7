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
}

impl Playbook {
    pub fn applies_to(&self, agent: &str) -> bool {
        self.agent.as_deref().is_none_or(|a| a == agent)
    }
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
        if !playbook.rules.is_empty() {
            let rules: Vec<Rule> = playbook
                .rules
                .iter()
                .map(|rule| Rule {
                    memory: Some(playbook.id.clone()),
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
}
