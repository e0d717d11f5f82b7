//! The history a dream reads: which of a team's finished sessions no dream has read yet
//! (they decide whether a dream is due), which fall in the window `[dreaming] history`
//! sets, and which of those count as evidence — one run per distinct mission.
//!
//! **Missions.** Running a mission again does not make new evidence: three runs of one
//! Lumara seed are one mission whose random site letter happened to fail, not three
//! failures. A mission is the environment kind with its world and seed (same world and
//! seed, same mission) or, for an environment that works in a real folder, the session
//! file and its task (the same task on the same inputs). Seeds and worlds come from the
//! session's `SessionStarted` event, through its stored summary.
//!
//! Of several runs of one mission the dream keeps the **latest**, not a merge: the latest
//! run shows how the team handles the mission now (with the playbooks approved since),
//! every count the miner makes stays a count of independent missions, and merging runs
//! would either weigh a repeated mission more than the others or need fractional counts
//! that the miner's exact tests do not take. Nothing here reads events.

use std::collections::{BTreeMap, BTreeSet};

use super::{DreamError, DreamRun};
use crate::event::SessionId;
use crate::spec::{EnvironmentCatalog, HistoryWindow};
use crate::store::{SessionStatus, SessionSummary, Store};

/// What makes two runs the same mission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mission {
    /// A simulated environment: its world and seed decide everything the team meets.
    Seeded {
        environment: String,
        world: u64,
        seed: u64,
    },
    /// An environment that works in a real folder: the session file (which names the
    /// folder and its commands) and the task.
    Task {
        environment: String,
        spec_path: String,
        task: String,
    },
}

/// The mission a recorded session ran.
pub fn mission_of(summary: &SessionSummary, catalog: &EnvironmentCatalog) -> Mission {
    let folder = catalog
        .get(&summary.environment)
        .is_some_and(|capabilities| capabilities.folder);
    if folder {
        Mission::Task {
            environment: summary.environment.clone(),
            spec_path: summary.spec_path.clone(),
            task: summary.task.clone(),
        }
    } else {
        Mission::Seeded {
            environment: summary.environment.clone(),
            world: summary.world,
            seed: summary.seed,
        }
    }
}

/// The evidence a dream mines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The latest run of each distinct mission in the window, oldest first.
    pub runs: Vec<SessionSummary>,
    /// Finished sessions of the team in the window (repeats included).
    pub in_window: usize,
    /// Runs set aside because a later run of the same mission is in the window.
    pub repeats: usize,
}

/// The team's finished sessions (passed or failed; dreams, errors and interrupted runs
/// are not evidence), oldest first.
pub fn finished_sessions(store: &Store, team: &str) -> Result<Vec<SessionSummary>, DreamError> {
    let mut sessions: Vec<SessionSummary> = store
        .sessions()?
        .into_iter()
        .filter(|s| s.team == team && !s.is_dream())
        .filter(|s| matches!(s.status, SessionStatus::Passed | SessionStatus::Failed))
        .collect();
    sessions.sort_by_key(|s| (s.started_at_ms, s.id));
    Ok(sessions)
}

/// The team's finished sessions that no dream has read yet, oldest first. (A session
/// interrupted and resumed after a dream finishes late, so it is checked by id, not by
/// a time mark.)
pub fn undreamt_sessions(store: &Store, team: &str) -> Result<Vec<SessionId>, DreamError> {
    let read: BTreeSet<SessionId> = store
        .dreams::<DreamRun>()?
        .into_iter()
        .filter(|run| run.team == team)
        .flat_map(|run| run.considered)
        .collect();
    Ok(finished_sessions(store, team)?
        .into_iter()
        .map(|s| s.id)
        .filter(|id| !read.contains(id))
        .collect())
}

/// Teams with sessions other than dreams, in name order.
pub fn teams_with_sessions(store: &Store) -> Result<Vec<String>, DreamError> {
    let mut teams: Vec<String> = store
        .sessions()?
        .into_iter()
        .filter(|s| !s.is_dream())
        .map(|s| s.team)
        .collect();
    teams.sort();
    teams.dedup();
    Ok(teams)
}

/// A team a person named for a dream, checked against the store: a name no session
/// of the store carries is a mistake (a typo), not a team with nothing new.
pub fn known_team(store: &Store, team: &str) -> Result<(), DreamError> {
    let teams = teams_with_sessions(store)?;
    if teams.iter().any(|t| t == team) {
        return Ok(());
    }
    Err(DreamError::UnknownTeam {
        team: team.to_string(),
        known: if teams.is_empty() {
            "none yet".to_string()
        } else {
            teams.join(", ")
        },
    })
}

/// Teams with sessions no dream has read yet, in name order.
pub fn teams_to_dream(store: &Store) -> Result<Vec<String>, DreamError> {
    let mut out = Vec::new();
    for team in teams_with_sessions(store)? {
        if !undreamt_sessions(store, &team)?.is_empty() {
            out.push(team);
        }
    }
    Ok(out)
}

/// The team's history in `window` at `now_ms`, one run per mission.
pub fn history(
    store: &Store,
    team: &str,
    window: HistoryWindow,
    catalog: &EnvironmentCatalog,
    now_ms: u64,
) -> Result<History, DreamError> {
    Ok(select(
        finished_sessions(store, team)?,
        window,
        catalog,
        now_ms,
    ))
}

