//! Dreaming: a pass over a team's recorded sessions that finds recurring mistakes and
//! workflows that worked, and proposes memories a person reviews.
//!
//! [`dream`] reads the team's sessions since its last dream, [`digest`]s each, [`mine`]s
//! patterns across them with support counts (and, where an environment reports per-case
//! records, labelling signatures from them with [`cases`]), turns the patterns into drafts (offline by
//! [`synth`], or by a model in [`model`]), [`curate`]s the drafts against the memories
//! the team already has, and writes the surviving proposals. A proposal does nothing
//! until a person approves it. The dream is itself recorded as a session with one
//! `dreamer` thread, so it can be watched and replayed like any run. This module never
//! changes an approved memory by itself.

pub mod cases;
pub mod curate;
pub mod digest;
pub mod mine;
pub mod model;
pub mod stats;
pub mod synth;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::{
    now_ms, AgentId, AgentStatus, DreamId, EventBus, EventKind, EventSink, MemoryId, SessionId,
};
use crate::memory::{Author, Change, Memory, MemoryBook, MemoryError, MemoryStatus};
use crate::model::Provider;
use crate::spec::EnvironmentCatalog;
use crate::store::{SessionStatus, Store, StoreError};
use curate::Action;
use digest::SessionDigest;
use mine::{MiningLimits, Patterns};
use synth::Draft;

/// The environment name dream sessions are recorded under.
pub const DREAM_ENVIRONMENT: &str = "dream";

/// Why a dream failed.
#[derive(Debug, thiserror::Error)]
pub enum DreamError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("the dreamer model failed: {0}")]
    Model(String),
    #[error("cannot record the dream: {0}")]
    Record(String),
}

/// Why a session file's `[dreaming] model` gives no dreamer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DreamerError {
    #[error("no model profile `{profile}`")]
    UnknownProfile { profile: String },
    /// The profile's model client cannot be made (a missing API key, …).
    #[error(transparent)]
    Provider(#[from] crate::run::RunError),
}

/// Who writes the drafts.
#[derive(Clone)]
pub enum Dreamer {
    /// Drafts straight from the mined patterns.
    Offline,
    /// A language model reads digests and patterns and answers in a validated structure.
    Model(Arc<dyn Provider>),
}

/// A dream, as recorded in the store's `dreams` tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DreamRun {
    pub id: DreamId,
    pub team: String,
    /// The session the dream was recorded as.
    pub session: SessionId,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    /// The sessions it digested.
    pub sessions: Vec<SessionId>,
    pub patterns: u32,
    /// Memories it proposed or revised.
    pub proposals: Vec<MemoryId>,
    /// Every session it considered (digested or not); later dreams skip them.
    #[serde(default)]
    pub considered: Vec<SessionId>,
}

/// What a dream did (also what `POST /v1/dreams` answers, so it reads back too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamReport {
    pub run: DreamRun,
    pub patterns: Patterns,
    pub proposals: Vec<Memory>,
}

/// The dreamer a session file asks for: offline for offline profiles (scripted, test,
/// replay), else a model client for its `[dreaming] model` profile.
pub fn dreamer_for(spec: &crate::spec::SessionSpec) -> Result<Dreamer, DreamerError> {
    let Some(profile) = spec.models.get(&spec.dreaming.model) else {
        return Err(DreamerError::UnknownProfile {
            profile: spec.dreaming.model.clone(),
        });
    };
    if profile.is_offline() {
        return Ok(Dreamer::Offline);
    }
    Ok(Dreamer::Model(crate::run::provider_for(
        &spec.dreaming.model,
        profile,
        "dreamer",
        None,
    )?))
}

/// The team's finished sessions that no dream has read yet, oldest first. (A session
/// interrupted and resumed after a dream finishes late, so it is checked by id, not by
/// a time mark.)
pub fn undreamt_sessions(store: &Store, team: &str) -> Result<Vec<SessionId>, DreamError> {
    let read: std::collections::BTreeSet<SessionId> = store
        .dreams::<DreamRun>()?
        .into_iter()
        .filter(|run| run.team == team)
        .flat_map(|run| run.considered)
        .collect();
    Ok(store
        .sessions()?
        .into_iter()
        .filter(|s| s.team == team && s.environment != DREAM_ENVIRONMENT)
        .filter(|s| matches!(s.status, SessionStatus::Passed | SessionStatus::Failed))
        .filter(|s| !read.contains(&s.id))
        .map(|s| s.id)
        .collect())
}

