//! The project tools, working in the session's root (the scratch copy, worktree or the
//! project itself): `list_files`, `read_file`, `search`, `write_file`, `edit_file` and
//! `shell`.
//!
//! Paths are relative to the root and opened beneath a handle on it (`Beneath`), so the
//! kernel refuses symbolic links that leave it, even one swapped in during the call;
//! absolute paths, `..` and such links are refused with a tool error that says what to
//! send instead. Listings and searches
//! honour `.gitignore` and never enter `.git`. `shell` runs a command line in the
//! sandbox; its answer is the exit status and the (bounded, sanitised) output.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use super::episode::ProjectShared;
use lucid_core::sandbox::Program;
use lucid_core::tool::{parse_args, Tool, ToolOutput, ToolSpec};
use lucid_core::world::beneath::{Beneath, Links, Opened};
use lucid_core::world::files::{self, ReadArgs, SearchArgs, MAX_LINES_PER_READ};
use lucid_core::world::paths::{self, PathError};
use lucid_core::world::walk::{walk, WalkOptions};

pub const LIST_FILES: &str = "list_files";
pub const READ_FILE: &str = "read_file";
pub const SEARCH: &str = "search";
pub const WRITE_FILE: &str = "write_file";
pub const EDIT_FILE: &str = "edit_file";
pub const SHELL: &str = "shell";

/// Every tool name, in the order models see them.
pub const ALL: [&str; 6] = [LIST_FILES, READ_FILE, SEARCH, WRITE_FILE, EDIT_FILE, SHELL];

/// Files a listing or search visits at most.
const MAX_FILES: usize = 5_000;
const DEFAULT_MATCHES: usize = 50;
const MAX_MATCHES: usize = 200;
/// Largest file `write_file` and `edit_file` write, in bytes.
const MAX_WRITE_BYTES: usize = 1024 * 1024;
const ROOT: &str = "project root";

/// Every tool, bound to one attempt.
pub(super) fn all(shared: &Arc<ProjectShared>) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(FileTool(LIST_FILES, Arc::clone(shared))),
        Arc::new(FileTool(READ_FILE, Arc::clone(shared))),
        Arc::new(FileTool(SEARCH, Arc::clone(shared))),
        Arc::new(FileTool(WRITE_FILE, Arc::clone(shared))),
        Arc::new(FileTool(EDIT_FILE, Arc::clone(shared))),
        Arc::new(Shell(Arc::clone(shared))),
    ]
}

