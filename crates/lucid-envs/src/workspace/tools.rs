//! The workspace tools, bound to one attempt: `list_files`, `read_file` (numbered lines,
//! optional range), `search` (a regular expression over the files) and `write_file`
//! (only under the attempt's output folder).
//!
//! Paths are relative: to the root for reading, to the output folder for writing. Every
//! path is opened beneath a handle on its folder (`Beneath`), so the kernel refuses links
//! that leave, even one swapped in while the call runs. Absolute paths, `..` and symlinks
//! that leave are refused with a tool error that says what to send instead; so are missing files, binary files and bad patterns. Answers
//! never contain absolute paths.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use super::episode::Shared;
use lucid_core::tool::{parse_args, Tool, ToolOutput, ToolSpec};
use lucid_core::world::beneath::{Beneath, Links, Opened};
use lucid_core::world::files::{self, ReadArgs, SearchArgs, MAX_LINES_PER_READ};
use lucid_core::world::paths::{self, PathError};

pub(super) const LIST_FILES: &str = "list_files";
pub(super) const READ_FILE: &str = "read_file";
pub(super) const SEARCH: &str = "search";
pub(super) const WRITE_FILE: &str = "write_file";

/// Matches one `search` shows by default, and at most.
const DEFAULT_MATCHES: usize = 50;
const MAX_MATCHES: usize = 200;
/// Largest file `write_file` writes, in bytes.
const MAX_WRITE_BYTES: usize = 1024 * 1024;

const ROOT: &str = "workspace root";
const OUTPUT: &str = "output folder";

/// Every tool of an attempt.
pub(super) fn all(shared: &Shared) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(ListFiles(shared.clone())),
        Arc::new(ReadFile(shared.clone())),
        Arc::new(Search(shared.clone())),
        Arc::new(WriteFile(shared.clone())),
    ]
}

fn ready(output: ToolOutput) -> BoxFuture<'static, ToolOutput> {
    Box::pin(async move { output })
}

impl Shared {
    /// Counts a refused call and turns it into a tool error.
    fn refuse(&self, tool: &str, message: String, escape: bool) -> ToolOutput {
        let mut state = self.state();
        state.tool_errors += 1;
        if escape {
            state.escapes_refused += 1;
        }
        ToolOutput::error(format!("{tool}: {message}"))
    }

    fn path_error(&self, tool: &str, path: &str, base: &str, err: PathError) -> ToolOutput {
        self.refuse(tool, err.describe(path, base), err.is_escape())
    }

    /// The root, opened so that every path beneath it is resolved by the kernel.
    fn open_root(&self) -> Result<Beneath, PathError> {
        Beneath::open(&self.layout.root, Links::Inside)
            .map_err(|err| PathError::Io(format!("the workspace root cannot be opened: {err}")))
    }

    /// Runs a tool body, counting its refusals.
    fn finish(&self, result: Result<String, (String, bool)>, tool: &str) -> ToolOutput {
        match result {
            Ok(text) => ToolOutput::ok(text),
            Err((message, escape)) => self.refuse(tool, message, escape),
        }
    }
}

