//! Where the TUI's sessions are: the contract between the event loop and whoever holds
//! the store. The loop lists sessions, loads one to replay, starts runs, hears of runs
//! started elsewhere, and follows a live run as a [`Feed`] (its events, then how it
//! ended) that it steers with [`Op`]s, the same way whether this window holds the store
//! ([`local::LocalSessions`], over the store and its server's registry) or another lucid
//! does and this window is its client ([`remote::RemoteSessions`], over the local API).
//!
//! It does not fold events or draw (the reducer and views do), and it does not reach into
//! the runner: a run is only its events and its [`RunControl`].

pub mod local;
pub mod remote;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;

use lucid_core::event::{Event, SessionId};
use lucid_core::session::{Finished, Op};
use lucid_core::store::SessionSummary;
use lucid_server::{RunEnd, Started};

pub use local::LocalSessions;
pub use remote::RemoteSessions;

/// A run to start from a session file, with `lucid run`'s overrides.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    pub spec: PathBuf,
    pub model: Option<String>,
    pub seed: Option<u64>,
    pub world: Option<u64>,
    /// Offline models take this many milliseconds over each answer (the TUI's `--pace`;
    /// see [`lucid_core::session::LaunchOptions::pace_ms`]).
    pub pace_ms: Option<u64>,
}

impl StartRequest {
    /// The session file as it is (the picker's `n`).
    pub fn file(spec: PathBuf) -> StartRequest {
        StartRequest {
            spec,
            ..StartRequest::default()
        }
    }
}

/// What the owner says about its runs, as the loop hears it.
#[derive(Debug, Clone, PartialEq)]
pub enum Announcement {
    /// A run started elsewhere (or was live when the window opened).
    Started(Started),
    /// The lucid serving the store has gone: one sentence for the footer.
    OwnerGone(String),
}

/// How a followed run ended.
#[derive(Debug)]
pub enum Ending {
    /// A run this process ran, as the front door finished it.
    Here(Finished),
    /// A run another process ran (or this window's server ran for another window), as
    /// its owner said it ended.
    There(RunEnd),
    /// The run's events stopped without saying how it ended (its owner went away): one
    /// sentence for the footer. The run reads back as interrupted.
    Lost(String),
}

impl Ending {
    /// The note about the scheduled dream that followed the run, if one ran.
    pub fn dream(&self) -> Option<&str> {
        match self {
            Ending::Here(finished) => finished.dream.as_deref(),
            Ending::There(end) => end.dream.as_deref(),
            Ending::Lost(_) => None,
        }
    }
}

/// What a followed run says next.
#[derive(Debug)]
pub enum News {
    Event(Event),
    /// The last news of a feed.
    Ended(Ending),
}

/// Carries out [`Op`]s on one live run, wherever it runs.
pub trait RunControl: Send + Sync {
    /// Asks the run to do `op`; the error is a sentence for the footer.
    fn submit(&self, op: Op) -> BoxFuture<'static, Result<(), String>>;
}

/// A live run being followed: its events from the first, then how it ended.
pub struct Feed {
    pub session: SessionId,
    /// The session file as its starter named it (untrusted: sanitize before drawing).
    pub spec: String,
    news: UnboundedReceiver<News>,
    control: Arc<dyn RunControl>,
    here: bool,
}

impl Feed {
    /// A feed whose news arrive on `news` (ending with [`News::Ended`]; a channel closed
    /// without it reads as [`Ending::Lost`]).
    pub fn new(
        session: SessionId,
        spec: String,
        news: UnboundedReceiver<News>,
        control: Arc<dyn RunControl>,
    ) -> Feed {
        Feed {
            session,
            spec,
            news,
            control,
            here: false,
        }
    }

    /// Marks the run as running in this process: quitting cancels it and waits for it
    /// to record its end.
    pub fn running_here(mut self) -> Feed {
        self.here = true;
        self
    }

    pub fn is_running_here(&self) -> bool {
        self.here
    }

    fn closed() -> News {
        News::Ended(Ending::Lost(
            "the run's events stopped without saying how it ended".into(),
        ))
    }

    /// The next news; after [`News::Ended`], do not ask again.
    pub async fn next(&mut self) -> News {
        self.news.recv().await.unwrap_or_else(Feed::closed)
    }

    /// The next news if it has arrived already.
    pub fn try_next(&mut self) -> Option<News> {
        match self.news.try_recv() {
            Ok(news) => Some(news),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Feed::closed()),
        }
    }

    /// Asks the run to do `op` (see [`RunControl::submit`]).
    pub fn submit(&self, op: Op) -> BoxFuture<'static, Result<(), String>> {
        self.control.submit(op)
    }
}

/// Where the sessions are; see the module docs. Futures and streams are `'static` so the
/// loop can run them as tasks.
pub trait SessionsBackend: Send + Sync {
    /// The sessions' summaries, oldest first.
    fn list(&self) -> BoxFuture<'static, Result<Vec<SessionSummary>, String>>;

    /// A session's recorded events, to replay.
    fn record(&self, session: SessionId) -> BoxFuture<'static, Result<Vec<Event>, String>>;

    /// Starts a run where the store is held, with that place's config; its feed starts
    /// at the run's first event.
    fn start(&self, request: StartRequest) -> BoxFuture<'static, Result<Feed, String>>;

    /// The runs started elsewhere from now on (and, through another lucid, those live
    /// already), until the owner goes.
    fn announcements(&self) -> BoxStream<'static, Announcement>;

    /// Follows a run started elsewhere from its first event; `None` when it is known to
    /// have ended already.
    fn follow(&self, started: &Started) -> Option<Feed>;
}
