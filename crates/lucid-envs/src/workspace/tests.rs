//! The workspace's tools on a temporary folder: confinement (every escape route),
//! behaviour and errors, facts, and the output folder's life cycle.

use std::sync::Arc;

use serde_json::{json, Value};

use super::Workspace;
use lucid_core::tool::{Tool, ToolOutput};
use lucid_core::world::{EnvError, Environment, Episode};

/// A session folder with `docs/` (the root), `outside/` (a secret next to it) and
/// symlinks from the root to the outside.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("docs");
        std::fs::create_dir_all(root.join("guide")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), "SECRET-VALUE\n").unwrap();
        std::fs::write(
            root.join("README.md"),
            "# Title\nSee [setup](guide/setup.md).\nTODO: more\n",
        )
        .unwrap();
        let long: String = (1..=450).map(|i| format!("line {i}\n")).collect();
        std::fs::write(root.join("guide/setup.md"), long).unwrap();
        std::fs::write(root.join("guide/empty.md"), "").unwrap();
        std::fs::write(root.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 1, 2]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink(dir.path().join("outside/secret.txt"), root.join("leak.txt")).unwrap();
            symlink(dir.path().join("outside"), root.join("leakdir")).unwrap();
            symlink("../outside/missing.txt", root.join("dangling.txt")).unwrap();
            symlink("README.md", root.join("alias.md")).unwrap();
        }
        Fixture { dir }
    }

    fn workspace(&self) -> Workspace {
        self.workspace_with(opts(&[
            ("root", toml::Value::from("docs")),
            ("output", toml::Value::from("out")),
        ]))
    }

    fn workspace_with(&self, options: toml::Table) -> Workspace {
        Workspace::new(&options, self.dir.path()).unwrap()
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.dir.path().join(relative)
    }
}