fn path_schema(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

struct ListFiles(Shared);

#[derive(Deserialize, Default)]
struct ListArgs {
    #[serde(default)]
    path: Option<String>,
}

impl ListFiles {
    fn run(&self, input: Value) -> ToolOutput {
        let input = if input.is_null() { json!({}) } else { input };
        let args: ListArgs = match parse_args(LIST_FILES, input) {
            Ok(args) => args,
            Err(err) => return self.0.refuse(LIST_FILES, err.content, false),
        };
        let wanted = args.path.unwrap_or_default();
        let layout = &self.0.layout;
        let start = match self.0.open_root().and_then(|root| {
            let relative = paths::normalize(&wanted)?;
            match root.open_path(&relative)? {
                Opened::Folder(_) => Ok(relative),
                _ => Err(PathError::NotAFolder),
            }
        }) {
            Ok(start) => start,
            Err(PathError::NotAFolder) => {
                return self.0.refuse(
                    LIST_FILES,
                    format!("`{wanted}` is a file, not a folder; read it with read_file"),
                    false,
                )
            }
            Err(err) => return self.0.path_error(LIST_FILES, &wanted, ROOT, err),
        };
        let (files, cut) = super::inventory(&layout.root, &layout.output, &start);
        let place = match start {
            p if p.is_empty() => "the workspace root".to_string(),
            p => format!("`{p}/`"),
        };
        let mut text = format!(
            "{} file{} under {place} (paths relative to the workspace root):\n",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        for file in &files {
            if file.binary {
                text.push_str(&format!(
                    "{}  ({} bytes, not text)\n",
                    file.path, file.bytes
                ));
            } else {
                text.push_str(&format!("{}  ({} lines)\n", file.path, file.lines));
            }
        }
        if cut {
            text.push_str(&format!(
                "… the listing stops at {} files; list a subfolder to see more.\n",
                paths::MAX_FILES
            ));
        }
        ToolOutput::ok(text.trim_end())
    }
}

impl Tool for ListFiles {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: LIST_FILES.into(),
            description: "List the files of the workspace (recursively), with their line counts. \
                          Optionally only under a subfolder. Paths are relative to the workspace root."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {"path": path_schema("Subfolder to list, relative to the workspace root; omit for everything.")}
            }),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        ready(self.run(input))
    }
}

struct ReadFile(Shared);

impl ReadFile {
    fn run(&self, input: Value) -> Result<String, (String, bool)> {
        let args: ReadArgs = parse_args(READ_FILE, input).map_err(|e| (e.content, false))?;
        let refusal = |err: PathError| (err.describe(&args.path, ROOT), err.is_escape());
        let name = paths::normalize(&args.path).map_err(refusal)?;
        let root = self.0.open_root().map_err(refusal)?;
        let file = match root.open_path(&name).map_err(refusal)? {
            Opened::File(file) => file,
            Opened::Folder(_) => {
                return Err((
                    format!(
                        "`{}` is a folder; list it with list_files",
                        args.path.trim()
                    ),
                    false,
                ))
            }
            Opened::Other => return Err(refusal(PathError::NotAFile)),
        };
        let text = file
            .text()
            .map_err(|why| (format!("`{name}` cannot be read: {why}"), false))?;
        let (out, range) = files::numbered(&name, &text, args.start_line, args.end_line)
            .map_err(|err| (err.to_string(), false))?;
        self.0.state().ranges.entry(name).or_default().push(range);
        Ok(out)
    }
}

impl Tool for ReadFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: READ_FILE.into(),
            description: format!(
                "Read a text file of the workspace as numbered lines (`  12 | text`), at most \
                 {MAX_LINES_PER_READ} lines a call; give start_line/end_line for a range. Cite \
                 findings as path:line."
            ),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "path": path_schema("File to read, relative to the workspace root."),
                    "start_line": {"type": "integer", "minimum": 1, "description": "First line to show (default 1)."},
                    "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show (default: start_line + 399, or the end)."}
                },
                "required": ["path"]
            }),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        ready(self.0.finish(self.run(input), READ_FILE))
    }
}

struct Search(Shared);

