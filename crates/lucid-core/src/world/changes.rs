//! Comparing a session's working folder with the project as it started, and carrying the
//! change over to the project (`lucid apply`).
//!
//! [`compare`] walks both trees (honouring `.gitignore` and the session's `exclude`,
//! never `.git`) and returns a [`ChangeSet`]: every added, modified or deleted file with
//! SHA-256 hashes of both sides, and a unified diff of the text changes, bounded in size.
//! [`apply`] writes the recorded change into the project only if every file it touches is
//! still as the session found it, and every changed file in the working folder is still as
//! recorded; otherwise it refuses and names the files. Symbolic links are compared and
//! carried as links (their target), never followed.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::event::{ChangeKind, FileChange};
use crate::world::beneath::{Beneath, Found, Links};
use crate::world::walk::{walk, WalkOptions};

/// Files and folders never copied or compared: version-control internals.
pub fn skipped(name: &std::ffi::OsStr) -> bool {
    name == ".git"
}

/// Largest diff recorded, in bytes; beyond it the diff says it was cut.
pub const MAX_DIFF_BYTES: usize = 512 * 1024;
/// Largest file compared line by line; bigger files count as binary.
const MAX_TEXT_BYTES: u64 = 2 * 1024 * 1024;
/// Most files a change set lists.
pub const MAX_CHANGED_FILES: usize = 10_000;

/// What a session changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    pub files: Vec<FileChange>,
    pub diff: String,
}

/// One side of a file: its bytes (or a link's target), or only the hash of a file too
/// big to compare by lines.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    File {
        bytes: Vec<u8>,
        executable: bool,
    },
    /// A file over [`MAX_TEXT_BYTES`]: hashed as it streams by, never held in memory.
    Large {
        hash: String,
        executable: bool,
    },
    Link(PathBuf),
}

impl Content {
    /// The file or link at `relative` beneath `root`, never following a link: a link is
    /// recorded as its target, and a path reached only through a linked folder is absent.
    fn read(root: &Beneath, relative: &str) -> io::Result<Option<Content>> {
        Ok(match root.entry(relative)? {
            None => None,
            Some(Found::Link(target)) => Some(Content::Link(target)),
            Some(Found::File(open)) if open.size > MAX_TEXT_BYTES => Some(Content::Large {
                executable: open.executable,
                hash: streamed_hash(open.file)?,
            }),
            Some(Found::File(open)) => {
                let mut bytes = Vec::with_capacity(open.size as usize);
                let executable = open.executable;
                // A file that grows past the bound while it is read counts as large.
                open.file.take(MAX_TEXT_BYTES + 1).read_to_end(&mut bytes)?;
                Some(Content::File { bytes, executable })
            }
        })
    }

