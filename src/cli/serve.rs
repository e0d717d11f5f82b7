//! `lucid serve`: an owner of the store with no window. It serves the store on
//! `<store>/lucid.sock` until Ctrl-C or SIGTERM, then stops accepting, asks the live runs
//! to stop after the step in hand, waits for them, and removes the socket. With
//! `--dream-every`, it dreams on that schedule for every team with sessions no dream has
//! read, while runs and other commands go on: a scheduled dream no longer holds the store
//! against them.

use std::path::PathBuf;
use std::time::Duration;

use super::exit;
use lucid_core::event::sanitize;
use lucid_core::store::{Store, StoreError};

pub async fn serve(db: Option<PathBuf>, dream_every: Option<Duration>) -> u8 {
    let path = db.unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    let store = match Store::open(&path) {
        Ok(store) => store,
        Err(StoreError::Locked { .. }) if lucid_server::is_served(&path) => {
            say!(
                "lucid: another lucid already serves the store at {} on {}; stop it first, or use another store with --db PATH",
                path.display(),
                lucid_server::socket_path(&path).display()
            );
            return exit::RUNTIME;
        }
        Err(err) => {
            say!("lucid: {err}");
            return exit::RUNTIME;
        }
    };
    let store_for_dreams = store.clone();
    let mut server = match lucid_server::start(store, lucid_envs::worlds()) {
        Ok(server) => server,
        Err(err) => {
            say!("lucid: {err}");
            return exit::RUNTIME;
        }
    };
    say!(
        "lucid: serving the store at {} on {} (Ctrl-C or SIGTERM stops)",
        path.display(),
        server.path().display()
    );
    let dreaming = dream_every.map(|every| {
        say!("lucid: dreaming every {}s", every.as_secs());
        tokio::spawn(dream_on_schedule(store_for_dreams.clone(), every))
    });
    if let Err(err) = stopped().await {
        say!("lucid: cannot listen for Ctrl-C or SIGTERM: {err}");
    }
    if let Some(dreaming) = dreaming {
        dreaming.abort();
    }
    server.stop_accepting();
    let registry = server.registry().clone();
    let live = registry.len();
    if live > 0 {
        say!("lucid: stopping; {live} live run(s) stop after the step in hand (resume them with --resume)");
        registry.cancel_all();
        registry.wait_idle().await;
    }
    server.stop().await;
    exit::OK
}

/// Every `every`, dreams (offline) for each team with sessions no dream has read, and
/// says on stderr what came of it. A failed dream is reported; the schedule goes on.
async fn dream_on_schedule(store: Store, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        // Not beside a dream a client asked for (POST /v1/dreams) over the same sessions.
        let _turn = lucid_server::dreams::one_at_a_time().await;
        let teams = match lucid_core::dream::teams_to_dream(&store) {
            Ok(teams) => teams,
            Err(err) => {
                say!("lucid: cannot tell which teams to dream for: {err}");
                continue;
            }
        };
        for team in teams {
            let dreamed = lucid_core::dream::dream(
                &store,
                &team,
                &lucid_core::dream::Dreamer::Offline,
                &lucid_envs::catalog(),
            )
            .await;
            match dreamed {
                Ok(report) => say!(
                    "lucid: dreamed for team {} over {} session(s): {} proposal(s) wait for review",
                    sanitize(&team),
                    report.run.sessions.len(),
                    report.proposals.len()
                ),
                Err(err) => say!(
                    "lucid: dreaming for team {} failed: {}",
                    sanitize(&team),
                    sanitize(&err.to_string())
                ),
            }
        }
    }
}

/// Waits for Ctrl-C or SIGTERM.
async fn stopped() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = term.recv() => Ok(()),
    }
}
