//! The model dreamer: a language model reads the digests and mined patterns and
//! answers through a forced `propose_memories` call whose answer is validated. Claims
//! citing sessions that do not exist are dropped, and so is a proposal left with no
//! evidence.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::json;

use super::digest::SessionDigest;
use super::mine::Patterns;
use super::synth::Draft;
use super::DreamError;
use crate::event::SessionId;
use crate::memory::skill::skill_name;
use crate::memory::{Citation, Memory, MemoryKind};
use crate::model::{
    complete_observed, ContentBlock, Message, ModelRequest, Provider, Role, ToolChoice, ToolSpec,
};
use crate::world::rules::Rule;

pub const PROPOSE_TOOL: &str = "propose_memories";

pub const DREAMER_SYSTEM: &str = "You are the dreamer of an agent team. You review digests of the \
team's recorded sessions and the patterns mined from them, and propose playbooks (how to do \
better), notes and preferences. Every claim must cite the sessions it rests on by id. Prefer a \
few well-supported proposals over many weak ones; do not repeat memories the team already has. \
Answer by calling propose_memories once.";

#[derive(Deserialize)]
struct Answer {
    proposals: Vec<Proposal>,
}

#[derive(Deserialize)]
struct Proposal {
    kind: String,
    title: String,
    body: String,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    rules: Vec<Rule>,
    citations: Vec<ProposedCitation>,
}

#[derive(Deserialize)]
struct ProposedCitation {
    session: String,
    summary: String,
}

/// How many sessions the model reads in full; the mined patterns cover the rest.
const MAX_PROMPT_SESSIONS: usize = 60;

fn request(digests: &[&SessionDigest], patterns: &Patterns, memories: &[Memory]) -> ModelRequest {
    // The latest sessions in full (digests come oldest first); a long history reaches the
    // model through the patterns mined over all of it.
    let skipped = digests.len().saturating_sub(MAX_PROMPT_SESSIONS);
    let mut sessions: Vec<String> = Vec::new();
    if skipped > 0 {
        sessions.push(format!(
            "({skipped} earlier session(s) are not shown; the mined patterns count them)"
        ));
    }
    sessions.extend(digests[skipped..].iter().map(|d| d.summary()));
    let known: Vec<String> = memories
        .iter()
        .map(|m| format!("- {} ({}, {})", m.title, m.kind.as_str(), m.status.as_str()))
        .collect();
    let patterns_json = serde_json::to_string_pretty(patterns).unwrap_or_else(|_| "{}".into());
    let text = format!(
        "## Sessions\n{}\n\n## Mined patterns\n{patterns_json}\n\n## The team's current memories\n{}\n",
        sessions.join("\n"),
        if known.is_empty() { "none".to_string() } else { known.join("\n") }
    );
    ModelRequest {
        system: DREAMER_SYSTEM.into(),
        messages: vec![Message::user_text(text)].into(),
        tools: vec![ToolSpec {
            name: PROPOSE_TOOL.into(),
            description: "Propose memories for a person to review.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {"proposals": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": ["playbook", "note", "preference"]},
                        "title": {"type": "string"},
                        "body": {"type": "string", "description": "Markdown: the lesson and its evidence."},
                        "agent": {"type": ["string", "null"], "description": "The agent it is for; null for the whole team."},
                        "rules": {"type": "array", "items": {"type": "object", "properties": {
                            "when": {"type": "object"}, "then": {"type": "object"}}, "required": ["then"]}},
                        "citations": {"type": "array", "items": {"type": "object", "properties": {
                            "session": {"type": "string"}, "summary": {"type": "string"}},
                            "required": ["session", "summary"]}}
                    },
                    "required": ["kind", "title", "body", "citations"]
                }}},
                "required": ["proposals"]
            }),
        }].into(),
        tool_choice: ToolChoice::Tool {
            name: PROPOSE_TOOL.into(),
        },
        max_tokens: 4096,
        temperature: None,
    }
}

/// Asks the model for drafts; re-asks once on a malformed answer. `on_retry` hears of
/// every retry the provider makes, so the dream can record it.
pub async fn model_drafts(
    provider: &dyn Provider,
    digests: &[&SessionDigest],
    patterns: &Patterns,
    memories: &[Memory],
    mut on_retry: impl FnMut(&crate::model::RetryNotice),
    mut on_usage: impl FnMut(&crate::model::Usage),
) -> Result<Vec<Draft>, DreamError> {
    let known: BTreeSet<SessionId> = digests.iter().map(|d| d.session).collect();
    let mut request = request(digests, patterns, memories);
    let mut problem = String::new();
    for _ in 0..2 {
        let response = complete_observed(provider, request.clone(), &mut on_retry)
            .await
            .map_err(|err| DreamError::Model(err.to_string()))?;
        on_usage(&response.usage);
        let input = response.content.iter().find_map(|b| match b {
            ContentBlock::ToolUse { name, input, .. } if name == PROPOSE_TOOL => {
                Some(input.clone())
            }
            _ => None,
        });
        match input.map(serde_json::from_value::<Answer>) {
            Some(Ok(answer)) => return Ok(validate(answer, &known)),
            Some(Err(err)) => problem = format!("{PROPOSE_TOOL} arguments: {err}"),
            None => problem = format!("no {PROPOSE_TOOL} call"),
        }
        std::sync::Arc::make_mut(&mut request.messages).push(Message {
            role: Role::Assistant,
            content: response.content.clone(),
        });
        let mut content: Vec<ContentBlock> = response
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolUse { id, .. } => Some(ContentBlock::ToolResult {
                    tool_use_id: id.clone(),
                    content: problem.clone(),
                    is_error: true,
                }),
                _ => None,
            })
            .collect();
        content.push(ContentBlock::Text {
            text: format!("Your answer could not be used: {problem}. Call {PROPOSE_TOOL} again."),
        });
        std::sync::Arc::make_mut(&mut request.messages).push(Message {
            role: Role::User,
            content,
        });
    }
    Err(DreamError::Model(format!(
        "the dreamer's answer was malformed twice: {problem}"
    )))
}

/// Keeps only well-formed proposals, and in them only citations of real sessions.
fn validate(answer: Answer, known: &BTreeSet<SessionId>) -> Vec<Draft> {
    answer
        .proposals
        .into_iter()
        .filter_map(|p| {
            let kind = match p.kind.as_str() {
                "playbook" => MemoryKind::Playbook,
                "note" => MemoryKind::Note,
                "preference" => MemoryKind::Preference,
                _ => return None,
            };
            if p.title.trim().is_empty() || p.body.trim().is_empty() {
                return None;
            }
            let citations: Vec<Citation> = p
                .citations
                .into_iter()
                .filter_map(|c| {
                    let session: SessionId = c.session.trim().parse().ok()?;
                    known.contains(&session).then(|| Citation {
                        session,
                        events: Vec::new(),
                        summary: c.summary,
                    })
                })
                .collect();
            if citations.is_empty() {
                return None;
            }
            Some(Draft {
                kind,
                agent: p.agent.filter(|a| !a.trim().is_empty()),
                key: format!("model|{}", skill_name(&p.title)),
                title: p.title,
                body: p.body,
                rules: p.rules,
                citations,
            })
        })
        .collect()
}