    /// The content's SHA-256, marked `x:` for an executable file so that a change of the
    /// executable bit is a change too.
    fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        let (digest, executable) = match self {
            Content::File { bytes, executable } => {
                hasher.update(bytes);
                (hex(&hasher.finalize()), *executable)
            }
            Content::Large { hash, executable } => (hash.clone(), *executable),
            Content::Link(target) => {
                hasher.update(b"symlink:");
                hasher.update(target.as_os_str().as_encoded_bytes());
                (hex(&hasher.finalize()), false)
            }
        };
        if executable {
            format!("x:{digest}")
        } else {
            digest
        }
    }

    fn executable(&self) -> bool {
        matches!(
            self,
            Content::File {
                executable: true,
                ..
            } | Content::Large {
                executable: true,
                ..
            }
        )
    }

    /// The content as text, if it is a small UTF-8 file.
    fn text(&self) -> Option<&str> {
        match self {
            Content::File { bytes, .. } if !bytes.contains(&0) => std::str::from_utf8(bytes).ok(),
            Content::File { .. } | Content::Large { .. } | Content::Link(_) => None,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a file read in pieces.
fn streamed_hash(mut file: fs::File) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The SHA-256 of the file (or link) at `relative` beneath `root`, as `compare` records
/// it; `None` when it is absent.
pub fn hash_of(root: &Beneath, relative: &str) -> io::Result<Option<String>> {
    Ok(Content::read(root, relative)?.map(|c| c.hash()))
}

/// Opens a tree whose links are never followed.
fn tree(folder: &Path) -> io::Result<Beneath> {
    Beneath::open(folder, Links::Refused)
}

/// Every file and link of a tree, by `/`-separated relative path, honouring its
/// `.gitignore` files and leaving out `exclude`.
fn listing(root: &Beneath, exclude: &[String]) -> Vec<String> {
    let excluded: Vec<String> = exclude
        .iter()
        .map(|e| e.trim_matches('/').to_string())
        .collect();
    let options = WalkOptions {
        gitignore: true,
        skip: &excluded,
        limit: usize::MAX,
    };
    walk(root, "", &options)
        .0
        .into_iter()
        .map(|found| found.path)
        .collect()
}

/// Compares `root` (where the agents worked) with `base` (the project as it started).
pub fn compare(base: &Path, root: &Path, exclude: &[String]) -> io::Result<ChangeSet> {
    // Each side is listed with its own .gitignore, and every path either side lists is
    // compared on both: a change to .gitignore cannot hide an edit of a file it now
    // ignores, or make it look deleted.
    let (base, root) = (tree(base)?, tree(root)?);
    let before = listing(&base, exclude);
    let after = listing(&root, exclude);
    let mut paths: Vec<&String> = before.iter().chain(after.iter()).collect();
    paths.sort();
    paths.dedup();
    let mut set = ChangeSet::default();
    let mut cut = false;
    for path in paths {
        let old = Content::read(&base, path)?;
        let new = Content::read(&root, path)?;
        let change = match (&old, &new) {
            (None, None) => continue,
            (Some(a), Some(b)) if a == b => continue,
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Deleted,
            (Some(_), Some(_)) => ChangeKind::Modified,
        };
        if set.files.len() >= MAX_CHANGED_FILES {
            cut = true;
            break;
        }
        let old_text = old.as_ref().map_or(Some(""), Content::text);
        let new_text = new.as_ref().map_or(Some(""), Content::text);
        let mut entry = FileChange {
            path: path.clone(),
            change,
            before: old.as_ref().map(Content::hash),
            after: new.as_ref().map(Content::hash),
            lines_added: 0,
            lines_removed: 0,
            binary: old_text.is_none() || new_text.is_none(),
        };
        let piece = match (old_text, new_text) {
            (Some(old_text), Some(new_text)) => {
                let diff = similar::TextDiff::from_lines(old_text, new_text);
                for op in diff.iter_all_changes() {
                    match op.tag() {
                        similar::ChangeTag::Insert => entry.lines_added += 1,
                        similar::ChangeTag::Delete => entry.lines_removed += 1,
                        similar::ChangeTag::Equal => {}
                    }
                }
                let (a, b) = labels(path, change);
                diff.unified_diff()
                    .context_radius(3)
                    .header(&a, &b)
                    .to_string()
            }
            _ => format!(
                "Binary files {} and {} differ\n",
                labels(path, change).0,
                labels(path, change).1
            ),
        };
        let mode = |c: &Option<Content>| {
            if c.as_ref().is_some_and(Content::executable) {
                "100755"
            } else {
                "100644"
            }
        };
        let piece = if change == ChangeKind::Modified && mode(&old) != mode(&new) {
            format!("old mode {}\nnew mode {}\n{piece}", mode(&old), mode(&new))
        } else {
            piece
        };
        if set.diff.len() + piece.len() > MAX_DIFF_BYTES {
            cut = true;
        } else {
            set.diff
                .push_str(&format!("diff --lucid a/{path} b/{path}\n"));
            set.diff.push_str(&piece);
        }
        set.files.push(entry);
    }
    if cut {
        set.diff.push_str(&format!(
            "[… the diff is cut at {} KB or {MAX_CHANGED_FILES} files; the file list above it is complete up to that bound …]\n",
            MAX_DIFF_BYTES / 1024
        ));
    }
    Ok(set)
}

fn labels(path: &str, change: ChangeKind) -> (String, String) {
    match change {
        ChangeKind::Added => ("/dev/null".into(), format!("b/{path}")),
        ChangeKind::Deleted => (format!("a/{path}"), "/dev/null".into()),
        ChangeKind::Modified => (format!("a/{path}"), format!("b/{path}")),
    }
}

/// Why a change cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("the project changed underneath in {} file(s) the session also changed: {}; nothing was applied (review with `lucid sessions diff`, then reconcile by hand)", .0.len(), .0.join(", "))]
    Conflicts(Vec<String>),
    #[error("the session's working copy changed since the change was recorded, in: {}; nothing was applied", .0.join(", "))]
    WorkChanged(Vec<String>),
    #[error("cannot apply `{path}`: {message}")]
    Io { path: String, message: String },
}

/// What `apply` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Files written or removed.
    pub changed: Vec<String>,
    /// Files already as the session left them (applied before).
    pub already: Vec<String>,
}

