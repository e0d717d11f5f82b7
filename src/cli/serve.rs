//! `lucid serve`: an owner of the store with no window. It serves the store on
//! `<store>/lucid.sock` until Ctrl-C or SIGTERM, then stops accepting, asks the live runs
//! to stop after the step in hand, waits for them, and removes the socket.

use std::path::PathBuf;

use super::exit;
use crate::server;
use crate::store::{Store, StoreError};

pub async fn serve(db: Option<PathBuf>) -> u8 {
    let path = db.unwrap_or_else(Store::default_path);
    let store = match Store::open(&path) {
        Ok(store) => store,
        Err(StoreError::Locked { .. }) if server::is_served(&path) => {
            eprintln!(
                "lucid: another lucid already serves the store at {} on {}; stop it first, or use another store with --db PATH",
                path.display(),
                server::socket_path(&path).display()
            );
            return exit::RUNTIME;
        }
        Err(err) => {
            eprintln!("lucid: {err}");
            return exit::RUNTIME;
        }
    };
    let mut server = match server::start(store) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("lucid: {err}");
            return exit::RUNTIME;
        }
    };
    eprintln!(
        "lucid: serving the store at {} on {} (Ctrl-C or SIGTERM stops)",
        path.display(),
        server.path().display()
    );
    if let Err(err) = stopped().await {
        eprintln!("lucid: cannot listen for Ctrl-C or SIGTERM: {err}");
    }
    server.stop_accepting();
    let registry = server.registry().clone();
    let live = registry.len();
    if live > 0 {
        eprintln!("lucid: stopping; {live} live run(s) stop after the step in hand (resume them with --resume)");
        registry.cancel_all();
        registry.wait_idle().await;
    }
    server.stop().await;
    exit::OK
}

/// Waits for Ctrl-C or SIGTERM.
async fn stopped() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = term.recv() => Ok(()),
    }
}
