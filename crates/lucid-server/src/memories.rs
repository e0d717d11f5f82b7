//! The owner's memory endpoints (see [`super::routes`] for the list): what `lucid memory`
//! and the TUI's Memory view do when another lucid holds the store. Every operation is
//! the [`MemoryBook`]'s, run off the async threads and flushed before answering; the
//! client reads and writes skill folders and runs `$EDITOR` itself. A memory is named by
//! its id or a unique prefix. Usage errors answer `{"error"}`: 400 (bad request, ambiguous
//! prefix, a rule that does not parse), 404 (no such memory or version), 409 (the
//! memory's status or version forbids it, or it would not change).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::routes::{blocking, internal, AppState, Failure};
use lucid_core::memory::{
    apply_edit, import_proposals, revert, Author, DiffLine, Edit, Imported, Memory, MemoryBook,
    MemoryError, MemoryRecord, MemoryStatus, Revert,
};

/// The body of `POST /v1/memories/{id}/approve`, `…/reject` and `…/retire`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Review {
    /// The person deciding (default: the owner's `$USER`).
    #[serde(default)]
    pub by: Option<String>,
}

/// The body of `POST /v1/memories/{id}/versions`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct NewVersion {
    #[serde(flatten)]
    pub edit: Edit,
    /// The person editing (default: the owner's `$USER`).
    #[serde(default)]
    pub by: Option<String>,
}

/// The body of `POST /v1/memories/{id}/revert`: `{"to": N, "approve"?, "by"?}`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RevertTo {
    #[serde(flatten)]
    pub revert: Revert,
    /// The person reverting (default: the owner's `$USER`).
    #[serde(default)]
    pub by: Option<String>,
}

/// The body of `POST /v1/memories`: proposals read from skill folders by the client.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportMemories {
    pub proposals: Vec<Memory>,
}

/// The person a request names, else the one running the owner.
fn author(by: Option<String>) -> Author {
    match by.filter(|name| !name.trim().is_empty()) {
        Some(name) => Author::Person { name },
        None => Author::current_person(),
    }
}

fn failure(err: MemoryError) -> Failure {
    let status = match err {
        MemoryError::NotFound(_) | MemoryError::NoVersion { .. } => StatusCode::NOT_FOUND,
        MemoryError::Ambiguous { .. } | MemoryError::BadRule { .. } => StatusCode::BAD_REQUEST,
        MemoryError::Invalid(_)
        | MemoryError::Status { .. }
        | MemoryError::ActedThrough { .. }
        | MemoryError::Unchanged { .. } => StatusCode::CONFLICT,
        MemoryError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Failure(status, err.to_string())
}

/// Reads the store's memory book off the async threads.
async fn read_book<T: Send + 'static>(
    state: AppState,
    work: impl FnOnce(&MemoryBook) -> Result<T, MemoryError> + Send + 'static,
) -> Result<T, Failure> {
    blocking(move || work(&MemoryBook::new(state.store)).map_err(failure)).await
}

/// Changes the store's memory book off the async threads; what changed is durable before
/// the answer goes out.
async fn write_book<T: Send + 'static>(
    state: AppState,
    work: impl FnOnce(&MemoryBook) -> Result<T, MemoryError> + Send + 'static,
) -> Result<T, Failure> {
    blocking(move || {
        let result = work(&MemoryBook::new(state.store.clone())).map_err(failure)?;
        state.store.flush().map_err(internal)?;
        Ok(result)
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    team: Option<String>,
    /// `records`: each memory with its versions ([`MemoryRecord`]s).
    view: Option<String>,
}

/// `GET /v1/memories?status=&team=&view=`.
pub(super) async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    let status = match query.status.as_deref() {
        Some(text) => Some(MemoryStatus::parse(text).ok_or_else(|| {
            Failure(
                StatusCode::BAD_REQUEST,
                format!("status `{text}`: use proposed, approved, rejected or retired"),
            )
        })?),
        None => None,
    };
    let records = query.view.as_deref() == Some("records");
    let team = query.team;
    let listed = read_book(state, move |book| {
        let memories: Vec<Memory> = book
            .list()?
            .into_iter()
            .filter(|m| status.is_none_or(|s| m.status == s))
            .filter(|m| team.as_deref().is_none_or(|t| m.team == t))
            .collect();
        if !records {
            return Ok(Json(memories).into_response());
        }
        let records = memories
            .into_iter()
            .map(|memory| {
                let versions = book.versions(memory.id)?;
                Ok(MemoryRecord::new(memory, versions))
            })
            .collect::<Result<Vec<_>, MemoryError>>()?;
        Ok(Json(records).into_response())
    })
    .await?;
    Ok(listed)
}

/// `GET /v1/memories/{id}`.
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MemoryRecord>, Failure> {
    read_book(state, move |book| book.record(&id).map(Json)).await
}

#[derive(Debug, Deserialize)]
pub(super) struct DiffQuery {
    from: Option<u32>,
    to: Option<u32>,
}

/// `GET /v1/memories/{id}/diff?from=&to=`.
pub(super) async fn diff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DiffQuery>,
) -> Result<Json<Vec<DiffLine>>, Failure> {
    read_book(state, move |book| {
        let memory = book.find(&id)?;
        book.diff(memory.id, query.from, query.to).map(Json)
    })
    .await
}

