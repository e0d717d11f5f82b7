//! The owner's dream endpoints (see [`super::routes`] for the list): `lucid dream` when
//! another lucid holds the store. The owner dreams (offline, or with the model a client's
//! session file names) and answers what `lucid dream --json` prints.
//!
//! One dream at a time per owner: [`one_at_a_time`] is held by every dream this process
//! starts through here, by `lucid serve --dream-every` and by `lucid dream` holding the
//! store, so two dreams never read the same undreamt sessions at once.

use std::path::PathBuf;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, MutexGuard};

use super::routes::{blocking, internal, AppState, Failure};
use lucid_core::dream::{
    dream_with, dreamer_for, known_team, teams_to_dream, teams_with_sessions, DreamOptions,
    DreamReport, DreamRun, Dreamer,
};
use lucid_core::spec::HistoryWindow;

static DREAMING: Mutex<()> = Mutex::const_new(());

/// Waits until no other dream of this process is going; the dream goes while the guard
/// lives.
pub async fn one_at_a_time() -> MutexGuard<'static, ()> {
    DREAMING.lock().await
}

/// The body of `POST /v1/dreams`, the options of `lucid dream`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CreateDream {
    /// The team to dream for (default: every team with sessions no dream has read, or
    /// with `rescan` every team with sessions; with `spec`, its team).
    #[serde(default)]
    pub team: Option<String>,
    /// A session file (absolute, or relative to the owner): its `[dreaming] model` is
    /// the dreamer and its `[dreaming] history` the window.
    #[serde(default)]
    pub spec: Option<PathBuf>,
    /// Digest and mine the whole history again, even with no new session.
    #[serde(default)]
    pub rescan: bool,
    /// The history window (`"all"`, `"24"`, `"30d"`), over the session file's.
    #[serde(default)]
    pub history: Option<HistoryWindow>,
}

/// `POST /v1/dreams`: one report per team dreamt for (none when no team has sessions
/// waiting and none was named).
pub(super) async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateDream>,
) -> Result<Json<Vec<DreamReport>>, Failure> {
    let usage = |message: String| Failure(StatusCode::BAD_REQUEST, message);
    let (spec_team, dreamer, mut options) = match &body.spec {
        Some(path) => {
            let spec = lucid_core::session::load(state.worlds.as_ref(), path, None, None, None)
                .map_err(|err| usage(err.to_string()))?;
            let dreamer = dreamer_for(&spec).map_err(|err| usage(err.to_string()))?;
            let options = DreamOptions::for_spec(&spec);
            (Some(spec.team), dreamer, options)
        }
        None => (None, Dreamer::Offline, DreamOptions::default()),
    };
    options.rescan = body.rescan;
    if let Some(history) = body.history {
        options.history = history;
    }
    if let Some(team) = &body.team {
        let (store, team) = (state.store.clone(), team.clone());
        blocking(move || known_team(&store, &team).map_err(|err| usage(err.to_string()))).await?;
    }
    let team = body.team.or(spec_team);
    // Held until the dream ends: an owner letting the store go waits for it.
    let Some(slot) = state.registry.reserve() else {
        return Err(Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "this lucid is letting the store go; try again".into(),
        ));
    };
    // On a task of its own: a client that goes away does not cut a dream short.
    let dreaming = tokio::spawn(async move {
        let _slot = slot;
        let _turn = one_at_a_time().await;
        let teams = match team {
            Some(team) => vec![team],
            None => {
                let store = state.store.clone();
                let rescan = options.rescan;
                blocking(move || {
                    if rescan {
                        teams_with_sessions(&store).map_err(internal)
                    } else {
                        teams_to_dream(&store).map_err(internal)
                    }
                })
                .await?
            }
        };
        let catalog = state.worlds.catalog();
        let mut reports = Vec::with_capacity(teams.len());
        for team in teams {
            let report = dream_with(&state.store, &team, &dreamer, &catalog, options)
                .await
                .map_err(|err| internal(format!("dreaming for team {team} failed: {err}")))?;
            reports.push(report);
        }
        Ok(Json(reports))
    });
    dreaming.await.map_err(internal)?
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    team: Option<String>,
}

