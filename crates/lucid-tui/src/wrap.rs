//! Fitting text to a width in terminal cells: wrapping on word boundaries (a word wider
//! than the width is broken) and cutting with `…`, both by display width, so CJK and
//! emoji (two cells) and combining marks (none) line up. Wrapping is textwrap's.

use textwrap::core::display_width;

/// `text` wrapped to rows of at most `width` cells; an empty text is one empty row. An
/// indented line keeps its indentation on every row (while it leaves room for text).
pub fn rows(text: &str, width: usize) -> Vec<String> {
    if display_width(text) <= width {
        return vec![text.to_string()];
    }
    let indent_len = text.len() - text.trim_start_matches(' ').len();
    let indent = if indent_len * 2 < width {
        &text[..indent_len]
    } else {
        ""
    };
    let options = textwrap::Options::new(width.max(1))
        .break_words(true)
        .subsequent_indent(indent);
    let out: Vec<String> = textwrap::wrap(text, options)
        .into_iter()
        .map(|row| row.into_owned())
        .collect();
    if out.is_empty() {
        vec![String::new()]
    } else {
        out
    }
}

/// How many rows [`rows`] makes, without building them when the text fits.
pub fn height(text: &str, width: usize) -> usize {
    if display_width(text) <= width {
        1
    } else {
        rows(text, width).len()
    }
}

/// `text` cut to at most `width` cells, ending in `…` when something was cut.
pub fn cut(text: &str, width: usize) -> String {
    if display_width(text) <= width {
        return text.to_string();
    }
    let room = width.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let w = display_width(c.encode_utf8(&mut buf));
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_on_words_by_display_width() {
        assert_eq!(
            rows("the lander touched down at site D", 12),
            ["the lander", "touched down", "at site D"]
        );
        // Two cells a character: six characters fill twelve cells.
        let cjk = "着陆器在D点着陆了成功";
        let wrapped = rows(cjk, 12);
        assert!(
            wrapped.iter().all(|r| display_width(r) <= 12),
            "{wrapped:?}"
        );
        assert_eq!(wrapped.concat(), cjk);
        assert_eq!(wrapped[0], "着陆器在D点");
        let emoji = "ok 🚀🚀🚀 landed";
        assert!(rows(emoji, 6).iter().all(|r| display_width(r) <= 6));
        assert_eq!(rows("", 10), [""]);
        assert_eq!(rows("    one two three", 12), ["    one two", "    three"]);
        assert_eq!(height("short", 10), 1);
    }

    #[test]
    fn cuts_by_display_width_and_marks_the_cut() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut("着陆器在", 5), "着陆…");
        assert!(display_width(&cut("着陆器在", 5)) <= 5);
    }
}
