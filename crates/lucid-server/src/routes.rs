//! The local API's endpoints (JSON, and server-sent events for a session's events),
//! shaped after the Managed Agents API: sessions and a session's event stream.
//!
//! - `GET /v1/sessions`: the sessions' summaries, oldest first.
//! - `GET /v1/sessions/{id}`: the session's report (the `sessions show ID --json`
//!   document); with `?view=record`: `{"summary", "events"}` for clients that fold it.
//! - `POST /v1/sessions`: `{"spec", "model"?, "seed"?, "world"?, "resume"?, "pace_ms"?}` → the owner
//!   loads and launches the run → `{"session_id"}` (400 with `{"error"}` for a usage error,
//!   503 while the owner is letting the store go: try again, the store is about to be
//!   free). With `?watch=true` the answer is the run's event stream on the same
//!   connection, opening with the SSE event `created` (`{"session_id"}`), so a client
//!   never misses its run however soon the owner lets go after it.
//! - `GET /v1/sessions/{id}/events`: SSE: every recorded event, then each new event of a
//!   run this owner is running (with the live-only ones: a model's text as it streams,
//!   never recorded), then `finished` with how it ended; the stream then ends.
//! - `POST /v1/sessions/{id}/cancel`: cancels a live run (404 when not live here).
//!
//! A session's `{id}` is what a person may type: its short id or id, or a unique prefix
//! of either (see `lucid_core::event::short_id`); one that names several answers 400.
//!
//! Memories and dreams ([`super::memories`], [`super::dreams`]); `{id}` is a memory's
//! short id or id, or a unique prefix of either; usage errors answer `{"error"}` with
//! 400, 404 or 409:
//!
//! - `GET /v1/memories?status=&team=`: the memories (the `memory list --json` array);
//!   with `&view=records`: `[{"memory", "versions", "history"}]`.
//! - `GET /v1/memories/{id}`: `{"memory", "versions", "history"}` (the `memory show
//!   --json` document; `history`: per version who, when, what, and the status after).
//! - `GET /v1/memories/{id}/diff?from=&to=`: `[{"same"|"added"|"removed": line}]`, by
//!   default the previous version against the current one (404: no such version).
//! - `POST /v1/memories/{id}/approve`, `…/reject`, `…/retire`: `{"by"?}` → the records
//!   that changed (approve: a proposal, or a rejected or retired memory again; then the
//!   memory it updates or retires) / the rejected record / the retired record.
//! - `POST /v1/memories/{id}/versions`: `{"base_version"?, "title"?, "body"?, "rules"?,
//!   "approve"?, "by"?}` → the new version (409 if the memory moved on from
//!   `base_version` or nothing changes; an approved memory is proposed again unless
//!   `approve`).
//! - `POST /v1/memories/{id}/revert`: `{"to", "approve"?, "by"?}` → the new version, with
//!   version `to`'s content (as for an edit: proposed again unless `approve`).
//! - `POST /v1/memories`: `{"proposals": [memory…]}` (read from skill folders by the
//!   client) → per proposal `{"created": memory}` or `"duplicate"`; all arrive proposed.
//! - `POST /v1/dreams`: `{"team"?, "spec"?, "rescan"?, "history"?}` → the dream reports
//!   (the `dream --json` array); `GET /v1/dreams?team=`: the dreams on record.
//!
//! The owner's news (`GET /v1/events`) and thread cancels are in [`super::runs`].

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::registry::{Live, Registry};
use super::{dreams, memories};
use lucid_core::event::{Event, SessionId};
use lucid_core::run::report::SessionReport;
use lucid_core::session::{self, LaunchError, LaunchOptions, Recorder};
use lucid_core::store::{SessionStatus, SessionSummary, Store};
use lucid_core::world::Worlds;

#[derive(Clone)]
pub(super) struct AppState {
    pub store: Store,
    pub worlds: Arc<dyn Worlds>,
    pub registry: Registry,
}

pub(super) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/sessions", get(list).post(create))
        .route("/v1/sessions/{id}", get(show))
        .route("/v1/sessions/{id}/events", get(events))
        .route("/v1/sessions/{id}/cancel", post(cancel))
        .route("/v1/memories", get(memories::list).post(memories::import))
        .route("/v1/memories/{id}", get(memories::show))
        .route("/v1/memories/{id}/diff", get(memories::diff))
        .route("/v1/memories/{id}/approve", post(memories::approve))
        .route("/v1/memories/{id}/reject", post(memories::reject))
        .route("/v1/memories/{id}/retire", post(memories::retire))
        .route("/v1/memories/{id}/revert", post(memories::revert_to))
        .route("/v1/memories/{id}/versions", post(memories::revise))
        .route("/v1/dreams", get(dreams::list).post(dreams::create))
        .merge(super::runs::routes())
        .with_state(state)
}