/// Checks that the recorded change can be applied: every changed file in `work_root` is
/// as recorded, and every file it touches in `project` is still as the session found it.
/// Returns what would change (and what already is as the session left it).
pub fn check(
    files: &[FileChange],
    work_root: &Path,
    project: &Path,
) -> Result<Applied, ApplyError> {
    let io_error = |path: &str, err: io::Error| ApplyError::Io {
        path: path.to_string(),
        message: err.to_string(),
    };
    let (project_tree, work_tree) = trees(project, work_root)?;
    let mut conflicts = Vec::new();
    let mut moved = Vec::new();
    let mut plan = Applied::default();
    for file in files {
        let relative = safe_relative(&file.path).ok_or_else(|| ApplyError::Io {
            path: file.path.clone(),
            message: "the recorded path is not a plain relative path".into(),
        })?;
        // Never through a link: a folder on the way that is a symbolic link (in the
        // project or the working copy) could lead anywhere.
        let mut sides = vec![("the project", project)];
        if file.change != ChangeKind::Deleted {
            sides.push(("the working copy", work_root));
        }
        for (side, base) in sides {
            if let Some(link) = linked_parent(base, &relative) {
                return Err(ApplyError::Io {
                    path: file.path.clone(),
                    message: format!(
                        "`{link}` in {side} is a symbolic link or not a folder; lucid does not write through links"
                    ),
                });
            }
        }
        let now = hash_of(&project_tree, &relative).map_err(|e| io_error(&file.path, e))?;
        let work = hash_of(&work_tree, &relative).map_err(|e| io_error(&file.path, e))?;
        if work != file.after {
            moved.push(file.path.clone());
        } else if now == file.after {
            plan.already.push(file.path.clone());
        } else if now != file.before {
            conflicts.push(file.path.clone());
        } else {
            plan.changed.push(file.path.clone());
        }
    }
    if !moved.is_empty() {
        return Err(ApplyError::WorkChanged(moved));
    }
    if !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    Ok(plan)
}

/// Writes the recorded change from `work_root` into `project`. Checks everything first
/// ([`check`]) and changes nothing unless every file can be applied.
pub fn apply(
    files: &[FileChange],
    work_root: &Path,
    project: &Path,
) -> Result<Applied, ApplyError> {
    let plan = check(files, work_root, project)?;
    let planned = |f: &&FileChange| plan.changed.contains(&f.path);
    let io_error = |path: &str, err: io::Error| ApplyError::Io {
        path: path.to_string(),
        message: err.to_string(),
    };
    let (project_tree, work_tree) = trees(project, work_root)?;
    // Deletions first, with the folders they leave empty, so a file may take the place
    // of a folder the session removed (and the other way round).
    for file in files
        .iter()
        .filter(planned)
        .filter(|f| f.change == ChangeKind::Deleted)
    {
        let relative = safe_relative(&file.path).unwrap_or_default();
        project_tree
            .remove_file(&relative)
            .map_err(|err| io_error(&file.path, err))?;
    }
    for file in files
        .iter()
        .filter(planned)
        .filter(|f| f.change != ChangeKind::Deleted)
    {
        let relative = safe_relative(&file.path).unwrap_or_default();
        let source = work_tree
            .entry(&relative)
            .map_err(|err| io_error(&file.path, err))?
            .ok_or_else(|| ApplyError::Io {
                path: file.path.clone(),
                message: "it is no longer in the working copy".into(),
            })?;
        project_tree
            .replace_with(&relative, source)
            .map_err(|err| io_error(&file.path, err))?;
    }
    Ok(plan)
}

/// The project and the working copy, opened so that no link in either is followed.
fn trees(project: &Path, work_root: &Path) -> Result<(Beneath, Beneath), ApplyError> {
    let open = |folder: &Path| {
        tree(folder).map_err(|err| ApplyError::Io {
            path: folder.display().to_string(),
            message: err.to_string(),
        })
    };
    Ok((open(project)?, open(work_root)?))
}

/// The first folder on the way to `relative` under `base` that exists but is a symbolic
/// link or not a folder, as a relative path.
fn linked_parent(base: &Path, relative: &str) -> Option<String> {
    let mut current = base.to_path_buf();
    let parents: Vec<_> = Path::new(relative).parent()?.components().collect();
    for (i, part) in parents.iter().enumerate() {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                let shown: PathBuf = parents[..=i].iter().collect();
                return Some(crate::world::paths::slash_path(&shown));
            }
            Err(_) => return None, // missing: made as a real folder when written
        }
    }
    None
}

/// A recorded path as a relative path without `..` (the store is not trusted blindly).
fn safe_relative(path: &str) -> Option<String> {
    let relative = crate::world::paths::normalize(path).ok()?;
    (!relative.is_empty()).then_some(relative)
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
