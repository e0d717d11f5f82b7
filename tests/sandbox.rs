//! The sandbox, tested from outside through `lucid_core::sandbox`: every confinement test runs
//! against each backend available here (Landlock, bubblewrap), skipping visibly when one
//! is missing. Escape attempts are counted in `escapes`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

#[path = "sandbox/common.rs"]
mod common;
#[path = "sandbox/escapes.rs"]
mod escapes;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{fixture, CONFINED};
use lucid_core::sandbox::{Backend, CommandSpec, Program, Sandbox, SandboxMode, SandboxPolicy};

#[tokio::test]
async fn writes_stay_inside_the_root() {
    for mode in CONFINED {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let (root, out) = (f.root(), f.outside());
        let backend = f.sandbox.backend();
        let inside = f
            .sh("echo in > inside.txt && mkdir -p a/b && echo t > \"$TMPDIR/t.txt\" && cat inside.txt \"$TMPDIR/t.txt\"")
            .await;
        assert!(inside.success(), "{backend}: {}", inside.render());
        assert_eq!(inside.stdout, "in\nt\n");
        assert!(root.join("a/b").is_dir());

        let cases = [
            format!("echo x > {}/direct.txt", out.display()),
            format!(
                "ln -s {} link && echo x > link/through-link.txt",
                out.display()
            ),
            format!("echo x > f && mv f {}/moved.txt", out.display()),
            format!("echo x > g && ln g {}/hardlink.txt", out.display()),
            format!("echo x >> {}/victim.txt", out.display()),
        ];
        for case in &cases {
            let result = f.sh(case).await;
            assert!(!result.success(), "{backend}: `{case}` succeeded");
        }
        assert_eq!(
            common::snapshot(&out),
            vec![(out.join("victim.txt"), b"original".to_vec())],
            "{backend}: the outside dir changed"
        );
        assert!(
            root.join("link").is_symlink(),
            "{backend}: symlinks inside root are fine"
        );
    }
}

fn accepted(listener: &TcpListener) -> bool {
    match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
}

#[tokio::test]
async fn network_is_cut_unless_allowed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let bash = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' && echo CONNECTED");
    let python = format!(
        "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')\""
    );
    for mode in CONFINED {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let backend = f.sandbox.backend();
        eprintln!(
            "{backend}: network cut by {}",
            f.sandbox.net_cut().describe()
        );
        for probe in [&bash, &python] {
            let out = f.sh(probe).await;
            assert!(
                !out.stdout.contains("CONNECTED"),
                "{backend}: {}",
                out.render()
            );
            assert!(!accepted(&listener), "{backend}: the listener accepted");
        }
        let Some(open) = fixture(mode, true) else {
            continue;
        };
        for probe in [&bash, &python] {
            let out = open.sh(probe).await;
            assert!(
                out.stdout.contains("CONNECTED"),
                "{backend} network=true: {}",
                out.render()
            );
            std::thread::sleep(Duration::from_millis(50));
            assert!(
                accepted(&listener),
                "{backend} network=true: nothing accepted"
            );
        }
    }
}

#[tokio::test]
async fn secrets_never_reach_the_child() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        std::env::set_var("FOO_API_KEY", "sk-foo");
        std::env::set_var("OPENAI_API_KEY", "sk-openai");
        std::env::set_var("LUCID_TEST_DB_PASSWORD", "hunter2");
        std::env::set_var("LUCID_TEST_PLAIN", "visible");
    });
    for mode in [
        SandboxMode::Landlock,
        SandboxMode::Bubblewrap,
        SandboxMode::Off,
    ] {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let backend = f.sandbox.backend();
        let out = f.sh("env").await;
        assert!(out.success(), "{backend}: {}", out.render());
        for secret in [
            "FOO_API_KEY",
            "OPENAI_API_KEY",
            "sk-foo",
            "sk-openai",
            "hunter2",
        ] {
            assert!(!out.stdout.contains(secret), "{backend}: {secret} leaked");
        }
        assert!(out.stdout.contains("LUCID_TEST_PLAIN=visible"), "{backend}");
        assert!(
            out.stdout.lines().any(|l| l.starts_with("PATH=")),
            "{backend}"
        );
    }
}

/// A command whose grandchild would write `late` after 2 s, with more background jobs.
fn lingering(root: &std::path::Path) -> String {
    format!(
        "(sleep 2; echo late > {}/late) & sleep 100 & sleep 100; echo never",
        root.display()
    )
}

#[tokio::test]
async fn time_limit_kills_the_whole_group() {
    for mode in [
        SandboxMode::Landlock,
        SandboxMode::Bubblewrap,
        SandboxMode::Off,
    ] {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let backend = f.sandbox.backend();
        let mut spec = CommandSpec::shell(lingering(&f.root()));
        spec.timeout = Duration::from_millis(500);
        let started = Instant::now();
        let out = f.sandbox.run(spec, std::future::pending()).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{backend}: {:?}",
            started.elapsed()
        );
        assert!(
            out.timed_out && !out.cancelled && !out.success(),
            "{backend}: {out:?}"
        );
        assert!(
            out.render().starts_with("killed after 0.5 s (time limit)"),
            "{}",
            out.render()
        );
        assert!(!out.stdout.contains("never"));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            !f.root().join("late").exists(),
            "{backend}: a grandchild outlived the kill"
        );
    }
}

