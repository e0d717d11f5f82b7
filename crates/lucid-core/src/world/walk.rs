//! Walking a folder tree through folder handles: every folder is opened beneath its
//! parent without following links, so a folder swapped for a link while the walk runs is
//! skipped instead of entered. Optionally honours `.gitignore` files (those inside the
//! tree, nearest first), never enters `.git`, and leaves out the subtrees it is told to.
//!
//! The walk lists files and links by their `/`-separated path relative to the tree's root;
//! opening them is the caller's, through the same [`Beneath`] handle.

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::world::beneath::{Beneath, EntryKind, Opened};

/// Largest `.gitignore` read, in bytes.
const MAX_GITIGNORE_BYTES: u64 = 256 * 1024;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions<'a> {
    /// Honour `.gitignore` files inside the tree.
    pub gitignore: bool,
    /// Subtrees (or files) left out, relative to the root.
    pub skip: &'a [String],
    /// Most entries listed; the walk says when it stopped there.
    pub limit: usize,
}

/// A file or link the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    pub path: String,
    pub link: bool,
}

/// Every file and link under `start` (a path relative to `root`; empty for the root),
/// sorted by path. The flag says whether the listing was cut at the limit.
pub fn walk(root: &Beneath, start: &str, options: &WalkOptions<'_>) -> (Vec<Walked>, bool) {
    let mut out = Vec::new();
    let Ok(first) = root.folder(start) else {
        return (out, false);
    };
    let ignores = if options.gitignore {
        gitignores_above(root, start)
    } else {
        Vec::new()
    };
    let mut pending = vec![(first, start.to_string(), ignores)];
    let mut cut = false;
    'walk: while let Some((folder, prefix, mut ignores)) = pending.pop() {
        if options.gitignore {
            if let Some(own) = gitignore_of(&folder, &prefix) {
                ignores.push(own);
            }
        }
        let Ok(entries) = folder.entries() else {
            continue;
        };
        for entry in entries {
            if entry.name == ".git" {
                continue;
            }
            let name = entry.name.to_string_lossy();
            let path = if prefix.is_empty() {
                name.into_owned()
            } else {
                format!("{prefix}/{name}")
            };
            if options.skip.contains(&path) {
                continue;
            }
            let is_folder = entry.kind == EntryKind::Folder;
            if ignored(&ignores, &path, is_folder) {
                continue;
            }
            match entry.kind {
                EntryKind::Folder => {
                    // Swapped for a link since it was listed: not entered.
                    if let Ok(sub) = folder.subfolder(&entry.name) {
                        pending.push((sub, path, ignores.clone()));
                    }
                }
                EntryKind::File | EntryKind::Link => {
                    if out.len() >= options.limit {
                        cut = true;
                        break 'walk;
                    }
                    out.push(Walked {
                        path,
                        link: entry.kind == EntryKind::Link,
                    });
                }
                EntryKind::Other => {}
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    (out, cut)
}

/// Whether the nearest `.gitignore` with an opinion ignores `path`.
fn ignored(ignores: &[std::sync::Arc<Gitignore>], path: &str, is_folder: bool) -> bool {
    let virtual_path = virtual_path(path);
    for ignore in ignores.iter().rev() {
        let found = ignore.matched(&virtual_path, is_folder);
        if found.is_ignore() {
            return true;
        }
        if found.is_whitelist() {
            return false;
        }
    }
    false
}

/// Paths are matched as if the tree's root were `/`, so that each `.gitignore` strips
/// its own folder off.
fn virtual_path(relative: &str) -> PathBuf {
    Path::new("/").join(relative)
}

/// The `.gitignore` files of the folders from the root down to `start` (not `start`'s
/// own, which the walk reads when it enters it).
fn gitignores_above(root: &Beneath, start: &str) -> Vec<std::sync::Arc<Gitignore>> {
    let mut out = Vec::new();
    let mut prefix = String::new();
    let parts: Vec<&str> = start.split('/').filter(|p| !p.is_empty()).collect();
    for part in parts {
        if let Ok(folder) = root.folder(&prefix) {
            if let Some(own) = gitignore_of(&folder, &prefix) {
                out.push(own);
            }
        }
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
    }
    out
}

/// The `.gitignore` of `folder` (at `prefix` under the root), if it has one.
fn gitignore_of(folder: &Beneath, prefix: &str) -> Option<std::sync::Arc<Gitignore>> {
    let Ok(Opened::File(file)) = folder.open_path(".gitignore") else {
        return None;
    };
    if file.size > MAX_GITIGNORE_BYTES {
        return None;
    }
    let text = file.text().ok()?;
    let mut builder = GitignoreBuilder::new(virtual_path(prefix));
    for line in text.lines() {
        let _ = builder.add_line(None, line);
    }
    builder.build().ok().map(std::sync::Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::beneath::Links;

    fn paths(found: &[Walked]) -> Vec<&str> {
        found.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn gitignores_nearest_first_skips_and_links_as_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for folder in ["src/gen", ".git", "target", "keep"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        std::fs::write(root.join(".gitignore"), "*.log\ntarget/\n").unwrap();
        std::fs::write(root.join("src/.gitignore"), "!wanted.log\ngen/\n").unwrap();
        for file in [
            "a.txt",
            "x.log",
            "src/lib.rs",
            "src/wanted.log",
            "src/other.log",
            "src/gen/out.rs",
            ".git/HEAD",
            "target/t",
            "keep/k.txt",
        ] {
            std::fs::write(root.join(file), "x").unwrap();
        }
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let tree = Beneath::open(root, Links::Inside).unwrap();
        let skip = vec!["keep".to_string()];
        let options = WalkOptions {
            gitignore: true,
            skip: &skip,
            limit: 100,
        };
        let (found, cut) = walk(&tree, "", &options);
        assert!(!cut);
        assert_eq!(
            paths(&found),
            [
                ".gitignore",
                "a.txt",
                "link",
                "src/.gitignore",
                "src/lib.rs",
                "src/wanted.log"
            ]
        );
        assert!(found.iter().any(|f| f.path == "link" && f.link));
        // Started below the root, the root's .gitignore still holds.
        let (found, _) = walk(&tree, "src", &options);
        assert_eq!(
            paths(&found),
            ["src/.gitignore", "src/lib.rs", "src/wanted.log"]
        );
        let (found, cut) = walk(
            &tree,
            "",
            &WalkOptions {
                limit: 2,
                ..options
            },
        );
        assert!(cut);
        assert_eq!(found.len(), 2);
    }
}
