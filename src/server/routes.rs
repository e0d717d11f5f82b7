//! The local API's endpoints (JSON, and server-sent events for a session's events),
//! shaped after the Managed Agents API: sessions and a session's event stream.
//!
//! - `GET /v1/sessions`: the sessions' summaries, oldest first.
//! - `GET /v1/sessions/{id}`: the session's report (the `sessions show ID --json`
//!   document); with `?view=record`: `{"summary", "events"}` for clients that fold it.
//! - `POST /v1/sessions`: `{"spec", "model"?, "seed"?, "world"?, "resume"?}` → the owner
//!   loads and launches the run → `{"session_id"}` (400 with `{"error"}` for a usage error).
//! - `GET /v1/sessions/{id}/events`: SSE: every recorded event, then each new event of a
//!   run this owner is running, then `finished` with how it ended; the stream then ends.
//! - `POST /v1/sessions/{id}/cancel`: cancels a live run (404 when not live here).
//!
//! The owner's news (`GET /v1/events`) and thread cancels are in [`super::runs`].

use std::convert::Infallible;
use std::path::PathBuf;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::registry::{Live, Registry};
use crate::event::{Event, SessionId};
use crate::run::report::SessionReport;
use crate::session::{self, LaunchError, LaunchOptions, Recorder};
use crate::store::{SessionStatus, SessionSummary, Store};

#[derive(Clone)]
pub(super) struct AppState {
    pub store: Store,
    pub registry: Registry,
}

pub(super) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/sessions", get(list).post(create))
        .route("/v1/sessions/{id}", get(show))
        .route("/v1/sessions/{id}/events", get(events))
        .route("/v1/sessions/{id}/cancel", post(cancel))
        .merge(super::runs::routes())
        .with_state(state)
}

/// A failed request: a status and one sentence.
pub(super) struct Failure(pub StatusCode, pub String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn internal(err: impl std::fmt::Display) -> Failure {
    Failure(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

/// Runs store work off the async threads (sled is synchronous).
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(work).await.map_err(internal)?
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<SessionSummary>>, Failure> {
    let store = state.store;
    blocking(move || store.sessions().map_err(internal))
        .await
        .map(Json)
}

/// A session by id or unique prefix.
pub(super) fn find(store: &Store, id: &str) -> Result<SessionSummary, Failure> {
    store
        .find_session(id)
        .map_err(|err| match err {
            crate::store::StoreError::Ambiguous { .. } => {
                Failure(StatusCode::BAD_REQUEST, err.to_string())
            }
            other => internal(other),
        })?
        .ok_or_else(|| {
            Failure(
                StatusCode::NOT_FOUND,
                format!("no session `{id}`; see `lucid sessions list`"),
            )
        })
}

#[derive(Deserialize)]
struct ShowQuery {
    view: Option<String>,
}

/// A session's summary and events, for clients that fold them themselves.
#[derive(Serialize, Deserialize)]
pub struct Record {
    pub summary: SessionSummary,
    pub events: Vec<Event>,
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, Failure> {
    let store = state.store;
    let record = blocking(move || {
        let summary = find(&store, &id)?;
        let events = store.events(summary.id).map_err(internal)?;
        Ok(Record { summary, events })
    })
    .await?;
    if query.view.as_deref() == Some("record") {
        return Ok(Json(record).into_response());
    }
    let live = record.summary.status == SessionStatus::Running;
    Ok(Json(SessionReport::fold(&record.events, live)).into_response())
}

/// `POST /v1/sessions`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateRun {
    /// The session file; relative paths are the owner's (clients send absolute ones).
    pub spec: PathBuf,
    pub model: Option<String>,
    pub seed: Option<u64>,
    pub world: Option<u64>,
    pub resume: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Created {
    pub session_id: SessionId,
}

async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateRun>,
) -> Result<Json<Created>, Failure> {
    let failure = |err: LaunchError| match err {
        LaunchError::Usage(message) => Failure(StatusCode::BAD_REQUEST, message),
        LaunchError::Runtime(message) => Failure(StatusCode::INTERNAL_SERVER_ERROR, message),
    };
    let spec =
        session::load(&body.spec, body.model.as_deref(), body.seed, body.world).map_err(failure)?;
    let options = LaunchOptions {
        spec_path: body.spec.display().to_string(),
        resume: body.resume,
        ..LaunchOptions::default()
    };
    let mut handle =
        session::launch(spec, Recorder::Store(state.store.clone()), options).map_err(failure)?;
    let session_id = handle.session();
    let (local, tracked) = state.registry.track(&mut handle);
    drop(local);
    state
        .registry
        .announce(session_id, body.spec.display().to_string());
    tokio::spawn(async move {
        let finished = handle.join().await;
        tracked.finish(&finished).await;
    });
    Ok(Json(Created { session_id }))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Failure> {
    let store = state.store.clone();
    let summary = blocking(move || find(&store, &id)).await?;
    if state.registry.cancel(summary.id) {
        Ok(Json(serde_json::json!({ "cancelled": summary.id })))
    } else {
        Err(Failure(
            StatusCode::NOT_FOUND,
            format!("session {} is not running in this lucid", summary.id),
        ))
    }
}

fn sse_event(event: &Event) -> Option<SseEvent> {
    SseEvent::default().event("event").json_data(event).ok()
}

async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Failure> {
    let store = state.store.clone();
    let summary = blocking(move || find(&store, &id)).await?;
    let session = summary.id;
    // Watch first, then read what is recorded: nothing falls between the two (the store
    // records an event before it is passed on); duplicates are skipped by sequence number.
    let live = state.registry.subscribe(session);
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    let store = state.store.clone();
    tokio::spawn(async move {
        let mut next = 0u64;
        if !send_recorded(&store, session, &mut next, &tx).await {
            return;
        }
        let Some(mut live) = live else { return };
        loop {
            match live.recv().await {
                Ok(Live::Event(event)) if event.seq >= next => {
                    next = event.seq + 1;
                    let Some(sse) = sse_event(&event) else {
                        continue;
                    };
                    if tx.send(sse).await.is_err() {
                        return;
                    }
                }
                Ok(Live::Event(_)) => {}
                Ok(Live::Ended(end)) => {
                    if let Ok(sse) = SseEvent::default().event("finished").json_data(&end) {
                        let _ = tx.send(sse).await;
                    }
                    return;
                }
                Err(RecvError::Lagged(_)) => {
                    if !send_recorded(&store, session, &mut next, &tx).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Ok(Sse::new(stream))
}

/// Sends the recorded events from `next` on; false when the watcher has gone or the
/// store cannot be read.
async fn send_recorded(
    store: &Store,
    session: SessionId,
    next: &mut u64,
    tx: &mpsc::Sender<SseEvent>,
) -> bool {
    let reader = store.clone();
    let recorded = match tokio::task::spawn_blocking(move || reader.events(session)).await {
        Ok(Ok(events)) => events,
        _ => return false,
    };
    let from = *next;
    for event in recorded.iter().filter(|e| e.seq >= from) {
        *next = event.seq + 1;
        let Some(sse) = sse_event(event) else {
            continue;
        };
        if tx.send(sse).await.is_err() {
            return false;
        }
    }
    true
}
