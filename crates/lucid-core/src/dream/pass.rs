//! One dream pass: read the history (the latest run of each distinct mission in the
//! window), digest what the cache lacks, mine each environment kind over its own
//! observations and choices, draft, withdraw the pending proposals the history no longer
//! supports, curate the drafts against the team's memories, write the proposals, and,
//! when there are none, say why — all of it said on the dreamer thread as it happens.

use std::collections::{BTreeMap, BTreeSet};

use super::digest::SessionDigest;
use super::mine::{MiningLimits, Patterns};
use super::synth::Draft;
use super::{cache, cases, curate, history, mine, model, near, synth, withdraw};
use super::{DreamError, DreamOptions, Dreamer};
use crate::event::{AgentId, DreamId, EventBus, EventKind, MemoryId, SessionId};
use crate::memory::{Author, Change, Memory, MemoryBook, MemoryStatus};
use crate::spec::EnvironmentCatalog;
use crate::store::Store;
use curate::Action;

/// What a dream reads and where it says what it does.
pub(super) struct Pass<'a> {
    pub store: &'a Store,
    pub team: &'a str,
    pub dreamer: &'a Dreamer,
    pub catalog: &'a EnvironmentCatalog,
    pub options: DreamOptions,
    pub dream: DreamId,
    pub bus: &'a EventBus,
    /// When the dream started: a window of time ends here.
    pub started_at_ms: u64,
}

/// What a pass found and did.
#[derive(Default)]
pub(super) struct Outcome {
    pub patterns: Patterns,
    pub proposals: Vec<Memory>,
    /// Sessions digested from their events now.
    pub digested: Vec<SessionId>,
    /// The runs mined, one per mission.
    pub mined: Vec<SessionId>,
    /// Digests read from the cache.
    pub cached: u32,
    /// Runs in the window set aside as repeats of a mission.
    pub repeats: u32,
    /// Pending proposals withdrawn because the history no longer supports them.
    pub withdrawn: Vec<MemoryId>,
    /// When nothing was proposed, why.
    pub why_nothing: Vec<String>,
}

const THREAD: Option<AgentId> = Some(AgentId(1));

