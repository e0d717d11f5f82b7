//! Path confinement and the inventory of a folder, for the file tools of the workspace and
//! project environments.
//!
//! Every path a tool receives is relative to a base folder (the root for reading, the
//! attempt's output folder for writing). A path is refused when it is absolute, contains
//! a `..` component, or resolves (after following symlinks) outside its base. The
//! inventory walks the root without following symlinked folders and lists only regular
//! files (or symlinks to files) that stay inside it, skipping `.git` and the output
//! folder. This module knows nothing about tools or facts.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// Most files the inventory lists; a bigger folder is cut short (and says so).
pub const MAX_FILES: usize = 5_000;
/// Largest file the tools read or search, in bytes.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

/// Why a path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    Absolute,
    ParentDir,
    Escapes,
    NotFound,
    Io(String),
}

impl PathError {
    /// The sentence a tool error gives for `path`.
    pub fn describe(&self, path: &str, base: &str) -> String {
        match self {
            PathError::Absolute => format!(
                "`{path}` is an absolute path; use a path relative to the {base} (e.g. `docs/guide.md`)"
            ),
            PathError::ParentDir => format!(
                "`{path}` contains `..`; paths must stay inside the {base}, so `..` is not allowed"
            ),
            PathError::Escapes => format!(
                "`{path}` leads outside the {base} (through a symbolic link); only files inside it can be used"
            ),
            PathError::NotFound => format!("`{path}` does not exist in the {base}"),
            PathError::Io(err) => format!("`{path}` cannot be used: {err}"),
        }
    }
}

/// A relative path as the tools show it: its components joined by `/`.
pub fn slash_path(relative: &Path) -> String {
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Checks a path's form: relative, no `..`. Returns its normal components joined by `/`
/// (empty for the base itself).
pub fn normalize(path: &str) -> Result<String, PathError> {
    let trimmed = path.trim();
    if trimmed.starts_with('/') || trimmed.starts_with('\\') || trimmed.starts_with('~') {
        return Err(PathError::Absolute);
    }
    let mut parts = Vec::new();
    for component in Path::new(trimmed).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(PathError::Absolute),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves an existing path inside `base` (which must be canonical), following symlinks,
/// and refuses it if it ends up outside.
pub fn resolve_existing(base: &Path, path: &str) -> Result<PathBuf, PathError> {
    let relative = normalize(path)?;
    let joined = base.join(&relative);
    let real = match fs::canonicalize(&joined) {
        Ok(real) => real,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink is "not found" too, unless it points outside.
            return Err(match fs::read_link(&joined) {
                Ok(target) if !lexically_inside(base, &joined, &target) => PathError::Escapes,
                _ => PathError::NotFound,
            });
        }
        Err(err) => return Err(PathError::Io(err.to_string())),
    };
    if real.starts_with(base) {
        Ok(real)
    } else {
        Err(PathError::Escapes)
    }
}

/// Where a dangling link would point, judged without touching the disk.
fn lexically_inside(base: &Path, link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return target.starts_with(base);
    }
    let mut out = link.parent().map(Path::to_path_buf).unwrap_or_default();
    for component in target.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            _ => {}
        }
    }
    out.starts_with(base)
}

/// Resolves a path to write inside `base` (canonical; created if missing): the folders
/// on the way are created, and every existing part, symlinks followed, must stay inside.
pub fn resolve_for_write(base: &Path, path: &str) -> Result<PathBuf, PathError> {
    let relative = normalize(path)?;
    if relative.is_empty() {
        return Err(PathError::NotFound);
    }
    let joined = base.join(&relative);
    let parent = joined.parent().unwrap_or(base);
    // Walk down from the base so that no folder is created through a link that leaves.
    let mut current = base.to_path_buf();
    if let Ok(rest) = parent.strip_prefix(base) {
        for part in rest.components() {
            current.push(part);
            if fs::symlink_metadata(&current).is_err() {
                // Parallel writers may create the same folder: losing that race is fine.
                match fs::create_dir(&current) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(err) => return Err(PathError::Io(err.to_string())),
                }
            }
            let real = fs::canonicalize(&current).map_err(|_| PathError::Escapes)?;
            if !real.starts_with(base) {
                return Err(PathError::Escapes);
            }
            if !real.is_dir() {
                return Err(PathError::Io(format!(
                    "`{}` is a file, not a folder",
                    part.as_os_str().to_string_lossy()
                )));
            }
        }
    }
    match fs::symlink_metadata(&joined) {
        Ok(meta) if meta.file_type().is_symlink() => {
            // Writing through a link is refused unless the link stays inside.
            match fs::canonicalize(&joined) {
                Ok(real) if real.starts_with(base) => Ok(real),
                _ => Err(PathError::Escapes),
            }
        }
        Ok(meta) if meta.is_dir() => Err(PathError::Io("it is a folder".into())),
        // Writing to a fifo or a device would block or reach past the folder.
        Ok(meta) if !meta.is_file() => Err(PathError::Io("it is not a regular file".into())),
        _ => Ok(joined),
    }
}

/// A file of the workspace: its path relative to the root and its line count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub lines: usize,
    pub bytes: u64,
    /// Not valid UTF-8 text (or too big): listed, but not read or searched.
    pub binary: bool,
}

/// Every file under `start` (a canonical folder inside the canonical `root`), sorted by
/// path, skipping `.git` and `skip` (the output folder). The flag says whether the
/// listing was cut at [`MAX_FILES`].
pub fn inventory(root: &Path, start: &Path, skip: Option<&Path>) -> (Vec<FileEntry>, bool) {
    let mut out = Vec::new();
    let mut pending = vec![start.to_path_buf()];
    let mut cut = false;
    while let Some(dir) = pending.pop() {
        if cut {
            break;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if entry.file_name() == ".git" || skip.is_some_and(|s| path == s) {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            // Symlinks count only when they lead to a file inside the root.
            let real = if meta.file_type().is_symlink() {
                match fs::canonicalize(&path) {
                    Ok(real) if real.starts_with(root) && real.is_file() => real,
                    _ => continue,
                }
            } else if meta.is_file() {
                path.clone()
            } else {
                continue;
            };
            if out.len() >= MAX_FILES {
                cut = true;
                break;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let relative = slash_path(relative);
            let bytes = fs::metadata(&real).map(|m| m.len()).unwrap_or(0);
            let text = read_text(&real).ok();
            out.push(FileEntry {
                path: relative,
                lines: text.as_deref().map_or(0, |t| t.lines().count()),
                bytes,
                binary: text.is_none(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    (out, cut)
}

/// Why a file's text cannot be read by the tools. The sentences say "it …": callers put
/// the file's name before them.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is not a regular file")]
    NotAFile,
    #[error("it is {size} bytes, more than the {MAX_FILE_BYTES} bytes the tools read")]
    TooBig { size: u64 },
    #[error("it is a binary file")]
    Binary,
    #[error("it is not UTF-8 text")]
    NotUtf8(#[source] std::string::FromUtf8Error),
}

/// A file's text, refused when too big or not UTF-8.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        // A fifo or a device would block or never end.
        return Err(ReadError::NotAFile);
    }
    let size = meta.len();
    if size > MAX_FILE_BYTES {
        return Err(ReadError::TooBig { size });
    }
    let bytes = fs::read(path)?;
    if bytes.contains(&0) {
        return Err(ReadError::Binary);
    }
    String::from_utf8(bytes).map_err(ReadError::NotUtf8)
}
