//! The TUI as a client: on a store another lucid serves, `lucid` opens through that owner
//! instead of failing "in use". The real binary in a pseudo-terminal lists the owner's
//! sessions, shows a run started from another process live, starts a run through the
//! owner from the picker, and says so when the owner goes away. In-process, the owner's
//! announcements (`GET /v1/events`) and its run and thread cancels, driven through the
//! TUI's remote sessions backend.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod owner;
mod pty;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use futures::StreamExt;

use lucid_core::event::{AgentId, AgentStatus, EventKind};
use lucid_core::session::Op;
use lucid_core::store::{SessionStatus, Store};
use lucid_server::client::Client;
use lucid_server::RunEnd;
use lucid_tui::backend::{Ending, News, RemoteSessions, SessionsBackend, StartRequest};

use owner::Serving;
use pty::Tui;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn lucid(db: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lucid"))
        .arg("--db")
        .arg(db)
        .args(args)
        .current_dir(repo())
        .env_remove("LUCID_DB")
        .output()
        .unwrap()
}

fn assert_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_tui_on_a_served_store_is_its_client_and_shows_a_run_from_another_process_live() {
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    // A session on record before the owner starts.
    assert_ok(&lucid(
        &db,
        &["run", "sessions/lumara.toml", "--headless", "--quiet"],
    ));
    let serving = Serving::start(&db, &[]);
    let mut tui = Tui::spawn(repo(), &db, config.path(), &[]);
    // It opened (no "in use") as the owner's client, with the owner's history.
    tui.wait_for(&[
        "Sessions: runs (1 of 1)",
        "lumara-landing",
        "another lucid holds this store",
    ]);
    // A run from another process: it executes in the owner and shows here live.
    assert_ok(&lucid(
        &db,
        &["run", "sessions/lumara.toml", "--headless", "--quiet"],
    ));
    tui.wait_for(&[
        "commander #1",
        "detector #2",
        "navigator #",
        "soft_landing",
        "rubric met",
        "passed after",
    ]);
    // The list through the owner has both; the older one replays from it.
    tui.press("2");
    tui.wait_for(&["Sessions: runs (2 of 2)"]);
    tui.press("j\r");
    tui.wait_for(&["replay ", "commander #1"]);
    tui.press("q");
    assert!(tui.wait(), "quitting a client window exits 0");
    // The owner was the owner throughout.
    assert!(std::os::unix::net::UnixStream::connect(&serving.socket).is_ok());
    let status = serving.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_client_tui_starts_runs_through_the_owner_and_says_when_the_owner_goes() {
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    // The window's own folder: `n` lists its sessions/ and the owner reads the file by
    // its absolute path.
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(cwd.join("sessions")).unwrap();
    std::fs::copy(
        repo().join("sessions/lumara.toml"),
        cwd.join("sessions/lumara.toml"),
    )
    .unwrap();
    let db = dir.path().join("store");
    let serving = Serving::start(&db, &[]);
    let mut tui = Tui::spawn(&cwd, &db, config.path(), &[]);
    tui.wait_for(&["Sessions: runs (0 of 0)"]);
    tui.press("n");
    tui.wait_for(&["lumara.toml"]);
    tui.press("\r");
    tui.wait_for(&["commander #1", "rubric met", "passed after"]);
    // The owner ran it and recorded it.
    let out = lucid(&db, &["sessions", "list", "--json"]);
    assert_ok(&out);
    let sessions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0]["status"], "passed");
    // The Memory view reads the owner's memories: a playbook imported through the owner
    // shows, and approving it here (`a`) is applied there.
    let skill = dir.path().join("skills/burn-late");
    std::fs::create_dir_all(&skill).unwrap();
    std::fs::write(
        skill.join("SKILL.md"),
        "---\nname: burn-late\ndescription: Burn late over dunes\n---\nBurn late over dunes.\n",
    )
    .unwrap();
    let out = lucid(
        &db,
        &[
            "memory",
            "import",
            skill.to_str().unwrap(),
            "--team",
            "lumara-landing",
        ],
    );
    assert_ok(&out);
    tui.press("3");
    tui.wait_for(&["Burn late over dunes", "proposed"]);
    tui.press("a");
    tui.wait_for(&["approved"]);
    // `D` dreams in the owner and shows what it did in the dream panel.
    tui.press("D");
    tui.wait_for(&["Dream · team lumara-landing", "dreamed over 1 session(s)"]);
    let out = lucid(&db, &["sessions", "list", "--kind", "dreams", "--json"]);
    assert_ok(&out);
    let dreams: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        dreams.as_array().unwrap().len(),
        1,
        "the owner recorded the dream"
    );
    let out = lucid(&db, &["memory", "list", "--status", "approved", "--json"]);
    assert_ok(&out);
    let approved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(approved.as_array().unwrap().len(), 1, "{approved:#?}");
    // The owner goes away: the footer says so, the window stays.
    let status = serving.terminate();
    assert!(status.success(), "{status:?}");
    tui.wait_for(&["the lucid serving this store has stopped"]);
    assert!(tui.is_running());
    tui.press("q");
    assert!(tui.wait());
}

/// Lumara with a slow offline model (each answer takes `latency_ms`), so requests land
/// mid-run.
fn slow_lumara_at(dir: &Path, latency_ms: u64) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("sessions/lumara.toml")).unwrap();
    let slow = text.replace(
        "[models.offline]\nprovider = \"scripted\"\n",
        &format!("[models.offline]\nprovider = \"scripted\"\nlatency_ms = {latency_ms}\n"),
    );
    assert_ne!(slow, text, "the template moved");
    let path = dir.join("lumara-slow.toml");
    std::fs::write(&path, slow).unwrap();
    path
}