#[tokio::test]
async fn cancel_kills_the_whole_group_promptly() {
    for mode in [
        SandboxMode::Landlock,
        SandboxMode::Bubblewrap,
        SandboxMode::Off,
    ] {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let backend = f.sandbox.backend();
        let spec = CommandSpec::shell(lingering(&f.root()));
        let started = Instant::now();
        let cancel = tokio::time::sleep(Duration::from_millis(300));
        let out = f.sandbox.run(spec, cancel).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(1300),
            "{backend}: {:?}",
            started.elapsed()
        );
        assert!(out.cancelled && !out.timed_out, "{backend}: {out:?}");
        assert_eq!(out.render(), "cancelled\n(no output)");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            !f.root().join("late").exists(),
            "{backend}: a grandchild outlived cancel"
        );
    }
}

#[tokio::test]
async fn output_is_bounded_and_streams_are_read_concurrently() {
    for mode in [
        SandboxMode::Landlock,
        SandboxMode::Bubblewrap,
        SandboxMode::Off,
    ] {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let backend = f.sandbox.backend();
        // Interleaved, each far beyond a pipe buffer: reading one stream at a time deadlocks.
        let mut spec = CommandSpec::shell(
            "for i in 1 2 3 4 5; do yes | head -c 1000000; yes err | head -c 1000000 >&2; done; yes | head -c 5000000",
        );
        spec.max_output_bytes = 64 * 1024;
        spec.timeout = Duration::from_secs(30);
        let out = f.sandbox.run(spec, std::future::pending()).await.unwrap();
        assert!(out.success(), "{backend}: {}", out.status_line());
        assert_eq!(out.stdout_bytes, 10_000_000);
        assert_eq!(out.stderr_bytes, 5_000_000);
        let cut = 10_000_000 - 64 * 1024;
        assert!(
            out.stdout.contains(&format!("[… {cut} bytes cut …]")),
            "{backend}"
        );
        assert!(out.stdout.len() < 64 * 1024 + 64 && out.stderr.len() < 64 * 1024 + 64);
        assert!(out.stdout.starts_with("y\ny\n") && out.stdout.ends_with("y\ny\n"));
        assert!(out.stderr.starts_with("err\n"));
        let rendered = out.render();
        assert!(
            rendered.starts_with("exit 0\nstdout:\ny\n") && rendered.contains("\nstderr:\nerr\n")
        );
    }
}

#[tokio::test]
async fn output_is_sanitized() {
    for mode in CONFINED {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let out = f
            .sh(r"printf 'a\033[2Jb\033]0;title\007c\r\n'; printf 'e\033[31mrr' >&2; exit 3")
            .await;
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(out.render(), "exit 3\nstdout:\nabc\n\nstderr:\nerr");
        assert!(!out.stdout.contains('\u{1b}'));
    }
}

#[tokio::test]
async fn cwd_and_argv_run_where_and_how_asked() {
    for mode in CONFINED {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        std::fs::create_dir(f.root().join("sub")).unwrap();
        let mut spec = CommandSpec::argv(["sh", "-c", "pwd; echo \"$0\"", "$(touch pwned)"]);
        spec.cwd = Some("sub".into());
        let out = f.sandbox.run(spec, std::future::pending()).await.unwrap();
        let expected = format!("{}\n$(touch pwned)\n", f.root().join("sub").display());
        assert_eq!(out.stdout, expected);
        assert!(!f.root().join("sub/pwned").exists());
        assert!(matches!(spec_program(), Program::Shell(_)));
    }
}

fn spec_program() -> Program {
    CommandSpec::shell("true").program
}

#[tokio::test]
async fn off_is_honestly_unconfined_but_limited() {
    let Some(f) = fixture(SandboxMode::Off, false) else {
        return;
    };
    assert_eq!(f.sandbox.backend(), Backend::None);
    let target = f.outside().join("written-by-off.txt");
    let out = f.sh(&format!("echo x > {}", target.display())).await;
    assert!(
        out.success() && target.exists(),
        "off must not pretend to confine"
    );
}

#[test]
fn required_uses_the_best_backend_here() {
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let policy = SandboxPolicy::new(root.path(), tmp.path());
    let landlock = fixture(SandboxMode::Landlock, false).map(|f| f.sandbox.backend());
    match (Sandbox::new(policy), landlock) {
        (Ok(s), Some(expected)) => assert_eq!(s.backend(), expected),
        (Ok(s), None) => assert_eq!(s.backend(), Backend::Bubblewrap),
        (Err(e), None) if !common::bwrap_on_path() => {
            eprintln!("SKIPPED: no backend here: {e}");
            assert!(e.to_string().contains("sandbox = \"off\""));
        }
        (Err(e), _) => panic!("required failed although a backend exists: {e}"),
    }
}