/// `POST /v1/memories/{id}/approve` (a proposal, or a rejected or retired memory again):
/// every memory that changed (the approved one first, then the memory it updates or
/// retires, if any).
pub(super) async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(review): Json<Review>,
) -> Result<Json<Vec<Memory>>, Failure> {
    write_book(state, move |book| {
        let memory = book.find(&id)?;
        book.approve(memory.id, author(review.by)).map(Json)
    })
    .await
}

/// `POST /v1/memories/{id}/reject`: the rejected memory.
pub(super) async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(review): Json<Review>,
) -> Result<Json<Memory>, Failure> {
    write_book(state, move |book| {
        let memory = book.find(&id)?;
        book.reject(memory.id, author(review.by)).map(Json)
    })
    .await
}

/// `POST /v1/memories/{id}/retire`: the retired memory.
pub(super) async fn retire(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(review): Json<Review>,
) -> Result<Json<Memory>, Failure> {
    write_book(state, move |book| {
        let memory = book.find(&id)?;
        book.retire(memory.id, author(review.by)).map(Json)
    })
    .await
}

/// `POST /v1/memories/{id}/revert`: the new version, equal in content to version `to`.
pub(super) async fn revert_to(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<RevertTo>,
) -> Result<Json<Memory>, Failure> {
    write_book(state, move |book| {
        let memory = book.find(&id)?;
        revert(book, memory.id, author(body.by), body.revert).map(Json)
    })
    .await
}

/// `POST /v1/memories/{id}/versions`: the new version (with `"approve": true`, approved
/// in the same step; else an approved memory is proposed again).
pub(super) async fn revise(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<NewVersion>,
) -> Result<Json<Memory>, Failure> {
    write_book(state, move |book| {
        let memory = book.find(&id)?;
        apply_edit(book, memory.id, author(body.by), body.edit).map(Json)
    })
    .await
}