fn slow_lumara(dir: &Path) -> PathBuf {
    slow_lumara_at(dir, 150)
}

#[test]
fn a_client_tui_follows_the_owners_own_run_and_reads_it_as_interrupted_when_the_owner_dies() {
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let spec = slow_lumara_at(dir.path(), 400);
    // The owner is a headless run: it holds the store while its own run goes.
    let mut owner = std::process::Command::new(env!("CARGO_BIN_EXE_lucid"))
        .arg("--db")
        .arg(&db)
        .args(["run", spec.to_str().unwrap(), "--headless", "--quiet"])
        .current_dir(repo())
        .env_remove("LUCID_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = db.join("lucid.sock");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the owner never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Opened while the run is live: the window is told of it and follows it.
    let mut tui = Tui::spawn(repo(), &db, config.path(), &[]);
    tui.wait_for(&["commander #1", "detector #2", "   live"]);
    owner.kill().unwrap();
    owner.wait().unwrap();
    tui.wait_for(&["Memory    interrupted", "the lucid serving this store"]);
    assert!(tui.is_running(), "the window stays");
    tui.press("q");
    assert!(tui.wait());
}

#[tokio::test]
async fn cancels_reach_the_owners_run_one_thread_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let server = lucid_server::start(store.clone(), lucid_envs::worlds()).unwrap();
    let sessions = RemoteSessions::new(Client::new(store.path()));
    let request = StartRequest::file(slow_lumara(dir.path()));
    let mut feed = sessions.start_run(request).await.unwrap();
    let specialist = loop {
        match feed.next().await {
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
    // A thread that has not run is refused with a sentence naming it.
    let refused = feed.submit(Op::CancelThread(AgentId(999))).await;
    assert!(
        matches!(&refused, Err(m) if m.starts_with("thread #999 has not run in session")),
        "{refused:?}"
    );
    // One specialist is cancelled through the owner; the run goes on.
    feed.submit(Op::CancelThread(specialist)).await.unwrap();
    loop {
        match feed.next().await {
            News::Event(event) => {
                if let EventKind::AgentFinished { status, .. } = &event.kind {
                    if event.agent == Some(specialist) {
                        assert_eq!(*status, AgentStatus::Cancelled);
                        break;
                    }
                    assert_ne!(event.agent, Some(AgentId(1)), "the lead ended first");
                }
            }
            News::Ended(ending) => panic!("the run ended with its specialist: {ending:?}"),
        }
    }
    // Then the whole run (`c` on the lead does the same through the thread route).
    feed.submit(Op::Cancel).await.unwrap();
    let ending = loop {
        if let News::Ended(ending) = feed.next().await {
            break ending;
        }
    };
    match &ending {
        Ending::There(RunEnd {
            passed: false,
            error: Some(error),
            ..
        }) => assert!(error.contains("cancelled"), "{error}"),
        other => panic!("expected a cancelled end, got {other:?}"),
    }
    // Once it has ended, the owner no longer runs it.
    let late = feed.submit(Op::Cancel).await;
    assert!(
        matches!(&late, Err(m) if m.contains("is not running in this lucid")),
        "{late:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_owner_announces_its_runs_and_lists_its_sessions_to_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let server = lucid_server::start(store.clone(), lucid_envs::worlds()).unwrap();
    let client = Client::new(store.path());
    let sessions = RemoteSessions::new(client.clone());
    // A run live before the client listens is listed when it does.
    let mut first = sessions
        .start_run(StartRequest::file(slow_lumara(dir.path())))
        .await
        .unwrap();
    let mut announcements = sessions.announcements();
    let heard = tokio::time::timeout(Duration::from_secs(10), announcements.next())
        .await
        .unwrap();
    match heard {
        Some(lucid_tui::backend::Announcement::Started(run)) => {
            assert_eq!(run.session, first.session);
            assert!(run.spec.ends_with("lumara-slow.toml"), "{}", run.spec);
        }
        other => panic!("expected the live run, got {other:?}"),
    }
    // A run started later is announced as it starts.
    let second = sessions
        .start(StartRequest::file(repo().join("sessions/lumara.toml")))
        .await
        .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), announcements.next())
        .await
        .unwrap();
    match heard {
        Some(lucid_tui::backend::Announcement::Started(run)) => {
            assert_eq!(run.session, second.session)
        }
        other => panic!("expected the new run, got {other:?}"),
    }
    while !matches!(first.next().await, News::Ended(_)) {}
    server.registry().wait_idle().await;
    // The list through the owner is the store's.
    let listed = sessions.list().await.unwrap();
    let ids: Vec<_> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![first.session, second.session]);
    assert!(listed.iter().all(|s| s.status == SessionStatus::Passed));
    let events = sessions.record(second.session).await.unwrap();
    assert_eq!(events, store.events(second.session).unwrap());
    // The owner stopping ends the announcements with a sentence for the footer.
    server.stop().await;
    let heard = tokio::time::timeout(Duration::from_secs(10), announcements.next())
        .await
        .unwrap();
    assert!(
        matches!(&heard, Some(lucid_tui::backend::Announcement::OwnerGone(m)) if m.contains("has stopped")),
        "{heard:?}"
    );
}
