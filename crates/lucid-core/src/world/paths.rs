//! Path confinement and the inventory of a folder, for the file tools of the workspace and
//! project environments.
//!
//! Every path a tool receives is relative to a base folder (the root for reading, the
//! attempt's output folder for writing). [`normalize`] refuses a path that is absolute,
//! contains a `..` component or is deeper than [`MAX_PATH_DEPTH`]; opening it is
//! [`Beneath`]'s, which has the kernel refuse any link that leads outside. The inventory
//! walks the root through folder handles without entering linked folders and lists only
//! regular files (or links to files) that stay inside it, skipping `.git` and the output
//! folder. This module knows nothing about tools or facts.

use std::path::{Component, Path};

use crate::world::beneath::{Beneath, Opened};
use crate::world::walk::{walk, WalkOptions};

/// Most files the inventory lists; a bigger folder is cut short (and says so).
pub const MAX_FILES: usize = 5_000;
/// Largest file the tools read or search, in bytes.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// Most folders a path may go down through (its components).
pub const MAX_PATH_DEPTH: usize = 128;

/// Why a path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    Absolute,
    ParentDir,
    Escapes,
    NotFound,
    TooDeep {
        depth: usize,
    },
    /// A folder was wanted.
    NotAFolder,
    /// A part of the path (not named) is a file where a folder should be.
    NotAFolderOnTheWay,
    /// This part of the path is a file where a folder should be.
    PartIsAFile(String),
    IsAFolder,
    /// A fifo, socket or device.
    NotAFile,
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
            PathError::TooDeep { depth } => format!(
                "`{}…` has {depth} parts; paths may go at most {MAX_PATH_DEPTH} parts deep",
                path.chars().take(60).collect::<String>()
            ),
            PathError::NotAFolder => format!("`{path}` is not a folder"),
            PathError::NotAFolderOnTheWay => {
                format!("`{path}` cannot be used: a part of it is a file, not a folder")
            }
            PathError::PartIsAFile(part) => {
                format!("`{path}` cannot be used: `{part}` is a file, not a folder")
            }
            PathError::IsAFolder => format!("`{path}` cannot be used: it is a folder"),
            PathError::NotAFile => {
                format!("`{path}` cannot be used: it is not a regular file")
            }
            PathError::Io(err) => format!("`{path}` cannot be used: {err}"),
        }
    }

    /// Whether the path tried to leave its base.
    pub fn is_escape(&self) -> bool {
        matches!(
            self,
            PathError::Absolute | PathError::ParentDir | PathError::Escapes
        )
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
        if parts.len() >= MAX_PATH_DEPTH {
            let depth = Path::new(trimmed).components().count();
            return Err(PathError::TooDeep { depth });
        }
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(PathError::Absolute),
        }
    }
    Ok(parts.join("/"))
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

/// Every file under `start` (a path relative to `root`; empty for the whole root), sorted
/// by path, skipping `.git` and `skip` (the output folder, relative to the root). Links
/// count only when they lead to a file inside the root. The flag says whether the listing
/// was cut at [`MAX_FILES`].
pub fn inventory(root: &Beneath, start: &str, skip: Option<&str>) -> (Vec<FileEntry>, bool) {
    let skip: Vec<String> = skip.map(str::to_string).into_iter().collect();
    let options = WalkOptions {
        gitignore: false,
        skip: &skip,
        limit: MAX_FILES,
    };
    let (found, cut) = walk(root, start, &options);
    let mut out = Vec::with_capacity(found.len());
    for entry in found {
        let Ok(Opened::File(file)) = root.open_path(&entry.path) else {
            continue;
        };
        let bytes = file.size;
        let text = file.text().ok();
        out.push(FileEntry {
            path: entry.path,
            lines: text.as_deref().map_or(0, |t| t.lines().count()),
            bytes,
            binary: text.is_none(),
        });
    }
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