/// Teams with sessions no dream has read yet, in name order.
pub fn teams_to_dream(store: &Store) -> Result<Vec<String>, DreamError> {
    let mut teams: Vec<String> = store
        .sessions()?
        .into_iter()
        .filter(|s| s.environment != DREAM_ENVIRONMENT)
        .map(|s| s.team)
        .collect();
    teams.sort();
    teams.dedup();
    let mut out = Vec::new();
    for team in teams {
        if !undreamt_sessions(store, &team)?.is_empty() {
            out.push(team);
        }
    }
    Ok(out)
}

/// Dreams over a team's new sessions, records the dream, and writes its proposals.
pub async fn dream(
    store: &Store,
    team: &str,
    dreamer: &Dreamer,
    catalog: &EnvironmentCatalog,
) -> Result<DreamReport, DreamError> {
    let sink: Arc<dyn EventSink> = Arc::new(store.clone());
    let bus = EventBus::new(SessionId::generate(), sink);
    dream_on_bus(store, team, dreamer, catalog, &bus).await
}

/// [`dream`] on a bus the caller made (recording into `store`), so it can subscribe
/// first and watch the dreamer thread live (the TUI does).
pub async fn dream_on_bus(
    store: &Store,
    team: &str,
    dreamer: &Dreamer,
    catalog: &EnvironmentCatalog,
    bus: &EventBus,
) -> Result<DreamReport, DreamError> {
    let started_at_ms = now_ms();
    let id = DreamId::generate();
    let session = bus.session();
    let new_sessions = undreamt_sessions(store, team)?;
    let dreamer_thread = Some(AgentId(1));
    bus.emit(
        None,
        EventKind::SessionStarted {
            team: team.to_string(),
            spec_path: "(dream)".into(),
            task: format!(
                "Dream over {} new session(s) of team {team}",
                new_sessions.len()
            ),
            environment: DREAM_ENVIRONMENT.into(),
            seed: 0,
            world: 0,
            max_iterations: 0,
        },
    );
    bus.emit(
        dreamer_thread,
        EventKind::AgentSpawned {
            name: "dreamer".into(),
            role: "dreamer".into(),
            parent: None,
            model: match dreamer {
                Dreamer::Offline => "offline".into(),
                Dreamer::Model(provider) => provider.label(),
            },
            purpose: Some("review the team's history and propose memories".into()),
            iteration: 1,
        },
    );

    let outcome = dream_steps(store, team, dreamer, catalog, &new_sessions, id, bus).await;
    let (status, error) = match &outcome {
        Ok(_) => (AgentStatus::Done, None),
        Err(err) => (AgentStatus::Failed, Some(err.to_string())),
    };
    bus.emit(
        dreamer_thread,
        EventKind::AgentFinished {
            status,
            turns: 1,
            answer: None,
        },
    );
    bus.emit(
        None,
        EventKind::SessionFinished {
            passed: error.is_none(),
            iterations: 0,
            duration_ms: now_ms().saturating_sub(started_at_ms),
            error,
        },
    );
    bus.checkpoint()
        .await
        .map_err(|err| DreamError::Record(err.0))?;
    let (patterns, proposals, digested) = outcome?;
    let run = DreamRun {
        id,
        team: team.to_string(),
        session,
        started_at_ms,
        finished_at_ms: now_ms(),
        patterns: patterns.count() as u32,
        proposals: proposals.iter().map(|m| m.id).collect(),
        considered: new_sessions.clone(),
        sessions: digested,
    };
    store.put_dream(id.to_bytes(), &run)?;
    store.flush()?;
    Ok(DreamReport {
        run,
        patterns,
        proposals,
    })
}

type Steps = (Patterns, Vec<Memory>, Vec<SessionId>);

