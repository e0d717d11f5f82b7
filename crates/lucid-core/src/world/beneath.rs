//! Files under a folder handle: every path a tool uses is opened relative to an open
//! folder, and the kernel refuses any resolution that would leave it.
//!
//! A [`Beneath`] is a folder opened once (its own path is trusted: the session chose it).
//! Every later open goes through `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`
//! (and `RESOLVE_NO_SYMLINKS` when links are [`Links::Refused`]), so absolute links, `..`
//! past the folder and `/proc` magic links fail inside the same system call that opens the
//! file. There is no "check, then open by name": a link swapped in between cannot be
//! followed, because there is no in between. Where the kernel has no `openat2` (before
//! Linux 5.6, other systems, or a seccomp filter that forbids it) the same rules are kept
//! by walking the path one component at a time with `O_NOFOLLOW`, reading each link and
//! resolving it against the folders already opened.
//!
//! Writing makes the folders on the way one at a time, each relative to the one before
//! (linear in the depth), then opens the file from the folder handle. This module knows
//! nothing about tools or messages beyond [`PathError`].

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::world::paths::{PathError, ReadError, MAX_FILE_BYTES};

/// Links followed on one path at most, as the kernel's own limit.
const MAX_LINK_HOPS: usize = 40;

/// Whether symbolic links are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Followed while they stay beneath the folder; absolute links are refused.
    Inside,
    /// Never followed: a link anywhere on the way is refused.
    Refused,
}

/// How paths are resolved: by the kernel (`openat2`) or by the component walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolver {
    Kernel,
    /// Chosen by tests; in use the walk takes over inside `open_beneath` when the kernel
    /// has no `openat2`.
    #[cfg_attr(not(test), allow(dead_code))]
    Walk,
}

/// A folder that paths are opened beneath.
#[derive(Debug)]
pub struct Beneath {
    fd: OwnedFd,
    links: Links,
    resolver: Resolver,
}

/// What a path named.
#[derive(Debug)]
pub enum Opened {
    File(OpenFile),
    Folder(Beneath),
    /// A fifo, socket or device: never read or written.
    Other,
}

/// A regular file, open for reading.
#[derive(Debug)]
pub struct OpenFile {
    pub file: File,
    pub size: u64,
    pub executable: bool,
    /// The permission bits.
    pub mode: u32,
}

impl OpenFile {
    /// The file's text, refused when too big, binary or not UTF-8.
    pub fn text(self) -> Result<String, ReadError> {
        if self.size > MAX_FILE_BYTES {
            return Err(ReadError::TooBig { size: self.size });
        }
        let mut bytes = Vec::with_capacity(self.size as usize);
        // Bounded even if the file grows after the size was taken.
        self.file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ReadError::TooBig {
                size: bytes.len() as u64,
            });
        }
        if bytes.contains(&0) {
            return Err(ReadError::Binary);
        }
        String::from_utf8(bytes).map_err(ReadError::NotUtf8)
    }
}

/// One entry of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Folder,
    Link,
    Other,
}

