//! `lucid replay ID --headless`: a recorded session's progress lines, as `run --headless`
//! printed them while it ran, on stdout (the TUI replay is `lucid replay ID`).

use std::path::PathBuf;

use super::headless::ProgressFormatter;
use super::{exit, open_or_owner, Opened};
use lucid_core::event::{sanitize, Event};

/// Prints the session's progress lines; the exit code says whether it could be read.
pub async fn headless(db: Option<PathBuf>, id: &str) -> u8 {
    let events = match open_or_owner(db) {
        Ok(Opened::Store(store)) => super::sessions::session_events(&store, id),
        Ok(Opened::Owner(client)) => super::remote::record(&client, id).await,
        Err(code) => return code,
    };
    match events {
        Ok((_, events)) => {
            print_progress(&events);
            exit::OK
        }
        Err((code, message)) => {
            say!("lucid: {message}");
            code
        }
    }
}

/// Every line the headless printer would have shown for these events, cleaned.
fn print_progress(events: &[Event]) {
    let mut formatter = ProgressFormatter::default();
    for event in events {
        if let Some(line) = formatter.line(event) {
            outln!("{}", sanitize(&line));
        }
    }
}
