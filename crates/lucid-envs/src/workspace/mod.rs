//! Workspace: a folder of real files for agents to read, search and write reports about,
//! so real models can do real work (and the scripted policies a document review).
//!
//! Tools: `list_files`, `read_file` (numbered lines, ranges), `search` (regular
//! expressions), `write_file`. Reading is confined to the root; writing to the attempt's
//! output folder. Absolute paths, `..` and symlinks that leave are refused with a tool
//! error (see `paths`).
//!
//! Each iteration of the revise loop gets a fresh episode writing into its own folder,
//! `<output>/attempt-N` (N = 1, 2, …). When a run starts its first attempt, the
//! `attempt-*` folders of earlier runs are removed, so the output folder always shows
//! the latest run. lucid only ever removes inside an output folder it made: it marks one
//! with a `.lucid-output` file, and refuses (when the session is built) an existing,
//! non-empty folder without that mark.
//!
//! Files: `paths` (confinement, inventory), `episode` (state and facts), `tools`, and
//! the scripted policies `commander`, `reviewer`, `advisor`, `grader` over shared parsing
//! in `text`.
//!
//! # Options (`[environment.options]`)
//! - `root` (string, default `"."`): the folder to work in, relative to the session
//!   file's folder (or absolute). It must exist.
//! - `output` (string, default `"lucid-output"`): where `write_file` writes, relative to
//!   the session file's folder (or absolute). It may be inside the root; `list_files`
//!   and `search` then skip it.
//!
//! Unknown keys are rejected with [`EnvError::BadOption`].

mod advisor;
mod commander;
mod episode;
mod grader;

mod reviewer;
mod text;
mod tools;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use lucid_core::model::Policy;
use lucid_core::spec::{EnvironmentCapabilities, EnvironmentSpec};
use lucid_core::world::beneath::{Beneath, Links};
use lucid_core::world::folder::WorkFolder;
use lucid_core::world::{paths, EnvError, Environment, Episode};

use episode::{Layout, Shared, WorkspaceEpisode, FACT_NAMES};

pub const KIND: &str = "workspace";

/// Tool names.
pub const TOOLS: [&str; 4] = [
    tools::LIST_FILES,
    tools::READ_FILE,
    tools::SEARCH,
    tools::WRITE_FILE,
];

/// Roles the workspace ships scripted policies for.
pub const ROLES: [&str; 4] = ["commander", "reviewer", "advisor", "grader"];

/// The file that marks an output folder as lucid's own.
const MARK: &str = ".lucid-output";
const DEFAULT_OUTPUT: &str = "lucid-output";

/// What the workspace offers a session file: tools, result facts, roles.
pub fn capabilities() -> EnvironmentCapabilities {
    EnvironmentCapabilities {
        folder: true,
        ..lucid_core::world::capabilities(&TOOLS, &FACT_NAMES, &ROLES)
    }
}

/// Why an attempt's output folder could not be made ready; `label` is the folder as the
/// session file names it. `write_file` answers with the sentence.
#[derive(Debug, thiserror::Error)]
enum OutputError {
    #[error("the output folder `{label}` cannot be prepared: {source}")]
    Prepare {
        label: String,
        source: std::io::Error,
    },
    #[error("{source}")]
    List {
        label: String,
        source: std::io::Error,
    },
    #[error("the old `{label}/{name}` cannot be removed: {source}")]
    RemoveStale {
        label: String,
        name: String,
        source: std::io::Error,
    },
}

/// The workspace environment for one root and output folder.
pub struct Workspace {
    root: PathBuf,
    output: PathBuf,
    /// The output folder as written in the session file (for messages).
    output_label: String,
    attempts: AtomicU32,
    /// Where fact commands and `[tools]` commands run: the root, sandboxed (only when
    /// the session has such commands).
    folder: Option<Arc<WorkFolder>>,
}

fn string_option(key: &str, value: &toml::Value) -> Result<String, EnvError> {
    match value {
        toml::Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(EnvError::BadOption {
            key: key.to_string(),
            message: format!("must be a folder path as a non-empty string (it was {value})"),
        }),
    }
}

/// An absolute form of `path` whose existing part is canonical.
fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Ok(real);
    }
    let base = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => absolute(parent)?,
        _ => std::env::current_dir()?,
    };
    Ok(match path.file_name() {
        Some(name) => base.join(name),
        None => base,
    })
}

impl Workspace {
    /// Builds the workspace a session file describes: its options (see the module docs),
    /// relative to the session file's folder, and, when the session runs commands, the
    /// sandbox they run in.
    pub fn for_session(spec: &EnvironmentSpec) -> Result<Self, EnvError> {
        let mut options = spec.options.clone();
        if let Some(root) = &spec.root {
            if options.contains_key("root") {
                return Err(EnvError::BadOption {
                    key: "root".into(),
                    message:
                        "set `root` once: in [environment] or in [environment.options], not both"
                            .into(),
                });
            }
            options.insert("root".into(), toml::Value::String(root.get_ref().clone()));
        }
        let mut workspace = Workspace::new(&options, &spec.base_dir)?;
        if spec.runs_commands {
            let tmp = std::env::temp_dir().join(format!(
                "lucid-workspace-{}",
                lucid_core::event::SessionId::generate()
            ));
            std::fs::create_dir_all(&tmp).map_err(|err| EnvError::BadOption {
                key: "sandbox".into(),
                message: format!("cannot make the commands' temporary folder: {err}"),
            })?;
            // The commands' temporary folder lasts as long as the session's folder.
            let folder =
                WorkFolder::new(spec, workspace.root.clone(), tmp.clone()).inspect_err(|_| {
                    let _ = std::fs::remove_dir_all(&tmp);
                })?;
            workspace.folder = Some(Arc::new(folder.removing_tmp()));
        }
        Ok(workspace)
    }

