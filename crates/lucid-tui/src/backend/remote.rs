//! Another lucid holds the store and this window is its client: [`RemoteSessions`] lists
//! and replays sessions through the local API, asks the owner to start runs (it loads the
//! session file with its own config), hears of the owner's runs on `GET /v1/events` and
//! follows each on its SSE event stream, and sends cancels as requests. When the owner
//! goes away, the announcements end with [`Announcement::OwnerGone`] and a followed run
//! with [`Ending::Lost`]. Every sentence from the owner is sanitized here.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::{Announcement, Ending, Feed, News, RunControl, SessionsBackend, StartRequest};
use lucid_core::event::{sanitize, Event, EventKind, SessionId};
use lucid_core::session::Op;
use lucid_core::store::SessionSummary;
use lucid_server::client::{Client, ClientError, Streamed};
use lucid_server::{CreateRun, Created, Record, RunEnd, Started};

/// The sessions of a store another lucid holds, through it.
pub struct RemoteSessions {
    client: Client,
}

/// A failed request as a sentence for the screen.
fn sentence(err: &ClientError) -> String {
    sanitize(&err.to_string())
}

/// Whether the owner still answers on its socket.
fn owner_answers(client: &Client) -> bool {
    std::os::unix::net::UnixStream::connect(client.socket()).is_ok()
}

/// What the footer says when the owner has gone.
pub const OWNER_GONE: &str = "the lucid serving this store has stopped; reopen lucid to go on";

impl RemoteSessions {
    pub fn new(client: Client) -> RemoteSessions {
        RemoteSessions { client }
    }

    /// Asks the owner to start a run and follows it (the typed error, for the command
    /// line's exit codes).
    pub async fn start_run(&self, request: StartRequest) -> Result<Feed, ClientError> {
        // The owner reads the file: a relative path would be its own.
        let spec = std::path::absolute(&request.spec).unwrap_or(request.spec);
        let body = CreateRun {
            spec: spec.clone(),
            model: request.model,
            seed: request.seed,
            world: request.world,
            resume: None,
            pace_ms: request.pace_ms,
        };
        let created: Created = self.client.post_json("/v1/sessions", &body).await?;
        Ok(follow(
            &self.client,
            created.session_id,
            spec.display().to_string(),
        ))
    }

    /// A session's summary and events by id or unique prefix (the typed error, for the
    /// command line's exit codes).
    pub async fn find(&self, id: &str) -> Result<Record, ClientError> {
        let plain = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
        if !plain {
            return Err(ClientError::Refused {
                status: 404,
                message: format!("no session `{}`; see `lucid sessions list`", sanitize(id)),
            });
        }
        self.client
            .get_json(&format!("/v1/sessions/{id}?view=record"))
            .await
    }
}

impl SessionsBackend for RemoteSessions {
    fn list(&self) -> BoxFuture<'static, Result<Vec<SessionSummary>, String>> {
        let client = self.client.clone();
        Box::pin(async move {
            client
                .get_json("/v1/sessions")
                .await
                .map_err(|err| sentence(&err))
        })
    }

    fn record(&self, session: SessionId) -> BoxFuture<'static, Result<Vec<Event>, String>> {
        let client = self.client.clone();
        Box::pin(async move {
            client
                .get_json::<Record>(&format!("/v1/sessions/{session}?view=record"))
                .await
                .map(|record| record.events)
                .map_err(|err| sentence(&err))
        })
    }

    fn start(&self, request: StartRequest) -> BoxFuture<'static, Result<Feed, String>> {
        let this = RemoteSessions::new(self.client.clone());
        Box::pin(async move { this.start_run(request).await.map_err(|err| sentence(&err)) })
    }

    fn announcements(&self) -> BoxStream<'static, Announcement> {
        let client = self.client.clone();
        let opened = async move {
            match client.announcements().await {
                Ok(runs) => runs
                    .take_while(|item| std::future::ready(item.is_ok()))
                    .filter_map(|item| std::future::ready(item.ok().map(Announcement::Started)))
                    .chain(stream::once(std::future::ready(Announcement::OwnerGone(
                        OWNER_GONE.into(),
                    ))))
                    .boxed(),
                Err(err) => stream::once(std::future::ready(Announcement::OwnerGone(format!(
                    "{OWNER_GONE} ({})",
                    sentence(&err)
                ))))
                .boxed(),
            }
        };
        stream::once(opened).flatten().boxed()
    }

    fn follow(&self, started: &Started) -> Option<Feed> {
        Some(follow(&self.client, started.session, started.spec.clone()))
    }
}

/// Follows a session on the owner's event stream: what is recorded, then what comes,
/// then how it finished.
fn follow(client: &Client, session: SessionId, spec: String) -> Feed {
    let (tx, news) = unbounded_channel();
    tokio::spawn(relay(client.clone(), session, tx));
    let control = Arc::new(OwnerControl {
        client: client.clone(),
        session,
    });
    Feed::new(session, spec, news, control)
}

async fn relay(client: Client, session: SessionId, tx: UnboundedSender<News>) {
    let mut finished: Option<RunEnd> = None;
    let mut broke = None;
    match client.events(&session.to_string()).await {
        Err(err) => broke = Some(err),
        Ok(stream) => {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(Streamed::Event(event)) => {
                        if let EventKind::SessionFinished { passed, error, .. } = &event.kind {
                            finished = Some(RunEnd {
                                passed: *passed,
                                error: error.clone(),
                                dream: None,
                                cancelled: false,
                            });
                        }
                        if tx.send(News::Event(*event)).is_err() {
                            return;
                        }
                    }
                    Ok(Streamed::Finished(end)) => {
                        finished = Some(end);
                        break;
                    }
                    Ok(Streamed::Created(_)) => {}
                    Err(err) => {
                        broke = Some(err);
                        break;
                    }
                }
            }
        }
    }
    // A run that ended before it was followed ends its stream without `finished`: its
    // last event says how it went.
    let ending = match finished {
        Some(end) => Ending::There(end),
        None if owner_answers(&client) => Ending::Lost(format!(
            "session {} is no longer live in the lucid serving this store{}; it reads back as interrupted",
            session.short_id(),
            broke.map(|err| format!(" ({})", sentence(&err))).unwrap_or_default()
        )),
        None => Ending::Lost(format!(
            "the lucid serving this store stopped before session {} finished; it reads back as interrupted (resume it with --resume {})",
            session.short_id(),
            session.short_id()
        )),
    };
    let _ = tx.send(News::Ended(ending));
}

/// A run the owner runs, through its cancel endpoints.
struct OwnerControl {
    client: Client,
    session: SessionId,
}

impl RunControl for OwnerControl {
    fn submit(&self, op: Op) -> BoxFuture<'static, Result<(), String>> {
        let client = self.client.clone();
        let path = match op {
            Op::Cancel => format!("/v1/sessions/{}/cancel", self.session),
            Op::CancelThread(id) => {
                format!("/v1/sessions/{}/threads/{}/cancel", self.session, id.0)
            }
        };
        Box::pin(async move {
            client
                .post_json::<_, serde_json::Value>(&path, &serde_json::json!({}))
                .await
                .map(|_| ())
                .map_err(|err| sentence(&err))
        })
    }
}
