//! The project environment end to end: a scripted team behind a loopback model server of
//! each protocol (Anthropic, OpenAI) fixes the bundled `sessions/fix-tests` project through
//! the real provider code, the file tools, the sandboxed shell, a `[tools]` command and a
//! real MCP server (the reviewer reads through `@modelcontextprotocol/server-filesystem`); the
//! `tests_pass` fact runs the project's own tests; nothing changes in the project until
//! `lucid apply`, which then refuses when the project moved underneath.
//!
//! The team's script lives here, in the test: it is a stand-in for a model, not a lesson
//! in lucid. Every test copies the bundled project to a folder of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{json, Value};

use lucid_core::event::EventKind;
use lucid_core::model::scripted::ResponseBuilder;
use lucid_core::model::{ContentBlock, ModelRequest, ModelResponse, Policy, Role};
use lucid_testkit::fake::wire::{
    anthropic_events, anthropic_request, openai_chunks, openai_request,
};
use lucid_testkit::fake::{FakeServer, Recorded, Reply};
use lucid_testkit::PolicyRouter;

/// The bundled session and project, copied into `dir`.
fn bundled(dir: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions");
    let project = dir.join("fix-tests");
    std::fs::create_dir_all(&project).unwrap();
    for name in ["stats.py", "test_stats.py", ".gitignore"] {
        std::fs::copy(repo.join("fix-tests").join(name), project.join(name)).unwrap();
    }
    let spec = dir.join("fix-tests.toml");
    std::fs::copy(repo.join("fix-tests.toml"), &spec).unwrap();
    spec
}

/// Tool results so far in the conversation, oldest first.
fn results(request: &ModelRequest) -> Vec<(String, bool)> {
    request
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .flat_map(|m| m.content.iter())
        .filter_map(|block| match block {
            ContentBlock::ToolResult {
                content, is_error, ..
            } => Some((content.clone(), *is_error)),
            _ => None,
        })
        .collect()
}

/// The lead: delegate the fix, then the review, then sum up.
struct Lead;

impl Policy for Lead {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let done = results(request).len();
        let builder = ResponseBuilder::new(format!("lead{done}"));
        match done {
            0 => builder.tool(
                "delegate",
                json!({"specialist": "coder", "subtask": "Make the test suite pass.", "purpose": "fix the cause"}),
            ),
            1 => builder.tool(
                "delegate",
                json!({"specialist": "reviewer", "subtask": "Review the fix in stats.py.", "purpose": "check the change"}),
            ),
            _ => builder.text("The mean divided by n - 1; it now divides by n. The suite passes."),
        }
        .build()
    }
}

/// The coder: reads, runs the tests, edits, runs the tests again, runs one test by name.
struct Coder;

impl Policy for Coder {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let done = results(request);
        let builder = ResponseBuilder::new(format!("coder{}", done.len()));
        match done.len() {
            0 => builder.tool("read_file", json!({"path": "stats.py"})),
            1 => builder.tool("shell", json!({"command": "python3 -m unittest -q"})),
            2 => builder.tool(
                "edit_file",
                json!({"path": "stats.py", "old_string": "(len(values) - 1)", "new_string": "len(values)"}),
            ),
            3 => builder.tool("shell", json!({"command": "python3 -m unittest -q"})),
            4 => builder.tool("run_test", json!({"name": "test_stats.MeanTest.test_mean_of_one"})),
            _ => {
                let transcript: Vec<String> = done.iter().map(|(text, _)| text.clone()).collect();
                builder.text(format!("Fixed the mean. Log:\n{}", transcript.join("\n---\n")))
            }
        }
        .build()
    }
}

/// The reviewer: reads the changed file through the MCP filesystem server (its tools are
/// offered as `fs__…`), then answers with what it read.
struct Reviewer;

impl Policy for Reviewer {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let done = results(request);
        let builder = ResponseBuilder::new(format!("rev{}", done.len()));
        let offered: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
        match done.len() {
            // Where the server may read: the working copy, given to it as `{root}`.
            0 if offered.contains(&"fs__list_allowed_directories") => {
                builder.tool("fs__list_allowed_directories", json!({}))
            }
            0 => builder.text(format!("no MCP tool was offered: {offered:?}")),
            1 => {
                let listing = &done[0].0;
                let root = listing
                    .lines()
                    .map(str::trim)
                    .find(|l| l.starts_with('/'))
                    .unwrap_or("");
                builder.tool(
                    "fs__read_text_file",
                    json!({"path": format!("{root}/stats.py")}),
                )
            }
            _ => builder.text(format!("Reviewed through MCP:\n{}", done[1].0)),
        }
        .build()
    }
}

/// The grader: passes each model-graded criterion it is asked about.
struct Grader;

