//! Standard output for every command, written in one place. A reader that has gone (as in
//! `lucid sessions list | head -1`) closes the pipe: the first write that finds it closed
//! stops all further output quietly, and the command ends with the exit code it would have
//! had, instead of panicking as `println!` does. Other write errors (a full disk) are said
//! once on stderr. Progress and errors go to stderr and are not this module's.

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