/// `POST /v1/memories`: one result per proposal, in order.
pub(super) async fn import(
    State(state): State<AppState>,
    Json(body): Json<ImportMemories>,
) -> Result<Json<Vec<Imported>>, Failure> {
    write_book(state, move |book| {
        import_proposals(book, body.proposals).map(Json)
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::client::{Client, ClientError};
    use lucid_core::memory::testing::proposal;
    use lucid_core::store::Store;

    fn status_of(err: &ClientError) -> u16 {
        match err {
            ClientError::Refused { status, .. } => *status,
            other => panic!("expected a refusal, got {other}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memories_are_reviewed_through_the_owner_with_usage_errors_by_status() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let book = MemoryBook::new(store.clone());
        let a = book.create(proposal("lander team", "A")).unwrap();
        let b = book.create(proposal("other", "B")).unwrap();
        let server = crate::start(store.clone(), lucid_envs::worlds()).unwrap();
        let client = Client::new(store.path());

        let of_team = client.memories(None, Some("lander team")).await.unwrap();
        assert_eq!(of_team, vec![a.clone()]);
        // Ids made in the same millisecond differ only at the end: the shortest prefix
        // that is `a`'s alone.
        let (a_id, b_id) = (a.id.to_string(), b.id.to_string());
        let shared = a_id
            .chars()
            .zip(b_id.chars())
            .take_while(|(x, y)| x == y)
            .count();
        let prefix = &a_id[..=shared];
        let record = client.memory(&prefix.to_ascii_lowercase()).await.unwrap();
        assert_eq!(record.memory.id, a.id);
        assert_eq!(record.versions.len(), 1);

        let approved = client
            .approve_memory(prefix, Some("ann".into()))
            .await
            .unwrap();
        assert_eq!(approved[0].status, MemoryStatus::Approved);
        assert_eq!(approved[0].author, Author::Person { name: "ann".into() });
        assert_eq!(
            client
                .memories(Some(MemoryStatus::Approved), None)
                .await
                .unwrap()[0]
                .id,
            a.id
        );
        let diff = client.memory_diff(prefix, None, None).await.unwrap();
        assert!(diff.contains(&DiffLine::Added(
            "kind: playbook · scope: lander team · status: approved".into()
        )));

        let again = client.approve_memory(prefix, None).await.unwrap_err();
        assert_eq!(status_of(&again), 409, "{again}");
        let stale = Edit {
            base_version: Some(1),
            body: Some("x".into()),
            ..Edit::default()
        };
        let stale = client.revise_memory(prefix, stale, None).await.unwrap_err();
        assert_eq!(status_of(&stale), 409, "{stale}");
        assert_eq!(book.versions(a.id).unwrap().len(), 2);
        let unknown = client.reject_memory("ZZZZ", None).await.unwrap_err();
        assert_eq!(status_of(&unknown), 404);
        assert_eq!(
            unknown.to_string(),
            "no memory `ZZZZ`; see `lucid memory list`"
        );
        let bad: Result<Vec<Memory>, _> = client.get_json("/v1/memories?status=maybe").await;
        assert_eq!(status_of(&bad.unwrap_err()), 400);

        // An import arrives proposed, whatever it claims; a duplicate is skipped.
        let claimed = Memory {
            status: MemoryStatus::Approved,
            ..proposal("other", "C")
        };
        let imported = client
            .import_memories(vec![claimed, proposal("other", "B")])
            .await
            .unwrap();
        let Imported::Created(created) = &imported[0] else {
            panic!("{imported:?}");
        };
        assert_eq!(created.status, MemoryStatus::Proposed);
        assert_eq!(imported[1], Imported::Duplicate);
        assert_eq!(book.list().unwrap().len(), 3);
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memories_are_governed_through_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let book = MemoryBook::new(store.clone());
        let a = book.create(proposal("t", "A")).unwrap();
        let server = crate::start(store.clone(), lucid_envs::worlds()).unwrap();
        let client = Client::new(store.path());
        let id = a.id.to_string();
        let ann = || Some("ann".to_string());

        // Retire only what is approved; approve it again.
        let early = client.retire_memory(&id, ann()).await.unwrap_err();
        assert_eq!(status_of(&early), 409, "{early}");
        client.approve_memory(&id, ann()).await.unwrap();
        let retired = client.retire_memory(&id, ann()).await.unwrap();
        assert_eq!(retired.status, MemoryStatus::Retired);
        assert!(book.active_playbooks("t").unwrap().is_empty());
        let back = client.approve_memory(&id, ann()).await.unwrap();
        assert_eq!(back[0].reason, "re-approved (was retired)");

        // An edit of an approved memory is proposed again unless approved with it.
        let edit = |body: &str, approve| Edit {
            body: Some(body.into()),
            approve,
            ..Edit::default()
        };
        let saved = client
            .revise_memory(&id, edit("Burn early.", false), ann())
            .await
            .unwrap();
        assert_eq!(saved.status, MemoryStatus::Proposed);
        let saved = client
            .revise_memory(&id, edit("Burn earlier.", true), ann())
            .await
            .unwrap();
        assert_eq!((saved.status, saved.version), (MemoryStatus::Approved, 6));

        // Revert to the first content; a version that does not exist is a 404.
        let to = |to, approve| lucid_core::memory::Revert { to, approve };
        let reverted = client.revert_memory(&id, to(1, true), ann()).await.unwrap();
        assert_eq!(
            (reverted.version, reverted.body.as_str()),
            (7, "Burn late.")
        );
        assert_eq!(reverted.status, MemoryStatus::Approved);
        let missing = client
            .revert_memory(&id, to(40, false), ann())
            .await
            .unwrap_err();
        assert_eq!(status_of(&missing), 404, "{missing}");
        let same = client
            .revert_memory(&id, to(1, false), ann())
            .await
            .unwrap_err();
        assert_eq!(status_of(&same), 409, "{same}");
        let diff = client.memory_diff(&id, Some(5), Some(6)).await.unwrap();
        assert!(
            diff.contains(&DiffLine::Removed("Burn early.".into())),
            "{diff:?}"
        );
        assert!(
            diff.contains(&DiffLine::Added("Burn earlier.".into())),
            "{diff:?}"
        );

        // The record carries the history: who, when, what.
        let record = client.memory(&id).await.unwrap();
        let what: Vec<&str> = record.history.iter().map(|e| e.summary.as_str()).collect();
        assert_eq!(
            what,
            [
                "created as proposed",
                "approved",
                "retired",
                "re-approved (was retired)",
                "edited; it was approved, so it is proposed again and steers no run until approved",
                "edited and approved",
                "reverted to v1 and approved",
            ]
        );
        assert!(record
            .history
            .iter()
            .skip(1)
            .all(|e| e.by == Author::Person { name: "ann".into() }));
        server.stop().await;
    }
}
