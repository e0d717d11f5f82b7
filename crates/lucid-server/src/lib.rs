//! The store's owner serves it: HTTP/1.1 over the Unix socket `<store>/lucid.sock`
//! (mode 0600, removed when the server stops), with axum. Nothing listens on the network.
//!
//! [`start`] binds the socket (replacing a stale one left by a killed process, refusing
//! when another owner answers on it) and serves the store's sessions ([`routes`]), its
//! memories ([`memories`]) and dreams ([`dreams`]); the runs the owner starts are
//! tracked in a [`Registry`] so clients can watch them live, hear of new ones and cancel
//! them or one of their threads ([`runs`]). [`client`] is the other side: what a `lucid`
//! command uses when another process holds the store.

pub mod client;
pub mod dreams;
mod memories;
mod registry;
mod routes;
mod runs;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use dreams::CreateDream;
pub use lucid_core::memory::MemoryRecord;
pub use memories::{ImportMemories, NewVersion, RevertTo, Review};
pub use registry::{Live, Registry, RunEnd, Slot, Started, Tracked};
pub use routes::{CreateRun, Created, Record};

use lucid_core::store::Store;
use lucid_core::world::Worlds;

/// The socket's file name inside the store's directory.
pub const SOCKET_NAME: &str = "lucid.sock";

/// How long a stopping server waits for its open connections before closing them.
const DRAIN: Duration = Duration::from_secs(2);
/// How long a stopping owner keeps accepting after its socket is gone from the folder:
/// long enough to answer (with a refusal clients retry elsewhere) every connection made
/// just before, so none is cut off unanswered.
const LAST_ACCEPTS: Duration = Duration::from_millis(200);

/// Why the store could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another lucid answers on the socket.
    #[error("another lucid already serves this store on {}", path.display())]
    AlreadyServed { path: PathBuf },
    /// The socket could not be bound or prepared.
    #[error("cannot serve the store on {}: {source}", path.display())]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The socket of the store at `store_dir`.
pub fn socket_path(store_dir: &Path) -> PathBuf {
    store_dir.join(SOCKET_NAME)
}

/// Whether a lucid answers on the socket of the store at `store_dir`.
pub fn is_served(store_dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket_path(store_dir)).is_ok()
}

/// Removes the socket file when dropped, unless it was removed already.
struct SocketGuard(Option<PathBuf>);

