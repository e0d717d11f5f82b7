//! The command line's one way to write a line on stderr: [`say!`] formats like
//! `eprintln!`, then cleans the line ([`lucid_core::event::clean`]: every form of the
//! process's secrets redacted, terminal control sequences removed) before it reaches the
//! terminal. Error sentences quote what servers, models, tools and files said, so no
//! line is written raw; a closed stderr is not an error worth stopping for.

use std::io::Write;

/// `eprintln!`, cleaned. Every line the command line writes on stderr goes through it.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say::line(&format!($($arg)*))
    };
}

/// Writes one cleaned line on stderr.
pub fn line(text: &str) {
    let text = lucid_core::event::clean(text);
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_cleaned() {
        lucid_core::event::register_secret("sk-say-test-123456789");
        assert_eq!(
            lucid_core::event::clean("a \u{1b}]52;c;eA==\u{7}SK-SAY-TEST-1234 b"),
            "a [redacted] b"
        );
    }
}
