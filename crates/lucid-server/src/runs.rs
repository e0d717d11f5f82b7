//! The endpoints that follow and steer the owner's live runs as a whole, beside
//! [`super::routes`] (sessions and one session's events):
//!
//! - `GET /v1/events`: SSE: `started` with `{"session_id", "spec"}` for every run the
//!   owner is running when the stream opens, then for each run it starts (for a client,
//!   or its own); a client follows one with `GET /v1/sessions/{id}/events`. The stream
//!   ends when the server stops.
//! - `POST /v1/sessions/{id}/threads/{thread}/cancel`: cancels one thread of a live run
//!   (the number of `#3`) and every thread it delegated to; cancelling the lead ends the
//!   run → `{"cancelled", "thread"}` (404 when the run is not live here or the thread
//!   has not run).

use std::collections::HashSet;
use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::registry::Started;
use super::routes::{session_of, AppState, Failure};
use lucid_core::event::{AgentId, SessionId};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/events", get(announcements)).route(
        "/v1/sessions/{id}/threads/{thread}/cancel",
        post(cancel_thread),
    )
}

fn started_event(started: &Started) -> Option<SseEvent> {
    SseEvent::default().event("started").json_data(started).ok()
}

async fn announcements(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // Listen first, then list: a run announced in between is listed and skipped below.
    let mut started = state.registry.started();
    let live = state.registry.live();
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(async move {
        let listed: HashSet<SessionId> = live.iter().map(|run| run.session).collect();
        for run in &live {
            let Some(sse) = started_event(run) else {
                continue;
            };
            if tx.send(sse).await.is_err() {
                return;
            }
        }
        loop {
            match started.recv().await {
                Ok(run) if listed.contains(&run.session) => {}
                Ok(run) => {
                    let Some(sse) = started_event(&run) else {
                        continue;
                    };
                    if tx.send(sse).await.is_err() {
                        return;
                    }
                }
                // A listener that fell behind misses announcements, not the runs: they
                // are in the sessions list.
                Err(RecvError::Lagged(_)) => {}
                // The server stopped.
                Err(RecvError::Closed) => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn cancel_thread(
    State(state): State<AppState>,
    Path((id, thread)): Path<(String, u32)>,
) -> Result<Json<serde_json::Value>, Failure> {
    let session = session_of(&state, id).await?;
    let thread = AgentId(thread);
    match state.registry.cancel_thread(session, thread) {
        Some(true) => Ok(Json(serde_json::json!({
            "cancelled": session,
            "thread": thread.0,
        }))),
        Some(false) => Err(Failure(
            StatusCode::NOT_FOUND,
            format!("thread {thread} has not run in session {session}"),
        )),
        None => Err(Failure(
            StatusCode::NOT_FOUND,
            format!("session {session} is not running in this lucid"),
        )),
    }
}