impl Search {
    fn run(&self, input: Value) -> Result<String, (String, bool)> {
        let args: SearchArgs = parse_args(SEARCH, input).map_err(|e| (e.content, false))?;
        let regex = files::pattern(&args.pattern).map_err(|err| (err.to_string(), false))?;
        let layout = &self.0.layout;
        let wanted = args.path.unwrap_or_default();
        let refusal = |err: PathError| (err.describe(&wanted, ROOT), err.is_escape());
        let start = paths::normalize(&wanted).map_err(refusal)?;
        let root = self.0.open_root().map_err(refusal)?;
        let files: Vec<String> = match root.open_path(&start).map_err(refusal)? {
            Opened::Folder(_) => super::inventory(&layout.root, &layout.output, &start)
                .0
                .into_iter()
                .filter(|f| !f.binary)
                .map(|f| f.path)
                .collect(),
            // One file: whether it is text shows when it is read below.
            Opened::File(_) | Opened::Other => vec![start],
        };
        let limit = args
            .max_results
            .unwrap_or(DEFAULT_MATCHES)
            .clamp(1, MAX_MATCHES);
        let mut hits = files::SearchHits::new();
        for path in &files {
            let Ok(Opened::File(file)) = root.open_path(path) else {
                continue;
            };
            let Ok(text) = file.text() else {
                continue;
            };
            hits.scan(path, &text, &regex, limit);
        }
        self.0.state().searches += 1;
        Ok(hits.render(&args.pattern))
    }
}

impl Tool for Search {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: SEARCH.into(),
            description: "Search the workspace's text files, line by line, for a regular expression \
                          (Rust regex syntax; `(?i)` for case-insensitive). Answers `path:line: text` per \
                          match. Optionally only under a subfolder or in one file."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Regular expression, e.g. `TODO|FIXME` or `\\bRPO\\b`."},
                    "path": path_schema("Subfolder or file to search, relative to the workspace root; omit for everything."),
                    "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_MATCHES, "default": DEFAULT_MATCHES}
                },
                "required": ["pattern"]
            }),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        ready(self.0.finish(self.run(input), SEARCH))
    }
}

struct WriteFile(Shared);

#[derive(Deserialize)]
struct WriteArgs {
    path: String,
    content: String,
}

impl WriteFile {
    fn run(&self, input: Value) -> Result<String, (String, bool)> {
        let args: WriteArgs = parse_args(WRITE_FILE, input).map_err(|e| (e.content, false))?;
        if let Some(problem) = &self.0.setup_error {
            return Err((problem.clone(), false));
        }
        if args.content.len() > MAX_WRITE_BYTES {
            return Err((
                format!(
                    "the content is {} bytes; at most {MAX_WRITE_BYTES} are written",
                    args.content.len()
                ),
                false,
            ));
        }
        let relative = paths::normalize(&args.path)
            .map_err(|err| (err.describe(&args.path, OUTPUT), err.is_escape()))?;
        if relative.is_empty() {
            return Err(("give a file name, e.g. `findings.md`".into(), false));
        }
        let layout = &self.0.layout;
        std::fs::create_dir_all(&layout.attempt_dir)
            .map_err(|err| (format!("the output folder cannot be created: {err}"), false))?;
        let base = Beneath::open(&layout.attempt_dir, Links::Inside)
            .map_err(|err| (format!("the output folder cannot be used: {err}"), false))?;
        base.write(&relative, args.content.as_bytes())
            .map_err(|err| (err.describe(&args.path, OUTPUT), err.is_escape()))?;
        self.0
            .state()
            .written
            .insert(relative.clone(), args.content.clone());
        Ok(format!(
            "Wrote `{relative}` ({} lines, {} bytes) in the output folder `{}`.",
            args.content.lines().count(),
            args.content.len(),
            layout.attempt_label
        ))
    }
}

impl Tool for WriteFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: WRITE_FILE.into(),
            description: "Write a text file (created or replaced) in this attempt's output folder; the \
                          path is relative to that folder (e.g. `reviews/part-1.md`), and nothing outside \
                          it can be written. The workspace's own files are read-only."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "path": path_schema("File to write, relative to the output folder."),
                    "content": {"type": "string", "description": "The whole text of the file."}
                },
                "required": ["path", "content"]
            }),
        }
    }

    fn call(&self, input: Value) -> BoxFuture<'static, ToolOutput> {
        ready(self.0.finish(self.run(input), WRITE_FILE))
    }
}
