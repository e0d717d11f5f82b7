//! The MCP client against real servers: the in-repo fault server (python3) for crashes,
//! hangs, malformed answers and startup failures; the reference servers from npm
//! (`server-everything` over stdio and streamable HTTP, `server-filesystem`), started
//! through `npx -y` (skipped with a note when npx is missing); a fake HTTP endpoint for
//! the bearer token.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lucid_core::tool::mcp::{McpError, McpServerEntry, McpServerSpec, McpServers, SEPARATOR};
use lucid_core::tool::{Tool, ToolOutput};
use serde_json::json;

const EVERYTHING: &str = "@modelcontextprotocol/server-everything@2026.8.31";
const FILESYSTEM: &str = "@modelcontextprotocol/server-filesystem@2026.8.31";

fn fault_server() -> String {
    format!(
        "{}/tests/fixtures/mcp_fault_server.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The fault server as `name`, in startup `mode`, with short timeouts.
fn fault_spec(name: &str, mode: &str, startup_s: u64, tool_s: u64) -> McpServerSpec {
    let mut env = BTreeMap::new();
    env.insert("MCP_FAULT_MODE".to_string(), mode.to_string());
    McpServerEntry {
        command: Some("python3".into()),
        args: vec![fault_server()],
        env,
        startup_timeout_s: Some(startup_s),
        tool_timeout_s: Some(tool_s),
        ..McpServerEntry::default()
    }
    .resolve(name)
    .unwrap()
}

fn tool_named(tools: &[Arc<dyn Tool>], name: &str) -> Arc<dyn Tool> {
    tools
        .iter()
        .find(|t| t.spec().name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no tool {name}"))
}

fn patterns(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn refused(servers: &McpServers, wanted: &[String]) -> McpError {
    match servers.tools(wanted) {
        Ok(tools) => panic!("{} tools for {wanted:?}", tools.len()),
        Err(err) => err,
    }
}

fn alive(pid: i64) -> bool {
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// Waits up to 10 s for `pid` to be gone.
async fn gone(pid: i64) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn pids(servers: &McpServers) -> (i64, i64) {
    let tool = tool_named(
        &servers.tools(&patterns(&["fault.pids"])).unwrap(),
        "fault__pids",
    );
    let out = tool.call(json!({})).await;
    let value: serde_json::Value = serde_json::from_str(&out.content).unwrap();
    (
        value["pid"].as_i64().unwrap(),
        value["child"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn fault_server_tools_are_named_for_models_called_and_sanitised() {
    let servers = McpServers::start(vec![fault_spec("fault", "", 20, 10)])
        .await
        .unwrap();
    let tools = servers.tools(&patterns(&["fault.*"])).unwrap();
    let names: Vec<String> = tools.iter().map(|t| t.spec().name).collect();
    assert!(names.contains(&"fault__ok".to_string()), "{names:?}");
    // `dotted.name` is not a valid model tool name: exposed sanitised, called by its real name
    assert!(
        names.contains(&"fault__dotted_name".to_string()),
        "{names:?}"
    );
    assert_eq!(
        servers.exposed_name("fault", "dotted.name"),
        Some("fault__dotted_name")
    );
    let dotted = tool_named(&tools, "fault__dotted_name");
    assert_eq!(
        dotted.call(json!({})).await,
        ToolOutput::ok("dotted tool answered")
    );

    let ok = tool_named(&tools, "fault__ok");
    assert_eq!(
        ok.spec().description,
        "Answers with the message it was given."
    );
    assert_eq!(
        ok.spec().input_schema["properties"]["message"]["type"],
        "string"
    );
    let out = ok
        .call(json!({"message": "hi \u{1b}[2J\u{1b}]0;title\u{7}there"}))
        .await;
    assert_eq!(out, ToolOutput::ok("ok: hi there"));
    // arguments that are not an object are the model's mistake, not the server's
    let bad = ok.call(json!("oops")).await;
    assert!(bad.is_error && !bad.fatal, "{bad:?}");

    let listing = servers.listing();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].0, "fault");
    assert!(listing[0].1.iter().any(|spec| spec.name == "dotted.name"));

    let only = servers.tools(&patterns(&["fault.ok", "fault.*"])).unwrap();
    assert_eq!(only.len(), tools.len(), "each tool once");
    servers.shutdown().await;
}

#[tokio::test]
async fn a_server_crashing_mid_call_is_fatal_with_its_stderr_tail() {
    let servers = McpServers::start(vec![fault_spec("fault", "", 20, 10)])
        .await
        .unwrap();
    let crash = tool_named(
        &servers.tools(&patterns(&["fault.crash"])).unwrap(),
        "fault__crash",
    );
    let out = crash.call(json!({})).await;
    assert!(out.fatal && out.is_error, "{out:?}");
    assert!(
        out.content.contains("MCP server `fault` crashed"),
        "{}",
        out.content
    );
    assert!(
        out.content
            .contains("crashing on purpose in the middle of a call"),
        "{}",
        out.content
    );
    servers.shutdown().await;
}

#[tokio::test]
async fn a_hanging_call_is_fatal_within_the_tool_timeout() {
    let servers = McpServers::start(vec![fault_spec("fault", "", 20, 1)])
        .await
        .unwrap();
    let hang = tool_named(
        &servers.tools(&patterns(&["fault.hang"])).unwrap(),
        "fault__hang",
    );
    let started = Instant::now();
    let out = hang.call(json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(out.fatal, "{out:?}");
    assert!(
        out.content
            .contains("MCP server `fault` did not answer `hang` within 1 s"),
        "{}",
        out.content
    );
    servers.shutdown().await;
}

#[tokio::test]
async fn a_malformed_result_is_a_tool_error_and_the_server_stays_usable() {
    let servers = McpServers::start(vec![fault_spec("fault", "", 20, 5)])
        .await
        .unwrap();
    let tools = servers
        .tools(&patterns(&["fault.malformed", "fault.ok"]))
        .unwrap();
    let out = tool_named(&tools, "fault__malformed").call(json!({})).await;
    assert!(out.is_error && !out.fatal, "{out:?}");
    assert!(out.content.contains("malformed result"), "{}", out.content);
    let ok = tool_named(&tools, "fault__ok")
        .call(json!({"message": "still here"}))
        .await;
    assert_eq!(ok, ToolOutput::ok("ok: still here"));
    servers.shutdown().await;
}

#[tokio::test]
async fn a_server_that_exits_at_start_is_named_with_its_stderr() {
    let started = McpServers::start(vec![
        fault_spec("healthy", "", 20, 5),
        fault_spec("broken", "exit_at_start", 20, 5),
    ])
    .await;
    let err = started.unwrap_err();
    assert!(matches!(err, McpError::Start { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("MCP server `broken` could not start"),
        "{text}"
    );
    assert!(text.contains("refusing to start (exit_at_start)"), "{text}");
    assert!(text.contains("exit status: 3"), "{text}");
}

#[tokio::test]
async fn a_server_that_never_initialises_times_out_by_name() {
    let started = Instant::now();
    let err = McpServers::start(vec![fault_spec("mute", "silent_start", 1, 5)])
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, McpError::Timeout { server, seconds: 1, .. } if server == "mute"),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("MCP server `mute` did not start within 1 s"));
}

#[tokio::test]
async fn a_missing_command_is_a_start_error() {
    let spec = McpServerEntry {
        command: Some("/nonexistent/lucid-mcp-server".into()),
        ..McpServerEntry::default()
    }
    .resolve("ghost")
    .unwrap();
    let err = McpServers::start(vec![spec]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("MCP server `ghost` could not start"),
        "{text}"
    );
    assert!(text.contains("/nonexistent/lucid-mcp-server"), "{text}");
}

#[tokio::test]
async fn shutdown_kills_the_server_and_its_process_group() {
    let servers = McpServers::start(vec![fault_spec("fault", "", 20, 5)])
        .await
        .unwrap();
    let (pid, child) = pids(&servers).await;
    assert!(alive(pid) && alive(child));
    servers.shutdown().await;
    assert!(gone(pid).await, "server {pid} survived shutdown");
    assert!(gone(child).await, "its child {child} survived shutdown");
}

#[tokio::test]
async fn dropping_the_servers_kills_their_process_groups() {
    let servers = McpServers::start(vec![fault_spec("fault", "", 20, 5)])
        .await
        .unwrap();
    let (pid, child) = pids(&servers).await;
    drop(servers);
    assert!(gone(pid).await, "server {pid} survived drop");
    assert!(gone(child).await, "its child {child} survived drop");
}

#[tokio::test]
async fn patterns_naming_unknown_servers_or_tools_are_refused_with_what_exists() {
    let servers = McpServers::start(vec![
        fault_spec("fault", "", 20, 5),
        fault_spec("fault.x", "", 20, 5),
    ])
    .await
    .unwrap();
    // a dotted server name: the longest server name that fits wins
    let tools = servers
        .tools(&patterns(&["fault.x.ok", "fault.ok"]))
        .unwrap();
    let names: Vec<String> = tools.iter().map(|t| t.spec().name).collect();
    assert_eq!(names, vec!["fault__ok", "fault_x__ok"]);
    assert_eq!(servers.listing().len(), 2);
    let err = refused(&servers, &patterns(&["nope.*"]));
    assert!(matches!(err, McpError::UnknownServer { .. }), "{err:?}");
    assert!(err.to_string().contains("`nope.*`") && err.to_string().contains("fault"));
    let err = refused(&servers, &patterns(&["fault.nope"]));
    let text = err.to_string();
    assert!(
        text.contains("no tool `nope`") && text.contains("crash"),
        "{text}"
    );
    let err = refused(&servers, &patterns(&["fault"]));
    assert!(matches!(err, McpError::BadPattern { .. }), "{err:?}");
    assert!(servers.tools(&[]).unwrap().is_empty());
    servers.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Real servers from npm

fn npx_available() -> bool {
    let found = std::process::Command::new("npx")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        println!("SKIPPED: npx not found");
    }
    found
}

fn npx_spec(name: &str, args: &[&str]) -> McpServerSpec {
    let mut all = vec!["-y".to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    McpServerEntry {
        command: Some("npx".into()),
        args: all,
        // the first run may download the package
        startup_timeout_s: Some(180),
        tool_timeout_s: Some(30),
        ..McpServerEntry::default()
    }
    .resolve(name)
    .unwrap()
}

/// Calls `server-everything`'s echo, sum and image tools through `servers`.
async fn exercise_everything(servers: &McpServers) {
    let tools = servers.tools(&patterns(&["everything.*"])).unwrap();
    let names: Vec<String> = tools.iter().map(|t| t.spec().name).collect();
    for name in [
        "everything__echo",
        "everything__get-sum",
        "everything__get-tiny-image",
    ] {
        assert!(
            names.contains(&name.to_string()),
            "{name} missing from {names:?}"
        );
    }
    assert!(names
        .iter()
        .all(|n| n.starts_with(&format!("everything{SEPARATOR}"))));

    let echo = tool_named(&tools, "everything__echo");
    assert!(echo.spec().input_schema["properties"]["message"].is_object());
    let out = echo.call(json!({"message": "hello mcp"})).await;
    assert_eq!(out, ToolOutput::ok("Echo: hello mcp"));

    let sum = tool_named(&tools, "everything__get-sum");
    let out = sum.call(json!({"a": 2, "b": 40})).await;
    assert!(!out.is_error && out.content.contains("42"), "{out:?}");

    let image = tool_named(&tools, "everything__get-tiny-image");
    let out = image.call(json!({})).await;
    assert!(!out.is_error, "{out:?}");
    assert!(
        out.content.contains("[image: image/png, "),
        "{}",
        out.content
    );
    assert!(
        !out.content.contains("iVBOR"),
        "base64 leaked: {}",
        out.content
    );

    let one = servers.tools(&patterns(&["everything.echo"])).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].spec().name, "everything__echo");
    let err = refused(servers, &patterns(&["everything.nope"]));
    let text = err.to_string();
    assert!(
        text.contains("`nope`") && text.contains("get-sum"),
        "{text}"
    );
    let err = refused(servers, &patterns(&["nothing.echo"]));
    assert!(err.to_string().contains("`nothing.echo`"), "{err}");
}

#[tokio::test]
async fn server_everything_over_stdio() {
    if !npx_available() {
        return;
    }
    let servers = McpServers::start(vec![npx_spec("everything", &[EVERYTHING, "stdio"])])
        .await
        .unwrap();
    exercise_everything(&servers).await;
    servers.shutdown().await;
}

#[tokio::test]
async fn server_everything_over_streamable_http() {
    if !npx_available() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new("npx")
        .args(["-y", EVERYTHING, "streamableHttp"])
        .env("PORT", port.to_string())
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let group = server.id().unwrap() as libc::pid_t;
    let deadline = Instant::now() + Duration::from_secs(180);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "server-everything never listened"
        );
        assert!(
            server.try_wait().unwrap().is_none(),
            "server-everything exited"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let spec = McpServerEntry {
        url: Some(format!("http://127.0.0.1:{port}/mcp")),
        startup_timeout_s: Some(30),
        tool_timeout_s: Some(30),
        ..McpServerEntry::default()
    }
    .resolve("everything")
    .unwrap();
    let servers = McpServers::start(vec![spec]).await.unwrap();
    exercise_everything(&servers).await;

    // the server dies mid-session: the next call ends the run, naming it
    unsafe { libc::killpg(group, libc::SIGKILL) };
    let _ = server.wait().await;
    let echo = tool_named(
        &servers.tools(&patterns(&["everything.echo"])).unwrap(),
        "everything__echo",
    );
    let started = Instant::now();
    let out = echo.call(json!({"message": "anyone?"})).await;
    assert!(out.fatal, "{out:?}");
    assert!(
        out.content.contains("MCP server `everything`"),
        "{}",
        out.content
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    servers.shutdown().await;
}

#[tokio::test]
async fn server_filesystem_reads_writes_and_refuses_paths_outside_its_root() {
    if !npx_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    std::fs::write(root_path.join("notes.txt"), "first line\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().canonicalize().unwrap().join("secret.txt");
    std::fs::write(&secret, "do not read").unwrap();

    let spec = npx_spec("fs", &[FILESYSTEM, "{root}"]).expand_root(&root_path);
    let servers = McpServers::start(vec![spec]).await.unwrap();
    let tools = servers
        .tools(&patterns(&[
            "fs.list_directory",
            "fs.read_file",
            "fs.write_file",
        ]))
        .unwrap();
    assert_eq!(tools.len(), 3);

    let write = tool_named(&tools, "fs__write_file");
    let target = root_path.join("made.txt");
    let out = write
        .call(json!({"path": target.to_str().unwrap(), "content": "written by lucid"}))
        .await;
    assert!(!out.is_error, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "written by lucid"
    );

    let list = tool_named(&tools, "fs__list_directory");
    let out = list
        .call(json!({"path": root_path.to_str().unwrap()}))
        .await;
    assert!(!out.is_error, "{out:?}");
    assert!(out.content.contains("[FILE] notes.txt"), "{}", out.content);
    assert!(out.content.contains("[FILE] made.txt"), "{}", out.content);

    let read = tool_named(&tools, "fs__read_file");
    let out = read
        .call(json!({"path": root_path.join("notes.txt").to_str().unwrap()}))
        .await;
    assert_eq!(out, ToolOutput::ok("first line\n"));

    let out = read.call(json!({"path": secret.to_str().unwrap()})).await;
    assert!(out.is_error && !out.fatal, "{out:?}");
    assert!(!out.content.contains("do not read"), "{}", out.content);
    assert!(
        out.content.to_lowercase().contains("denied"),
        "{}",
        out.content
    );
    servers.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// The bearer token

/// A loopback HTTP endpoint answering 401 to everything; returns its URL and the
/// Authorization headers it saw.
async fn unauthorized_endpoint() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request).to_string();
                for line in head.lines() {
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        record.lock().unwrap().push(line.to_string());
                    }
                }
                let body = "{\"error\": \"unauthorized\"}";
                let response = format!(
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn the_bearer_token_is_sent_but_never_shown() {
    const TOKEN: &str = "lucid-test-token-5f1e9c77";
    const VAR: &str = "LUCID_MCP_TEST_BEARER_TOKEN";
    std::env::set_var(VAR, TOKEN);
    let (url, seen) = unauthorized_endpoint().await;
    let entry = McpServerEntry {
        url: Some(url),
        bearer_token_env: Some(VAR.into()),
        startup_timeout_s: Some(10),
        ..McpServerEntry::default()
    };
    let spec = entry.resolve("remote").unwrap();
    for shown in [format!("{entry:?}"), format!("{spec:?}")] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains(VAR), "{shown}");
    }
    let err = McpServers::start(vec![spec]).await.unwrap_err();
    let (display, debug) = (err.to_string(), format!("{err:?}"));
    assert!(display.contains("MCP server `remote`"), "{display}");
    assert!(display.contains("401"), "{display}");
    assert!(!display.contains("rmcp::transport"), "{display}");
    assert!(
        !display.contains(TOKEN) && !debug.contains(TOKEN),
        "{display}\n{debug}"
    );
    let headers = seen.lock().unwrap().clone();
    assert!(
        headers
            .iter()
            .any(|h| h.ends_with(&format!("Bearer {TOKEN}"))),
        "the token was not sent: {headers:?}"
    );
}

#[tokio::test]
async fn a_missing_token_variable_is_named() {
    let spec = McpServerEntry {
        url: Some("http://127.0.0.1:9/mcp".into()),
        bearer_token_env: Some("LUCID_MCP_TEST_UNSET_TOKEN_VAR".into()),
        ..McpServerEntry::default()
    }
    .resolve("remote")
    .unwrap();
    let err = McpServers::start(vec![spec]).await.unwrap_err();
    assert!(matches!(err, McpError::MissingToken { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("LUCID_MCP_TEST_UNSET_TOKEN_VAR") && text.contains("`remote`"));
}

#[tokio::test]
async fn an_unreachable_https_server_is_a_start_error_naming_it() {
    // also proves the TLS provider is in place: reqwest would panic without one
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = McpServerEntry {
        url: Some(format!("https://127.0.0.1:{port}/mcp")),
        startup_timeout_s: Some(10),
        ..McpServerEntry::default()
    }
    .resolve("faraway")
    .unwrap();
    let err = McpServers::start(vec![spec]).await.unwrap_err();
    assert!(matches!(err, McpError::Start { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("MCP server `faraway` could not start"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stdio_server_sees_no_secret_variables_unless_passed_through() {
    // Names no other test reads, so setting them here races with nothing.
    std::env::set_var("LUCID_MCP_TEST_API_KEY", "sk-secret");
    std::env::set_var("LUCID_MCP_TEST_PASSED_TOKEN", "tok");
    std::env::set_var("LUCID_MCP_TEST_PLAIN", "plain");
    std::env::set_var("LUCID_MCP_TEST_MYCORP_LLM", "a key under a plain name");
    let mut spec_entry = McpServerEntry {
        command: Some("python3".into()),
        args: vec![fault_server()],
        env_vars: vec!["LUCID_MCP_TEST_PASSED_TOKEN".into()],
        ..McpServerEntry::default()
    };
    spec_entry
        .env
        .insert("MCP_FAULT_MODE".into(), String::new());
    // A profile's key variable is hidden whatever its name.
    let spec = spec_entry
        .resolve("fault")
        .unwrap()
        .hiding(&["LUCID_MCP_TEST_MYCORP_LLM".to_string()]);
    let servers = McpServers::start(vec![spec]).await.unwrap();
    let tools = servers.tools(&patterns(&["fault.env"])).unwrap();
    let names = tool_named(&tools, "fault__env")
        .call(json!({}))
        .await
        .content;
    assert!(!names.contains("LUCID_MCP_TEST_API_KEY"), "{names}");
    assert!(!names.contains("LUCID_MCP_TEST_MYCORP_LLM"), "{names}");
    assert!(names.contains("LUCID_MCP_TEST_PASSED_TOKEN"), "{names}");
    assert!(names.contains("LUCID_MCP_TEST_PLAIN"), "{names}");
    servers.shutdown().await;
}