fn path_schema(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

/// A refusal: the sentence for the model.
type Refusal = String;

fn path_refusal(err: PathError, path: &str) -> Refusal {
    err.describe(path, ROOT)
}

/// A file tool: synchronous work on the root.
struct FileTool(&'static str, Arc<ProjectShared>);

impl Tool for FileTool {
    fn spec(&self) -> ToolSpec {
        spec_of(self.0)
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        let shared = Arc::clone(&self.1);
        let name = self.0;
        Box::pin(async move {
            // Walking and reading a big tree must not hold up the runtime's threads.
            let work = tokio::task::spawn_blocking(move || {
                // Every path is opened beneath this handle: the kernel refuses links out.
                let result = match Beneath::open(&shared.work.root, Links::Inside) {
                    Err(err) => Err(format!("the project root cannot be opened: {err}")),
                    Ok(root) => match name {
                        LIST_FILES => list_files(&root, input),
                        READ_FILE => read_file(&root, input),
                        SEARCH => search(&root, input),
                        WRITE_FILE => write_file(&root, input),
                        _ => edit_file(&root, input),
                    },
                };
                if result.is_err() {
                    shared.count_tool_error();
                }
                result
            });
            match work.await {
                Ok(Ok(text)) => ToolOutput::ok(text),
                Ok(Err(message)) => ToolOutput::error(format!("{name}: {message}")),
                Err(err) => ToolOutput::error(format!("{name}: the call failed: {err}")),
            }
        })
    }
}

fn spec_of(name: &'static str) -> ToolSpec {
    let (description, schema) = match name {
        LIST_FILES => (
            "List the project's files (recursively, honouring .gitignore), optionally under a subfolder. Paths are relative to the project root.".to_string(),
            json!({"type": "object", "properties": {"path": path_schema("Subfolder to list; omit for the whole project.")}}),
        ),
        READ_FILE => (
            format!("Read a text file as numbered lines (`  12 | text`), at most {MAX_LINES_PER_READ} lines a call; give start_line/end_line for a range."),
            json!({"type": "object", "properties": {
                "path": path_schema("File to read, relative to the project root."),
                "start_line": {"type": "integer", "minimum": 1, "description": "First line to show (default 1)."},
                "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show."}
            }, "required": ["path"]}),
        ),
        SEARCH => (
            "Search the project's text files line by line for a regular expression (Rust syntax; `(?i)` ignores case). Answers `path:line: text` per match.".to_string(),
            json!({"type": "object", "properties": {
                "pattern": {"type": "string", "description": "Regular expression, e.g. `fn main` or `TODO|FIXME`."},
                "path": path_schema("Subfolder or file to search; omit for the whole project."),
                "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_MATCHES, "default": DEFAULT_MATCHES}
            }, "required": ["pattern"]}),
        ),
        WRITE_FILE => (
            "Write a whole text file (created or replaced), with a path relative to the project root.".to_string(),
            json!({"type": "object", "properties": {
                "path": path_schema("File to write, relative to the project root."),
                "content": {"type": "string", "description": "The whole text of the file."}
            }, "required": ["path", "content"]}),
        ),
        _ => (
            "Edit a text file by replacing an exact string: `old_string` must occur exactly once (or set replace_all). Copy it from read_file's output without the line numbers.".to_string(),
            json!({"type": "object", "properties": {
                "path": path_schema("File to edit, relative to the project root."),
                "old_string": {"type": "string", "description": "The exact text to replace, including whitespace."},
                "new_string": {"type": "string", "description": "The text to put in its place."},
                "replace_all": {"type": "boolean", "default": false, "description": "Replace every occurrence."}
            }, "required": ["path", "old_string", "new_string"]}),
        ),
    };
    ToolSpec {
        name: name.into(),
        description,
        input_schema: schema,
    }
}

/// The regular files under `start` (relative to the root), honouring .gitignore.
fn text_files(root: &Beneath, start: &str) -> (Vec<String>, bool) {
    let options = WalkOptions {
        gitignore: true,
        skip: &[],
        limit: MAX_FILES,
    };
    let (found, cut) = walk(root, start, &options);
    let files = found.into_iter().filter(|f| !f.link).map(|f| f.path);
    (files.collect(), cut)
}

#[derive(Deserialize)]
struct PathArg {
    #[serde(default)]
    path: Option<String>,
}

fn list_files(root: &Beneath, input: Value) -> Result<String, Refusal> {
    let input = if input.is_null() { json!({}) } else { input };
    let args: PathArg = parse_args(LIST_FILES, input).map_err(|e| e.content)?;
    let wanted = args.path.unwrap_or_default();
    let start = paths::normalize(&wanted).map_err(|e| path_refusal(e, &wanted))?;
    match root
        .open_path(&start)
        .map_err(|e| path_refusal(e, &wanted))?
    {
        Opened::Folder(_) => {}
        _ => {
            return Err(format!(
                "`{wanted}` is a file, not a folder; read it with read_file"
            ))
        }
    }
    let (files, cut) = text_files(root, &start);
    let mut text = format!("{} file(s):\n{}", files.len(), files.join("\n"));
    if cut {
        text.push_str(&format!(
            "\n… the listing stops at {MAX_FILES} files; list a subfolder to see more."
        ));
    }
    Ok(text)
}

/// The text of the file `name` (normalized), or the sentence why not.
fn file_text(root: &Beneath, name: &str, shown: &str) -> Result<String, Refusal> {
    match root.open_path(name).map_err(|e| path_refusal(e, shown))? {
        Opened::File(file) => file
            .text()
            .map_err(|why| format!("`{name}` cannot be read: {why}")),
        Opened::Folder(_) => Err(format!("`{name}` is a folder; list it with list_files")),
        Opened::Other => Err(path_refusal(PathError::NotAFile, shown)),
    }
}

fn read_file(root: &Beneath, input: Value) -> Result<String, Refusal> {
    let args: ReadArgs = parse_args(READ_FILE, input).map_err(|e| e.content)?;
    let name = paths::normalize(&args.path).map_err(|e| path_refusal(e, &args.path))?;
    let text = file_text(root, &name, args.path.trim())?;
    files::numbered(&name, &text, args.start_line, args.end_line)
        .map(|(out, _)| out)
        .map_err(|err| err.to_string())
}

fn search(root: &Beneath, input: Value) -> Result<String, Refusal> {
    let args: SearchArgs = parse_args(SEARCH, input).map_err(|e| e.content)?;
    let regex = files::pattern(&args.pattern).map_err(|err| err.to_string())?;
    let wanted = args.path.unwrap_or_default();
    let start = paths::normalize(&wanted).map_err(|e| path_refusal(e, &wanted))?;
    let candidates = match root
        .open_path(&start)
        .map_err(|e| path_refusal(e, &wanted))?
    {
        Opened::Folder(_) => text_files(root, &start).0,
        Opened::File(_) | Opened::Other => vec![start],
    };
    let limit = args
        .max_results
        .unwrap_or(DEFAULT_MATCHES)
        .clamp(1, MAX_MATCHES);
    let mut hits = files::SearchHits::new();
    for path in &candidates {
        let Ok(Opened::File(file)) = root.open_path(path) else {
            continue;
        };
        let Ok(text) = file.text() else {
            continue;
        };
        hits.scan(path, &text, &regex, limit);
    }
    Ok(hits.render(&args.pattern))
}

#[derive(Deserialize)]
struct WriteArgs {
    path: String,
    content: String,
}

fn write_file(root: &Beneath, input: Value) -> Result<String, Refusal> {
    let args: WriteArgs = parse_args(WRITE_FILE, input).map_err(|e| e.content)?;
    if args.content.len() > MAX_WRITE_BYTES {
        return Err(format!(
            "the content is {} bytes; at most {MAX_WRITE_BYTES} are written",
            args.content.len()
        ));
    }
    let name = paths::normalize(&args.path).map_err(|e| path_refusal(e, &args.path))?;
    let existed = root
        .write(&name, args.content.as_bytes())
        .map_err(|e| path_refusal(e, &args.path))?;
    Ok(format!(
        "{} `{name}` ({} lines, {} bytes).",
        if existed { "Replaced" } else { "Created" },
        args.content.lines().count(),
        args.content.len()
    ))
}

#[derive(Deserialize)]
struct EditArgs {
    path: String,
    old_string: String,
    new_string: String,
    #[serde(default)]
    replace_all: bool,
}

fn edit_file(root: &Beneath, input: Value) -> Result<String, Refusal> {
    let args: EditArgs = parse_args(EDIT_FILE, input).map_err(|e| e.content)?;
    let name = paths::normalize(&args.path).map_err(|e| path_refusal(e, &args.path))?;
    if let Ok(Opened::Folder(_)) = root.open_path(&name) {
        return Err(format!("`{name}` is a folder, not a file"));
    }
    if args.old_string.is_empty() {
        return Err(
            "`old_string` is empty; to create or replace a whole file use write_file".into(),
        );
    }
    let text = file_text(root, &name, args.path.trim())?;
    let count = text.matches(&args.old_string).count();
    let edited = match count {
        0 => {
            return Err(format!(
                "`old_string` does not occur in `{name}`; read the file and copy the text exactly (whitespace included, line numbers left out)"
            ))
        }
        1 => text.replacen(&args.old_string, &args.new_string, 1),
        n if args.replace_all => {
            let _ = n;
            text.replace(&args.old_string, &args.new_string)
        }
        n => {
            return Err(format!(
                "`old_string` occurs {n} times in `{name}`; include more of the surrounding text so it is unique, or set replace_all"
            ))
        }
    };
    if edited.len() > MAX_WRITE_BYTES {
        return Err(format!(
            "the edited file would be {} bytes; at most {MAX_WRITE_BYTES} are written",
            edited.len()
        ));
    }
    root.write(&name, edited.as_bytes())
        .map_err(|e| path_refusal(e, &args.path))?;
    Ok(format!(
        "Edited `{name}`: replaced {count} occurrence{}.",
        if count == 1 { "" } else { "s" }
    ))
}

/// `shell`: a command line in the sandbox, in the root.
struct Shell(Arc<ProjectShared>);

#[derive(Deserialize)]
struct ShellArgs {
    command: String,
    #[serde(default)]
    timeout_s: Option<u64>,
}

impl Tool for Shell {
    fn spec(&self) -> ToolSpec {
        let folder = &self.0.folder;
        ToolSpec {
            name: SHELL.into(),
            description: format!(
                "Run a shell command line (/bin/sh -c) in the project root, e.g. `cargo test` or `git diff`. \
                 Writes are allowed only inside the project; {}; time limit {} s. Answers the exit status and the output (long output keeps its head and tail).",
                if folder.sandbox.policy().network { "the network is allowed" } else { "there is no network" },
                folder.shell_timeout.as_secs()
            ),
            input_schema: json!({"type": "object", "properties": {
                "command": {"type": "string", "description": "The command line."},
                "timeout_s": {"type": "integer", "minimum": 1, "description": "Seconds it may run (at most the session's limit)."}
            }, "required": ["command"]}),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        let shared = Arc::clone(&self.0);
        Box::pin(async move {
            let args: ShellArgs = match parse_args(SHELL, input) {
                Ok(args) => args,
                Err(err) => {
                    shared.count_tool_error();
                    return err;
                }
            };
            if args.command.trim().is_empty() {
                shared.count_tool_error();
                return ToolOutput::error("shell: the command is empty");
            }
            let limit = shared.folder.shell_timeout;
            let timeout = args
                .timeout_s
                .map(|s| std::time::Duration::from_secs(s.max(1)).min(limit));
            let run = shared
                .folder
                .run(
                    Program::Shell(args.command.clone()),
                    timeout,
                    std::future::pending(),
                )
                .await;
            match run {
                Ok(output) => {
                    shared.record_command(&args.command, &output);
                    let text = output.render();
                    if output.success() {
                        ToolOutput::ok(text)
                    } else {
                        ToolOutput::error(text)
                    }
                }
                Err(err) => {
                    shared.count_tool_error();
                    ToolOutput::error(format!("shell: {err}"))
                }
            }
        })
    }
}
