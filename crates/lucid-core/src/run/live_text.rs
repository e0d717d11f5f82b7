//! What live watchers see of a model turn while it streams: its text so far (with the
//! names and arguments of the tool calls it makes, as they arrive), as the
//! `TextDelta` events of [`LiveText::push`]. The process's secrets are redacted over the
//! whole text so far, not piece by piece, so a key cut across two pieces is still
//! recognised (what was shown is then rewritten from where it differs). The text is
//! bounded: past [`MAX_LIVE_TEXT`] bytes nothing more streams, and the turn's whole
//! `Text` event replaces the partial text anyway. Nothing here is recorded.

use std::borrow::Cow;

use crate::event::{redact, MAX_LIVE_TEXT};

/// One attempt's text so far.
#[derive(Debug, Default)]
pub(super) struct LiveText {
    /// The pieces as they came (bounded).
    raw: String,
    /// What watchers were shown, when it differs from `raw` (a secret was redacted).
    shown: Option<String>,
}

impl LiveText {
    /// Nothing has streamed yet.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// A new attempt (a retry): its text starts from nothing.
    pub fn restart(&mut self) {
        self.raw.clear();
        self.shown = None;
    }

    /// Adds a piece; what watchers must do to see the text so far: cut what they have at
    /// a byte offset, then add a string. `None` when nothing they see changes.
    pub fn push(&mut self, piece: &str) -> Option<(u64, String)> {
        let room = MAX_LIVE_TEXT.saturating_sub(self.raw.len());
        let mut cut = piece.len().min(room);
        while !piece.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            return None;
        }
        let before = self.raw.len();
        self.raw.push_str(&piece[..cut]);
        let now = match (redact(&self.raw), &self.shown) {
            // Nothing redacted, now or before: the piece is the change.
            (Cow::Borrowed(_), None) => return Some((before as u64, piece[..cut].to_string())),
            (now, _) => now.into_owned(),
        };
        let old = self.shown.as_deref().unwrap_or(&self.raw[..before]);
        let same = common_prefix(old, &now);
        let change = (same != old.len() || same != now.len())
            .then(|| (same as u64, now[same..].to_string()));
        self.shown = Some(now);
        change
    }
}

/// The length in bytes of the longest common prefix of two strings (a char boundary in
/// both).
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((at, _), _)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies deltas the way a live view does.
    fn apply(view: &mut String, (at, text): (u64, String)) {
        view.truncate(at as usize);
        view.push_str(&text);
    }

    #[test]
    fn pieces_stream_as_they_come_and_a_secret_cut_across_them_is_redacted_whole() {
        let secret = "sk-live-STREAM-9d8e7f6a5b";
        crate::event::register_secret(secret);
        let mut live = LiveText::default();
        let mut view = String::new();
        let text = format!("the key is {secret}, héllo");
        for piece in text.as_bytes().chunks(3) {
            // Pieces cut at char boundaries, as a provider sends them.
            let piece = String::from_utf8_lossy(piece).replace('\u{fffd}', "");
            if let Some(delta) = live.push(&piece) {
                apply(&mut view, delta);
            }
            assert!(
                !view.contains("STREAM-9d8"),
                "a tail of the key shows: {view}"
            );
        }
        assert!(view.starts_with("the key is [redacted], h"), "{view}");
        live.restart();
        assert_eq!(live.push("again"), Some((0, "again".to_string())));
    }

    #[test]
    fn the_text_is_bounded() {
        let mut live = LiveText::default();
        let mut view = String::new();
        for _ in 0..(MAX_LIVE_TEXT / 1000 + 5) {
            if let Some(delta) = live.push(&"é".repeat(500)) {
                apply(&mut view, delta);
            }
        }
        assert!(view.len() <= MAX_LIVE_TEXT && view.len() > MAX_LIVE_TEXT - 4);
        assert_eq!(live.push("more"), None);
    }
}
