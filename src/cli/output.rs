//! Standard output for every command, written in one place. A reader that has gone (as in
//! `lucid sessions list | head -1`) closes the pipe: the first write that finds it closed
//! stops all further output quietly, and the command ends with the exit code it would have
//! had, instead of panicking as `println!` does. Other write errors (a full disk) are said
//! once on stderr. Progress and errors go to stderr and are not this module's. A record
//! printed by `--json` carries its short id next to its full one ([`WithShortId`]).

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output cannot be written any more.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to standard output, unless it is already closed.
pub fn write(args: fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = io::stdout().lock();
    if let Err(err) = stdout.write_fmt(args) {
        if !CLOSED.swap(true, Ordering::Relaxed) && err.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("lucid: cannot write to standard output: {err}");
        }
    }
}

/// `println!` that stops quietly when the reader has gone.
macro_rules! outln {
    () => {
        $crate::cli::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that stops quietly when the reader has gone.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!($($arg)*))
    };
}

/// A record as `--json` prints it: its own fields (the full `id` among them), and
/// `short_id`, what a person types.
#[derive(serde::Serialize)]
pub struct WithShortId<'a, T> {
    #[serde(flatten)]
    pub record: &'a T,
    pub short_id: lucid_core::event::ShortId,
}

/// Records as a pretty JSON array, each with its short id (`short_id_of` reads it).
pub fn json_with_short_ids<T: serde::Serialize>(
    records: &[T],
    short_id_of: impl Fn(&T) -> lucid_core::event::ShortId,
) -> serde_json::Result<String> {
    let records: Vec<WithShortId<'_, T>> = records
        .iter()
        .map(|record| WithShortId {
            record,
            short_id: short_id_of(record),
        })
        .collect();
    serde_json::to_string_pretty(&records)
}
