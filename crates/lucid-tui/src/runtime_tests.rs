//! The loop's handling of runs from elsewhere: announcements, cancels through the
//! registry, and a run whose owner went away.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use futures::future::BoxFuture;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::unbounded_channel;

use super::*;
use crate::backend::{LocalSessions, RunControl};
use crate::work::Channels;
use lucid_core::event::{AgentId, AgentStatus, EventKind, SessionId};
use lucid_server::{Registry, RunEnd};

fn services(store: &Store, registry: &Registry) -> Services {
    Services {
        sessions: Arc::new(LocalSessions::new(store.clone(), Some(registry.clone()))),
        store: Some(store.clone()),
        owner: None,
        sessions_dir: PathBuf::from("sessions"),
        memory: None,
        pace_ms: None,
    }
}

/// A control that refuses everything.
struct Inert;

impl RunControl for Inert {
    fn submit(&self, _op: Op) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(std::future::ready(Err("inert".to_string())))
    }
}

fn inert_feed(session: SessionId) -> (mpsc::UnboundedSender<News>, Feed) {
    let (tx, rx) = unbounded_channel();
    let feed = Feed::new(session, "sessions/lumara.toml".into(), rx, Arc::new(Inert));
    (tx, feed)
}

fn channels() -> (Channels, mpsc::UnboundedReceiver<Action>) {
    let (actions, results) = unbounded_channel();
    let (arrivals, _) = unbounded_channel();
    (Channels { actions, arrivals }, results)
}

fn screen(app: &AppState) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
    terminal.draw(|frame| views::draw(frame, app)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                + "\n"
        })
        .collect()
}

#[tokio::test]
async fn a_busy_window_names_a_run_from_another_window_instead_of_switching() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let registry = Registry::default();
    let services = services(&store, &registry);
    let mut app = AppState::new(Default::default(), Default::default());
    let mine = SessionId::generate();
    let (_tx, feed) = inert_feed(mine);
    let mut watching = Watching {
        feed: Some(feed),
        ..Watching::default()
    };
    // Its own run, announced by the owner, changes nothing.
    let own = Started {
        session: mine,
        spec: "sessions/lumara.toml".into(),
    };
    assert!(on_started(&mut app, &services, &mut watching, own).is_empty());
    assert_eq!(app.notice, None);
    let other = SessionId::generate();
    let news = Started {
        session: other,
        spec: "sessions/lumara.toml".into(),
    };
    assert!(on_started(&mut app, &services, &mut watching, news).is_empty());
    assert_eq!(
        app.notice.as_deref(),
        Some(format!("a run from another window started: {other}").as_str())
    );
    assert_eq!(watching.feed.as_ref().map(|f| f.session), Some(mine));
    assert!(matches!(app.source, Source::Idle));
}

/// Lumara with a slow model, so cancels land mid-run.
fn slow_lumara() -> lucid_core::spec::SessionSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sessions/lumara.toml");
    let mut spec =
        lucid_core::session::load(lucid_envs::worlds().as_ref(), &path, None, None, None).unwrap();
    for profile in spec.models.values_mut() {
        profile.latency_ms = 150;
    }
    spec
}