    /// Checks the options (see the module docs); `base_dir` is the session file's folder.
    pub fn new(options: &toml::Table, base_dir: &Path) -> Result<Self, EnvError> {
        let mut root_option = ".".to_string();
        let mut output_option = DEFAULT_OUTPUT.to_string();
        for (key, value) in options {
            match key.as_str() {
                "root" => root_option = string_option(key, value)?,
                "output" => output_option = string_option(key, value)?,
                other => {
                    return Err(EnvError::BadOption {
                        key: other.to_string(),
                        message:
                            "unknown option for workspace; the options are `root` and `output`"
                                .into(),
                    })
                }
            }
        }
        let bad = |key: &str, message: String| EnvError::BadOption {
            key: key.to_string(),
            message,
        };
        let root = std::fs::canonicalize(base_dir.join(&root_option))
            .map_err(|err| bad("root", format!("`{root_option}` cannot be used: {err}")))?;
        if !root.is_dir() {
            return Err(bad("root", format!("`{root_option}` is not a folder")));
        }
        let output = absolute(&base_dir.join(&output_option))
            .map_err(|err| bad("output", format!("`{output_option}` cannot be used: {err}")))?;
        if output == root || root.starts_with(&output) {
            return Err(bad(
                "output",
                format!("`{output_option}` would contain the root; choose a folder of its own"),
            ));
        }
        if output.exists() {
            if !output.is_dir() {
                return Err(bad("output", format!("`{output_option}` is not a folder")));
            }
            let empty = std::fs::read_dir(&output)
                .map(|mut entries| entries.next().is_none())
                .unwrap_or(false);
            if !empty && !output.join(MARK).exists() {
                return Err(bad(
                    "output",
                    format!(
                        "`{output_option}` already holds files lucid did not write; choose another folder or empty it"
                    ),
                ));
            }
        }
        Ok(Workspace {
            root,
            output,
            output_label: output_option,
            attempts: AtomicU32::new(0),
            folder: None,
        })
    }

    /// Prepares the output folder for attempt `n`: marks it as lucid's, and at the first
    /// attempt removes the attempts of earlier runs.
    fn prepare_output(&self, n: u32) -> Result<(), OutputError> {
        let label = || self.output_label.clone();
        std::fs::create_dir_all(&self.output)
            .and_then(|()| {
                std::fs::write(
                    self.output.join(MARK),
                    "Written by lucid; the attempt-* folders are replaced by the next run.\n",
                )
            })
            .map_err(|source| OutputError::Prepare {
                label: label(),
                source,
            })?;
        let stale = |name: &str| {
            name.strip_prefix("attempt-")
                .and_then(|k| k.parse::<u32>().ok())
                .is_some_and(|k| n == 1 || k == n)
        };
        let entries = std::fs::read_dir(&self.output).map_err(|source| OutputError::List {
            label: label(),
            source,
        })?;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if stale(&name) {
                std::fs::remove_dir_all(entry.path()).map_err(|source| {
                    OutputError::RemoveStale {
                        label: label(),
                        name: name.clone(),
                        source,
                    }
                })?;
            }
        }
        Ok(())
    }
}

/// The files under `start` (relative to the canonical `root`), leaving out the output
/// folder when it is inside the root; read through a handle on the root.
pub(super) fn inventory(root: &Path, output: &Path, start: &str) -> (Vec<paths::FileEntry>, bool) {
    let Ok(handle) = Beneath::open(root, Links::Inside) else {
        return (Vec::new(), false);
    };
    let skip = std::fs::canonicalize(output)
        .ok()
        .and_then(|o| o.strip_prefix(root).ok().map(paths::slash_path));
    paths::inventory(&handle, start, skip.as_deref())
}

impl Environment for Workspace {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn briefing(&self) -> String {
        let (files, cut) = inventory(&self.root, &self.output, "");
        let mut text = format!(
            "The workspace holds {} file{} (paths are relative to its root):\n",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        for file in &files {
            if file.binary {
                text.push_str(&format!(
                    "- {} ({} bytes, not text)\n",
                    file.path, file.bytes
                ));
            } else {
                text.push_str(&format!("- {} ({} lines)\n", file.path, file.lines));
            }
        }
        if cut {
            text.push_str("- … and more (the listing stops there)\n");
        }
        text.push_str(
            "The tools read inside the workspace only. write_file writes only under this attempt's \
             output folder, with paths relative to it; every attempt starts with an empty one.",
        );
        text
    }

    fn policy(&self, role: &str) -> Option<Arc<dyn Policy>> {
        match role {
            "commander" => Some(Arc::new(commander::Commander)),
            "reviewer" => Some(Arc::new(reviewer::Reviewer)),
            "advisor" => Some(Arc::new(advisor::Advisor)),
            "grader" => Some(Arc::new(grader::Grader)),
            _ => None,
        }
    }

    fn folder(&self) -> Option<Arc<WorkFolder>> {
        self.folder.clone()
    }

    fn episode(&self) -> Arc<dyn Episode> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let setup_error = self.prepare_output(n).err().map(|err| err.to_string());
        let (files, _) = inventory(&self.root, &self.output, "");
        let layout = Layout {
            root: self.root.clone(),
            output: self.output.clone(),
            attempt_dir: self.output.join(format!("attempt-{n}")),
            attempt_label: format!("{}/attempt-{n}", self.output_label.trim_end_matches('/')),
        };
        let shared = Shared::new(Arc::new(layout), Arc::new(files), setup_error);
        Arc::new(WorkspaceEpisode::new(shared))
    }
}