/// `GET /v1/dreams?team=`: the dreams on record, oldest first.
pub(super) async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<DreamRun>>, Failure> {
    let store = state.store;
    blocking(move || {
        let runs: Vec<DreamRun> = store.dreams().map_err(internal)?;
        Ok(Json(
            runs.into_iter()
                .filter(|run| query.team.as_deref().is_none_or(|t| run.team == t))
                .collect(),
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::client::{Client, ClientError};
    use lucid_core::store::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dream_through_the_owner_is_on_record_and_a_bad_spec_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let server = crate::start(store.clone(), lucid_envs::worlds()).unwrap();
        let client = Client::new(store.path());

        // Nothing waits for a dream: no team, no report; a team with no session is a
        // mistake (a typo), refused as a usage error.
        let none = client.dream(&CreateDream::default()).await.unwrap();
        assert!(none.is_empty());
        let named = |team: &str| CreateDream {
            team: Some(team.into()),
            ..CreateDream::default()
        };
        match client.dream(&named("t")).await.unwrap_err() {
            err @ ClientError::Refused { status: 400, .. } => {
                assert!(err.is_usage() && err.to_string().contains("no session of team `t`"))
            }
            other => panic!("expected a usage error, got {other}"),
        }
        let lumara =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sessions/lumara.toml");
        lumara_session(&store, &lumara, 1).await;
        let reports = client.dream(&named("lumara-landing")).await.unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].run.team, "lumara-landing");
        let on_record = client.dreams(Some("lumara-landing")).await.unwrap();
        assert_eq!(on_record, vec![reports[0].run.clone()]);
        assert!(client.dreams(Some("u")).await.unwrap().is_empty());

        let bad = CreateDream {
            spec: Some(dir.path().join("missing.toml")),
            ..CreateDream::default()
        };
        match client.dream(&bad).await.unwrap_err() {
            err @ ClientError::Refused { status: 400, .. } => assert!(err.is_usage()),
            other => panic!("expected a usage error, got {other}"),
        }
        server.stop().await;
    }

    /// Records a finished offline Lumara session (world 1, `seed`) in `store`.
    async fn lumara_session(store: &Store, spec: &std::path::Path, seed: u64) {
        let spec =
            lucid_core::session::load(lucid_envs::worlds().as_ref(), spec, None, Some(seed), None)
                .unwrap();
        let handle = lucid_core::session::launch(
            lucid_envs::worlds(),
            spec,
            lucid_core::session::Recorder::Store(store.clone()),
            lucid_core::session::LaunchOptions::default(),
        )
        .unwrap();
        handle.join().await.result.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rescan_and_a_history_window_reach_the_owners_dream() {
        let dir = tempfile::tempdir().unwrap();
        let lumara =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sessions/lumara.toml");
        // The session file's window: the latest session only.
        let windowed = dir.path().join("lumara.toml");
        let text = std::fs::read_to_string(&lumara).unwrap();
        let text = text.replace("[dreaming]\n", "[dreaming]\nhistory = 1\n");
        std::fs::write(&windowed, text).unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        for seed in 1..=3 {
            lumara_session(&store, &lumara, seed).await;
        }
        let server = crate::start(store.clone(), lucid_envs::worlds()).unwrap();
        let client = Client::new(store.path());
        let team = || Some("lumara-landing".to_string());

        let first = client
            .dream(&CreateDream {
                team: team(),
                ..CreateDream::default()
            })
            .await
            .unwrap();
        assert_eq!(first[0].run.sessions.len(), 3);
        // Nothing new: no team waits, and a named team's dream mines nothing.
        assert!(client
            .dream(&CreateDream::default())
            .await
            .unwrap()
            .is_empty());
        let idle = client
            .dream(&CreateDream {
                team: team(),
                ..CreateDream::default()
            })
            .await
            .unwrap();
        assert!(idle[0].run.mined.is_empty());

        // A rescan for every team with sessions, in a window of two.
        let body: CreateDream =
            serde_json::from_value(serde_json::json!({"rescan": true, "history": "2"})).unwrap();
        let rescanned = client.dream(&body).await.unwrap();
        assert_eq!(rescanned.len(), 1);
        let run = &rescanned[0].run;
        assert!(run.rescan);
        assert_eq!(run.history, HistoryWindow::Sessions(2));
        assert_eq!((run.sessions.len(), run.mined.len()), (2, 2));

        // The session file's `[dreaming] history`, and `history` over it.
        let from_spec = CreateDream {
            spec: Some(windowed.clone()),
            rescan: true,
            ..CreateDream::default()
        };
        let report = &client.dream(&from_spec).await.unwrap()[0];
        assert_eq!(report.run.mined.len(), 1);
        let overridden = CreateDream {
            history: Some(HistoryWindow::All),
            ..from_spec
        };
        let report = &client.dream(&overridden).await.unwrap()[0];
        assert_eq!(report.run.mined.len(), 3);
        server.stop().await;
    }
}