impl Policy for Grader {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let text = request
            .messages
            .first()
            .map(|m| m.text())
            .unwrap_or_default();
        let section = text.split("## Criteria to judge").nth(1).unwrap_or("");
        let verdicts: Vec<Value> = section
            .lines()
            .filter_map(|l| l.strip_prefix("- "))
            .map(|id| json!({"criterion": id.trim(), "passed": true, "reason": "The code changed, the tests did not.", "fix": ""}))
            .collect();
        ResponseBuilder::new("g")
            .tool("submit_verdicts", json!({ "verdicts": verdicts }))
            .build()
    }
}

#[derive(Clone, Copy, Debug)]
enum Protocol {
    Anthropic,
    OpenAi,
}

/// A loopback model server of `protocol` behind which the team's script plays the model.
fn serve(protocol: Protocol) -> FakeServer {
    let spec = lucid_core::spec::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/fix-tests.toml"),
        &lucid_envs::catalog(),
    )
    .unwrap();
    let router = PolicyRouter::new()
        .system(spec.agents["lead"].prompt.clone(), Arc::new(Lead))
        .system(spec.agents["coder"].prompt.clone(), Arc::new(Coder))
        .system(spec.agents["reviewer"].prompt.clone(), Arc::new(Reviewer))
        .system(lucid_core::outcome::grader::GRADER_SYSTEM, Arc::new(Grader));
    FakeServer::start_blocking(Arc::new(move |recorded: &Recorded, _| {
        let request = match protocol {
            Protocol::Anthropic => anthropic_request(&recorded.body),
            Protocol::OpenAi => openai_request(&recorded.body),
        };
        let Some(policy) = router.pick(&request) else {
            return Reply::status(400, r#"{"error":{"message":"no policy for this prompt"}}"#);
        };
        let response = policy.respond(&request);
        let pieces = match protocol {
            Protocol::Anthropic => anthropic_events(&response, 7),
            Protocol::OpenAi => openai_chunks(&response, 7),
        };
        Reply::Stream {
            pieces,
            cut_after: None,
        }
    }))
}

/// The user config with a `loop` profile of `protocol` at the server.
fn config(dir: &Path, protocol: Protocol, server: &FakeServer) {
    let (provider, base_url) = match protocol {
        Protocol::Anthropic => ("anthropic", server.url.clone()),
        Protocol::OpenAi => ("openai", format!("{}/v1", server.url)),
    };
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[models.loop]\nprovider = \"{provider}\"\nmodel = \"policy\"\nbase_url = \"{base_url}\"\napi_key_env = \"LUCID_TEST_LOOP_KEY\"\nmax_retries = 0\n"
        ),
    )
    .unwrap();
}

fn lucid(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(dir)
        .env("LUCID_CONFIG", dir.join("config.toml"))
        .env("OPENAI_API_KEY", "sk-must-never-reach-a-command")
        .env("LUCID_TEST_LOOP_KEY", "sk-loop")
        .arg("--db")
        .arg(dir.join("store"))
        .args(args)
        .output()
        .unwrap()
}

/// Whether any file under `dir` contains `needle`.
fn tree_holds(dir: &Path, needle: &[u8]) -> bool {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
            {
                return true;
            }
        }
    }
    false
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_scripted_team_fixes_the_project_through_anthropic_and_apply_brings_the_fix_over() {
    fix_and_apply(Protocol::Anthropic);
}

#[test]
fn a_scripted_team_fixes_the_project_through_openai_and_apply_brings_the_fix_over() {
    fix_and_apply(Protocol::OpenAi);
}

