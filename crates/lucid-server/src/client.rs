//! The client side of the local API: a `lucid` command talking to the store's owner over
//! `<store>/lucid.sock` (hyper's HTTP/1.1 client on a Unix stream, one connection a request).
//! Typed calls for memories and dreams are in `memories`.

mod memories;

use std::path::{Path, PathBuf};

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;

use super::registry::{RunEnd, Started};
use super::routes::{CreateRun, Created};
use lucid_core::event::{Event, SessionId};

/// Why a request to the owner failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody accepted the connection: the request never reached an owner (safe to send
    /// again, e.g. to the next owner).
    #[error("cannot reach the lucid serving {}: {message}", path.display())]
    NotConnected { path: PathBuf, message: String },
    /// The connection broke after it was made: the owner may have acted on the request.
    #[error("lost the lucid serving {}: {message}", path.display())]
    Unreachable { path: PathBuf, message: String },
    /// The owner refused the request (a usage error when the status is 400).
    #[error("{message}")]
    Refused { status: u16, message: String },
    /// The owner answered something this client does not understand.
    #[error("the lucid serving {} answered unexpectedly: {message}", path.display())]
    Protocol { path: PathBuf, message: String },
}

/// What a session's event stream brings.
#[derive(Debug)]
pub enum Streamed {
    /// The run was started (only from [`Client::run_watched`], first).
    Created(SessionId),
    Event(Box<Event>),
    Finished(RunEnd),
}

/// A client of the owner of one store.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client of the owner of the store at `store_dir`.
    pub fn new(store_dir: &Path) -> Client {
        Client {
            socket: super::socket_path(store_dir),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn unreachable(&self, err: impl std::fmt::Display) -> ClientError {
        ClientError::Unreachable {
            path: self.socket.clone(),
            message: err.to_string(),
        }
    }

    fn protocol(&self, err: impl std::fmt::Display) -> ClientError {
        ClientError::Protocol {
            path: self.socket.clone(),
            message: err.to_string(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|err| ClientError::NotConnected {
                    path: self.socket.clone(),
                    message: err.to_string(),
                })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| self.unreachable(err))?;
        tokio::spawn(async move {
            // A broken connection shows as an error on the request or its body.
            let _ = connection.await;
        });
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "lucid")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|err| self.protocol(err))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| self.unreachable(err))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| self.unreachable(err))?
            .to_bytes();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("the owner answered {status}"));
        Err(ClientError::Refused {
            status: status.as_u16(),
            message,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<T, ClientError> {
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| self.unreachable(err))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|err| self.protocol(err))
    }

    /// `GET path` → JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.send(Method::GET, path, None).await?;
        self.json(response).await
    }

    /// `POST path` with a JSON body → JSON.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|err| self.protocol(err))?;
        let response = self.send(Method::POST, path, Some(body)).await?;
        self.json(response).await
    }

    /// A session's event stream (`GET /v1/sessions/{id}/events`): the recorded events,
    /// then the live ones, then how the run finished, if this owner ran it. An item is an
    /// error when the connection broke.
    pub async fn events(
        &self,
        session: &str,
    ) -> Result<impl Stream<Item = Result<Streamed, ClientError>>, ClientError> {
        let path = format!("/v1/sessions/{session}/events");
        let response = self.send(Method::GET, &path, None).await?;
        Ok(self.streamed(response))
    }

    /// Starts a run in the owner and watches it on the same connection
    /// (`POST /v1/sessions?watch=true`): its session id, then its event stream as
    /// [`Client::events`] gives it. A refusal with 503 means the owner is letting the
    /// store go: try again (the store is about to be free).
    pub async fn run_watched(
        &self,
        body: &CreateRun,
    ) -> Result<(SessionId, impl Stream<Item = Result<Streamed, ClientError>>), ClientError> {
        let body = serde_json::to_vec(body).map_err(|err| self.protocol(err))?;
        let response = self
            .send(Method::POST, "/v1/sessions?watch=true", Some(body))
            .await?;
        let mut stream = Box::pin(self.streamed(response));
        match stream.next().await {
            Some(Ok(Streamed::Created(session))) => Ok((session, stream)),
            Some(Err(err)) => Err(err),
            Some(Ok(_)) | None => {
                Err(self.protocol("the run's stream did not open with `created`"))
            }
        }
    }

    fn streamed(
        &self,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> impl Stream<Item = Result<Streamed, ClientError>> {
        let this = self.clone();
        response
            .into_body()
            .into_data_stream()
            .eventsource()
            .filter_map(move |item| {
                let this = this.clone();
                async move {
                    match item {
                        Err(err) => Some(Err(this.unreachable(err))),
                        Ok(sse) if sse.event == "created" => Some(
                            serde_json::from_str::<Created>(&sse.data)
                                .map(|created| Streamed::Created(created.session_id))
                                .map_err(|err| this.protocol(err)),
                        ),
                        Ok(sse) if sse.event == "finished" => Some(
                            serde_json::from_str(&sse.data)
                                .map(Streamed::Finished)
                                .map_err(|err| this.protocol(err)),
                        ),
                        Ok(sse) if sse.event == "event" => Some(
                            serde_json::from_str(&sse.data)
                                .map(|event| Streamed::Event(Box::new(event)))
                                .map_err(|err| this.protocol(err)),
                        ),
                        // Comments, keep-alives and kinds this client does not know.
                        Ok(_) => None,
                    }
                }
            })
    }

    /// The owner's announcements of its runs (`GET /v1/events`): those live when it
    /// opens, then each new one. The stream ends (or its last item is an error) when the
    /// owner stops or goes away.
    pub async fn announcements(
        &self,
    ) -> Result<impl Stream<Item = Result<Started, ClientError>>, ClientError> {
        let response = self.send(Method::GET, "/v1/events", None).await?;
        let this = self.clone();
        let stream = response
            .into_body()
            .into_data_stream()
            .eventsource()
            .filter_map(move |item| {
                let this = this.clone();
                async move {
                    match item {
                        Err(err) => Some(Err(this.unreachable(err))),
                        Ok(sse) if sse.event == "started" => {
                            Some(serde_json::from_str(&sse.data).map_err(|err| this.protocol(err)))
                        }
                        // Keep-alives and kinds this client does not know.
                        Ok(_) => None,
                    }
                }
            });
        Ok(stream)
    }
}

impl ClientError {
    /// Whether the owner refused it as a usage error (exit code 2 at the CLI): a bad
    /// request, something that is not there, or a state that forbids it (409).
    pub fn is_usage(&self) -> bool {
        const USAGE: [StatusCode; 3] = [
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
            StatusCode::CONFLICT,
        ];
        matches!(self, ClientError::Refused { status, .. } if USAGE.iter().any(|s| s.as_u16() == *status))
    }
}
