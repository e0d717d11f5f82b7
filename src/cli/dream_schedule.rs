//! Where `lucid dream` dreams, and when. When no lucid serves the store, the dream runs
//! here with the store open only for the dream, and served meanwhile as every holder
//! serves it, so a run or a `lucid memory` started then becomes a client instead of being
//! refused; runs started through it finish before the store is let go (and newcomers are
//! served until then). When another
//! lucid holds and serves the store, the dream runs in that owner (`POST /v1/dreams`)
//! and the report prints the same.
//!
//! A single dream that finds the owner letting the store go (or no longer listening)
//! waits for the store, as `lucid run` does. `--every` repeats the dream
//! per tick (open, dream, close, sleep), so between ticks the store is free for anyone to
//! take. A tick that finds the store held by a lucid that does not serve it, or its owner
//! going away or letting the store go, says so and tries again at the next tick; a dream
//! that fails, or a bad request, ends the schedule with its exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::dream::{dream_once, print_reports};
use super::{exit, Opened};
use lucid_core::dream::{DreamOptions, DreamReport, Dreamer};
use lucid_core::event::sanitize;
use lucid_core::spec::HistoryWindow;
use lucid_core::store::{Store, StoreError};
use lucid_server::client::{Client, ClientError};
use lucid_server::CreateDream;

/// What to dream, as the command line asked.
pub(super) struct Dreaming {
    pub team: Option<String>,
    /// The session file naming the dreamer (absolute, for an owner elsewhere).
    pub spec: Option<PathBuf>,
    /// The dreamer when the dream runs here.
    pub dreamer: Dreamer,
    /// The window and rescan when the dream runs here (the session file's window, or
    /// `--history`).
    pub options: DreamOptions,
    /// `--history`, for an owner that reads the session file's window itself.
    pub history_flag: Option<HistoryWindow>,
    pub json: bool,
}

/// Who can dream over the store right now.
enum Holder {
    /// Nobody: this process opened it.
    Here(Store),
    /// A lucid that serves it.
    Owner(Client),
    /// A lucid that holds it without serving it (why, in the store's words).
    Busy(StoreError),
}

/// Finds who holds the store at `path`; the error is an exit code, already reported.
fn holder(path: &Path) -> Result<Holder, u8> {
    match super::locate(path) {
        Ok(Opened::Store(store)) => Ok(Holder::Here(store)),
        Ok(Opened::Owner(client)) => Ok(Holder::Owner(client)),
        Err(err @ StoreError::Locked { .. }) => Ok(Holder::Busy(err)),
        Err(err) => {
            say!("lucid: {err}");
            Err(exit::RUNTIME)
        }
    }
}

/// Dreams in the store this process opened, serving it meanwhile; the store is let go
/// when this returns.
async fn here(store: Store, dreaming: &Dreaming) -> u8 {
    let served = match lucid_server::start(store.clone(), lucid_envs::worlds()) {
        Ok(served) => Some(served),
        Err(err) => {
            say!(
                "lucid: {}; other lucid commands cannot use the store during this dream",
                sanitize(&err.to_string())
            );
            None
        }
    };
    let code = {
        let _turn = lucid_server::dreams::one_at_a_time().await;
        dream_once(
            &store,
            dreaming.team.as_deref(),
            &dreaming.dreamer,
            dreaming.options,
            dreaming.json,
        )
        .await
    };
    if let Some(served) = served {
        // Runs that came in meanwhile finish first; until then newcomers are still
        // served rather than refused.
        let registry = served.registry().clone();
        if !registry.is_empty() {
            say!(
                "lucid: waiting for {} run(s) started through this lucid to finish",
                registry.len()
            );
        }
        served.let_go().await;
    }
    code
}

/// Asks the owner to dream.
async fn through(client: &Client, dreaming: &Dreaming) -> Result<Vec<DreamReport>, ClientError> {
    let request = CreateDream {
        team: dreaming.team.clone(),
        spec: dreaming.spec.clone(),
        rescan: dreaming.options.rescan,
        history: dreaming.history_flag,
    };
    client.dream(&request).await
}

