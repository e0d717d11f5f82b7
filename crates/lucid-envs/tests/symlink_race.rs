//! The file tools against a concurrent symlink swapper: a thread exchanges a real folder
//! (or file) inside the root with a symbolic link to the outside, over and over, while the
//! tools read, search, write and edit through it. Not one call may reach the outside.
//!
//! The swap is `renameat2(RENAME_EXCHANGE)`, so at every instant the name is either the
//! inside folder or the link: a tool that checks a path and then opens it by name loses
//! the race now and then; one that opens beneath a folder handle never does. The number
//! of attempts is fixed (no timing in the assertions) and small enough for a few seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use lucid_core::tool::{Tool, ToolOutput};
use lucid_core::world::Environment;

/// Calls of each kind per environment.
const ATTEMPTS: usize = 1_500;

/// Exchanges pairs of names until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Swapper {
    fn start(pairs: Vec<(PathBuf, PathBuf)>) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let (flag, count) = (Arc::clone(&stop), Arc::clone(&swaps));
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                for (a, b) in &pairs {
                    rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        a,
                        rustix::fs::CWD,
                        b,
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Swapper {
            stop,
            swaps,
            thread: Some(thread),
        }
    }

    fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `folder` gets `d/` (a real folder holding `file.txt` = INSIDE), `d_alt` (a link to
/// `outside`), `f.txt` (a link to `inside.txt`) and `f_alt` (a link to the outside secret).
fn plant(folder: &Path, outside: &Path) -> Vec<(PathBuf, PathBuf)> {
    use std::os::unix::fs::symlink;
    std::fs::create_dir_all(folder.join("d")).unwrap();
    std::fs::write(folder.join("d/file.txt"), "INSIDE\n").unwrap();
    std::fs::write(folder.join("inside.txt"), "INSIDE\n").unwrap();
    symlink(outside, folder.join("d_alt")).unwrap();
    symlink("inside.txt", folder.join("f.txt")).unwrap();
    symlink(outside.join("file.txt"), folder.join("f_alt")).unwrap();
    vec![
        (folder.join("d"), folder.join("d_alt")),
        (folder.join("f.txt"), folder.join("f_alt")),
    ]
}

fn outside(dir: &Path) -> PathBuf {
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("file.txt"), "SECRET\n").unwrap();
    outside
}

async fn call(tools: &[Arc<dyn Tool>], name: &str, input: Value) -> ToolOutput {
    let tool = tools.iter().find(|t| t.spec().name == name).unwrap();
    tool.call(input).await
}

/// What the race came to.
#[derive(Debug, Default)]
struct Tally {
    read_escapes: usize,
    reads_inside: usize,
    written_inside: usize,
}

/// Reads and searches through the swapped names; every answer is checked for the secret.
async fn race_reads(tools: &[Arc<dyn Tool>], tally: &mut Tally) {
    for i in 0..ATTEMPTS {
        let (name, input) = match i % 3 {
            0 => ("read_file", json!({"path": "d/file.txt"})),
            1 => ("read_file", json!({"path": "f.txt"})),
            _ => ("search", json!({"pattern": "SECR[E]T|INSIDE", "path": "d"})),
        };
        let output = call(tools, name, input).await;
        if output.content.contains("SECRET") {
            tally.read_escapes += 1;
        } else if !output.is_error && output.content.contains("INSIDE") {
            tally.reads_inside += 1;
        }
    }
}

/// Files under `folder`, recursively (links not followed).
fn count_files(folder: &Path) -> usize {
    let mut count = 0;
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    for entry in entries.flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            count += count_files(&entry.path());
        } else {
            count += 1;
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_tools_never_follow_a_swapped_link_outside() {
    let dir = tempfile::tempdir().unwrap();
    let outside = outside(dir.path());
    let root = dir.path().join("docs");
    std::fs::create_dir_all(&root).unwrap();
    let mut pairs = plant(&root, &outside);
    let options: toml::Table = toml::from_str("root = \"docs\"\noutput = \"out\"").unwrap();
    let workspace = lucid_envs::workspace::Workspace::new(&options, dir.path()).unwrap();
    let episode = workspace.episode();
    let tools = episode.tools();
    // Writes go to the attempt's output folder: plant the same trap there.
    let first = call(
        &tools,
        "write_file",
        json!({"path": "first.md", "content": "x"}),
    )
    .await;
    assert!(!first.is_error, "{first:?}");
    let attempt = dir.path().join("out/attempt-1");
    pairs.extend(plant(&attempt, &outside));
    let before = count_files(&outside);

    let swapper = Swapper::start(pairs);
    let mut tally = Tally::default();
    race_reads(&tools, &mut tally).await;
    for i in 0..ATTEMPTS {
        let path = format!("d/w-{i}.md");
        let output = call(&tools, "write_file", json!({"path": path, "content": "x"})).await;
        if !output.is_error {
            tally.written_inside += 1;
        }
    }
    let swaps = swapper.swaps();
    drop(swapper);

    let write_escapes = count_files(&outside) - before;
    eprintln!("workspace: {tally:?}, write escapes {write_escapes}, {swaps} swaps");
    assert_eq!(
        tally.read_escapes, 0,
        "reads reached the outside: {tally:?}"
    );
    assert_eq!(write_escapes, 0, "writes landed outside the output folder");
    assert!(
        tally.reads_inside > 0 && tally.written_inside > 0,
        "{tally:?}"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("file.txt")).unwrap(),
        "SECRET\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_tools_never_follow_a_swapped_link_outside() {
    let dir = tempfile::tempdir().unwrap();
    let outside = outside(dir.path());
    let project = dir.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let pairs = plant(&project, &outside);
    let mut spec: lucid_core::spec::EnvironmentSpec = toml::from_str(
        "kind = \"project\"\nroot = \"proj\"\nisolation = \"in_place\"\nsandbox = \"off\"",
    )
    .unwrap();
    spec.base_dir = dir.path().to_path_buf();
    spec.work_dir = Some(dir.path().join("work"));
    let environment = lucid_envs::project::Project::new(&spec).unwrap();
    let episode = environment.episode();
    let tools = episode.tools();
    let before = count_files(&outside);

    let swapper = Swapper::start(pairs);
    let mut tally = Tally::default();
    race_reads(&tools, &mut tally).await;
    for i in 0..ATTEMPTS {
        let output = if i % 2 == 0 {
            let path = format!("d/w-{i}.txt");
            call(&tools, "write_file", json!({"path": path, "content": "x"})).await
        } else {
            let edit =
                json!({"path": "d/file.txt", "old_string": "SECRET", "new_string": "CHANGED"});
            call(&tools, "edit_file", edit).await
        };
        if !output.is_error {
            tally.written_inside += 1;
        }
    }
    let swaps = swapper.swaps();
    drop(swapper);

    let write_escapes = count_files(&outside) - before;
    eprintln!("project: {tally:?}, write escapes {write_escapes}, {swaps} swaps");
    assert_eq!(
        tally.read_escapes, 0,
        "reads reached the outside: {tally:?}"
    );
    assert_eq!(write_escapes, 0, "writes landed outside the project");
    assert!(
        tally.reads_inside > 0 && tally.written_inside > 0,
        "{tally:?}"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("file.txt")).unwrap(),
        "SECRET\n",
        "an edit reached the outside"
    );
}
