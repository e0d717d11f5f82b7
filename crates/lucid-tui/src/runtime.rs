//! The event loop: terminal input, the live run's news and the results of background
//! work become [`Action`]s for the reducer; the reducer's [`Command`]s become background
//! work ([`super::work`]). It draws only when something changed, at most every
//! [`FRAME`], folding every event queued meanwhile into that one frame. Store reads run
//! on blocking threads, never on the draw path.
//!
//! Sessions come from a [`SessionsBackend`]: this window's store, or the lucid that holds
//! it (this window is then its client). Either way a live run is a [`Feed`] of news the
//! loop folds and steers with ops, and runs started elsewhere are announced: an idle
//! window switches its Run view to such a run, a busy one names it in the footer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use super::app::{Action, AppState, Command, Source};
use super::backend::{Announcement, Ending, Feed, News, SessionsBackend};
use super::memory_state::{Edit, MemoryItem};
use super::update::update;
use super::views;
use super::work::{self, Channels, Watching};
use lucid_core::event::{now_ms, sanitize, Event};
use lucid_core::session::Op;
use lucid_core::store::Store;
use lucid_server::Started;

/// The shortest time between two frames (about 60 per second).
pub const FRAME: Duration = Duration::from_millis(16);
/// How often elapsed times refresh while a run is live.
const LIVE_TICK: Duration = Duration::from_millis(250);
/// How long quitting waits for requests still on their way to the owner (a cancel).
const REQUESTS_GRACE: Duration = Duration::from_secs(5);

/// Where the Memory view's records live and how they change. Calls block (they may read
/// and write the store); the runtime makes them on blocking threads.
pub trait MemoryBackend: Send + Sync {
    fn list(&self) -> Result<Vec<MemoryItem>, String>;
    /// Each returns the message for the footer.
    /// Approves a proposal, or a rejected or retired memory again.
    fn approve(&self, id: &str) -> Result<String, String>;
    fn reject(&self, id: &str) -> Result<String, String>;
    fn retire(&self, id: &str) -> Result<String, String>;
    /// Saves an edit as a new version; the message says whether the memory still steers
    /// runs (an edited approved memory is proposed again unless the edit approves it).
    fn save_edit(&self, id: &str, edit: Edit) -> Result<String, String>;
    fn export(&self, id: &str) -> Result<String, String>;
}

/// What the loop can reach beyond the state.
pub struct Services {
    /// The sessions and their runs: this window's store, or the lucid that holds it.
    pub sessions: Arc<dyn SessionsBackend>,
    /// The store, when this window holds it: dreams (`D`) run on it.
    pub store: Option<Store>,
    /// The lucid that holds the store, when this window is its client: dreams (`D`)
    /// run there.
    pub owner: Option<lucid_server::client::Client>,
    /// Where `n` looks for session files.
    pub sessions_dir: PathBuf,
    pub memory: Option<Arc<dyn MemoryBackend>>,
    /// The pace of offline models in the runs `n` starts (`--pace`); `None`: full speed.
    pub pace_ms: Option<u64>,
}

/// How the loop ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// How the last run this window started ended, if it did.
    pub run: Option<Ending>,
}

async fn next_news(feed: &mut Option<Feed>) -> News {
    match feed.as_mut() {
        Some(feed) => feed.next().await,
        None => std::future::pending().await,
    }
}