async fn dream_steps(
    store: &Store,
    team: &str,
    dreamer: &Dreamer,
    catalog: &EnvironmentCatalog,
    new_sessions: &[SessionId],
    dream_id: DreamId,
    bus: &EventBus,
) -> Result<Steps, DreamError> {
    let thread = Some(AgentId(1));
    let all_facts: Vec<String> = catalog
        .values()
        .flat_map(|c| c.facts.iter().cloned())
        .collect();
    let mut digests = Vec::new();
    for &id in new_sessions {
        let events = store.events(id)?;
        if let Some(digest) = SessionDigest::from_events(&events, &all_facts) {
            digests.push(digest);
        }
    }
    bus.emit(
        thread,
        EventKind::Text {
            text: format!(
                "Digested {} of {} new session(s).",
                digests.len(),
                new_sessions.len()
            ),
        },
    );

    // Mine each environment kind over its own observations and choices.
    let mut by_environment: BTreeMap<&str, Vec<&SessionDigest>> = BTreeMap::new();
    for digest in &digests {
        by_environment
            .entry(digest.environment.as_str())
            .or_default()
            .push(digest);
    }
    let mut patterns = Patterns::default();
    for (environment, group) in &by_environment {
        let Some(capabilities) = catalog.get(*environment) else {
            continue;
        };
        let found = mine::mine(
            environment,
            group,
            &capabilities.observations,
            &capabilities.choices,
            &MiningLimits::default(),
        );
        patterns.failures.extend(found.failures);
        patterns.tests += found.tests;
        patterns.fdr = found.fdr;
        patterns.workflows.extend(found.workflows);
        patterns.feedback.extend(found.feedback);
        if let Some(learning) = &capabilities.cases {
            patterns.cases.extend(cases::mine_cases(
                environment,
                group,
                learning,
                &cases::CaseLimits::default(),
            ));
        }
    }
    for failure in &patterns.failures {
        bus.emit(
            thread,
            EventKind::PatternFound {
                summary: format!(
                    "{} fails when {} = {} ({} of {}; elsewhere {} of {}); remedy: {}",
                    failure.criterion,
                    failure.feature,
                    synth::show(&failure.value),
                    failure.failed,
                    failure.total,
                    failure.failed_elsewhere,
                    failure.total_elsewhere,
                    serde_json::to_string(&failure.remedy).unwrap_or_default()
                ),
                support: failure.failed,
            },
        );
    }
    for workflow in &patterns.workflows {
        bus.emit(
            thread,
            EventKind::PatternFound {
                summary: format!(
                    "passing attempts share {}'s workflow: {}",
                    workflow.agent,
                    workflow.sequence.join(" → ")
                ),
                support: workflow.passing_with,
            },
        );
    }
    for feedback in &patterns.feedback {
        bus.emit(
            thread,
            EventKind::PatternFound {
                summary: format!(
                    "the grader keeps asking for {}: {}",
                    feedback.criterion, feedback.request
                ),
                support: feedback.count,
            },
        );
    }

    for case in &patterns.cases {
        bus.emit(
            thread,
            EventKind::PatternFound {
                summary: format!(
                    "{} = {:?} signals {} = {} ({} of {} cases, {} sessions; {} were labelled otherwise)",
                    case.feature,
                    case.value,
                    case.label,
                    case.truth,
                    case.support,
                    case.observed,
                    case.sessions,
                    case.mistakes
                ),
                support: case.support,
            },
        );
    }

    let book = MemoryBook::new(store.clone());
    let memories: Vec<Memory> = book
        .list()?
        .into_iter()
        .filter(|m| m.team == team)
        .collect();
    let digest_refs: Vec<&SessionDigest> = digests.iter().collect();
    let drafts: Vec<Draft> = if digests.is_empty() {
        Vec::new()
    } else {
        match dreamer {
            Dreamer::Offline => synth::drafts(&patterns, &digest_refs),
            Dreamer::Model(provider) => {
                let on_retry = |notice: &crate::model::RetryNotice| {
                    bus.emit(
                        thread,
                        EventKind::Retry {
                            attempt: notice.attempt,
                            reason: notice.reason.clone(),
                            delay_ms: notice.delay_ms,
                        },
                    );
                };
                model::model_drafts(
                    provider.as_ref(),
                    &digest_refs,
                    &patterns,
                    &memories,
                    on_retry,
                )
                .await?
            }
        }
    };
    let actions = curate::curate(drafts, &memories, &digest_refs);
    let mut proposals = Vec::new();
    for action in actions {
        let memory = apply(&book, team, dream_id, action, &memories)?;
        bus.emit(
            thread,
            EventKind::MemoryProposed {
                memory_id: memory.id.to_string(),
                version: memory.version,
                title: memory.title.clone(),
                change: match memory.change {
                    Change::New if memory.version > 1 => "revision".into(),
                    Change::New => "new".into(),
                    Change::Update { target } => format!("update of {target}"),
                    Change::Retire { target } => format!("retirement of {target}"),
                },
            },
        );
        proposals.push(memory);
    }
    bus.emit(
        thread,
        EventKind::Text {
            text: if proposals.is_empty() {
                "Nothing new to propose.".into()
            } else {
                format!(
                    "Proposed {} memor{} for review.",
                    proposals.len(),
                    if proposals.len() == 1 { "y" } else { "ies" }
                )
            },
        },
    );
    Ok((
        patterns,
        proposals,
        digests.iter().map(|d| d.session).collect(),
    ))
}

