//! Accumulating, incremental dreams: each dream digests only the sessions no dream has
//! digested (the digests are cached in the store) but mines the team's whole history,
//! one run per distinct mission, so dreaming every three sessions reaches the rules one
//! dream over the same sessions reaches; a mission run three times is one piece of
//! evidence; `history = N` limits the window; a rescan digests everything again.
//!
//! Sessions are offline Lumara runs through the one front door, `session::launch`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::Path;

use lucid_core::dream::digest::SessionDigest;
use lucid_core::dream::mine::{mine_environment, MiningLimits, Vocabulary};
use lucid_core::dream::{dream, dream_with, DreamOptions, DreamRun, Dreamer};
use lucid_core::event::SessionId;
use lucid_core::memory::{Author, Memory, MemoryBook, MemoryStatus};
use lucid_core::session::{self, LaunchOptions, Recorder};
use lucid_core::spec::{HistoryWindow, SessionSpec};
use lucid_core::store::Store;

fn lumara() -> SessionSpec {
    session::load(
        lucid_envs::worlds().as_ref(),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"),
        None,
        None,
        None,
    )
    .unwrap()
}

/// Runs mission (`world`, `seed`) into the store; the front door dreams afterwards when
/// the spec's `[dreaming] every_sessions` says a dream is due.
async fn run(store: &Store, spec: &SessionSpec, world: u64, seed: u64) -> SessionId {
    let mut spec = spec.clone();
    spec.environment.world = world;
    spec.environment.seed = seed;
    let handle = session::launch(
        lucid_envs::worlds(),
        spec,
        Recorder::Store(store.clone()),
        LaunchOptions {
            spec_path: "sessions/lumara.toml".into(),
            ..LaunchOptions::default()
        },
    )
    .unwrap();
    let finished = handle.join().await;
    finished.result.unwrap();
    finished.session
}

fn open(dir: &tempfile::TempDir, name: &str) -> Store {
    Store::open(&dir.path().join(name)).unwrap()
}

/// The pending proposals of a store as a comparable set: what each claims and its rules.
fn claims(store: &Store) -> BTreeSet<String> {
    MemoryBook::new(store.clone())
        .list()
        .unwrap()
        .into_iter()
        .filter(|m| m.status == MemoryStatus::Proposed)
        .map(|m: Memory| {
            format!(
                "{} {:?} {} {}",
                m.kind.as_str(),
                m.agent,
                m.title,
                serde_json::to_string(&m.rules).unwrap()
            )
        })
        .collect()
}