/// [`history`] over sessions already read (oldest first): the window first (the latest
/// N sessions, or those started within the span), then the latest run of each mission.
pub fn select(
    sessions: Vec<SessionSummary>,
    window: HistoryWindow,
    catalog: &EnvironmentCatalog,
    now_ms: u64,
) -> History {
    let in_window: Vec<SessionSummary> = match window {
        HistoryWindow::All => sessions,
        HistoryWindow::Sessions(n) => {
            let skip = sessions.len().saturating_sub(n as usize);
            sessions.into_iter().skip(skip).collect()
        }
        HistoryWindow::Within(span) => {
            let span_ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
            let since = now_ms.saturating_sub(span_ms);
            sessions
                .into_iter()
                .filter(|s| s.started_at_ms >= since)
                .collect()
        }
    };
    let total = in_window.len();
    // Oldest first, so a later run of a mission replaces an earlier one.
    let mut latest: BTreeMap<Mission, SessionSummary> = BTreeMap::new();
    for session in in_window {
        latest.insert(mission_of(&session, catalog), session);
    }
    let mut runs: Vec<SessionSummary> = latest.into_values().collect();
    runs.sort_by_key(|s| (s.started_at_ms, s.id));
    History {
        repeats: total - runs.len(),
        in_window: total,
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(environment: &str, world: u64, seed: u64, at: u64) -> SessionSummary {
        SessionSummary {
            id: SessionId::at(at),
            team: "t".into(),
            spec_path: "s.toml".into(),
            task: "land".into(),
            environment: environment.into(),
            seed,
            world,
            max_iterations: 3,
            started_at_ms: at,
            finished_at_ms: Some(at + 1),
            status: SessionStatus::Failed,
            iterations: 1,
            passed: Some(false),
            first_attempt_passed: Some(false),
            agents: 1,
            tool_calls: 0,
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: None,
            duration_ms: Some(1),
            error: None,
        }
    }

    fn catalog() -> EnvironmentCatalog {
        let mut folder = crate::world::capabilities(&[], &[], &[]);
        folder.folder = true;
        [
            ("sim".to_string(), crate::world::capabilities(&[], &[], &[])),
            ("project".to_string(), folder),
        ]
        .into_iter()
        .collect()
    }

    fn ids(history: &History) -> Vec<SessionId> {
        history.runs.iter().map(|s| s.id).collect()
    }

    fn id(sessions: &[SessionSummary], i: usize) -> SessionId {
        sessions[i].id
    }

    #[test]
    fn repeated_missions_count_once_and_the_latest_run_stands() {
        let sessions = vec![
            run("sim", 1, 2, 10),
            run("sim", 1, 3, 20),
            run("sim", 1, 2, 30),
            run("sim", 2, 2, 40),
            run("sim", 1, 2, 50),
        ];
        let s = sessions.clone();
        let history = select(sessions, HistoryWindow::All, &catalog(), 100);
        assert_eq!(ids(&history), [id(&s, 1), id(&s, 3), id(&s, 4)]);
        assert_eq!((history.in_window, history.repeats), (5, 2));
    }

    #[test]
    fn folder_missions_are_the_session_file_and_task_whatever_the_seed() {
        // Same file and task, another seed: the same mission (b replaces a).
        let a = run("project", 1, 1, 10);
        let b = run("project", 1, 7, 20);
        let mut c = run("project", 1, 1, 30);
        c.task = "another task".into();
        let mut d = run("project", 1, 1, 40);
        d.spec_path = "other.toml".into();
        let s = vec![a, b, c, d];
        let history = select(s.clone(), HistoryWindow::All, &catalog(), 100);
        assert_eq!(ids(&history), [id(&s, 1), id(&s, 2), id(&s, 3)]);
        assert_eq!(history.repeats, 1);
    }

    #[test]
    fn the_window_keeps_the_latest_sessions_or_a_recent_span() {
        let sessions: Vec<SessionSummary> = (1..=6).map(|i| run("sim", 1, i, i * 1_000)).collect();
        let s = sessions.clone();
        let latest = select(sessions.clone(), HistoryWindow::Sessions(2), &catalog(), 0);
        assert_eq!(ids(&latest), [id(&s, 4), id(&s, 5)]);
        let all = select(
            sessions.clone(),
            HistoryWindow::Sessions(100),
            &catalog(),
            0,
        );
        assert_eq!(all.runs.len(), 6);
        let recent = select(
            sessions,
            HistoryWindow::Within(Duration::from_secs(3)),
            &catalog(),
            6_500,
        );
        assert_eq!(ids(&recent), [id(&s, 3), id(&s, 4), id(&s, 5)]);
        // The window applies before repeats are set aside: an old run of a mission
        // outside it never stands in for the mission.
        let repeated = vec![run("sim", 1, 1, 1_000), run("sim", 1, 1, 9_000)];
        let recent = select(repeated.clone(), HistoryWindow::Sessions(1), &catalog(), 0);
        assert_eq!(ids(&recent), [id(&repeated, 1)]);
        assert_eq!(recent.repeats, 0);
    }
}
