//! Unit tests: parsing, environment filtering, bounded capture, rendering, cwd checks,
//! and supervision without confinement (`off`). Confinement itself is tested per backend
//! in `tests/sandbox.rs`.

use super::*;
use std::ffi::OsString;
use std::time::Instant;

#[test]
fn modes_parse_and_unknown_lists_choices() {
    for mode in SandboxMode::ALL {
        assert_eq!(mode.as_str().parse::<SandboxMode>().unwrap(), mode);
    }
    assert_eq!(SandboxMode::default(), SandboxMode::Required);
    let err = "docker".parse::<SandboxMode>().unwrap_err().to_string();
    for choice in ["required", "landlock", "bubblewrap", "off", "docker"] {
        assert!(err.contains(choice), "{err}");
    }
}

#[test]
fn unavailable_error_says_how_to_get_a_sandbox() {
    let err = SandboxError::Unavailable {
        mode: SandboxMode::Required,
        reason: BackendErrors(vec![BackendError::NoLandlock, BackendError::NoBwrap]),
    }
    .to_string();
    assert!(
        err.contains("enabled at boot); `bwrap` is not installed"),
        "the reasons are joined in order: {err}"
    );
    for needle in [
        "5.13",
        "Landlock",
        "apt-get install bubblewrap",
        "sandbox = \"off\"",
    ] {
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn backend_names_itself() {
    assert_eq!(Backend::Landlock { abi: 7 }.to_string(), "Landlock (ABI 7)");
    assert_eq!(Backend::Bubblewrap.to_string(), "bubblewrap");
}

#[test]
fn secret_looking_names_are_recognised() {
    for name in [
        "OPENAI_API_KEY",
        "foo_apikey",
        "GITHUB_TOKEN",
        "aws_secret_access_key",
        "DB_PASSWORD",
        "MYSQL_PASSWD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SSH_PRIVATE_KEY",
        "AWS_ACCESS_KEY_ID",
    ] {
        assert!(looks_secret(name), "{name}");
    }
    for name in ["PATH", "HOME", "LANG", "CARGO_HOME", "TERM"] {
        assert!(!looks_secret(name), "{name}");
    }
}

#[test]
fn child_env_strips_secrets_and_sets_tmp() {
    let parent: Vec<(OsString, OsString)> = [
        ("PATH", "/usr/bin"),
        ("FOO_API_KEY", "k1"),
        ("anthropic_api_key", "k2"),
        ("MY_DSN", "postgres://u:p@h"),
        ("TMPDIR", "/tmp"),
        ("EDITOR", "vi"),
    ]
    .iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let extra = vec![("EDITOR".to_string(), "nano".to_string())];
    let env = child_env(parent, &["MY_DSN".into()], Path::new("/scratch"), &extra);
    let get = |name: &str| {
        let hits: Vec<_> = env.iter().filter(|(k, _)| k == name).collect();
        assert!(hits.len() <= 1, "{name} set twice");
        hits.first().map(|(_, v)| v.to_string_lossy().into_owned())
    };
    assert_eq!(get("PATH").as_deref(), Some("/usr/bin"));
    assert_eq!(get("FOO_API_KEY"), None);
    assert_eq!(get("anthropic_api_key"), None);
    assert_eq!(get("MY_DSN"), None);
    for name in ["TMPDIR", "TMP", "TEMP"] {
        assert_eq!(get(name).as_deref(), Some("/scratch"));
    }
    assert_eq!(get("EDITOR").as_deref(), Some("nano"));
}

#[test]
fn capture_keeps_small_output_whole() {
    let mut capture = Capture::new(100);
    capture.push(b"hello ");
    capture.push(b"world");
    assert_eq!(capture.text(), "hello world");
    assert_eq!(capture.total(), 11);
    assert_eq!(capture.cut(), 0);
}

#[test]
fn capture_keeps_head_and_tail_within_budget() {
    let mut capture = Capture::new(20);
    for i in 0..1000u32 {
        capture.push(format!("{i:04}\n").as_bytes());
    }
    assert_eq!(capture.total(), 5000);
    assert_eq!(capture.cut(), 4980);
    let text = capture.text();
    assert!(text.starts_with("0000\n0001\n"), "{text}");
    assert!(text.contains("[… 4980 bytes cut …]\n"), "{text}");
    assert!(text.ends_with("0998\n0999\n"), "{text}");
}

#[test]
fn capture_memory_stays_bounded_for_big_chunks() {
    let mut capture = Capture::new(1024);
    let chunk = vec![b'y'; 1 << 20];
    for _ in 0..10 {
        capture.push(&chunk);
    }
    assert_eq!(capture.total(), 10 << 20);
    assert_eq!(capture.cut(), (10 << 20) - 1024);
    assert!(capture.text().len() < 1024 + 64);
}

#[test]
fn a_cut_escape_sequence_cannot_swallow_the_marker() {
    let mut capture = Capture::new(8);
    capture.push(b"abc\x1b[31");
    capture.push(&[b'z'; 100]);
    capture.push(b"\x1b]0;t\x07end");
    let text = capture.text();
    assert!(text.contains("bytes cut"), "{text:?}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

fn output(exit_code: Option<i32>) -> CommandOutput {
    CommandOutput {
        exit_code,
        signal: None,
        timed_out: false,
        cancelled: false,
        stdout: String::new(),
        stderr: String::new(),
        stdout_bytes: 0,
        stderr_bytes: 0,
        duration_ms: 5,
        timeout: Duration::from_secs(DEFAULT_TIMEOUT_S),
    }
}

#[test]
fn render_states_status_and_sections() {
    let mut ok = output(Some(0));
    ok.stdout = "hi\n".into();
    ok.stdout_bytes = 3;
    assert!(ok.success());
    assert_eq!(ok.render(), "exit 0\nstdout:\nhi");
    assert_eq!(CommandOutput::stdout_of(&ok.render()), Some("hi"));
    ok.stderr = "warn".into();
    ok.stderr_bytes = 4;
    assert_eq!(CommandOutput::stdout_of(&ok.render()), Some("hi"));
    let mut failed = output(Some(1));
    failed.stderr = "bad \u{1b}[31mred\u{1b}[0m".into();
    failed.stderr_bytes = 20;
    assert!(!failed.success());
    assert_eq!(failed.render(), "exit 1\nstderr:\nbad red");
    assert_eq!(CommandOutput::stdout_of(&failed.render()), None);
    assert_eq!(output(Some(0)).render(), "exit 0\n(no output)");
    let mut late = output(None);
    late.timed_out = true;
    late.signal = Some(9);
    assert!(late.render().starts_with("killed after 120 s (time limit)"));
    let mut stopped = output(None);
    stopped.cancelled = true;
    assert!(stopped.render().starts_with("cancelled"));
    let mut killed = output(None);
    killed.signal = Some(15);
    assert!(killed.render().starts_with("killed by signal 15"));
}

#[test]
fn cwd_must_stay_inside_the_root() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    std::fs::create_dir(root_path.join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root_path.join("out")).unwrap();
    let ok = resolve_cwd(&root_path, Some(Path::new("sub"))).unwrap();
    assert_eq!(ok, root_path.join("sub"));
    assert_eq!(resolve_cwd(&root_path, None).unwrap(), root_path);
    for bad in ["..", "sub/../..", "out", "missing", "/etc"] {
        let err = resolve_cwd(&root_path, Some(Path::new(bad))).unwrap_err();
        assert!(matches!(err, SandboxError::BadCwd { .. }), "{bad}: {err}");
    }
}

struct Dirs {
    root: tempfile::TempDir,
    tmp: tempfile::TempDir,
}

fn unconfined() -> (Sandbox, Dirs) {
    let dirs = Dirs {
        root: tempfile::tempdir().unwrap(),
        tmp: tempfile::tempdir().unwrap(),
    };
    let mut policy = SandboxPolicy::new(dirs.root.path(), dirs.tmp.path());
    policy.mode = SandboxMode::Off;
    policy.secret_env = vec!["HOME".into()];
    let sandbox = Sandbox::new(policy).unwrap();
    assert_eq!(sandbox.backend(), Backend::None);
    (sandbox, dirs)
}

#[tokio::test]
async fn off_still_strips_secrets_and_sets_tmpdir() {
    let (sandbox, _dirs) = unconfined();
    let mut spec = CommandSpec::argv(["env"]);
    spec.extra_env = vec![("LUCID_PROBE".into(), "1".into())];
    let out = sandbox.run(spec, std::future::pending()).await.unwrap();
    assert!(out.success(), "{}", out.render());
    assert!(out.stdout.contains("LUCID_PROBE=1"));
    assert!(out.stdout.contains("PATH="));
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("HOME=")),
        "secret_env name leaked"
    );
    let tmp = sandbox.policy().tmp.display().to_string();
    assert!(out.stdout.contains(&format!("TMPDIR={tmp}")));
}

#[tokio::test]
async fn off_kills_the_group_on_timeout() {
    let (sandbox, dirs) = unconfined();
    let late = dirs.root.path().join("late");
    let mut spec = CommandSpec::shell(format!(
        "(sleep 1; touch {}) & sleep 100 & sleep 100",
        late.display()
    ));
    spec.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let out = sandbox.run(spec, std::future::pending()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(out.timed_out && !out.success());
    assert_eq!(out.signal, Some(libc::SIGKILL));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!late.exists(), "a grandchild survived the time limit");
}

#[tokio::test]
async fn argv_is_not_run_through_a_shell() {
    let (sandbox, _dirs) = unconfined();
    let spec = CommandSpec::argv(["echo", "$HOME;", "`id`"]);
    let out = sandbox.run(spec, std::future::pending()).await.unwrap();
    assert_eq!(out.stdout, "$HOME; `id`\n");
    let err = sandbox
        .run(
            CommandSpec::argv(Vec::<String>::new()),
            std::future::pending(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Spawn { .. }));
    let missing = CommandSpec::argv(["/nonexistent/program"]);
    let err = sandbox
        .run(missing, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/program"), "{err}");
}

#[tokio::test]
async fn a_bad_cwd_is_refused_before_spawning() {
    let (sandbox, _dirs) = unconfined();
    let mut spec = CommandSpec::shell("pwd");
    spec.cwd = Some("..".into());
    let err = sandbox.run(spec, std::future::pending()).await.unwrap_err();
    assert!(matches!(err, SandboxError::BadCwd { .. }), "{err}");
}

#[tokio::test]
async fn dropping_the_run_future_kills_the_group() {
    let (sandbox, dirs) = unconfined();
    let late = dirs.root.path().join("late");
    let spec = CommandSpec::shell(format!("(sleep 1; touch {}) & sleep 100", late.display()));
    let run = sandbox.run(spec, std::future::pending());
    assert!(tokio::time::timeout(Duration::from_millis(300), run)
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!late.exists(), "a grandchild survived the dropped run");
}

#[test]
fn user_namespace_fallback_enters_a_new_network_namespace() {
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut command = std::process::Command::new("/bin/sh");
    command.args(["-c", "readlink /proc/self/ns/net; cat /proc/self/uid_map"]);
    child::ChildSetup::new(NetCut::UserNamespace, None).install(&mut command);
    let out = match command.output() {
        Ok(out) if out.status.success() => out,
        other => {
            eprintln!("SKIPPED: user namespaces not permitted here: {other:?}");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_ne!(lines.next().unwrap(), own.to_string_lossy());
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(map, [uid.to_string(), uid.to_string(), "1".to_string()]);
}

#[tokio::test]
async fn landlock_tcp_rules_alone_block_connect() {
    let dirs = Dirs {
        root: tempfile::tempdir().unwrap(),
        tmp: tempfile::tempdir().unwrap(),
    };
    let mut policy = SandboxPolicy::new(dirs.root.path(), dirs.tmp.path());
    policy.mode = SandboxMode::Landlock;
    let mut sandbox = match Sandbox::new(policy) {
        Ok(s) => s,
        Err(e) => return eprintln!("SKIPPED: {e}"),
    };
    if !matches!(sandbox.backend(), Backend::Landlock { abi } if abi >= 4) {
        return eprintln!("SKIPPED: Landlock ABI < 4 has no TCP rules");
    }
    // Without any namespace: only the ruleset stands between the command and the port.
    sandbox.net = NetCut::LandlockTcpOnly;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' && echo CONNECTED");
    let out = sandbox
        .run(CommandSpec::shell(probe), std::future::pending())
        .await
        .unwrap();
    assert!(!out.stdout.contains("CONNECTED"), "{}", out.render());
    assert!(out.stderr.contains("Permission denied"), "{}", out.render());
    assert!(listener.accept().is_err());
}
