//! Bounded capture of a child's output and the text a model sees.
//!
//! Owns [`Capture`] (head + tail of a byte stream within a fixed budget, with the total
//! counted) and [`CommandOutput`] with its `render()`. It does not read pipes or manage
//! processes (`spawn` does).

use std::collections::VecDeque;
use std::time::Duration;

use crate::event::sanitize;

/// The head and the tail of a stream, at most `max` bytes kept in all (half each), and the
/// total length seen. Memory stays bounded however much the child writes.
#[derive(Debug)]
pub struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_max: usize,
    tail_max: usize,
    total: u64,
}

impl Capture {
    /// A capture keeping at most `max` bytes: the first `max / 2` and the last `max - max / 2`.
    pub fn new(max: usize) -> Self {
        let head_max = max / 2;
        Capture {
            head: Vec::with_capacity(head_max.min(8192)),
            tail: VecDeque::new(),
            head_max,
            tail_max: max - head_max,
            total: 0,
        }
    }

    /// Takes the next chunk of the stream.
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.head_max - self.head.len();
        if room > 0 {
            let take = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if self.tail_max == 0 || bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.tail_max {
            self.tail.clear();
            bytes = &bytes[bytes.len() - self.tail_max..];
        } else {
            let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_max);
            self.tail.drain(..overflow);
        }
        self.tail.extend(bytes);
    }

    /// Bytes seen in all, before capping.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes dropped between head and tail.
    pub fn cut(&self) -> u64 {
        self.total - self.head.len() as u64 - self.tail.len() as u64
    }

    /// The kept text: lossily decoded UTF-8, sanitized (terminal control sequences removed),
    /// with a `[… N bytes cut …]` line where the middle was dropped. Head and tail are
    /// sanitized separately so an escape sequence cut in half cannot swallow the marker.
    pub fn text(&self) -> String {
        let head = sanitize(&String::from_utf8_lossy(&self.head));
        let cut = self.cut();
        if cut == 0 && self.tail.is_empty() {
            return head;
        }
        let (a, b) = self.tail.as_slices();
        let tail = sanitize(&String::from_utf8_lossy(&[a, b].concat()));
        if cut == 0 {
            return head + &tail;
        }
        let mut text = head;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[… {cut} bytes cut …]\n"));
        text.push_str(&tail);
        text
    }
}

/// What a finished (or stopped) command left behind.
///
/// `stdout` and `stderr` are already capped (see [`Capture`]) and sanitized, so they are
/// safe to show anywhere; `stdout_bytes`/`stderr_bytes` are the totals the child wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code, when the process exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended the process, if one did.
    pub signal: Option<i32>,
    /// The time limit ran out and the process group was killed.
    pub timed_out: bool,
    /// The caller cancelled and the process group was killed.
    pub cancelled: bool,
    /// Captured standard output (head and tail within the byte budget), sanitized.
    pub stdout: String,
    /// Captured standard error (head and tail within the byte budget), sanitized.
    pub stderr: String,
    /// Bytes written to standard output in all, before capping.
    pub stdout_bytes: u64,
    /// Bytes written to standard error in all, before capping.
    pub stderr_bytes: u64,
    /// Wall time from spawn to the end of the process.
    pub duration_ms: u64,
    /// The time limit the command ran under (for messages).
    pub timeout: Duration,
}

impl CommandOutput {
    /// True when the command exited with code 0 within its limits.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }

    /// The status line: `exit 0`, `exit 1`, `killed by signal 9`,
    /// `killed after 120 s (time limit)` or `cancelled`.
    pub fn status_line(&self) -> String {
        if self.cancelled {
            "cancelled".to_string()
        } else if self.timed_out {
            format!("killed after {} (time limit)", seconds(self.timeout))
        } else if let Some(code) = self.exit_code {
            format!("exit {code}")
        } else if let Some(signal) = self.signal {
            format!("killed by signal {signal}")
        } else {
            "ended without a status".to_string()
        }
    }

    /// The standard output a successful command's [`render`](Self::render)ing shows,
    /// read back from the rendered text (as recorded): `None` for any other text.
    pub fn stdout_of(rendered: &str) -> Option<&str> {
        let body = rendered.strip_prefix("exit 0\nstdout:\n")?;
        // `render` ends each section with a newline before the next one.
        Some(match body.split_once("\nstderr:\n") {
            Some((stdout, _)) => stdout.strip_suffix('\n').unwrap_or(stdout),
            None => body,
        })
    }

    /// What a model sees: the status line, then a `stdout:` and a `stderr:` section (each
    /// omitted when empty; `(no output)` when both are). Sanitized.
    pub fn render(&self) -> String {
        let mut text = self.status_line();
        for (name, body, total) in [
            ("stdout", &self.stdout, self.stdout_bytes),
            ("stderr", &self.stderr, self.stderr_bytes),
        ] {
            if total == 0 && body.is_empty() {
                continue;
            }
            text.push_str(&format!("\n{name}:\n"));
            text.push_str(&sanitize(body));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        if self.stdout_bytes == 0 && self.stderr_bytes == 0 {
            text.push_str("\n(no output)");
        }
        text.trim_end().to_string()
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
