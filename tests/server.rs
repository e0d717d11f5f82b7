//! The store's owner serves it on `<store>/lucid.sock`: `lucid serve` in the background,
//! and other `lucid` commands on the same store as its clients (the real binary).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lucid(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

/// A `lucid serve` in the background, killed when dropped (also when a test fails).
struct Serving {
    child: Child,
    socket: PathBuf,
}

impl Serving {
    fn start(db: &Path) -> Serving {
        let child = Command::new(env!("CARGO_BIN_EXE_lucid"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("--db")
            .arg(db)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let serving = Serving {
            child,
            socket: db.join("lucid.sock"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&serving.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "lucid serve never answered on its socket"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        serving
    }

    /// SIGTERM, then waits for it to exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "lucid serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON document ({err}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Each iteration's criteria as (id, passed), and whether the run passed.
fn verdicts(report: &Value) -> (bool, Vec<Vec<(String, bool)>>) {
    let outcome = &report["outcome"];
    let iterations = outcome["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|iteration| {
            iteration["criteria"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap().to_string(),
                        c["passed"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .collect();
    (outcome["passed"].as_bool().unwrap(), iterations)
}

#[test]
fn commands_on_a_served_store_go_through_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("served");
    let serving = Serving::start(&db);
    let mode = std::fs::metadata(&serving.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is private to its user");

    let run = lucid(
        &db,
        &["run", "sessions/lumara.toml", "--headless", "--json"],
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("rubric met"),
        "progress lines stream back:\n{stderr}"
    );
    let served = stdout_json(&run);

    // The same run in-process on a store of its own.
    let alone = lucid(
        &dir.path().join("alone"),
        &["run", "sessions/lumara.toml", "--headless", "--json"],
    );
    assert_eq!(alone.status.code(), Some(0));
    assert_eq!(verdicts(&served), verdicts(&stdout_json(&alone)));

    let id = served["session_id"].as_str().unwrap().to_string();
    let list = lucid(&db, &["sessions", "list"]);
    assert_eq!(
        list.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(String::from_utf8_lossy(&list.stdout).contains(&id));
    let show = lucid(&db, &["sessions", "show", &id, "--json"]);
    assert_eq!(show.status.code(), Some(0));
    assert_eq!(verdicts(&stdout_json(&show)), verdicts(&served));

    // A second owner is refused, naming the socket.
    let second = lucid(&db, &["serve"]);
    assert_eq!(second.status.code(), Some(3));
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains(&serving.socket.display().to_string()),
        "{message}"
    );

    let socket = serving.socket.clone();
    let status = serving.terminate();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );
    assert!(!socket.exists(), "the socket is removed when serve stops");
    // With the owner gone, the store opens in-process again.
    let after = lucid(&db, &["sessions", "list"]);
    assert_eq!(after.status.code(), Some(0));
}