impl Beneath {
    /// Opens the folder at `path` (trusted: links in it are followed).
    pub fn open(path: &Path, links: Links) -> io::Result<Beneath> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath {
            fd,
            links,
            resolver: Resolver::Kernel,
        })
    }

    /// The same folder resolving by the component walk, as on a kernel without `openat2`.
    #[cfg(test)]
    pub(crate) fn walking(mut self) -> Beneath {
        self.resolver = Resolver::Walk;
        self
    }

    fn child(&self, fd: OwnedFd) -> Beneath {
        Beneath {
            fd,
            links: self.links,
            resolver: self.resolver,
        }
    }

    /// Opens `relative` (normal components joined by `/`; empty for the folder itself)
    /// beneath this folder.
    fn raw(&self, relative: &str, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
        open_beneath(
            self.fd.as_fd(),
            OsStr::new(relative),
            flags,
            mode,
            self.links,
            self.resolver,
        )
    }

    /// What `relative` is, opened for reading (a fifo is never waited on).
    pub fn open_path(&self, relative: &str) -> Result<Opened, PathError> {
        let fd = self
            .raw(relative, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())
            .map_err(path_error)?;
        opened(self, fd).map_err(|err| PathError::Io(err.to_string()))
    }

    /// The folder `relative`, or why it is not one.
    pub fn folder(&self, relative: &str) -> Result<Beneath, PathError> {
        match self.open_path(relative)? {
            Opened::Folder(folder) => Ok(folder),
            _ => Err(PathError::NotAFolder),
        }
    }

    /// Makes the folders of `relative` that are missing, one component at a time, and
    /// returns the last one.
    pub fn make_folders(&self, relative: &str) -> Result<Beneath, PathError> {
        let mut current: Option<OwnedFd> = None;
        let mut walked = String::new();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            let here = current.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            match rustix::fs::mkdirat(here, part, Mode::from_raw_mode(0o777)) {
                // Parallel writers may make the same folder: losing that race is fine.
                Ok(()) | Err(Errno::EXIST) => {}
                Err(Errno::NOTDIR) => return Err(PathError::PartIsAFile(walked)),
                Err(err) => return Err(path_error(err)),
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY;
            let next = match open_beneath(
                here,
                OsStr::new(part),
                flags,
                Mode::empty(),
                Links::Refused,
                self.resolver,
            ) {
                Ok(fd) => fd,
                // A link: followed from this folder, so it may lead anywhere inside it.
                Err(Errno::LOOP) if self.links == Links::Inside => self
                    .raw(&walked, flags, Mode::empty())
                    .map_err(|err| folder_error(err, &walked))?,
                Err(err) => return Err(folder_error(err, &walked)),
            };
            current = Some(next);
        }
        match current {
            Some(fd) => Ok(self.child(fd)),
            None => self.folder(""),
        }
    }

    /// Writes `bytes` as the whole of `relative`, making the folders on the way. Says
    /// whether the file existed.
    pub fn write(&self, relative: &str, bytes: &[u8]) -> Result<bool, PathError> {
        let (parent, name) = split_last(relative);
        if name.is_empty() {
            return Err(PathError::NotFound);
        }
        if !parent.is_empty() {
            self.make_folders(parent)?;
        }
        // Never O_TRUNC before the file is known to be a regular one.
        let flags = OFlags::WRONLY | OFlags::NONBLOCK;
        let (fd, existed) =
            match self.raw(relative, flags | OFlags::CREATE | OFlags::EXCL, file_mode()) {
                Ok(fd) => (fd, false),
                Err(Errno::EXIST) => (
                    self.raw(relative, flags, Mode::empty())
                        .map_err(path_error)?,
                    true,
                ),
                Err(err) => return Err(path_error(err)),
            };
        let stat = rustix::fs::fstat(&fd).map_err(path_error)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(PathError::NotAFile);
        }
        rustix::fs::ftruncate(&fd, 0).map_err(path_error)?;
        let mut file = File::from(fd);
        file.write_all(bytes)
            .map_err(|err| PathError::Io(err.to_string()))?;
        Ok(existed)
    }

    /// The entries of this folder, sorted by name (`.` and `..` left out).
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let dir = rustix::fs::Dir::read_from(&self.fd)?;
        for entry in dir {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|stat| FileType::from_raw_mode(stat.st_mode))
                    .unwrap_or(FileType::Unknown),
                known => known,
            };
            out.push(Entry {
                name: name.to_os_string(),
                kind: match kind {
                    FileType::RegularFile => EntryKind::File,
                    FileType::Directory => EntryKind::Folder,
                    FileType::Symlink => EntryKind::Link,
                    _ => EntryKind::Other,
                },
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The subfolder `name` of this folder, never through a link.
    pub fn subfolder(&self, name: &OsStr) -> io::Result<Beneath> {
        let fd = open_beneath(
            self.fd.as_fd(),
            name,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
            Links::Refused,
            self.resolver,
        )?;
        Ok(self.child(fd))
    }

    /// What is at `relative` without following a link at its end: a link's target, a
    /// regular file, or nothing (absent, a folder, or reached only through a link).
    pub fn entry(&self, relative: &str) -> io::Result<Option<Found>> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW;
        match self.raw(relative, flags, Mode::empty()) {
            Ok(fd) => match opened(self, fd)? {
                Opened::File(file) => Ok(Some(Found::File(file))),
                Opened::Folder(_) | Opened::Other => Ok(None),
            },
            Err(Errno::LOOP) => {
                let (parent, name) = split_last(relative);
                let parent =
                    match self.raw(parent, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) {
                        Ok(fd) => fd,
                        Err(Errno::LOOP | Errno::NOENT | Errno::NOTDIR | Errno::XDEV) => {
                            return Ok(None)
                        }
                        Err(err) => return Err(err.into()),
                    };
                match rustix::fs::readlinkat(&parent, name, Vec::new()) {
                    Ok(target) => Ok(Some(Found::Link(PathBuf::from(OsString::from_vec(
                        target.into_bytes(),
                    ))))),
                    // Swapped for something else since: as good as absent.
                    Err(Errno::INVAL | Errno::NOENT) => Ok(None),
                    Err(err) => Err(err.into()),
                }
            }
            Err(Errno::NOENT | Errno::NOTDIR | Errno::XDEV) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Removes the file or link `relative` (absent is fine), then the folders above it
    /// that this leaves empty.
    pub fn remove_file(&self, relative: &str) -> io::Result<()> {
        let (parent, name) = split_last(relative);
        let folder = self.raw(parent, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty());
        let folder = match folder {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        match rustix::fs::unlinkat(&folder, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(err) => return Err(err.into()),
        }
        let mut path = parent;
        while !path.is_empty() {
            let (above, name) = split_last(path);
            let Ok(folder) = self.raw(above, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
            else {
                break;
            };
            if rustix::fs::unlinkat(&folder, name, AtFlags::REMOVEDIR).is_err() {
                break; // not empty: other files still live there
            }
            path = above;
        }
        Ok(())
    }

    /// Puts a copy of `source` (a regular file with its executable bit, or a link's target)
    /// at `relative`, through a temporary name beside it so a reader never sees half a
    /// file. The folders on the way are made.
    pub fn replace_with(&self, relative: &str, source: Found) -> io::Result<()> {
        let (parent, name) = split_last(relative);
        let folder = self
            .make_folders(parent)
            .map_err(|err| io::Error::other(err.describe(parent, "folder")))?;
        let temporary = format!(".{name}.lucid-apply");
        match rustix::fs::unlinkat(&folder.fd, temporary.as_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(err) => return Err(err.into()),
        }
        match source {
            Found::Link(target) => rustix::fs::symlinkat(&target, &folder.fd, temporary.as_str())?,
            Found::File(mut open) => {
                let fd = rustix::fs::openat(
                    &folder.fd,
                    temporary.as_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                // The source's permissions, as `fs::copy` keeps them.
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(open.mode))?;
                let mut file = File::from(fd);
                io::copy(&mut open.file, &mut file)?;
            }
        }
        let in_the_way = rustix::fs::statat(&folder.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Directory);
        if in_the_way {
            let _ = rustix::fs::unlinkat(&folder.fd, temporary.as_str(), AtFlags::empty());
            return Err(io::Error::other("a folder is in the way"));
        }
        rustix::fs::renameat(&folder.fd, temporary.as_str(), &folder.fd, name)?;
        Ok(())
    }
}

/// A file or link as [`Beneath::entry`] finds it.
#[derive(Debug)]
pub enum Found {
    File(OpenFile),
    Link(PathBuf),
}

fn file_mode() -> Mode {
    Mode::from_raw_mode(0o666)
}

fn opened(folder: &Beneath, fd: OwnedFd) -> io::Result<Opened> {
    let stat = rustix::fs::fstat(&fd)?;
    Ok(match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => Opened::Folder(folder.child(fd)),
        FileType::RegularFile => Opened::File(OpenFile {
            file: File::from(fd),
            size: u64::try_from(stat.st_size).unwrap_or(0),
            executable: stat.st_mode & 0o111 != 0,
            mode: stat.st_mode & 0o7777,
        }),
        _ => Opened::Other,
    })
}

/// `a/b/c` as (`a/b`, `c`); `c` as (``, `c`).
fn split_last(relative: &str) -> (&str, &str) {
    match relative.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", relative),
    }
}

/// Why a path beneath a folder cannot be used.
fn path_error(err: Errno) -> PathError {
    match err {
        Errno::XDEV | Errno::LOOP => PathError::Escapes,
        Errno::NOENT => PathError::NotFound,
        Errno::NOTDIR => PathError::NotAFolderOnTheWay,
        Errno::ISDIR => PathError::IsAFolder,
        Errno::NXIO => PathError::NotAFile,
        other => PathError::Io(io::Error::from(other).to_string()),
    }
}

fn folder_error(err: Errno, walked: &str) -> PathError {
    match err {
        Errno::NOTDIR => PathError::PartIsAFile(walked.to_string()),
        other => path_error(other),
    }
}

/// Opens `path` beneath `dir`: by `openat2` where the kernel has it, else by the walk.
fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &OsStr,
    flags: OFlags,
    mode: Mode,
    links: Links,
    resolver: Resolver,
) -> Result<OwnedFd, Errno> {
    let path = if path.is_empty() {
        OsStr::new(".")
    } else {
        path
    };
    let flags = flags | OFlags::CLOEXEC;
    if resolver == Resolver::Kernel {
        if let Some(result) = kernel::open(dir, path, flags, mode, links) {
            return result;
        }
    }
    walk(dir, path, flags, mode, links)
}

#[cfg(target_os = "linux")]
mod kernel {
    //! `openat2`, remembered as missing once the kernel says it has none.
    use std::ffi::OsStr;
    use std::os::fd::{BorrowedFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, Ordering};

    use rustix::fs::{Mode, OFlags, ResolveFlags};
    use rustix::io::Errno;

    use super::Links;

    static MISSING: AtomicBool = AtomicBool::new(false);

    /// `None` when `openat2` cannot be used (the caller walks instead).
    pub(super) fn open(
        dir: BorrowedFd<'_>,
        path: &OsStr,
        flags: OFlags,
        mode: Mode,
        links: Links,
    ) -> Option<Result<OwnedFd, Errno>> {
        if MISSING.load(Ordering::Relaxed) {
            return None;
        }
        let mut resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        if links == Links::Refused {
            resolve |= ResolveFlags::NO_SYMLINKS;
        }
        // The kernel answers EAGAIN when a rename raced a `..` lookup: try again.
        for _ in 0..64 {
            match rustix::fs::openat2(dir, path, flags, mode, resolve) {
                Err(Errno::AGAIN) => continue,
                Err(Errno::NOSYS) => {
                    MISSING.store(true, Ordering::Relaxed);
                    return None;
                }
                // A seccomp filter that forbids the call: the walk keeps the same rules.
                Err(Errno::PERM) => return None,
                other => return Some(other),
            }
        }
        Some(Err(Errno::AGAIN))
    }
}

#[cfg(not(target_os = "linux"))]
mod kernel {
    use std::ffi::OsStr;
    use std::os::fd::{BorrowedFd, OwnedFd};

    use rustix::fs::{Mode, OFlags};
    use rustix::io::Errno;

    use super::Links;

    pub(super) fn open(
        _dir: BorrowedFd<'_>,
        _path: &OsStr,
        _flags: OFlags,
        _mode: Mode,
        _links: Links,
    ) -> Option<Result<OwnedFd, Errno>> {
        None
    }
}

/// The components of `path` (empty ones and `.` left out).
fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|b| *b == b'/')
        .filter(|part| !part.is_empty() && *part != b".")
        .map(<[u8]>::to_vec)
}

