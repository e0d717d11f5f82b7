//! Server-sent events read off the bytes of a streamed answer, by the WHATWG rules a
//! model stream needs: the `event` and `data` fields (comments, `id`, `retry` and unknown
//! fields are skipped), lines ending in LF, CRLF or CR, a byte-order mark at the start
//! dropped, an event handed over at a blank line when it has data (its name `message`
//! when none was given), and an event the stream ends in the middle of dropped. Each line
//! must be UTF-8 (a character may be split across reads). A byte is copied at most once,
//! into a line cut across reads; nothing is re-scanned, however the reads are cut.

use std::str::Utf8Error;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What stopped a read: a line that is not UTF-8, or the handler's own error.
#[derive(Debug)]
pub enum SseError<E> {
    Utf8(Utf8Error),
    Event(E),
}

/// The parser's state between reads.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The bytes of the line being read, its end not seen yet.
    line: Vec<u8>,
    /// The last read ended a line with CR: a LF first thing in the next is that ending's.
    after_cr: bool,
    started: bool,
    event: String,
    data: String,
}

impl SseParser {
    /// Reads `bytes`, handing each event they complete to `on_event` (name, data), in
    /// order; stops at the first error.
    pub fn feed<E>(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(&str, &str) -> Result<(), E>,
    ) -> Result<(), SseError<E>> {
        let mut bytes = bytes;
        if !self.started {
            // The first bytes may be a BOM, maybe cut across reads: hold them in the line
            // until they are one or cannot be.
            let held = self.line.len();
            let take = bytes.len().min(BOM.len() - held);
            self.line.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if BOM.starts_with(&self.line) && self.line.len() < BOM.len() {
                return Ok(());
            }
            self.started = true;
            if self.line == BOM {
                self.line.clear();
            } else {
                // Not a BOM: what was held is the start of the first line; read it again.
                let start = std::mem::take(&mut self.line);
                self.lines(&start, &mut on_event)?;
            }
        }
        self.lines(bytes, &mut on_event)
    }

    /// Reads `bytes` past the start of the stream. Line ends are found with `memchr`; a
    /// line that lies whole in `bytes` is read where it lies, and only a line cut across
    /// reads is gathered in `self.line`.
    fn lines<E>(
        &mut self,
        bytes: &[u8],
        on_event: &mut impl FnMut(&str, &str) -> Result<(), E>,
    ) -> Result<(), SseError<E>> {
        let mut rest = bytes;
        // A CR that ended the last read: its LF may come first in this one (an empty
        // read decides nothing).
        if let Some(&first) = rest.first().filter(|_| self.after_cr) {
            self.after_cr = false;
            if first == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(at) = memchr::memchr2(b'\n', b'\r', rest) {
            if self.line.is_empty() {
                self.take_line(&rest[..at], on_event)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&rest[..at]);
                let taken = self.take_line(&line, on_event);
                line.clear();
                self.line = line;
                taken?;
            }
            let ending = rest[at];
            rest = &rest[at + 1..];
            if ending == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
        Ok(())
    }

    fn take_line<E>(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(&str, &str) -> Result<(), E>,
    ) -> Result<(), SseError<E>> {
        if line.is_empty() {
            return self.dispatch(on_event);
        }
        let line = std::str::from_utf8(line).map_err(SseError::Utf8)?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch<E>(
        &mut self,
        on_event: &mut impl FnMut(&str, &str) -> Result<(), E>,
    ) -> Result<(), SseError<E>> {
        if self.data.is_empty() {
            self.event.clear();
            return Ok(());
        }
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        let name = if self.event.is_empty() {
            "message"
        } else {
            &self.event
        };
        let handled = on_event(name, &self.data).map_err(SseError::Event);
        self.event.clear();
        self.data.clear();
        handled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events `reads` make, fed one read at a time.
    fn events(reads: &[&[u8]]) -> Vec<(String, String)> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for read in reads {
            parser
                .feed(read, |name, data| {
                    out.push((name.to_string(), data.to_string()));
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        out
    }

    fn pair(name: &str, data: &str) -> (String, String) {
        (name.to_string(), data.to_string())
    }

    #[test]
    fn fields_comments_and_every_line_ending() {
        let stream = b"\xEF\xBB\xBF: keep-alive\n\ndata: a\r\ndata:b\r\revent: ping\nid: 7\nretry: 10\nx: y\ndata\n\nevent: empty\n\ndata: {\"k\": \"v: w\"}\n\ndata: cut off";
        let want = vec![
            pair("message", "a\nb"),
            pair("ping", ""),
            pair("message", "{\"k\": \"v: w\"}"),
        ];
        assert_eq!(events(&[stream]), want);
        // The same bytes cut at every place, in two reads: the same events.
        for cut in 0..stream.len() {
            assert_eq!(
                events(&[&stream[..cut], &stream[cut..]]),
                want,
                "cut at {cut}"
            );
        }
        // A BOM cut across reads, before a first line of data.
        let bom_first = b"\xEF\xBB\xBFdata: x\n\n";
        for cut in 0..bom_first.len() {
            assert_eq!(
                events(&[&bom_first[..cut], &bom_first[cut..]]),
                vec![pair("message", "x")],
                "cut at {cut}"
            );
        }
        assert_eq!(events(&[b"d", b"ata: y\n\n"]), vec![pair("message", "y")]);
        // One byte a read: a CRLF and a multi-byte character split across reads.
        let bytes: Vec<&[u8]> = "data: é\r\n\r\n".as_bytes().chunks(1).collect();
        assert_eq!(events(&bytes), vec![pair("message", "é")]);
        // A CRLF split by an empty read is still one line ending.
        assert_eq!(
            events(&[b"data: a\r", b"", b"\ndata: b\n\n"]),
            vec![pair("message", "a\nb")]
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_and_a_handler_error_stop_the_read() {
        let mut parser = SseParser::default();
        let bad = parser.feed(b"data: \xFF\n\n", |_, _| Ok::<(), ()>(()));
        assert!(matches!(bad, Err(SseError::Utf8(_))));
        let mut parser = SseParser::default();
        let mut seen = 0;
        let stopped = parser.feed(b"data: 1\n\ndata: 2\n\n", |_, _| {
            seen += 1;
            Err("enough")
        });
        assert!(matches!(stopped, Err(SseError::Event("enough"))));
        assert_eq!(seen, 1);
    }
}