/// Whether the owner never acted on a dream asked of it, so it can be asked for again:
/// the request reached no owner, or the owner refused it because it is letting the store
/// go (the store is about to be free, or served anew).
fn never_acted_on(err: &ClientError) -> bool {
    matches!(
        err,
        ClientError::NotConnected { .. } | ClientError::Refused { status: 503, .. }
    )
}

/// `lucid dream`: one dream, here or through the owner. An owner that is letting the
/// store go (or stopped listening) is waited out, as `lucid run` waits for it.
pub(super) async fn once(path: &Path, dreaming: &Dreaming) -> u8 {
    let mut attempts = 0;
    loop {
        match holder(path) {
            Ok(Holder::Here(store)) => return here(store, dreaming).await,
            Ok(Holder::Owner(client)) => match through(&client, dreaming).await {
                Ok(reports) => return print_reports(&reports, dreaming.json),
                // Only a request the owner never acted on is sent again.
                Err(err) if never_acted_on(&err) => {
                    if attempts >= super::run::HANDOVER_ATTEMPTS {
                        say!("lucid: the lucid holding the store keeps letting it go; try again");
                        return exit::RUNTIME;
                    }
                }
                Err(err) => return report(&err),
            },
            // Mid hand-over the old owner may hold the store a moment after it stopped
            // listening.
            Ok(Holder::Busy(err)) if attempts == 0 || attempts >= super::run::HANDOVER_ATTEMPTS => {
                say!("lucid: {err}");
                return exit::RUNTIME;
            }
            Ok(Holder::Busy(_)) => {}
            Err(code) => return code,
        }
        attempts += 1;
        tokio::time::sleep(super::run::HANDOVER_PAUSE).await;
    }
}

fn report(err: &ClientError) -> u8 {
    let (code, message) = super::remote::failure(err);
    say!("lucid: {message}");
    code
}

/// `lucid dream --every DURATION`: a dream per tick until Ctrl-C, never holding the store
/// between ticks.
pub(super) async fn every(path: &Path, dreaming: &Dreaming, every: Duration) -> u8 {
    say!("dreaming every {}s; Ctrl-C stops", every.as_secs());
    // Ctrl-C during a tick's dream lets the dream finish, then stops.
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let code = match holder(path) {
            Ok(Holder::Here(store)) => here(store, dreaming).await,
            Ok(Holder::Owner(client)) => match through(&client, dreaming).await {
                Ok(reports) => print_reports(&reports, dreaming.json),
                // The next tick asks again, even after a connection that broke: the
                // dream there either happened or did not, and a dream reads only
                // sessions no dream has read.
                Err(err)
                    if never_acted_on(&err) || matches!(err, ClientError::Unreachable { .. }) =>
                {
                    let why = match err {
                        ClientError::Refused { .. } => {
                            "the lucid serving the store is letting it go".to_string()
                        }
                        other => sanitize(&other.to_string()),
                    };
                    say!("lucid: {why}; dreaming again in {}s", every.as_secs());
                    exit::OK
                }
                Err(err) => report(&err),
            },
            Ok(Holder::Busy(err)) => {
                say!(
                    "lucid: {}; it is not served, so dreaming again in {}s",
                    sanitize(&err.to_string()),
                    every.as_secs()
                );
                exit::OK
            }
            Err(code) => code,
        };
        if code != exit::OK {
            return code;
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = &mut stop => {
                say!("stopped");
                return exit::OK;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dream_no_owner_acted_on_is_asked_for_again() {
        let path = PathBuf::from("/store/lucid.sock");
        let refused = |status| ClientError::Refused {
            status,
            message: String::new(),
        };
        let not_connected = ClientError::NotConnected {
            path: path.clone(),
            message: String::new(),
        };
        // The owner is letting the store go, or nobody took the request.
        assert!(never_acted_on(&refused(503)));
        assert!(never_acted_on(&not_connected));
        // The owner may have dreamt, or said no for good.
        let unreachable = ClientError::Unreachable {
            path,
            message: String::new(),
        };
        assert!(!never_acted_on(&unreachable));
        for status in [400, 404, 409, 500] {
            assert!(!never_acted_on(&refused(status)), "{status}");
        }
    }
}