/// `openat2`'s rules kept by hand: one component at a time, never following a link by
/// name; a link's target is read and resolved against the folders already opened, and
/// `..` goes back up that chain (never above `dir`).
fn walk(
    dir: BorrowedFd<'_>,
    path: &OsStr,
    flags: OFlags,
    mode: Mode,
    links: Links,
) -> Result<OwnedFd, Errno> {
    let mut pending: VecDeque<Vec<u8>> = components(path.as_bytes()).collect();
    let mut chain: Vec<OwnedFd> = Vec::new();
    let mut hops = 0;
    loop {
        let here = chain.last().map_or(dir, |fd| fd.as_fd());
        let Some(part) = pending.pop_front() else {
            return rustix::fs::openat(here, ".", flags, mode);
        };
        if part == b".." {
            if chain.pop().is_none() {
                return Err(Errno::XDEV);
            }
            continue;
        }
        let last = pending.is_empty();
        let name = OsStr::from_bytes(&part);
        let attempt = if last {
            rustix::fs::openat(here, name, flags | OFlags::NOFOLLOW, mode)
        } else {
            rustix::fs::openat(
                here,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        match attempt {
            Ok(fd) if last => return Ok(fd),
            Ok(fd) => chain.push(fd),
            Err(err @ (Errno::LOOP | Errno::NOTDIR)) => {
                let is_link = rustix::fs::statat(here, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Symlink);
                if !is_link {
                    return Err(err);
                }
                if links == Links::Refused || (flags.contains(OFlags::NOFOLLOW) && last) {
                    return Err(Errno::LOOP);
                }
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(Errno::LOOP);
                }
                let target = rustix::fs::readlinkat(here, name, Vec::new())?;
                let target = target.into_bytes();
                if target.first() == Some(&b'/') {
                    return Err(Errno::XDEV);
                }
                for part in components(&target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(part);
                }
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
#[path = "beneath_tests.rs"]
mod tests;