impl Pass<'_> {
    fn say(&self, text: String) {
        self.bus.emit(THREAD, EventKind::Text { text });
    }

    /// The pass, given the sessions that are new to dreaming.
    pub(super) async fn run(&self, new_sessions: &[SessionId]) -> Result<Outcome, DreamError> {
        if new_sessions.is_empty() && !self.options.rescan {
            let why = "No session is new since the last dream, so there is nothing new to \
                       mine (`lucid dream --rescan` mines the history again)."
                .to_string();
            self.say(why.clone());
            return Ok(Outcome {
                why_nothing: vec![why],
                ..Outcome::default()
            });
        }
        let history = history::history(
            self.store,
            self.team,
            self.options.history,
            self.catalog,
            self.started_at_ms,
        )?;
        let all_facts: Vec<String> = self
            .catalog
            .values()
            .flat_map(|c| c.facts.iter().cloned())
            .collect();
        let digested = cache::digests(self.store, &history.runs, &all_facts, self.options.rescan)?;
        self.say(format!(
            "Mining {} mission(s) of the team's history (window: {}; {} session(s) in it, {} repeat run(s) of a mission set aside, the latest run standing for each): {} new, {} digested now, {} from the cache.",
            digested.digests.len(),
            self.options.history,
            history.in_window,
            history.repeats,
            new_sessions.len(),
            digested.computed.len(),
            digested.cached
        ));
        let digests = digested.digests;
        let patterns = mine_all(self.catalog, &digests);
        self.emit_patterns(&patterns);
        let (patterns, proposals, withdrawn) = self.propose(patterns, &digests).await?;
        let why_nothing = if proposals.is_empty() {
            self.why_nothing(&patterns, &digests)
        } else {
            Vec::new()
        };
        for line in &why_nothing {
            self.say(line.clone());
        }
        Ok(Outcome {
            patterns,
            proposals,
            digested: digested.computed,
            mined: digests.iter().map(|d| d.session).collect(),
            cached: digested.cached,
            repeats: history.repeats as u32,
            withdrawn,
            why_nothing,
        })
    }

    /// Why a pass that proposes nothing proposes nothing: the claims already on record,
    /// and the conditions nearest to a pattern with the evidence they lack.
    fn why_nothing(&self, patterns: &Patterns, digests: &[SessionDigest]) -> Vec<String> {
        if digests.is_empty() {
            return vec![
                "No finished, graded session of the team is in the history window.".into(),
            ];
        }
        let mut why = Vec::new();
        if !patterns.is_empty() {
            why.push(format!(
                "The history shows {} pattern(s); every claim they make is already on record \
                 (pending, approved, or rejected by a person).",
                patterns.count()
            ));
        }
        let found: BTreeSet<(String, String, String)> = patterns
            .failures
            .iter()
            .map(|f| (f.criterion.clone(), f.feature.clone(), f.value.to_string()))
            .collect();
        let mut misses = Vec::new();
        for (environment, group) in by_environment(digests) {
            let Some(capabilities) = self.catalog.get(environment) else {
                continue;
            };
            misses.extend(near::near_misses(
                environment,
                &group,
                mine::Vocabulary::of(capabilities, &group),
                &MiningLimits::default(),
                &found,
                NEAR_MISSES,
                patterns.tests,
            ));
        }
        misses.sort_by(|a, b| {
            (a.more_failures.unwrap_or(u32::MAX), a.more_missions)
                .cmp(&(b.more_failures.unwrap_or(u32::MAX), b.more_missions))
        });
        misses.truncate(NEAR_MISSES);
        if misses.is_empty() && patterns.is_empty() {
            why.push(format!(
                "In {} mission(s), no criterion failed more often under any observed condition \
                 than elsewhere: there is no candidate to learn from yet.",
                digests.len()
            ));
        }
        why.extend(
            misses
                .iter()
                .map(|miss| format!("Nearest candidate: {}.", miss.describe())),
        );
        why
    }

    fn emit_patterns(&self, patterns: &Patterns) {
        let thread = THREAD;
        for failure in &patterns.failures {
            self.bus.emit(
                thread,
                EventKind::PatternFound {
                    summary: format!(
                        "{} fails when {} ({} of {}; elsewhere {} of {}); remedy: {}",
                        failure.criterion,
                        if failure.when.is_empty() {
                            format!("`{}` is {}", failure.feature, synth::show(&failure.value))
                        } else {
                            super::failure_draft::describe_when(&failure.when)
                        },
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
            self.bus.emit(
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
            self.bus.emit(
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
            let summary = format!(
                "{} = {:?} signals {} = {} ({} of {} cases, {} sessions; {} were labelled otherwise)",
                case.feature,
                case.value,
                case.label,
                case.truth,
                case.support,
                case.observed,
                case.sessions,
                case.mistakes
            );
            self.bus.emit(
                thread,
                EventKind::PatternFound {
                    summary,
                    support: case.support,
                },
            );
        }
    }

    /// Drafts, curation and the written proposals.
    async fn propose(
        &self,
        patterns: Patterns,
        digests: &[SessionDigest],
    ) -> Result<(Patterns, Vec<Memory>, Vec<MemoryId>), DreamError> {
        let thread = THREAD;
        let book = MemoryBook::new(self.store.clone());
        let memories: Vec<Memory> = book
            .list()?
            .into_iter()
            .filter(|m| m.team == self.team)
            .collect();
        let digest_refs: Vec<&SessionDigest> = digests.iter().collect();
        let drafts: Vec<Draft> = if digests.is_empty() {
            Vec::new()
        } else {
            match self.dreamer {
                Dreamer::Offline => synth::drafts(&patterns, &digest_refs),
                Dreamer::Model(dreamer) => {
                    let on_retry = |notice: &crate::model::RetryNotice| {
                        self.bus.emit(
                            thread,
                            EventKind::Retry {
                                attempt: notice.attempt,
                                reason: notice.reason.clone(),
                                delay_ms: notice.delay_ms,
                            },
                        );
                    };
                    let on_usage = |usage: &crate::model::Usage| {
                        self.bus.emit(
                            thread,
                            crate::run::usage_event(
                                "dreamer",
                                &dreamer.profile,
                                dreamer.prices.as_deref(),
                                usage,
                            ),
                        );
                    };
                    model::model_drafts(
                        dreamer.provider.as_ref(),
                        &digest_refs,
                        &patterns,
                        &memories,
                        on_retry,
                        on_usage,
                    )
                    .await?
                }
            }
        };
        // What the offline dreamer no longer derives from the history is withdrawn while
        // still pending (a model's answers vary too much to be read that way).
        let mut actions = match self.dreamer {
            Dreamer::Offline => {
                let environments: BTreeSet<&str> =
                    digests.iter().map(|d| d.environment.as_str()).collect();
                withdraw::withdrawals(
                    &drafts,
                    &memories,
                    &environments,
                    &self.options.history.to_string(),
                )
            }
            Dreamer::Model(_) => Vec::new(),
        };
        actions.extend(curate::curate(drafts, &memories, &digest_refs));
        let mut proposals = Vec::new();
        let mut withdrawn = Vec::new();
        for action in actions {
            let memory = apply(&book, self.team, self.dream, action, &memories)?;
            if memory.status == MemoryStatus::Rejected {
                self.say(format!(
                    "Withdrew {} \"{}\": the history no longer supports it.",
                    memory.id, memory.title
                ));
                withdrawn.push(memory.id);
                continue;
            }
            self.bus.emit(
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
        self.bus.emit(
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
        Ok((patterns, proposals, withdrawn))
    }
}

/// How many near misses a dream that proposes nothing lists.
const NEAR_MISSES: usize = 3;

/// The digests of each environment kind.
fn by_environment(digests: &[SessionDigest]) -> BTreeMap<&str, Vec<&SessionDigest>> {
    let mut groups: BTreeMap<&str, Vec<&SessionDigest>> = BTreeMap::new();
    for digest in digests {
        groups
            .entry(digest.environment.as_str())
            .or_default()
            .push(digest);
    }
    groups
}

/// Mines every environment kind of the history together (one false-discovery rate over
/// all of the dream's tests), each over its own vocabulary; cases per kind.
fn mine_all(catalog: &EnvironmentCatalog, digests: &[SessionDigest]) -> Patterns {
    let groups: Vec<mine::Group> = by_environment(digests)
        .into_iter()
        .filter_map(|(environment, group)| {
            let capabilities = catalog.get(environment)?;
            Some(mine::Group {
                environment,
                vocabulary: mine::Vocabulary::of(capabilities, &group),
                digests: group,
            })
        })
        .collect();
    let mut patterns = mine::mine(&groups, &MiningLimits::default());
    for group in &groups {
        if let Some(learning) = catalog
            .get(group.environment)
            .and_then(|c| c.cases.as_ref())
        {
            patterns.cases.extend(cases::mine_cases(
                group.environment,
                &group.digests,
                learning,
                &cases::CaseLimits::default(),
            ));
        }
    }
    patterns
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
        Action::Withdraw { id, reason } => {
            book.revise(id, Author::Dream { dream }, &reason, |m| {
                m.status = MemoryStatus::Rejected;
            })?
        }
        Action::Restore { id, draft } => book.revise(
            id,
            Author::Dream { dream },
            "proposed again by a dream: the history supports it again",
            |m| {
                m.status = MemoryStatus::Proposed;
                m.title = draft.title;
                m.body = draft.body;
                m.rules = draft.rules;
                m.agent = draft.agent;
                m.provenance = draft.citations;
            },
        )?,
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
