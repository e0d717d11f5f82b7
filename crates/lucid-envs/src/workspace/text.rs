//! Reading text for the workspace's facts and scripted policies: `path:line` citations,
//! the conversation's tool exchanges, `TAG key=value` lines, and Markdown links.
//!
//! Everything here is tolerant: garbled text yields "nothing found", never a panic. This
//! module decides nothing; the episode and the policies do.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use lucid_core::model::ModelRequest;

/// `path/to/file.ext:12` (optionally `:12-14`), the way findings cite a location.
static CITATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z0-9_][A-Za-z0-9_./-]*\.[A-Za-z0-9]+):([0-9]+)(?:-[0-9]+)?").ok()
});

/// `[text](target)` in Markdown.
static LINK: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\[([^\]]*)\]\(([^)\s]+)(?:\s+[^)]*)?\)").ok());

/// A location a finding cites.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Citation {
    pub path: String,
    pub line: usize,
}

/// Every `path:line` citation in a text, in order. URLs (`https://host:443`) are not
/// citations.
pub(super) fn citations(text: &str) -> Vec<Citation> {
    let Some(re) = CITATION.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(text)
        .filter(|c| {
            let start = c.get(0).map_or(0, |m| m.start());
            !text[..start].ends_with("//") && !text[..start].ends_with('/')
        })
        .filter_map(|c| {
            Some(Citation {
                path: c.get(1)?.as_str().trim_start_matches("./").to_string(),
                line: c.get(2)?.as_str().parse().ok()?,
            })
        })
        .filter(|c| c.line > 0)
        .collect()
}

/// Every Markdown link of a line: (text, target).
pub(super) fn links(line: &str) -> Vec<(String, String)> {
    let Some(re) = LINK.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(line)
        .filter_map(|c| {
            Some((
                c.get(1)?.as_str().to_string(),
                c.get(2)?.as_str().to_string(),
            ))
        })
        .collect()
}

pub(super) use lucid_core::world::script::{
    answer, exchanges, first_user_text, turn_prefix, Exchange,
};

pub(super) fn has_tool(request: &ModelRequest, name: &str) -> bool {
    lucid_core::world::script::tool_spec(request, name).is_some()
}

/// The `enum` of a string property in an offered tool's input schema.
pub(super) fn schema_enum(request: &ModelRequest, tool: &str, property: &str) -> Vec<String> {
    lucid_core::world::script::tool_spec(request, tool)
        .map(|spec| lucid_core::world::script::schema_enum(spec, property))
        .unwrap_or_default()
}

/// The value of `KEY value…` on the first line starting with `KEY ` (e.g. `FILES a.md,b.md`).
pub(super) fn tagged_value(text: &str, tag: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(tag)?;
        rest.starts_with(char::is_whitespace)
            .then(|| rest.trim().to_string())
    })
}

/// `key=value` pairs of a line (values end at whitespace).
pub(super) fn pairs(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The numbered lines of a `read_file` result: (line number, text).
pub(super) fn numbered_lines(result: &str) -> Vec<(usize, String)> {
    result
        .lines()
        .filter_map(|line| {
            let (number, text) = line.split_once(" | ")?;
            let number = number.trim().parse().ok()?;
            Some((number, text.to_string()))
        })
        .collect()
}

/// Resolves a link target relative to the folder of `from`, lexically; `None` when it
/// climbs above the root.
pub(super) fn join_relative(from: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_name_files_and_lines_but_not_urls() {
        let found = citations(
            "- README.md:12 and docs/setup.md:3-5, see https://example.com:443/x.html:9 or `ops.md:7`.",
        );
        let cited: Vec<(String, usize)> = found.into_iter().map(|c| (c.path, c.line)).collect();
        assert_eq!(
            cited,
            vec![
                ("README.md".into(), 12),
                ("docs/setup.md".into(), 3),
                ("ops.md".into(), 7)
            ]
        );
    }

    #[test]
    fn links_and_relative_targets() {
        assert_eq!(
            links("See [the guide](guide/setup.md#top) and [site](https://x.io)."),
            vec![
                ("the guide".into(), "guide/setup.md#top".into()),
                ("site".into(), "https://x.io".into())
            ]
        );
        assert_eq!(join_relative("a/b.md", "../c.md"), Some("c.md".into()));
        assert_eq!(join_relative("b.md", "./x/y.md"), Some("x/y.md".into()));
        assert_eq!(join_relative("b.md", "../y.md"), None);
    }

    #[test]
    fn numbered_lines_and_tags() {
        let read = "a.md, lines 1-2 of 2:\n   1 | # Title\n   2 | text | with bar\n";
        assert_eq!(
            numbered_lines(read),
            vec![(1, "# Title".into()), (2, "text | with bar".into())]
        );
        assert_eq!(
            tagged_value("x\nFILES a.md,b.md\n", "FILES").as_deref(),
            Some("a.md,b.md")
        );
        assert_eq!(pairs("CLAIM key=port value=80")["value"], "80");
    }
}