fn new_memory(team: &str, dream: DreamId, draft: Draft, change: Change) -> Memory {
    Memory {
        id: MemoryId(0),
        version: 1,
        kind: draft.kind,
        team: team.to_string(),
        agent: draft.agent,
        title: draft.title,
        body: draft.body,
        rules: draft.rules,
        status: MemoryStatus::Proposed,
        provenance: draft.citations,
        author: Author::Dream { dream },
        change,
        key: Some(draft.key),
        created_at_ms: 0,
        updated_at_ms: 0,
        reason: "proposed by a dream".into(),
    }
}

fn apply(
    book: &MemoryBook,
    team: &str,
    dream: DreamId,
    action: Action,
    memories: &[Memory],
) -> Result<Memory, DreamError> {
    Ok(match action {
        Action::Propose(draft) => book.create(new_memory(team, dream, draft, Change::New))?,
        Action::ProposeUpdate { target, draft } => {
            book.create(new_memory(team, dream, draft, Change::Update { target }))?
        }
        Action::Revise { id, draft } => {
            book.revise(id, Author::Dream { dream }, "revised by a dream", |m| {
                m.title = draft.title;
                m.body = draft.body;
                m.rules = draft.rules;
                m.agent = draft.agent;
                m.provenance = draft.citations;
            })?
        }
        Action::ProposeRetire {
            target,
            title,
            body,
            citations,
        } => {
            let kind = memories
                .iter()
                .find(|m| m.id == target)
                .map_or(crate::memory::MemoryKind::Playbook, |m| m.kind);
            let key = memories
                .iter()
                .find(|m| m.id == target)
                .and_then(|m| m.key.clone())
                .unwrap_or_default();
            book.create(new_memory(
                team,
                dream,
                Draft {
                    kind,
                    agent: None,
                    title,
                    body,
                    rules: Vec::new(),
                    citations,
                    key,
                },
                Change::Retire { target },
            ))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(models: &str) -> crate::spec::SessionSpec {
        let catalog: EnvironmentCatalog = [(
            "k".to_string(),
            crate::world::capabilities(&[], &["done"], &["lead"]),
        )]
        .into_iter()
        .collect();
        let source = format!(
            "name = \"t\"\ntask = \"do it\"\n[environment]\nkind = \"k\"\n{models}\n[agents.lead]\nlead = true\nprompt = \"p\"\n[[outcome.criteria]]\nid = \"c\"\ndescription = \"d\"\ncheck = \"done\"\n"
        );
        crate::spec::parse(Path::new("s.toml"), &source, &catalog).unwrap()
    }

    #[test]
    fn the_dreamer_is_offline_for_offline_profiles_and_errors_name_the_profile() {
        let mut offline = spec("");
        assert!(matches!(dreamer_for(&offline), Ok(Dreamer::Offline)));
        offline.dreaming.model = "gone".into();
        let err = dreamer_for(&offline).err().unwrap();
        assert_eq!(
            err,
            DreamerError::UnknownProfile {
                profile: "gone".into()
            }
        );
        assert_eq!(err.to_string(), "no model profile `gone`");

        let mut keyless = spec(
            "[models.remote]\nprovider = \"openai\"\nmodel = \"m\"\napi_key_env = \"LUCID_TEST_DREAMER_KEY_NEVER_SET\"\n",
        );
        keyless.dreaming.model = "remote".into();
        let err = dreamer_for(&keyless).err().unwrap();
        assert!(matches!(err, DreamerError::Provider(_)), "{err:?}");
        assert!(
            err.to_string().contains("LUCID_TEST_DREAMER_KEY_NEVER_SET"),
            "{err}"
        );
    }
}
