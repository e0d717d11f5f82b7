//! Where a project session works: the scratch folders of one session and how they are
//! made for each isolation.
//!
//! A session's work folder holds `root/` (the folder agents change: a copy of the
//! project, a git worktree, or, in place, nothing since the project itself is the root),
//! `base/` (the project as it was when the session started, the other side of every
//! diff) and `tmp/` (the commands' private temporary folder). A resumed session finds
//! its folders and reuses them; nothing here is made twice. This module does not
//! compare trees (see `changes`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How the agents' folder relates to the user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A scratch copy; the project changes only through `lucid apply`.
    Copy,
    /// A git worktree of the project's HEAD; the project changes only through `lucid apply`.
    Worktree,
    /// The project itself.
    InPlace,
}

impl Isolation {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "copy" => Some(Isolation::Copy),
            "worktree" => Some(Isolation::Worktree),
            "in_place" => Some(Isolation::InPlace),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Copy => "copy",
            Isolation::Worktree => "worktree",
            Isolation::InPlace => "in_place",
        }
    }
}

/// Why a session's folders could not be made or found.
#[derive(Debug, thiserror::Error)]
pub enum WorkDirError {
    #[error("the project folder `{}` cannot be used: {source}", .project.display())]
    Project { project: PathBuf, source: io::Error },
    /// `what` is the folder's role, e.g. "the commands' temporary folder".
    #[error("cannot create {what} under `{}`: {source}", .work.display())]
    Create {
        what: &'static str,
        work: PathBuf,
        source: io::Error,
    },
    #[error("cannot copy the project into `{}`: {source}", .root.display())]
    Copy { root: PathBuf, source: io::Error },
    #[error("isolation = \"worktree\" needs git, which cannot be run: {source}")]
    NoGit { source: io::Error },
    /// `git worktree add` failed; `stderr` is git's complaint on one line.
    #[error("isolation = \"worktree\": `git worktree add` failed in `{}` (is it a git repository with a commit?): {stderr}", .project.display())]
    Worktree { project: PathBuf, stderr: String },
    #[error("cannot snapshot the project into `{}`: {source}", .base.display())]
    Snapshot { base: PathBuf, source: io::Error },
    /// A folder just made cannot be resolved to its canonical path.
    #[error("{source}")]
    Resolve { path: PathBuf, source: io::Error },
}

/// The folders of one session.
#[derive(Debug, Clone)]
pub struct WorkDir {
    /// The user's project (canonical).
    pub project: PathBuf,
    /// Where the agents work (canonical).
    pub root: PathBuf,
    /// The project as the session found it.
    pub base: PathBuf,
    /// The commands' temporary folder.
    pub tmp: PathBuf,
    pub isolation: Isolation,
}

use lucid_core::world::changes::skipped;

impl WorkDir {
    /// Prepares (or, for a resumed session, finds) the folders under `work`.
    pub fn prepare(
        project: &Path,
        work: &Path,
        isolation: Isolation,
        exclude: &[String],
    ) -> Result<WorkDir, WorkDirError> {
        let project = fs::canonicalize(project).map_err(|source| WorkDirError::Project {
            project: project.to_path_buf(),
            source,
        })?;
        let created = |what: &'static str, source: io::Error| WorkDirError::Create {
            what,
            work: work.to_path_buf(),
            source,
        };
        fs::create_dir_all(work).map_err(|err| created("the session's work folder", err))?;
        // Absolute from here on: git resolves a relative worktree path against the project.
        let work =
            &fs::canonicalize(work).map_err(|err| created("the session's work folder", err))?;
        let tmp = work.join("tmp");
        fs::create_dir_all(&tmp).map_err(|err| created("the commands' temporary folder", err))?;
        let base = work.join("base");
        let root = match isolation {
            Isolation::InPlace => project.clone(),
            Isolation::Copy => {
                let root = work.join("root");
                if !root.exists() {
                    // A copy cut short by a kill is made again from the start.
                    let _ = fs::remove_dir_all(root.with_extension("partial"));
                    copy_tree(&project, &root.with_extension("partial"), exclude, true)
                        .and_then(|()| fs::rename(root.with_extension("partial"), &root))
                        .map_err(|source| WorkDirError::Copy {
                            root: root.clone(),
                            source,
                        })?;
                }
                root
            }
            Isolation::Worktree => {
                let root = work.join("root");
                if !root.exists() {
                    add_worktree(&project, &root)?;
                }
                root
            }
        };
        if !base.exists() {
            // The base is what the agents start from: for a worktree, HEAD's files.
            let from = if isolation == Isolation::Worktree {
                &root
            } else {
                &project
            };
            let partial = base.with_extension("partial");
            let _ = fs::remove_dir_all(&partial);
            copy_tree(from, &partial, exclude, false)
                .and_then(|()| fs::rename(&partial, &base))
                .map_err(|source| WorkDirError::Snapshot {
                    base: base.clone(),
                    source,
                })?;
        }
        let resolved = |path: &Path| {
            fs::canonicalize(path).map_err(|source| WorkDirError::Resolve {
                path: path.to_path_buf(),
                source,
            })
        };
        let root = resolved(&root)?;
        let tmp = resolved(&tmp)?;
        Ok(WorkDir {
            project,
            root,
            base,
            tmp,
            isolation,
        })
    }
}

