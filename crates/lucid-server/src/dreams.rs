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
use lucid_core::dream::{dream, dreamer_for, teams_to_dream, DreamReport, DreamRun, Dreamer};

static DREAMING: Mutex<()> = Mutex::const_new(());

/// Waits until no other dream of this process is going; the dream goes while the guard
/// lives.
pub async fn one_at_a_time() -> MutexGuard<'static, ()> {
    DREAMING.lock().await
}

/// The body of `POST /v1/dreams`, the options of `lucid dream`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CreateDream {
    /// The team to dream for (default: every team with sessions no dream has read; with
    /// `spec`, its team).
    #[serde(default)]
    pub team: Option<String>,
    /// A session file (absolute, or relative to the owner): its `[dreaming] model` is
    /// the dreamer.
    #[serde(default)]
    pub spec: Option<PathBuf>,
}

/// `POST /v1/dreams`: one report per team dreamt for (none when no team has sessions
/// waiting and none was named).
pub(super) async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateDream>,
) -> Result<Json<Vec<DreamReport>>, Failure> {
    let usage = |message: String| Failure(StatusCode::BAD_REQUEST, message);
    let (spec_team, dreamer) = match &body.spec {
        Some(path) => {
            let spec = lucid_core::session::load(state.worlds.as_ref(), path, None, None, None)
                .map_err(|err| usage(err.to_string()))?;
            let dreamer = dreamer_for(&spec).map_err(|err| usage(err.to_string()))?;
            (Some(spec.team), dreamer)
        }
        None => (None, Dreamer::Offline),
    };
    let team = body.team.or(spec_team);
    // On a task of its own: a client that goes away does not cut a dream short.
    let dreaming = tokio::spawn(async move {
        let _turn = one_at_a_time().await;
        let teams = match team {
            Some(team) => vec![team],
            None => {
                let store = state.store.clone();
                blocking(move || teams_to_dream(&store).map_err(internal)).await?
            }
        };
        let catalog = state.worlds.catalog();
        let mut reports = Vec::with_capacity(teams.len());
        for team in teams {
            let report = dream(&state.store, &team, &dreamer, &catalog)
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

        // Nothing waits for a dream: no team, no report.
        let none = client.dream(&CreateDream::default()).await.unwrap();
        assert!(none.is_empty());
        let named = CreateDream {
            team: Some("t".into()),
            spec: None,
        };
        let reports = client.dream(&named).await.unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].run.team, "t");
        let on_record = client.dreams(Some("t")).await.unwrap();
        assert_eq!(on_record, vec![reports[0].run.clone()]);
        assert!(client.dreams(Some("u")).await.unwrap().is_empty());

        let bad = CreateDream {
            team: None,
            spec: Some(dir.path().join("missing.toml")),
        };
        match client.dream(&bad).await.unwrap_err() {
            err @ ClientError::Refused { status: 400, .. } => assert!(err.is_usage()),
            other => panic!("expected a usage error, got {other}"),
        }
        server.stop().await;
    }
}
