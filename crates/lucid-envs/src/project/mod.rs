//! Project: a real folder of the user's that a team changes, with every change reviewed
//! before it reaches the user's files.
//!
//! `[environment] kind = "project"`, `root` (relative to the session file), `isolation`:
//! - `copy` (default): agents work in a scratch copy under the session's work folder;
//!   the project changes only when the user runs `lucid apply ID`;
//! - `worktree`: the same in a git worktree of the project's HEAD;
//! - `in_place`: agents change the project itself (the diff still shows what they did).
//!
//! Tools (`tools`): `list_files`, `read_file`, `search`, `write_file`, `edit_file` and a
//! sandboxed `shell`. After each attempt the working folder is compared with the project
//! as the session found it (`changes`), which gives the facts `files_changed`,
//! `lines_added` and `lines_removed` and the recorded diff. Attempts of a session share
//! the working folder, so a revision continues from the files as they are. The project
//! ships no scripted policies: teams run on real models, `--model test`, or a replay.
//!
//! Files: `workdir` (making the folders per isolation), `changes` (diff and apply),
//! `episode` (facts), `tools`.

pub use lucid_core::world::changes;
mod episode;
mod tools;
pub mod workdir;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lucid_core::model::Policy;
use lucid_core::spec::{EnvironmentCapabilities, EnvironmentSpec};
use lucid_core::world::folder::WorkFolder;
use lucid_core::world::{EnvError, Environment, Episode};

pub use changes::{apply, compare, Applied, ApplyError, ChangeSet};
pub use episode::FACT_NAMES;
pub use tools::{ALL as TOOLS, SHELL};
pub use workdir::{Isolation, WorkDir, WorkDirError};

pub const KIND: &str = "project";

/// What the project offers a session file.
pub fn capabilities() -> EnvironmentCapabilities {
    EnvironmentCapabilities {
        folder: true,
        folder_settings: vec!["isolation".into(), "exclude".into()],
        ..lucid_core::world::capabilities(&TOOLS, &FACT_NAMES, &[])
    }
}

/// A project environment: its folders and sandbox, ready for attempts.
pub struct Project {
    work: Arc<WorkDir>,
    folder: Arc<WorkFolder>,
    exclude: Arc<Vec<String>>,
}

impl Project {
    /// Prepares the session's folders (or finds them, for a resumed session) and the
    /// sandbox. `spec.work_dir` says where the session's folders go; without one (a
    /// session nobody records) they go to a fresh temporary folder.
    pub fn new(spec: &EnvironmentSpec) -> Result<Self, EnvError> {
        let bad = |key: &str, message: String| EnvError::BadOption {
            key: key.to_string(),
            message,
        };
        let root_text = spec
            .root
            .as_ref()
            .map(|r| r.get_ref().clone())
            .ok_or_else(|| {
                bad(
                    "root",
                    "a project needs `root`, the folder to work on (relative to the session file)"
                        .into(),
                )
            })?;
        let project = spec.base_dir.join(&root_text);
        if !project.is_dir() {
            return Err(bad("root", format!("`{root_text}` is not a folder")));
        }
        let isolation = match &spec.isolation {
            Some(text) => Isolation::parse(text.get_ref()).ok_or_else(|| {
                bad(
                    "isolation",
                    format!("unknown isolation `{}`", text.get_ref()),
                )
            })?,
            None => Isolation::Copy,
        };
        let work_dir = match &spec.work_dir {
            Some(dir) => dir.clone(),
            None => scratch_dir()
                .map_err(|err| bad("root", format!("cannot make a scratch folder: {err}")))?,
        };
        let project_real = std::fs::canonicalize(&project)
            .map_err(|err| bad("root", format!("`{root_text}` cannot be used: {err}")))?;
        if project_real.parent().is_none() {
            return Err(bad(
                "root",
                "the project cannot be the whole filesystem (`/`)".into(),
            ));
        }
        // A store kept inside the project (`--db ./.lucid/store`) is neither copied nor
        // compared: it holds the working copy itself.
        let mut exclude = spec.exclude.clone();
        std::fs::create_dir_all(&work_dir).map_err(|err| {
            bad(
                "root",
                format!("cannot make the session's work folder: {err}"),
            )
        })?;
        let store = std::fs::canonicalize(&work_dir)
            .ok()
            .and_then(|w| w.parent().and_then(Path::parent).map(Path::to_path_buf));
        if let Some(inside) = store
            .as_deref()
            .and_then(|s| s.strip_prefix(&project_real).ok())
        {
            exclude.push(inside.to_string_lossy().into_owned());
        }
        let work = WorkDir::prepare(&project, &work_dir, isolation, &exclude)
            .map_err(|err| bad("root", err.to_string()))?;
        let folder = WorkFolder::new(spec, work.root.clone(), work.tmp.clone())?;
        Ok(Project {
            work: Arc::new(work),
            folder: Arc::new(folder),
            exclude: Arc::new(exclude),
        })
    }

    pub fn work(&self) -> &WorkDir {
        &self.work
    }
}

/// A folder of its own under the system's temporary folder.
fn scratch_dir() -> std::io::Result<PathBuf> {
    let id = lucid_core::event::SessionId::generate();
    let dir = std::env::temp_dir().join(format!("lucid-work-{id}"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl Environment for Project {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn briefing(&self) -> String {
        let place = match self.work.isolation {
            Isolation::InPlace => "You work directly in the project folder.".to_string(),
            _ => "You work in a private copy of the project; a person reviews the diff before it reaches the real project.".to_string(),
        };
        let sandbox = self.folder.sandbox.policy();
        format!(
            "{place} Paths are relative to the project root. The shell runs in the root (writes only inside it, {}; {} s per command).",
            if sandbox.network { "network allowed" } else { "no network" },
            self.folder.shell_timeout.as_secs()
        )
    }

    fn policy(&self, _role: &str) -> Option<Arc<dyn Policy>> {
        None
    }

    fn episode(&self) -> Arc<dyn Episode> {
        Arc::new(episode::ProjectEpisode::new(
            Arc::clone(&self.work),
            Arc::clone(&self.folder),
            Arc::clone(&self.exclude),
        ))
    }

    fn replays_calls(&self) -> bool {
        // The working folder keeps every completed step's effect on disk.
        false
    }

    fn folder(&self) -> Option<Arc<WorkFolder>> {
        Some(Arc::clone(&self.folder))
    }
}