/// `git worktree add --detach ROOT HEAD` in the project.
fn add_worktree(project: &Path, root: &Path) -> Result<(), WorkDirError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(project)
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(root)
        .arg("HEAD")
        .output()
        .map_err(|source| WorkDirError::NoGit { source })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(WorkDirError::Worktree {
        project: project.to_path_buf(),
        stderr: lucid_core::event::one_line(&stderr, 300),
    })
}

/// Copies a folder tree: files with their permissions, symlinks as symlinks, folders
/// recursively; `exclude` lists paths relative to `from`. `with_git` keeps `.git`.
pub(crate) fn copy_tree(
    from: &Path,
    to: &Path,
    exclude: &[String],
    with_git: bool,
) -> io::Result<()> {
    let excluded: Vec<PathBuf> = exclude
        .iter()
        .map(|e| PathBuf::from(e.trim_matches('/')))
        .collect();
    copy_dir(from, to, Path::new(""), &excluded, with_git)
}

fn copy_dir(
    from: &Path,
    to: &Path,
    relative: &Path,
    exclude: &[PathBuf],
    with_git: bool,
) -> io::Result<()> {
    fs::create_dir_all(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let rel = relative.join(&name);
        if (!with_git && skipped(&name)) || exclude.iter().any(|e| e == &rel) {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            copy_dir(&source, &target, &rel, exclude, with_git)?;
        } else if kind.is_file() {
            fs::copy(&source, &target)?;
        }
        // Sockets, fifos and devices are not project files: left out.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_files_modes_and_links_and_leaves_out_exclusions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        fs::create_dir_all(project.join("src")).unwrap();
        fs::create_dir_all(project.join("target/debug")).unwrap();
        fs::create_dir_all(project.join(".git")).unwrap();
        fs::write(project.join("src/lib.rs"), "fn a() {}\n").unwrap();
        fs::write(project.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(project.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(project.join("target/debug/big"), "x").unwrap();
        fs::write(project.join(".git/HEAD"), "ref").unwrap();
        std::os::unix::fs::symlink("src/lib.rs", project.join("link")).unwrap();

        let work = WorkDir::prepare(
            &project,
            &dir.path().join("w"),
            Isolation::Copy,
            &["target".into()],
        )
        .unwrap();
        assert_ne!(work.root, work.project);
        assert_eq!(
            fs::read_to_string(work.root.join("src/lib.rs")).unwrap(),
            "fn a() {}\n"
        );
        let mode = fs::metadata(work.root.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(
            fs::read_link(work.root.join("link")).unwrap(),
            PathBuf::from("src/lib.rs")
        );
        assert!(!work.root.join("target").exists());
        assert!(work.root.join(".git/HEAD").exists(), "the copy keeps .git");
        assert!(
            !work.base.join(".git").exists(),
            "the base never holds .git"
        );
        assert!(work.base.join("src/lib.rs").exists());

        // Prepared again (a resumed session), the copy is reused as the agents left it.
        fs::write(work.root.join("src/lib.rs"), "changed").unwrap();
        let again =
            WorkDir::prepare(&project, &dir.path().join("w"), Isolation::Copy, &[]).unwrap();
        assert_eq!(
            fs::read_to_string(again.root.join("src/lib.rs")).unwrap(),
            "changed"
        );
        assert_eq!(
            fs::read_to_string(project.join("src/lib.rs")).unwrap(),
            "fn a() {}\n"
        );
    }

    #[test]
    fn in_place_works_in_the_project_and_a_worktree_needs_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        fs::create_dir_all(&project).unwrap();
        fs::write(project.join("a.txt"), "a\n").unwrap();
        let work =
            WorkDir::prepare(&project, &dir.path().join("w"), Isolation::InPlace, &[]).unwrap();
        assert_eq!(work.root, fs::canonicalize(&project).unwrap());
        assert!(work.base.join("a.txt").exists());
        let err = WorkDir::prepare(&project, &dir.path().join("w2"), Isolation::Worktree, &[])
            .unwrap_err();
        match &err {
            WorkDirError::Worktree { project: at, .. } => {
                assert_eq!(at, &fs::canonicalize(&project).unwrap())
            }
            other => panic!("expected a failed worktree, got {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("isolation = \"worktree\": `git worktree add` failed in `"),
            "{err}"
        );
        let err = WorkDir::prepare(
            &dir.path().join("nowhere"),
            &dir.path().join("w3"),
            Isolation::Copy,
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, WorkDirError::Project { .. }), "{err:?}");
        assert!(
            err.to_string().contains("nowhere` cannot be used: "),
            "{err}"
        );
    }

    #[test]
    fn a_worktree_holds_heads_files_and_leaves_uncommitted_work_out() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("repo");
        fs::create_dir_all(&project).unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(&project)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        git(&["init", "-q"]);
        fs::write(project.join("a.txt"), "committed\n").unwrap();
        git(&["add", "a.txt"]);
        git(&["commit", "-q", "-m", "one"]);
        fs::write(project.join("a.txt"), "uncommitted\n").unwrap();
        let work =
            WorkDir::prepare(&project, &dir.path().join("w"), Isolation::Worktree, &[]).unwrap();
        assert_eq!(
            fs::read_to_string(work.root.join("a.txt")).unwrap(),
            "committed\n"
        );
        assert_eq!(
            fs::read_to_string(work.base.join("a.txt")).unwrap(),
            "committed\n"
        );
        assert_eq!(
            fs::read_to_string(project.join("a.txt")).unwrap(),
            "uncommitted\n"
        );
    }
}