/// Options from (key, value) pairs.
fn opts(pairs: &[(&str, toml::Value)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

async fn call(episode: &Arc<dyn Episode>, tool: &str, input: Value) -> ToolOutput {
    let tools = episode.tools();
    let found: &Arc<dyn Tool> = tools.iter().find(|t| t.spec().name == tool).unwrap();
    found.call(input).await
}

fn refused(output: &ToolOutput, words: &str) {
    assert!(output.is_error, "expected a refusal, got {output:?}");
    assert!(
        output.content.contains(words),
        "{output:?} should say {words:?}"
    );
    assert!(!output.content.contains("SECRET-VALUE"), "{output:?}");
}

#[tokio::test]
async fn reads_outside_the_root_are_refused_on_every_route() {
    let fixture = Fixture::new();
    let episode = fixture.workspace().episode();
    let secret = fixture.path("outside/secret.txt");
    let absolute = secret.to_string_lossy().into_owned();
    refused(
        &call(&episode, "read_file", json!({"path": absolute})).await,
        "absolute path",
    );
    refused(
        &call(
            &episode,
            "read_file",
            json!({"path": "../outside/secret.txt"}),
        )
        .await,
        "contains `..`",
    );
    refused(
        &call(
            &episode,
            "read_file",
            json!({"path": "guide/../../outside/secret.txt"}),
        )
        .await,
        "contains `..`",
    );
    refused(
        &call(&episode, "read_file", json!({"path": "guide/../README.md"})).await,
        "contains `..`",
    );
    #[cfg(unix)]
    {
        refused(
            &call(&episode, "read_file", json!({"path": "leak.txt"})).await,
            "outside the workspace root",
        );
        refused(
            &call(&episode, "read_file", json!({"path": "leakdir/secret.txt"})).await,
            "outside the workspace root",
        );
        refused(
            &call(&episode, "read_file", json!({"path": "dangling.txt"})).await,
            "outside the workspace root",
        );
        refused(
            &call(&episode, "list_files", json!({"path": "leakdir"})).await,
            "outside the workspace root",
        );
        refused(
            &call(
                &episode,
                "search",
                json!({"pattern": "SECRET", "path": "leakdir"}),
            )
            .await,
            "outside the workspace root",
        );
        // A link that stays inside is an ordinary file.
        let alias = call(&episode, "read_file", json!({"path": "alias.md"})).await;
        assert!(
            !alias.is_error && alias.content.contains("# Title"),
            "{alias:?}"
        );
    }
    refused(
        &call(&episode, "list_files", json!({"path": "/etc"})).await,
        "absolute path",
    );
    refused(
        &call(&episode, "search", json!({"pattern": "x", "path": ".."})).await,
        "contains `..`",
    );
    // Searching everything never reaches the outside through links.
    let all = call(&episode, "search", json!({"pattern": "SECRET"})).await;
    assert!(
        !all.is_error && all.content.starts_with("No matches"),
        "{all:?}"
    );
    let listing = call(&episode, "list_files", json!({})).await;
    assert!(!listing.content.contains("leak"), "{}", listing.content);
    assert!(!listing.content.contains("dangling"), "{}", listing.content);
    let facts = episode.facts();
    let expected_escapes = if cfg!(unix) { 11 } else { 6 };
    assert_eq!(facts["escapes_refused"], json!(expected_escapes));
    assert_eq!(facts["tool_errors"], json!(expected_escapes));
}

#[cfg(unix)]
#[tokio::test]
async fn writes_outside_the_output_folder_are_refused_on_every_route() {
    use std::os::unix::fs::symlink;
    let fixture = Fixture::new();
    let episode = fixture.workspace().episode();
    let target = fixture.path("outside/planted.md");
    let absolute = target.to_string_lossy().into_owned();
    let write = |path: &str| json!({"path": path, "content": "x"});
    refused(
        &call(&episode, "write_file", write(&absolute)).await,
        "absolute path",
    );
    refused(
        &call(&episode, "write_file", write("../escape.md")).await,
        "contains `..`",
    );
    refused(
        &call(&episode, "write_file", write("a/../../escape.md")).await,
        "contains `..`",
    );
    // Links planted in the output folder lead nowhere.
    let attempt = fixture.path("out/attempt-1");
    std::fs::create_dir_all(&attempt).unwrap();
    symlink(fixture.path("outside"), attempt.join("linked")).unwrap();
    symlink(&target, attempt.join("file-link.md")).unwrap();
    refused(
        &call(&episode, "write_file", write("linked/x.md")).await,
        "outside the output folder",
    );
    refused(
        &call(&episode, "write_file", write("file-link.md")).await,
        "outside the output folder",
    );
    assert!(!target.exists() && !fixture.path("outside/x.md").exists());
    assert!(!fixture.path("escape.md").exists() && !fixture.path("out/escape.md").exists());
    assert_eq!(episode.facts()["escapes_refused"], json!(5));
    assert_eq!(episode.facts()["reviews_written"], json!(0));
}

#[tokio::test]
async fn read_file_numbers_lines_pages_and_explains_errors() {
    let fixture = Fixture::new();
    let episode = fixture.workspace().episode();
    let first = call(&episode, "read_file", json!({"path": "guide/setup.md"})).await;
    assert!(!first.is_error);
    assert!(
        first
            .content
            .starts_with("guide/setup.md, lines 1-400 of 450:\n   1 | line 1\n"),
        "{}",
        &first.content[..80]
    );
    assert!(first
        .content
        .ends_with("… lines 401-450 remain; call read_file with start_line 401."));
    assert_eq!(
        episode.facts()["files_read"],
        json!(0),
        "half a file is not read"
    );
    assert_eq!(episode.facts()["files_opened"], json!(1));
    let rest = call(
        &episode,
        "read_file",
        json!({"path": "./guide/setup.md", "start_line": 401}),
    )
    .await;
    assert!(
        rest.content
            .starts_with("guide/setup.md, lines 401-450 of 450:\n 401 | line 401"),
        "{}",
        rest.content
    );
    let range = call(
        &episode,
        "read_file",
        json!({"path": "guide/setup.md", "start_line": 10, "end_line": 12}),
    )
    .await;
    assert_eq!(
        range.content,
        "guide/setup.md, lines 10-12 of 450:\n  10 | line 10\n  11 | line 11\n  12 | line 12"
    );
    refused(
        &call(
            &episode,
            "read_file",
            json!({"path": "guide/setup.md", "start_line": 451}),
        )
        .await,
        "past its end",
    );
    refused(
        &call(
            &episode,
            "read_file",
            json!({"path": "guide/setup.md", "start_line": 5, "end_line": 2}),
        )
        .await,
        "before start_line",
    );
    refused(
        &call(&episode, "read_file", json!({"path": "nope.md"})).await,
        "`nope.md` does not exist",
    );
    refused(
        &call(&episode, "read_file", json!({"path": "guide"})).await,
        "is a folder",
    );
    refused(
        &call(&episode, "read_file", json!({"path": "logo.png"})).await,
        "binary",
    );
    refused(
        &call(&episode, "read_file", json!({"file": "README.md"})).await,
        "invalid arguments",
    );
    let empty = call(&episode, "read_file", json!({"path": "guide/empty.md"})).await;
    assert_eq!(empty.content, "guide/empty.md is empty (0 lines).");
    let facts = episode.facts();
    assert_eq!(facts["files_read"], json!(2));
    assert_eq!(facts["read"], json!(["guide/empty.md", "guide/setup.md"]));
    let total = if cfg!(unix) { 4 } else { 3 };
    assert_eq!(
        facts["files_total"],
        json!(total),
        "text files only: {facts:?}"
    );
    assert_eq!(facts["files_unread"], json!(total - 2));
    assert_eq!(facts["escapes_refused"], json!(0));
}

#[tokio::test]
async fn list_files_and_search() {
    let fixture = Fixture::new();
    let episode = fixture.workspace().episode();
    let all = call(&episode, "list_files", json!({})).await;
    let expected_links = if cfg!(unix) {
        "alias.md  (3 lines)\n"
    } else {
        ""
    };
    assert_eq!(
        all.content,
        format!(
            "{} files under the workspace root (paths relative to the workspace root):\n\
             README.md  (3 lines)\n{expected_links}guide/empty.md  (0 lines)\nguide/setup.md  (450 lines)\nlogo.png  (7 bytes, not text)",
            if cfg!(unix) { 5 } else { 4 }
        )
    );
    let sub = call(&episode, "list_files", json!({"path": "guide/"})).await;
    assert!(
        sub.content.starts_with("2 files under `guide/`"),
        "{}",
        sub.content
    );
    refused(
        &call(&episode, "list_files", json!({"path": "README.md"})).await,
        "is a file",
    );
    refused(
        &call(&episode, "list_files", json!({"path": "missing"})).await,
        "does not exist",
    );

    let hits = call(
        &episode,
        "search",
        json!({"pattern": r"^line 4[0-9]{2}$", "max_results": 2}),
    )
    .await;
    assert_eq!(
        hits.content,
        "51 matches for `^line 4[0-9]{2}$` in 1 file:\nguide/setup.md:400: line 400\nguide/setup.md:401: line 401\n… 49 more; narrow the pattern or the path."
            .replace("in 1 file", if cfg!(unix) { "in 4 files" } else { "in 3 files" })
    );
    let one = call(
        &episode,
        "search",
        json!({"pattern": "(?i)todo", "path": "README.md"}),
    )
    .await;
    assert_eq!(
        one.content,
        "1 match for `(?i)todo` in 1 file:\nREADME.md:3: TODO: more"
    );
    refused(
        &call(&episode, "search", json!({"pattern": "(unclosed"})).await,
        "not a valid regular expression",
    );
    assert_eq!(
        episode.facts()["searches"],
        json!(2),
        "a refused search does not count"
    );
}

#[tokio::test]
async fn write_file_writes_under_the_attempt_folder_and_findings_become_facts() {
    let fixture = Fixture::new();
    let episode = fixture.workspace().episode();
    let review = "# Review\n- README.md:3 — unfinished note. Fix: finish it.\n- guide/setup.md:450 — fine.\n- README.md:99 — past the end.\n- missing.md:1 — no such file.\n";
    let wrote = call(
        &episode,
        "write_file",
        json!({"path": "reviews/a.md", "content": review}),
    )
    .await;
    assert_eq!(
        wrote.content,
        format!(
            "Wrote `reviews/a.md` (5 lines, {} bytes) in the output folder `out/attempt-1`.",
            review.len()
        )
    );
    assert_eq!(
        std::fs::read_to_string(fixture.path("out/attempt-1/reviews/a.md")).unwrap(),
        review
    );
    refused(
        &call(&episode, "write_file", json!({"path": "", "content": "x"})).await,
        "file name",
    );
    refused(
        &call(
            &episode,
            "write_file",
            json!({"path": "reviews", "content": "x"}),
        )
        .await,
        "folder",
    );
    let facts = episode.facts();
    assert_eq!(facts["reviews_written"], json!(1));
    assert_eq!(facts["findings"], json!(2));
    assert_eq!(facts["bad_citations"], json!(2));
    assert_eq!(facts["written"], json!(["reviews/a.md"]));
    // The root is read-only: nothing was written there.
    assert!(!fixture.path("docs/reviews").exists());
}

#[tokio::test]
async fn each_attempt_writes_a_fresh_folder_and_a_new_run_replaces_old_ones() {
    let fixture = Fixture::new();
    let workspace = fixture.workspace();
    let write = json!({"path": "note.md", "content": "one"});
    let first = workspace.episode();
    call(&first, "write_file", write.clone()).await;
    let second = workspace.episode();
    assert_eq!(
        second.facts()["reviews_written"],
        json!(0),
        "a fresh episode"
    );
    call(&second, "write_file", write.clone()).await;
    assert!(fixture.path("out/attempt-1/note.md").exists());
    assert!(fixture.path("out/attempt-2/note.md").exists());
    assert!(fixture.path("out/.lucid-output").exists());
    // The next run starts over: attempt-2 of the old run is gone.
    let again = fixture.workspace();
    let _ = again.episode();
    assert!(!fixture.path("out/attempt-2").exists());
    assert!(!fixture.path("out/attempt-1/note.md").exists());
}

#[tokio::test]
async fn an_output_folder_that_cannot_be_prepared_refuses_writes_and_says_why() {
    let fixture = Fixture::new();
    let workspace = fixture.workspace();
    // Something takes the output folder's place after the session was built.
    std::fs::write(fixture.path("out"), "a file now").unwrap();
    let episode = workspace.episode();
    let output = call(
        &episode,
        "write_file",
        json!({"path": "a.md", "content": "x"}),
    )
    .await;
    refused(&output, "the output folder `out` cannot be prepared: ");
}

#[test]
fn options_are_checked() {
    let fixture = Fixture::new();
    let err = |options: toml::Table| match Workspace::new(&options, fixture.dir.path()) {
        Err(EnvError::BadOption { key, message }) => format!("{key}: {message}"),
        Err(other) => format!("{other}"),
        Ok(_) => "accepted".into(),
    };
    assert!(err(opts(&[("root", toml::Value::from("nowhere"))]))
        .starts_with("root: `nowhere` cannot be used"));
    assert!(err(opts(&[("root", toml::Value::from("docs/README.md"))])).contains("is not a folder"));
    assert!(err(opts(&[("root", toml::Value::from(3))])).contains("must be a folder path"));
    assert!(err(opts(&[("colour", toml::Value::from("red"))])).contains("unknown option"));
    // A folder of someone else's files is never used (nor cleaned) as the output.
    assert!(err(opts(&[
        ("root", toml::Value::from("docs")),
        ("output", toml::Value::from("outside"))
    ]))
    .contains("did not write"));
    assert!(err(opts(&[
        ("root", toml::Value::from("docs/guide")),
        ("output", toml::Value::from("docs"))
    ]))
    .contains("would contain the root"));
    assert!(fixture.path("outside/secret.txt").exists());
    // Defaults: root is the session's folder, output `lucid-output` next to the file.
    let workspace = fixture.workspace_with(toml::Table::new());
    assert_eq!(
        workspace.output,
        fixture
            .dir
            .path()
            .canonicalize()
            .unwrap()
            .join("lucid-output")
    );
}

#[tokio::test]
async fn the_briefing_lists_the_files_without_the_output_folder() {
    let fixture = Fixture::new();
    let workspace = fixture.workspace_with(opts(&[
        ("root", toml::Value::from("docs")),
        ("output", toml::Value::from("docs/out")),
    ]));
    let episode = workspace.episode();
    call(
        &episode,
        "write_file",
        json!({"path": "a.md", "content": "x"}),
    )
    .await;
    let briefing = workspace.briefing();
    assert!(briefing.contains("- README.md (3 lines)\n- "), "{briefing}");
    assert!(
        briefing.contains("- guide/setup.md (450 lines)"),
        "{briefing}"
    );
    assert!(!briefing.contains("out/"), "{briefing}");
    assert!(
        !briefing.contains(&fixture.dir.path().to_string_lossy().into_owned()),
        "no absolute paths"
    );
}

#[test]
fn parallel_writers_may_create_the_same_folder() {
    // Reviewers write side by side; both may find `reviews/` missing and create it.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (base, barrier) = (base.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let folder = lucid_core::world::beneath::Beneath::open(
                        &base,
                        lucid_core::world::beneath::Links::Inside,
                    )
                    .unwrap();
                    folder.write(&format!("reviews/deep/part-{i}.md"), b"x")
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), Ok(false));
        }
        assert_eq!(
            std::fs::read_dir(base.join("reviews/deep"))
                .unwrap()
                .count(),
            8
        );
    }
}

#[tokio::test]
async fn a_path_deeper_than_the_limit_is_refused_and_one_within_it_is_written() {
    let fixture = Fixture::new();
    let episode = fixture.workspace().episode();
    let deep = vec!["a"; 2_000].join("/") + "/f.md";
    let output = call(
        &episode,
        "write_file",
        json!({"path": deep, "content": "x"}),
    )
    .await;
    refused(
        &output,
        "has 2001 parts; paths may go at most 128 parts deep",
    );
    let read = call(&episode, "read_file", json!({"path": deep})).await;
    refused(&read, "parts deep");
    let within = vec!["a"; 127].join("/") + "/f.md";
    let output = call(
        &episode,
        "write_file",
        json!({"path": within, "content": "x"}),
    )
    .await;
    assert!(!output.is_error, "{output:?}");
    assert!(fixture.path("out/attempt-1").join(&within).is_file());
}