async fn next_announcement(
    announcements: &mut Option<BoxStream<'static, Announcement>>,
) -> Option<Announcement> {
    match announcements.as_mut() {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

async fn next_dream_event(events: &mut Option<mpsc::UnboundedReceiver<Event>>) -> Option<Event> {
    match events.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_arrival(
    arrivals: &mut mpsc::UnboundedReceiver<Result<Feed, String>>,
) -> Result<Feed, String> {
    match arrivals.recv().await {
        Some(arrival) => arrival,
        // The loop holds a sender: this does not happen.
        None => std::future::pending().await,
    }
}

/// Runs the app until it quits. `live` is a run started by the caller (`lucid run`).
pub async fn run_app<B, I>(
    terminal: &mut Terminal<B>,
    mut app: AppState,
    services: Services,
    live: Option<Feed>,
    mut input: I,
    initial: Vec<Command>,
) -> std::io::Result<Outcome>
where
    B: Backend,
    I: Stream<Item = std::io::Result<crossterm::event::Event>> + Unpin,
{
    let (actions, mut results) = mpsc::unbounded_channel::<Action>();
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<Result<Feed, String>>();
    let channels = Channels { actions, arrivals };
    let mut outcome = Outcome::default();
    let mut watching = Watching::default();
    let mut announcements = Some(services.sessions.announcements());
    let mut pending = initial;
    if let Some(feed) = live {
        pending.extend(show(&mut app, &mut watching, feed, true));
    }
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut last_tick = Instant::now();
    loop {
        while !pending.is_empty() {
            for command in std::mem::take(&mut pending) {
                for action in work::execute(command, &services, &channels, &mut watching) {
                    pending.extend(update(&mut app, action));
                }
            }
        }
        if app.quit {
            break;
        }
        let due = last_draw.map_or(Duration::ZERO, |at| FRAME.saturating_sub(at.elapsed()));
        if dirty && due.is_zero() {
            terminal.draw(|frame| views::draw(frame, &app))?;
            dirty = false;
            last_draw = Some(Instant::now());
        }
        let playing =
            matches!(&app.source, Source::Replay(r) if !r.paused && r.next < r.events.len());
        let wake = if dirty {
            due.max(Duration::from_millis(1))
        } else if playing {
            FRAME
        } else if app.run_is_live() || app.dream_is_live() {
            LIVE_TICK
        } else {
            Duration::from_secs(60)
        };
        tokio::select! {
            input = input.next() => match input {
                Some(Ok(crossterm::event::Event::Key(key))) => {
                    pending.extend(update(&mut app, Action::Key(key)));
                    dirty = true;
                }
                Some(Ok(crossterm::event::Event::Mouse(mouse))) => {
                    pending.extend(update(&mut app, Action::Mouse(mouse)));
                    dirty = true;
                }
                Some(Ok(_)) => dirty = true,
                Some(Err(err)) => return Err(err),
                None => break,
            },
            news = next_news(&mut watching.feed) => {
                pending.extend(on_news(&mut app, &mut watching, &mut outcome, news));
                // Fold everything already queued into the same frame.
                while let Some(news) = watching.feed.as_mut().and_then(Feed::try_next) {
                    pending.extend(on_news(&mut app, &mut watching, &mut outcome, news));
                }
                dirty = true;
            },
            arrival = next_arrival(&mut arrived) => {
                watching.starting = false;
                match arrival {
                    Ok(feed) => pending.extend(show(&mut app, &mut watching, feed, true)),
                    Err(message) => pending.extend(update(&mut app, Action::RunFailed(message))),
                }
                dirty = true;
            },
            news = next_announcement(&mut announcements) => {
                match news {
                    Some(Announcement::Started(run)) => {
                        pending.extend(on_started(&mut app, &services, &mut watching, run));
                    }
                    Some(Announcement::OwnerGone(message)) => {
                        pending.extend(update(&mut app, Action::OwnerGone(message)));
                    }
                    None => announcements = None,
                }
                dirty = true;
            },
            event = next_dream_event(&mut watching.dream_events) => match event {
                Some(event) => {
                    pending.extend(update(&mut app, Action::DreamEvent(event)));
                    if let Some(rx) = watching.dream_events.as_mut() {
                        while let Ok(event) = rx.try_recv() {
                            pending.extend(update(&mut app, Action::DreamEvent(event)));
                        }
                    }
                    dirty = true;
                }
                None => watching.dream_events = None,
            },
            ended = work::dream_end(&mut watching.dream) => {
                watching.dream = None;
                if let Some(rx) = watching.dream_events.as_mut() {
                    while let Ok(event) = rx.try_recv() {
                        pending.extend(update(&mut app, Action::DreamEvent(event)));
                    }
                }
                let outcome = match ended {
                    Ok(Ok(report)) => Ok(work::dreamt(std::slice::from_ref(&report))),
                    Ok(Err(err)) => Err(format!("the dream failed: {err}")),
                    Err(message) => Err(message),
                };
                pending.extend(update(&mut app, Action::DreamEnded(outcome)));
                dirty = true;
            },
            action = results.recv() => {
                if let Some(action) = action {
                    pending.extend(update(&mut app, action));
                    dirty = true;
                }
            },
            () = tokio::time::sleep(wake) => {},
        }
        let elapsed = last_tick.elapsed();
        if elapsed >= FRAME {
            last_tick = Instant::now();
            let before = replay_position(&app);
            update(
                &mut app,
                Action::Tick {
                    now_ms: now_ms(),
                    elapsed_ms: elapsed.as_millis() as u64,
                },
            );
            let live = app.run_is_live() || app.dream_is_live();
            if before != replay_position(&app) || (live && elapsed >= LIVE_TICK) {
                dirty = true;
            }
        }
    }
    // A dream is short and only writes proposals: let it finish and record itself.
    if let Some(task) = watching.dream.take() {
        let _ = task.await;
    }
    // Quitting while a run of this process is live cancels it; wait for it to record
    // its end. A run another lucid runs goes on there.
    if let Some(mut feed) = watching.feed.take().filter(Feed::is_running_here) {
        // Refused only when it has ended already; its end is on the feed either way.
        let _ = feed.submit(Op::Cancel).await;
        loop {
            if let News::Ended(ending) = feed.next().await {
                if watching.ours {
                    outcome.run = Some(ending);
                }
                break;
            }
        }
    }
    // A cancel on its way to the owner is sent before the window goes.
    let requests = &mut watching.requests;
    let _ = tokio::time::timeout(REQUESTS_GRACE, async {
        while requests.join_next().await.is_some() {}
    })
    .await;
    Ok(outcome)
}

fn replay_position(app: &AppState) -> Option<usize> {
    match &app.source {
        Source::Replay(replay) => Some(replay.next),
        _ => None,
    }
}

/// Puts a live run on show; `ours` when this window started it (its end is the outcome).
fn show(app: &mut AppState, watching: &mut Watching, feed: Feed, ours: bool) -> Vec<Command> {
    let commands = update(
        app,
        Action::RunStarted {
            spec: sanitize(&feed.spec),
        },
    );
    watching.feed = Some(feed);
    watching.ours = ours;
    commands
}

/// Folds a followed run's news into the state; its end frees the Run view.
fn on_news(
    app: &mut AppState,
    watching: &mut Watching,
    outcome: &mut Outcome,
    news: News,
) -> Vec<Command> {
    let ending = match news {
        News::Event(event) => return update(app, Action::Event(event)),
        News::Ended(ending) => ending,
    };
    watching.feed = None;
    let mut notice = match &ending {
        Ending::Here(finished) => finished
            .result
            .as_ref()
            .err()
            .map(|err| format!("the run ended: {}", sanitize(&err.to_string()))),
        Ending::There(end) => end
            .error
            .as_ref()
            .map(|err| format!("the run ended: {}", sanitize(err))),
        Ending::Lost(message) => Some(message.clone()),
    };
    if let Some(note) = ending.dream() {
        notice = Some(sanitize(note));
    }
    // The owner stopping is the news; how the run ended follows it.
    let owner_gone = app.client.as_ref().and_then(|c| c.owner_gone.as_ref());
    if let (Some(gone), Some(said)) = (owner_gone, &notice) {
        if !matches!(ending, Ending::Lost(_)) {
            notice = Some(format!("{gone}; {said}"));
        }
    }
    let commands = match (&ending, notice) {
        (Ending::Lost(_), Some(message)) if app.run.view.finish.is_none() => {
            update(app, Action::RunInterrupted(message))
        }
        (_, notice) => {
            if notice.is_some() {
                app.notice = notice;
            }
            update(app, Action::RunEnded)
        }
    };
    if std::mem::take(&mut watching.ours) {
        outcome.run = Some(ending);
    }
    commands
}

/// A run started elsewhere: an idle window shows it, a busy one says so.
fn on_started(
    app: &mut AppState,
    services: &Services,
    watching: &mut Watching,
    started: Started,
) -> Vec<Command> {
    let on_show = watching
        .feed
        .as_ref()
        .is_some_and(|feed| feed.session == started.session);
    // This window's own run, announced by its owner (the arrival says the same).
    if on_show || watching.starting {
        return Vec::new();
    }
    if watching.is_busy() {
        app.notice = Some(format!(
            "a run from another window started: {}",
            started.session
        ));
        return Vec::new();
    }
    match services.sessions.follow(&started) {
        Some(feed) => show(app, watching, feed, false),
        None => {
            app.notice = Some(format!(
                "a run from another window started and ended: {}",
                started.session
            ));
            Vec::new()
        }
    }
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;