/// A failed request: a status and one sentence.
pub(super) struct Failure(pub(super) StatusCode, pub(super) String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

pub(super) fn internal(err: impl std::fmt::Display) -> Failure {
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
            lucid_core::store::StoreError::Ambiguous { .. } => {
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

/// The session `id` names, for a route about a run: a run this owner is running is found
/// by its full id without the store, which has no summary of it until its first event is
/// stored (a run is announced as it starts); anything else by id or unique prefix in the
/// store.
pub(super) async fn session_of(state: &AppState, id: String) -> Result<SessionId, Failure> {
    if let Some(session) = id
        .parse::<SessionId>()
        .ok()
        .filter(|&session| state.registry.is_running(session))
    {
        return Ok(session);
    }
    let store = state.store.clone();
    Ok(blocking(move || find(&store, &id)).await?.id)
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
    /// Offline models' pace in milliseconds per answer (see `LaunchOptions::pace_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace_ms: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Created {
    pub session_id: SessionId,
}

#[derive(Debug, Default, Deserialize)]
struct CreateQuery {
    #[serde(default)]
    watch: bool,
}

async fn create(
    State(state): State<AppState>,
    Query(query): Query<CreateQuery>,
    Json(body): Json<CreateRun>,
) -> Result<Response, Failure> {
    // Held until the run is tracked: the owner does not let go of the store meanwhile.
    let Some(_slot) = state.registry.reserve() else {
        return Err(Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "this lucid is letting the store go; try again".into(),
        ));
    };
    let failure = |err: LaunchError| match err {
        LaunchError::Usage(message) => Failure(StatusCode::BAD_REQUEST, message),
        LaunchError::Runtime(message) => Failure(StatusCode::INTERNAL_SERVER_ERROR, message),
    };
    let spec = session::load(
        state.worlds.as_ref(),
        &body.spec,
        body.model.as_deref(),
        body.seed,
        body.world,
    )
    .map_err(failure)?;
    let options = LaunchOptions {
        spec_path: body.spec.display().to_string(),
        resume: body.resume,
        pace_ms: body.pace_ms,
        ..LaunchOptions::default()
    };
    let mut handle = session::launch(
        Arc::clone(&state.worlds),
        spec,
        Recorder::Store(state.store.clone()),
        options,
    )
    .map_err(failure)?;
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
    if !query.watch {
        return Ok(Json(Created { session_id }).into_response());
    }
    let opening = SseEvent::default()
        .event("created")
        .json_data(Created { session_id })
        .map_err(internal)?;
    let live = state.registry.subscribe(session_id);
    Ok(session_stream(state.store.clone(), session_id, live, Some(opening)).into_response())
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Failure> {
    let session = session_of(&state, id).await?;
    if state.registry.cancel(session) {
        Ok(Json(serde_json::json!({ "cancelled": session })))
    } else {
        Err(Failure(
            StatusCode::NOT_FOUND,
            format!(
                "session {} is not running in this lucid",
                session.short_id()
            ),
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
    let session = session_of(&state, id).await?;
    // Watch first, then read what is recorded: nothing falls between the two (the store
    // records an event before it is passed on); duplicates are skipped by sequence number.
    let live = state.registry.subscribe(session);
    Ok(session_stream(state.store.clone(), session, live, None))
}

/// A session's events as SSE: `opening` (if any), every recorded event, then each new
/// event of the live run `live` watches, then `finished` with how it ended.
fn session_stream(
    store: Store,
    session: SessionId,
    live: Option<broadcast::Receiver<Live>>,
    opening: Option<SseEvent>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(async move {
        if let Some(opening) = opening {
            if tx.send(opening).await.is_err() {
                return;
            }
        }
        let mut next = 0u64;
        if !send_recorded(&store, session, &mut next, &tx).await {
            return;
        }
        let Some(mut live) = live else { return };
        loop {
            match live.recv().await {
                // A live-only event carries the number of the next recorded one: it is
                // passed on when nothing after it was sent, and takes no number.
                Ok(Live::Event(event)) if event.seq >= next => {
                    if !event.kind.is_live_only() {
                        next = event.seq + 1;
                    }
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
    Sse::new(stream)
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
