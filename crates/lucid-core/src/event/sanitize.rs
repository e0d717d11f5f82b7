//! Untrusted text (model output, tool results) made safe for a terminal.

/// Removes terminal control sequences and control characters, keeping newlines and tabs.
/// ESC-introduced sequences (CSI, OSC, single-character escapes) are dropped whole, so
/// neither colours nor cursor moves nor title changes reach the screen.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \)
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                // nF escapes: intermediates 0x20–0x2F, then one final byte (ESC ( B).
                Some(' '..='/') => {
                    for c in chars.by_ref() {
                        if !(' '..='/').contains(&c) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            // C1 control characters, including the 8-bit CSI.
            '\u{80}'..='\u{9f}' => {}
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Cuts text to at most `max` characters on one line, marking the cut with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = sanitize(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        assert_eq!(sanitize("a\u{1b}(Bb\u{1b}#8c"), "abc");
        let evil = "ok\u{1b}[2J\u{1b}[31mred\u{1b}[0m \u{1b}]0;pwned\u{7}title\u{1b}]8;;http://x\u{1b}\\link\u{9b}\r\nnext\u{0}\u{8}";
        assert_eq!(sanitize(evil), "okred titlelink\nnext");
    }

    #[test]
    fn one_line_flattens_and_cuts() {
        assert_eq!(one_line("a\n b\tc", 10), "a b c");
        assert_eq!(one_line("abcdefghij", 5), "abcd…");
    }
}
