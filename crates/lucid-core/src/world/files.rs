//! The parts of the file tools that the workspace and project environments share: showing
//! a text as numbered lines, and searching files line by line. Path confinement is in
//! `paths`; which folder a tool works in, and what it records, is each environment's.

use regex::Regex;
use serde::Deserialize;

/// Why a range of lines cannot be shown or a search pattern cannot be used; the
/// sentence is the tool error the model reads.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FileToolError {
    #[error("`{name}` has {total} lines; start_line {start} is past its end")]
    PastTheEnd {
        name: String,
        total: usize,
        start: usize,
    },
    #[error("end_line {end} is before start_line {start}")]
    EndBeforeStart { start: usize, end: usize },
    #[error("`{pattern}` is not a valid regular expression: {}", last_line(.source))]
    BadPattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
}

/// The regex crate's message ends with its one-line reason, after a picture of the
/// pattern.
fn last_line(err: &regex::Error) -> String {
    err.to_string().lines().last().unwrap_or("").to_string()
}

/// `read_file`'s arguments.
#[derive(Deserialize)]
pub struct ReadArgs {
    pub path: String,
    #[serde(default)]
    pub start_line: Option<usize>,
    #[serde(default)]
    pub end_line: Option<usize>,
}

/// `search`'s arguments.
#[derive(Deserialize)]
pub struct SearchArgs {
    pub pattern: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub max_results: Option<usize>,
}

/// Lines one `read_file` call shows at most.
pub const MAX_LINES_PER_READ: usize = 400;
/// Characters of a matching line a search shows.
const MATCH_CHARS: usize = 200;

/// `text` (the file `name`) as numbered lines `start..=end` (1-based; `end` defaults to a
/// page), with a note on what remains. Returns the text and the range shown.
pub fn numbered(
    name: &str,
    text: &str,
    start_line: Option<usize>,
    end_line: Option<usize>,
) -> Result<(String, (usize, usize)), FileToolError> {
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    if total == 0 {
        return Ok((format!("{name} is empty (0 lines)."), (1, 0)));
    }
    let start = start_line.unwrap_or(1).max(1);
    if start > total {
        return Err(FileToolError::PastTheEnd {
            name: name.to_string(),
            total,
            start,
        });
    }
    let end = end_line
        .unwrap_or(start + MAX_LINES_PER_READ - 1)
        .min(total);
    if end < start {
        return Err(FileToolError::EndBeforeStart { start, end });
    }
    let end = end.min(start + MAX_LINES_PER_READ - 1);
    let width = end.to_string().len().max(4);
    let mut out = format!("{name}, lines {start}-{end} of {total}:\n");
    for (number, line) in lines.iter().enumerate().take(end).skip(start - 1) {
        out.push_str(&format!("{:>width$} | {line}\n", number + 1));
    }
    let cut = end_line.is_none_or(|wanted| wanted > end);
    if end < total && cut {
        out.push_str(&format!(
            "… lines {}-{total} remain; call read_file with start_line {}.\n",
            end + 1,
            end + 1
        ));
    }
    Ok((out.trim_end().to_string(), (start, end)))
}

/// What a search found: at most `limit` lines shown of `total` matches.
#[derive(Default)]
pub struct SearchHits {
    pub shown: Vec<String>,
    pub total: usize,
    pub searched: usize,
}

impl SearchHits {
    pub fn new() -> Self {
        SearchHits::default()
    }

    /// Searches one file's text, line by line.
    pub fn scan(&mut self, path: &str, text: &str, regex: &Regex, limit: usize) {
        self.searched += 1;
        for (number, line) in text.lines().enumerate() {
            if regex.is_match(line) {
                self.total += 1;
                if self.shown.len() < limit {
                    let shown: String = line.trim().chars().take(MATCH_CHARS).collect();
                    self.shown.push(format!("{path}:{}: {shown}", number + 1));
                }
            }
        }
    }

    /// The answer a model reads.
    pub fn render(&self, pattern: &str) -> String {
        let files = |n: usize| if n == 1 { "file" } else { "files" };
        if self.total == 0 {
            return format!(
                "No matches for `{pattern}` in {} {}.",
                self.searched,
                files(self.searched)
            );
        }
        let mut out = format!(
            "{} match{} for `{pattern}` in {} {}:\n{}",
            self.total,
            if self.total == 1 { "" } else { "es" },
            self.searched,
            files(self.searched),
            self.shown.join("\n")
        );
        if self.total > self.shown.len() {
            out.push_str(&format!(
                "\n… {} more; narrow the pattern or the path.",
                self.total - self.shown.len()
            ));
        }
        out
    }
}

/// A search pattern compiled with bounds, or why it is not one.
pub fn pattern(text: &str) -> Result<Regex, FileToolError> {
    regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .build()
        .map_err(|source| FileToolError::BadPattern {
            pattern: text.to_string(),
            source,
        })
}