fn fix_and_apply(protocol: Protocol) {
    if lucid_core::sandbox::Sandbox::new(lucid_core::sandbox::SandboxPolicy::new("/tmp", "/tmp"))
        .is_err()
    {
        eprintln!("SKIPPED: no sandbox on this machine (neither Landlock nor bubblewrap)");
        return;
    }
    if Command::new("npx").arg("--version").output().is_err() {
        eprintln!("SKIPPED: npx not found (the reviewer reads through an MCP server from npm)");
        return;
    }
    let server = serve(protocol);
    let dir = tempfile::tempdir().unwrap();
    let spec = bundled(dir.path());
    config(dir.path(), protocol, &server);
    let project = dir.path().join("fix-tests");
    let original = std::fs::read_to_string(project.join("stats.py")).unwrap();

    let run = lucid(
        dir.path(),
        &["run", spec.to_str().unwrap(), "--json", "--model", "loop"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["facts"]["tests_pass"], json!(true), "{report:#}");
    assert_eq!(report["facts"]["files_changed"], json!(1), "{report:#}");
    assert_eq!(report["facts"]["shell_commands"], json!(2), "{report:#}");
    let first = &report["outcome"]["iterations"][0]["criteria"];
    assert_eq!(first[0]["id"], "tests_pass");
    assert_eq!(first[0]["passed"], true, "{report:#}");

    // No key reached the store (the events, the working copy, the commands' output).
    for key in ["sk-loop", "sk-must-never-reach-a-command"] {
        assert!(
            !tree_holds(&dir.path().join("store"), key.as_bytes()),
            "{key} was stored"
        );
    }

    // The coder saw the tests fail, then pass, and its own command tool ran one test.
    let session = report["session_id"].as_str().unwrap().to_string();
    let show = lucid(dir.path(), &["sessions", "show", &session, "--json"]);
    assert_eq!(show.status.code(), Some(0), "{}", text(&show));

    // The reviewer read the fixed file through the MCP filesystem server, and the coder's
    // own `[tools]` command ran one test.
    let store = lucid_core::store::Store::open(&dir.path().join("store")).unwrap();
    let events = store.events(session.parse().unwrap()).unwrap();
    drop(store);
    let returned = |tool: &str| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ToolReturned {
                    tool: t, output, ..
                } if t == tool => Some(output.clone()),
                _ => None,
            })
            .collect()
    };
    let read = returned("fs__read_text_file");
    assert_eq!(read.len(), 1, "{events:#?}");
    assert!(
        read[0].contains("return sum(values) / len(values)"),
        "{}",
        read[0]
    );
    let one_test = returned("run_test");
    assert!(
        one_test.len() == 1 && one_test[0].starts_with("exit 0"),
        "{one_test:?}"
    );
    let shells = returned("shell");
    assert!(shells[0].starts_with("exit 1"), "{shells:?}");
    assert!(shells[1].starts_with("exit 0"), "{shells:?}");

    // Nothing changed in the project before apply.
    assert_eq!(
        std::fs::read_to_string(project.join("stats.py")).unwrap(),
        original
    );
    assert!(!project.join("__pycache__").exists());

    let diff = lucid(dir.path(), &["sessions", "diff", &session]);
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff));
    let diff_text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        diff_text.contains("--- a/stats.py\n+++ b/stats.py"),
        "{diff_text}"
    );
    assert!(
        diff_text.contains(
            "-    return sum(values) / (len(values) - 1)\n+    return sum(values) / len(values)"
        ),
        "{diff_text}"
    );
    assert!(
        !diff_text.contains("__pycache__"),
        "ignored files are not changes: {diff_text}"
    );

    // The project moved underneath in the same file: apply refuses and changes nothing.
    std::fs::write(
        project.join("stats.py"),
        format!("{original}# edited by hand\n"),
    )
    .unwrap();
    let refused = lucid(dir.path(), &["apply", &session]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("changed underneath"),
        "{}",
        text(&refused)
    );
    assert!(std::fs::read_to_string(project.join("stats.py"))
        .unwrap()
        .ends_with("# edited by hand\n"));

    std::fs::write(project.join("stats.py"), &original).unwrap();
    let applied = lucid(dir.path(), &["apply", &session]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let tests = Command::new("python3")
        .args(["-m", "unittest", "-q"])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(tests.status.success(), "{}", text(&tests));
    let again = lucid(dir.path(), &["apply", &session]);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again).contains("already applied"), "{}", text(&again));
}

#[tokio::test]
async fn command_tool_arguments_reach_the_program_as_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let spec_text = r#"name = "t"
task = "t"
[environment]
kind = "project"
root = "root"
isolation = "in_place"
[tools.say]
description = "Print a text."
command = ["printf", "%s", "{text}"]
[tools.say.input]
type = "object"
properties.text = { type = "string" }
[agents.lead]
lead = true
model = "test"
tools = ["say"]
[outcome]
[[outcome.criteria]]
id = "c"
description = "d"
check = "tool_errors == 0"
"#;
    let path = dir.path().join("s.toml");
    std::fs::write(&path, spec_text).unwrap();
    let mut spec = lucid_core::spec::load(&path, &lucid_envs::catalog()).unwrap();
    spec.environment.work_dir = Some(dir.path().join("work"));
    let env = match lucid_envs::build(&spec.environment, 1, 1) {
        Ok(env) => env,
        Err(err) => {
            eprintln!("SKIPPED: no sandbox here: {err}");
            return;
        }
    };
    let folder = env.folder().unwrap();
    let tool = lucid_core::world::command_tool::CommandTool::new(
        spec.command_tools["say"].clone(),
        folder,
    );
    use lucid_core::tool::Tool;
    let hostile = "x; touch pwned $(touch pwned2) `touch pwned3` && rm -rf .";
    let output = tool.call(json!({ "text": hostile })).await;
    assert!(!output.is_error, "{}", output.content);
    assert!(output.content.contains(hostile), "{}", output.content);
    for name in ["pwned", "pwned2", "pwned3"] {
        assert!(!root.join(name).exists(), "{name} was created");
    }
    let missing = tool.call(json!({})).await;
    assert!(
        missing.is_error && missing.content.contains("`text` is missing"),
        "{}",
        missing.content
    );
}