impl SocketGuard {
    /// Removes the socket file now. Later, the path may be a new owner's socket, so the
    /// guard does nothing more.
    fn remove(&mut self) {
        if let Some(path) = self.0.take() {
            // Already gone is fine; anything else leaves a stale socket the next owner
            // replaces.
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A serving owner. [`ServerHandle::stop`] stops it; dropping it stops accepting at once.
pub struct ServerHandle {
    path: PathBuf,
    registry: Registry,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    guard: SocketGuard,
}

impl ServerHandle {
    /// The socket it serves on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The owner's live runs (runs started in this process are tracked here too).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Stops accepting new connections; open ones go on until [`ServerHandle::stop`],
    /// but the streams of announcements (`GET /v1/events`) end now.
    /// New runs are refused from now on, on connections already open too.
    ///
    /// The socket leaves the folder first, so no new client can connect (they find
    /// nobody and may try the next owner); connections made just before are still
    /// accepted for a moment and refused with 503, which clients retry, instead of being
    /// cut off unanswered when the listener closes.
    pub fn stop_accepting(&mut self) {
        self.registry.close();
        self.registry.stop_announcing();
        self.guard.remove();
        if let Some(shutdown) = self.shutdown.take() {
            tokio::spawn(async move {
                tokio::time::sleep(LAST_ACCEPTS).await;
                // The server already gone has stopped accepting too.
                let _ = shutdown.send(());
            });
        }
    }

    /// Lets the store go without losing a client's run: waits for the live runs to end
    /// (serving newcomers meanwhile), then refuses new runs and stops.
    pub async fn let_go(self) {
        self.registry.let_go().await;
        self.stop().await;
    }

    /// Stops accepting, lets open requests finish for a moment, and removes the socket.
    pub async fn stop(mut self) {
        self.stop_accepting();
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(DRAIN, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds a listener in `private_dir` (created 0700), restricts the socket to 0600 and
/// renames it to `path`.
fn bind_privately(private_dir: &Path, path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(private_dir)?;
    let private = private_dir.join(SOCKET_NAME);
    let listener = UnixListener::bind(&private)?;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&private, path)?;
    Ok(listener)
}

/// Serves `store` on its socket until stopped. Must be called inside a tokio runtime.
pub fn start(store: Store, worlds: Arc<dyn Worlds>) -> Result<ServerHandle, ServerError> {
    let path = socket_path(store.path());
    let socket_error = |source| ServerError::Socket {
        path: path.clone(),
        source,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(ServerError::AlreadyServed { path });
        }
        // Nobody answers: a stale socket from a process that was killed.
        std::fs::remove_file(&path).map_err(socket_error)?;
    }
    // Bound inside a fresh folder only this user can enter, made 0600, then moved into
    // place: no other user can reach the socket under any name before it is private.
    let private_dir = path.with_file_name(format!(".{SOCKET_NAME}.{}", std::process::id()));
    // A leftover from a killed process with the same pid: nobody can be listening there.
    let _ = std::fs::remove_dir_all(&private_dir);
    let listener = bind_privately(&private_dir, &path).map_err(socket_error);
    // Empty once the socket has moved (or on failure): removing it is tidying up.
    let _ = std::fs::remove_dir_all(&private_dir);
    let listener = listener?;
    let guard = SocketGuard(Some(path.clone()));
    let registry = Registry::default();
    let app = routes::router(routes::AppState {
        store,
        worlds,
        registry: registry.clone(),
    });
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        // The listener failing ends serving; clients then see the socket refuse.
        let _ = served.await;
    });
    Ok(ServerHandle {
        path,
        registry,
        shutdown: Some(shutdown),
        task: Some(task),
        guard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_socket_is_private_replaces_a_stale_one_and_goes_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let path = socket_path(store.path());
        // A stale socket: bound, then its listener dropped.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let server = start(store.clone(), lucid_envs::worlds()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The private folder it was bound in is gone.
        let leftovers: Vec<_> = std::fs::read_dir(store.path())
            .unwrap()
            .filter_map(|entry| entry.ok())
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".lucid.sock")
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert!(is_served(store.path()));
        match start(store.clone(), lucid_envs::worlds()) {
            Err(ServerError::AlreadyServed { path: named }) => assert_eq!(named, path),
            other => panic!("expected AlreadyServed, got {:?}", other.err()),
        }
        let client = client::Client::new(store.path());
        let sessions: Vec<lucid_core::store::SessionSummary> =
            client.get_json("/v1/sessions").await.unwrap();
        assert!(sessions.is_empty());
        server.stop().await;
        assert!(!path.exists());
    }

    /// The session file every test run uses, from the workspace's top.
    fn lumara() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sessions/lumara.toml")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watched_run_streams_on_its_own_connection_and_a_letting_go_owner_refuses_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let server = start(store.clone(), lucid_envs::worlds()).unwrap();
        let client = client::Client::new(store.path());
        let body = CreateRun {
            spec: lumara(),
            model: None,
            seed: Some(2),
            world: None,
            resume: None,
            pace_ms: None,
        };
        let (session, stream) = client.run_watched(&body).await.unwrap();
        let items: Vec<_> = futures::StreamExt::collect::<Vec<_>>(stream).await;
        let mut events = 0;
        let mut end = None;
        for item in items {
            match item.unwrap() {
                client::Streamed::Event(event) => {
                    assert_eq!(event.session, session);
                    events += 1;
                }
                client::Streamed::Finished(finished) => end = Some(finished),
                client::Streamed::Created(_) => panic!("`created` comes once, first"),
            }
        }
        assert!(events > 10, "{events} events");
        assert!(end.unwrap().passed);

        // A slot held (a client's run being launched) keeps the owner from letting go.
        let slot = server.registry().reserve().unwrap();
        let registry = server.registry().clone();
        let letting_go = tokio::spawn(async move { registry.let_go().await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!letting_go.is_finished());
        drop(slot);
        letting_go.await.unwrap();
        // Once it lets go, new runs are refused with 503 and nothing is launched.
        assert!(server.registry().reserve().is_none());
        match client.run_watched(&body).await {
            Err(client::ClientError::Refused { status: 503, .. }) => {}
            Err(other) => panic!("expected 503, got {other}"),
            Ok(_) => panic!("expected 503, got a run"),
        }
        assert_eq!(store.sessions().unwrap().len(), 1);
        server.stop().await;

        // Stopping to accept refuses new runs on connections already open as well.
        let mut server = start(store.clone(), lucid_envs::worlds()).unwrap();
        assert!(server.registry().reserve().is_some());
        server.stop_accepting();
        assert!(server.registry().reserve().is_none());
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_session_is_followed_and_cancelled_before_the_store_has_its_summary() {
        use lucid_core::session::{launch, load, LaunchOptions, Recorder};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let server = start(store.clone(), lucid_envs::worlds()).unwrap();
        // A run this owner runs whose summary its store does not have: as just after a
        // run is announced, before its first event is stored. Here it is recorded
        // elsewhere, so the store never has it; paced, so it is still running below.
        let elsewhere = Store::open(&dir.path().join("elsewhere")).unwrap();
        let worlds = lucid_envs::worlds();
        let spec = load(worlds.as_ref(), &lumara(), None, Some(2), None).unwrap();
        let options = LaunchOptions {
            pace_ms: Some(200),
            ..LaunchOptions::default()
        };
        let mut handle = launch(worlds, spec, Recorder::Store(elsewhere), options).unwrap();
        let session = handle.session();
        let (_local, tracked) = server.registry().track(&mut handle);
        let run = tokio::spawn(async move {
            let finished = handle.join().await;
            tracked.finish(&finished).await;
        });
        assert!(store.find_session(&session.to_string()).unwrap().is_none());

        let client = client::Client::new(store.path());
        let stream = client.events(&session.to_string()).await.unwrap();
        let cancelled: serde_json::Value = client
            .post_json(
                &format!("/v1/sessions/{session}/cancel"),
                &serde_json::json!({}),
            )
            .await
            .unwrap();
        assert_eq!(cancelled["cancelled"], session.to_string());
        // The follower sees the run through to its end.
        let items: Vec<_> = futures::StreamExt::collect::<Vec<_>>(stream).await;
        let finished = items.iter().find_map(|item| match item {
            Ok(client::Streamed::Finished(end)) => Some(end),
            _ => None,
        });
        assert!(
            finished.is_some_and(|end| end.cancelled && !end.passed),
            "{} items",
            items.len()
        );
        run.await.unwrap();
        // An id the owner neither runs nor has on record is still refused.
        let unknown = lucid_core::event::SessionId::at(1);
        assert!(client.events(&unknown.to_string()).await.is_err());
        server.stop().await;
    }
}