#[tokio::test]
async fn cancelling_one_thread_of_a_run_from_another_window_cancels_that_thread_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let registry = Registry::default();
    let services = services(&store, &registry);
    let path = Path::new("sessions/lumara.toml");
    // Started "for another window": tracked in the registry, followed through it.
    let run =
        crate::live::start_tracked(slow_lumara(), path, &store, Some(&registry), None).unwrap();
    let started = Started {
        session: run.session,
        spec: "sessions/lumara.toml".into(),
    };
    // As the server does for a client's run: join it, then tell the watchers.
    let (handle, tracked) = (run.handle, run.tracked);
    let joined = tokio::spawn(async move {
        let finished = handle.join().await;
        if let Some(tracked) = tracked {
            tracked.finish(&finished).await;
        }
        finished
    });
    let feed = services.sessions.follow(&started).unwrap();
    let mut watching = Watching {
        feed: Some(feed),
        ..Watching::default()
    };
    // Wait for the first specialist to spawn.
    let specialist = loop {
        match watching.feed.as_mut().unwrap().next().await {
            News::Event(event) => {
                if let (
                    EventKind::AgentSpawned {
                        parent: Some(_), ..
                    },
                    Some(id),
                ) = (&event.kind, event.agent)
                {
                    break id;
                }
            }
            News::Ended(ending) => panic!("the run ended first: {ending:?}"),
        }
    };
    let (channels, mut results) = channels();
    let now = work::execute(
        Command::CancelAgent(specialist),
        &services,
        &channels,
        &mut watching,
    );
    assert!(now.is_empty(), "{now:?}");
    // That thread ends cancelled; the lead goes on until cancelled too.
    let mut lead_cancelled = false;
    let ending = loop {
        match watching.feed.as_mut().unwrap().next().await {
            News::Event(event) => match (&event.kind, event.agent) {
                (EventKind::AgentFinished { status, .. }, Some(id)) if id == specialist => {
                    assert_eq!(*status, AgentStatus::Cancelled);
                    work::execute(
                        Command::CancelAgent(AgentId(1)),
                        &services,
                        &channels,
                        &mut watching,
                    );
                    lead_cancelled = true;
                }
                (EventKind::AgentFinished { status, .. }, Some(AgentId(1))) => {
                    assert!(
                        lead_cancelled,
                        "the lead finished ({status:?}) before its cancel"
                    );
                }
                _ => {}
            },
            News::Ended(ending) => break ending,
        }
    };
    assert!(
        matches!(
            &ending,
            Ending::There(RunEnd {
                passed: false,
                error: Some(_),
                ..
            })
        ),
        "{ending:?}"
    );
    assert!(results.try_recv().is_err(), "no cancel was refused");
    let finished = joined.await.unwrap();
    assert_eq!(
        finished.result.unwrap_err(),
        lucid_core::run::RunError::Cancelled
    );
    // The session reads as cancelled, not as an error.
    let summary = store.session(finished.session).unwrap().unwrap();
    assert_eq!(summary.status, lucid_core::store::SessionStatus::Cancelled);
    // Once it has ended, the registry no longer knows it: a cancel is refused.
    registry.wait_idle().await;
    work::execute(Command::CancelRun, &services, &channels, &mut watching);
    let refused = tokio::time::timeout(Duration::from_secs(5), results.recv())
        .await
        .unwrap();
    assert!(
        matches!(&refused, Some(Action::RunFailed(m)) if m == "the run has already ended"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_run_whose_owner_went_away_reads_back_as_interrupted() {
    let mut app = AppState::new(Default::default(), Default::default());
    let mut watching = Watching::default();
    let mut outcome = Outcome::default();
    let session = SessionId::generate();
    let (tx, feed) = inert_feed(session);
    show(&mut app, &mut watching, feed, true);
    assert!(app.run_is_live());
    drop(tx);
    let news = watching.feed.as_mut().unwrap().next().await;
    let commands = on_news(&mut app, &mut watching, &mut outcome, news);
    assert_eq!(commands, vec![Command::LoadSessions]);
    assert!(watching.feed.is_none());
    assert!(matches!(app.source, Source::Interrupted { .. }));
    assert!(!app.run_is_live());
    assert!(matches!(outcome.run, Some(Ending::Lost(_))));
    let text = screen(&app);
    assert!(text.contains("interrupted"), "{text}");
    assert!(
        text.contains("the run's events stopped without saying how it ended"),
        "{text}"
    );
}

#[tokio::test]
async fn the_owner_stopping_is_said_before_how_the_run_ended() {
    let mut app = AppState::new(Default::default(), Default::default());
    app.client = Some(Default::default());
    let mut watching = Watching::default();
    update(
        &mut app,
        Action::OwnerGone("the lucid serving this store has stopped".into()),
    );
    let mut outcome = Outcome::default();
    let (_tx, feed) = inert_feed(SessionId::generate());
    show(&mut app, &mut watching, feed, false);
    let end = RunEnd {
        passed: false,
        error: Some("the run was cancelled".into()),
        dream: None,
        cancelled: false,
    };
    on_news(
        &mut app,
        &mut watching,
        &mut outcome,
        News::Ended(Ending::There(end)),
    );
    assert_eq!(
        app.notice.as_deref(),
        Some("the lucid serving this store has stopped; the run ended: the run was cancelled")
    );
    assert!(outcome.run.is_none(), "not this window's run");
}

#[test]
fn a_client_window_quits_at_once_and_keeps_saying_its_owner_has_gone() {
    let mut app = AppState::new(Default::default(), Default::default());
    app.client = Some(Default::default());
    update(
        &mut app,
        Action::RunStarted {
            spec: "sessions/lumara.toml".into(),
        },
    );
    update(&mut app, Action::OwnerGone("the owner has stopped".into()));
    // A key clears the notice; the footer still says the owner has gone.
    update(
        &mut app,
        Action::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('j'),
        )),
    );
    assert_eq!(app.notice, None);
    assert!(screen(&app).contains("the owner has stopped"));
    // The live run goes on in the owner: no question, no cancel.
    let commands = update(
        &mut app,
        Action::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('q'),
        )),
    );
    assert!(commands.is_empty(), "{commands:?}");
    assert!(app.quit && app.confirm.is_none());
}