fn dreams(store: &Store) -> Vec<DreamRun> {
    store.dreams().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dreaming_every_three_sessions_reaches_the_rules_of_one_dream() {
    let dir = tempfile::tempdir().unwrap();
    let spec = lumara();
    let mut every_three = spec.clone();
    every_three.dreaming.every_sessions = 3;
    for world in [2, 3] {
        let scheduled = open(&dir, &format!("every-3-world-{world}"));
        let once = open(&dir, &format!("once-world-{world}"));
        for seed in 1..=24 {
            run(&scheduled, &every_three, world, seed).await;
            run(&once, &spec, world, seed).await;
        }
        dream(&once, &spec.team, &Dreamer::Offline, &lucid_envs::catalog())
            .await
            .unwrap();

        let runs = dreams(&scheduled);
        assert_eq!(runs.len(), 8, "world {world}: a dream every 3 sessions");
        let last = &runs[7];
        // The last dream read the events of its 3 new sessions only, and mined all 24.
        assert_eq!(
            (last.considered.len(), last.sessions.len(), last.cached),
            (3, 3, 21),
            "world {world}: {last:?}"
        );
        assert_eq!(last.mined.len(), 24);

        let expected = claims(&once);
        assert!(
            expected.iter().any(|c| c.contains("\"when\"")),
            "world {world}: one dream over 24 sessions finds rules: {expected:#?}"
        );
        assert_eq!(
            claims(&scheduled),
            expected,
            "world {world}: dreaming every 3 sessions ends where one dream does"
        );
        // What early dreams proposed and the history stopped supporting was withdrawn by a
        // dream, never left pending, and nothing a person did is touched.
        for memory in MemoryBook::new(scheduled.clone()).list().unwrap() {
            assert!(
                matches!(
                    memory.status,
                    MemoryStatus::Proposed | MemoryStatus::Rejected
                ),
                "{memory:?}"
            );
            if memory.status == MemoryStatus::Rejected {
                assert!(matches!(memory.author, Author::Dream { .. }));
                assert!(memory.reason.contains("no longer supports"), "{memory:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mission_run_eight_times_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "store");
    let spec = lumara();
    // World 1, seed 9 eight times, beside three other missions that pass at the first
    // attempt: every run of seed 9 fails its first attempt at its site.
    for seed in [2, 9, 4, 9, 20, 9, 9, 9, 9, 9, 9] {
        run(&store, &spec, 1, seed).await;
    }

    // Counted run by run, the repeats look like a pattern about that site's
    // particulars (its letter, its propellant figures).
    let facts: Vec<String> = lucid_envs::catalog()
        .values()
        .flat_map(|c| c.facts.clone())
        .collect();
    let digests: Vec<SessionDigest> = store
        .sessions()
        .unwrap()
        .iter()
        .map(|s| SessionDigest::from_events(&store.events(s.id).unwrap(), &facts).unwrap())
        .collect();
    let capabilities = lucid_envs::catalog()["lumara"].clone();
    let refs: Vec<&SessionDigest> = digests.iter().collect();
    let naive = mine_environment(
        "lumara",
        &refs,
        Vocabulary::of(&capabilities, &refs),
        &MiningLimits::default(),
    );
    assert!(
        !naive.failures.is_empty(),
        "the repeats alone make a condition of the repeated mission look significant ({} tests)",
        naive.tests
    );

    // The dream counts missions: four, one run each.
    let report = dream(
        &store,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
    )
    .await
    .unwrap();
    assert_eq!(report.run.considered.len(), 11);
    assert_eq!((report.run.mined.len(), report.run.repeats), (4, 7));
    let latest_of_seed_9 = store
        .sessions()
        .unwrap()
        .into_iter()
        .filter(|s| s.seed == 9)
        .max_by_key(|s| s.started_at_ms)
        .unwrap();
    assert!(
        report.run.mined.contains(&latest_of_seed_9.id),
        "the latest run stands for the mission"
    );
    assert!(
        report.patterns.failures.is_empty(),
        "{:?}",
        report.patterns.failures
    );
    assert!(
        report.proposals.iter().all(|m| m.rules.is_empty()),
        "no rule from a single repeated mission: {:?}",
        report
            .proposals
            .iter()
            .map(|m| &m.title)
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_are_cached_and_a_rescan_digests_everything_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "store");
    let spec = lumara();
    let team = spec.team.clone();
    let catalog = lucid_envs::catalog();
    for seed in 1..=8 {
        run(&store, &spec, 2, seed).await;
    }
    let first = dream(&store, &team, &Dreamer::Offline, &catalog)
        .await
        .unwrap();
    assert_eq!((first.run.sessions.len(), first.run.cached), (8, 0));
    assert_eq!(store.digest_count(), 8);

    for seed in 9..=12 {
        run(&store, &spec, 2, seed).await;
    }
    let second = dream(&store, &team, &Dreamer::Offline, &catalog)
        .await
        .unwrap();
    assert_eq!(
        (second.run.sessions.len(), second.run.cached),
        (4, 8),
        "only the new sessions are digested"
    );
    assert_eq!(second.run.mined.len(), 12);
    assert_eq!(store.digest_count(), 12);

    // Nothing new: nothing to read, nothing to mine.
    let idle = dream(&store, &team, &Dreamer::Offline, &catalog)
        .await
        .unwrap();
    assert!(idle.run.sessions.is_empty() && idle.run.mined.is_empty());
    assert!(idle.proposals.is_empty());
    assert!(
        idle.why_nothing[0].starts_with("No session is new since the last dream"),
        "{:?}",
        idle.why_nothing
    );

    // A cached digest in a format this build does not write is digested again.
    let stale = second.run.mined[0];
    store
        .put_digest(
            stale.to_bytes(),
            &serde_json::json!({"version": 0, "digest": null}),
        )
        .unwrap();
    let newest = run(&store, &spec, 2, 13).await;
    let third = dream(&store, &team, &Dreamer::Offline, &catalog)
        .await
        .unwrap();
    let digested: BTreeSet<SessionId> = third.run.sessions.iter().copied().collect();
    assert_eq!(digested, BTreeSet::from([stale, newest]));
    assert_eq!(third.run.cached, 11);

    // A rescan reads every session again and mines the whole history; the same history
    // proposes nothing it has not proposed (no duplicates).
    let pending = claims(&store);
    let rescan = dream_with(
        &store,
        &team,
        &Dreamer::Offline,
        &catalog,
        DreamOptions {
            rescan: true,
            ..DreamOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(rescan.run.rescan);
    assert_eq!(
        (
            rescan.run.considered.len(),
            rescan.run.sessions.len(),
            rescan.run.cached
        ),
        (0, 13, 0)
    );
    assert_eq!(rescan.run.mined.len(), 13);
    assert!(rescan.proposals.is_empty(), "{:?}", rescan.proposals);
    // A dream that proposes nothing says why: what is on record, and the nearest
    // candidates with the evidence they lack.
    assert!(
        rescan.why_nothing[0].contains("already on record"),
        "{:?}",
        rescan.why_nothing
    );
    let nearest: Vec<&String> = rescan
        .why_nothing
        .iter()
        .filter(|l| l.starts_with("Nearest candidate: ") && l.contains(": needs "))
        .collect();
    assert!(!nearest.is_empty(), "{:?}", rescan.why_nothing);
    let events = store.events(rescan.run.session).unwrap();
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        lucid_core::event::EventKind::Text { text } if text == nearest[0]
    )));
    assert!(rescan.run.withdrawn.is_empty());
    assert_eq!(claims(&store), pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_of_n_sessions_mines_the_latest_n() {
    let dir = tempfile::tempdir().unwrap();
    let spec = lumara();
    let windowed = open(&dir, "windowed");
    let mut ids = Vec::new();
    for seed in 1..=24 {
        ids.push(run(&windowed, &spec, 2, seed).await);
    }
    let options = DreamOptions {
        history: HistoryWindow::Sessions(4),
        rescan: false,
    };
    let report = dream_with(
        &windowed,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
        options,
    )
    .await
    .unwrap();
    assert_eq!(report.run.history, HistoryWindow::Sessions(4));
    assert_eq!(report.run.mined, ids[20..].to_vec());
    assert_eq!(
        report.run.considered.len(),
        24,
        "every new session is read for the schedule"
    );
    // Four missions are too few for any rule the whole history shows.
    assert!(
        report.proposals.iter().all(|m| m.rules.is_empty()),
        "{:?}",
        report
            .proposals
            .iter()
            .map(|m| &m.title)
            .collect::<Vec<_>>()
    );
    let everything = dream_with(
        &windowed,
        &spec.team,
        &Dreamer::Offline,
        &lucid_envs::catalog(),
        DreamOptions {
            rescan: true,
            ..DreamOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(everything.run.mined.len(), 24);
    assert!(
        everything.proposals.iter().any(|m| !m.rules.is_empty()),
        "the whole history does show rules"
    );
}

fn lucid(db: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn lucid_dream_says_what_it_mined_and_rescans_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    for seed in ["1", "2", "2"] {
        let run = [
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--quiet",
            "--seed",
            seed,
        ];
        assert!(matches!(lucid(&db, &run).status.code(), Some(0 | 1)));
    }
    let first = stdout(&lucid(&db, &["dream"]));
    assert!(
        first.contains("· 3 new session(s) · 2 mission(s) mined ·"),
        "{first}"
    );
    assert!(
        first.contains(
            "history all: 2 digested now, 0 from the cache; 1 repeat run(s) of a mission set aside"
        ),
        "{first}"
    );
    // Two missions teach nothing yet, and the dream says what evidence is missing.
    assert!(
        first.contains("  nothing new to propose\n  - Nearest candidate: `clear_ground` failed at the first attempt in 1 of 1 mission(s) where")
            && first.contains("it needs more missions elsewhere to compare with"),
        "{first}"
    );
    let idle = stdout(&lucid(&db, &["dream"]));
    assert!(
        idle.contains("nothing to dream about") && idle.contains("--rescan"),
        "{idle}"
    );

    let rescan = stdout(&lucid(
        &db,
        &["dream", "--rescan", "--history", "2", "--json"],
    ));
    let reports: serde_json::Value = serde_json::from_str(&rescan).unwrap();
    let run = &reports[0]["run"];
    assert_eq!(run["rescan"], true);
    assert_eq!(run["history"], "2");
    // The latest two sessions are two runs of seed 2: one mission.
    assert_eq!(run["mined"].as_array().unwrap().len(), 1, "{run:#}");
    assert_eq!(run["repeats"], 1);

    let bad = lucid(&db, &["dream", "--history", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("a history of 0 sessions"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let help = stdout(&lucid(&db, &["dream", "--help"]));
    assert!(
        help.contains("--rescan") && help.contains("--history <WINDOW>"),
        "{help}"
    );
}
