//! This window holds the store: [`LocalSessions`] reads it on blocking threads, starts
//! runs through the front door in this process (tracked in the window's server registry
//! when it serves the store), and follows the runs that server starts for other windows
//! through the registry. [`LocalSessions::adopt`] turns a run started here into a
//! [`Feed`].

use std::sync::Arc;

use futures::future::{self, BoxFuture};
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::unbounded_channel;

use super::{Announcement, Ending, Feed, News, RunControl, SessionsBackend, StartRequest};
use crate::live::{self, LiveRun};
use lucid_core::event::{Event, SessionId};
use lucid_core::session::{Control, Op};
use lucid_core::store::{SessionSummary, Store};
use lucid_server::{Live, Registry, Started};

/// The sessions of the store this window holds.
pub struct LocalSessions {
    store: Store,
    /// The registry of the server this window runs for its store, if it serves it.
    registry: Option<Registry>,
}

impl LocalSessions {
    pub fn new(store: Store, registry: Option<Registry>) -> LocalSessions {
        LocalSessions { store, registry }
    }

    /// Follows a run started in this process: its events, then how the front door
    /// finished it (after its registry entry, if any, has told watchers).
    pub fn adopt(run: LiveRun) -> Feed {
        let LiveRun {
            session,
            spec_path,
            mut events,
            handle,
            tracked,
        } = run;
        let control = Arc::new(HandleControl(handle.control()));
        let (tx, news) = unbounded_channel();
        tokio::spawn(async move {
            let ending = async move {
                let finished = handle.join().await;
                if let Some(tracked) = tracked {
                    tracked.finish(&finished).await;
                }
                finished
            };
            tokio::pin!(ending);
            // The window gone (its feed dropped) is fine: the run still records its end.
            let finished = loop {
                tokio::select! {
                    Some(event) = events.recv() => {
                        let _ = tx.send(News::Event(event));
                    }
                    finished = &mut ending => break finished,
                }
            };
            // Every event has been passed on by now (the bus sends as it records; the
            // registry's forwarder has ended).
            while let Ok(event) = events.try_recv() {
                let _ = tx.send(News::Event(event));
            }
            let _ = tx.send(News::Ended(Ending::Here(finished)));
        });
        Feed::new(session, spec_path, news, control).running_here()
    }
}

/// Runs store work on a blocking thread.
fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> BoxFuture<'static, Result<T, String>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| format!("reading the store failed: {err}"))?
    })
}

impl SessionsBackend for LocalSessions {
    fn list(&self) -> BoxFuture<'static, Result<Vec<SessionSummary>, String>> {
        let store = self.store.clone();
        blocking(move || store.sessions().map_err(|err| err.to_string()))
    }

    fn record(&self, session: SessionId) -> BoxFuture<'static, Result<Vec<Event>, String>> {
        let store = self.store.clone();
        blocking(move || store.events(session).map_err(|err| err.to_string()))
    }

    fn start(&self, request: StartRequest) -> BoxFuture<'static, Result<Feed, String>> {
        let store = self.store.clone();
        let registry = self.registry.clone();
        Box::pin(async move {
            let spec = lucid_core::session::load(
                lucid_envs::worlds().as_ref(),
                &request.spec,
                request.model.as_deref(),
                request.seed,
                request.world,
            )
            .map_err(|err| err.to_string())?;
            live::start_tracked(
                spec,
                &request.spec,
                &store,
                registry.as_ref(),
                request.pace_ms,
            )
            .map(LocalSessions::adopt)
        })
    }

    fn announcements(&self) -> BoxStream<'static, Announcement> {
        let Some(registry) = &self.registry else {
            return stream::pending().boxed();
        };
        stream::unfold(registry.started(), |mut started| async move {
            loop {
                match started.recv().await {
                    Ok(run) => return Some((Announcement::Started(run), started)),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    fn follow(&self, started: &Started) -> Option<Feed> {
        let registry = self.registry.clone()?;
        // Watch first, then read what is recorded: an event is recorded before it is
        // passed on, so nothing falls between the two; duplicates are skipped by number.
        let mut live = registry.subscribe(started.session)?;
        let (tx, news) = unbounded_channel();
        let store = self.store.clone();
        let session = started.session;
        tokio::spawn(async move {
            // Every recorded event from `next` on, read from the store: at first, and
            // again whenever the live stream ran ahead of this watcher (lagged).
            let mut next = 0;
            let mut catch_up = true;
            loop {
                if std::mem::take(&mut catch_up) {
                    let store = store.clone();
                    let read = tokio::task::spawn_blocking(move || store.events(session)).await;
                    let recorded = match read {
                        Ok(Ok(events)) => events,
                        Ok(Err(err)) => {
                            let lost = format!("cannot read the run's events: {err}");
                            let _ = tx.send(News::Ended(Ending::Lost(lost)));
                            return;
                        }
                        Err(err) => {
                            let lost = format!("reading the run's events failed: {err}");
                            let _ = tx.send(News::Ended(Ending::Lost(lost)));
                            return;
                        }
                    };
                    let from = next;
                    for event in recorded.into_iter().filter(|e| e.seq >= from) {
                        next = event.seq + 1;
                        if tx.send(News::Event(event)).is_err() {
                            return;
                        }
                    }
                }
                let news = match live.recv().await {
                    // A live-only event carries the number of the next recorded one.
                    Ok(Live::Event(event)) if event.seq < next => continue,
                    Ok(Live::Event(event)) => {
                        if !event.kind.is_live_only() {
                            next = event.seq + 1;
                        }
                        News::Event(event)
                    }
                    Ok(Live::Ended(end)) => News::Ended(Ending::There(end)),
                    // Fell behind: what was missed is in the store.
                    Err(RecvError::Lagged(_)) => {
                        catch_up = true;
                        continue;
                    }
                    Err(RecvError::Closed) => News::Ended(Ending::Lost(
                        "the run stopped without saying how it ended".into(),
                    )),
                };
                let ended = matches!(news, News::Ended(_));
                if tx.send(news).is_err() || ended {
                    return;
                }
            }
        });
        let control = Arc::new(RegistryControl {
            registry,
            session: started.session,
        });
        Some(Feed::new(
            started.session,
            started.spec.clone(),
            news,
            control,
        ))
    }
}

fn not_run(op: Op) -> String {
    match op {
        Op::Cancel => "the run has already ended".into(),
        Op::CancelThread(id) => format!("thread {id} has not run yet"),
    }
}

/// A run in this process, through its handle's control.
struct HandleControl(Control);

impl RunControl for HandleControl {
    fn submit(&self, op: Op) -> BoxFuture<'static, Result<(), String>> {
        let done = self.0.submit(op);
        Box::pin(future::ready(if done { Ok(()) } else { Err(not_run(op)) }))
    }
}

/// A run this window's server started for another window, through the registry.
struct RegistryControl {
    registry: Registry,
    session: SessionId,
}

impl RunControl for RegistryControl {
    fn submit(&self, op: Op) -> BoxFuture<'static, Result<(), String>> {
        let result = match op {
            Op::Cancel if self.registry.cancel(self.session) => Ok(()),
            Op::Cancel => Err("the run has already ended".to_string()),
            Op::CancelThread(id) => match self.registry.cancel_thread(self.session, id) {
                Some(true) => Ok(()),
                Some(false) => Err(not_run(op)),
                None => Err("the run has already ended".to_string()),
            },
        };
        Box::pin(future::ready(result))
    }
}
