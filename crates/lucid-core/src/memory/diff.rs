//! A line diff between two texts (longest common subsequence), for comparing versions.

/// The largest comparison table a diff builds (about 32 MiB).
const MAX_TABLE_CELLS: usize = 4_000_000;

/// One line of a diff (as JSON: `{"same": line}`, `{"added": line}` or `{"removed": line}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

impl DiffLine {
    /// The line with a `+`, `-` or space in front, as in a unified diff.
    pub fn render(&self) -> String {
        match self {
            DiffLine::Same(line) => format!("  {line}"),
            DiffLine::Added(line) => format!("+ {line}"),
            DiffLine::Removed(line) => format!("- {line}"),
        }
    }
}

/// The lines of `before` and `after`, marked as kept, added or removed.
pub fn diff_lines(before: &str, after: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // The table is |a|·|b| cells; past this, show the change as a whole replacement
    // rather than risk the memory.
    if a.len().saturating_mul(b.len()) > MAX_TABLE_CELLS {
        let mut out: Vec<DiffLine> = a.iter().map(|l| DiffLine::Removed(l.to_string())).collect();
        out.extend(b.iter().map(|l| DiffLine::Added(l.to_string())));
        return out;
    }
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(DiffLine::Same(a[i].to_string()));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(DiffLine::Removed(a[i].to_string()));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j].to_string()));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| DiffLine::Removed(l.to_string())));
    out.extend(b[j..].iter().map(|l| DiffLine::Added(l.to_string())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_show_as_removed_then_added() {
        let diff = diff_lines("title\nold body\nend", "title\nnew body\nend\nmore");
        let rendered: Vec<String> = diff.iter().map(DiffLine::render).collect();
        assert_eq!(
            rendered,
            ["  title", "- old body", "+ new body", "  end", "+ more"]
        );
        assert!(diff_lines("same", "same")
            .iter()
            .all(|l| matches!(l, DiffLine::Same(_))));
    }
}
