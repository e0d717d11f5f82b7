//! The owner goes while a client's run goes: `lucid serve` is SIGKILLed, or stopped with
//! SIGTERM, mid-run. The client says what happened and how to resume (exit 3); the
//! session reads back as interrupted (or cancelled, on SIGTERM); `--resume` continues it
//! to a verdict once nobody owns the store. The socket refuses another user.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod owner;

use owner::Serving;

fn lucid(db: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LUCID_CONFIG")
        .arg("--db")
        .arg(db);
    command
}

/// Lumara with a slow offline model, so a stop lands mid-run.
fn slow_lumara(dir: &Path) -> std::path::PathBuf {
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"))
            .unwrap();
    let text = base.replace(
        "[models.offline]\nprovider = \"scripted\"\n",
        "[models.offline]\nprovider = \"scripted\"\nlatency_ms = 300\n",
    );
    assert!(text.contains("latency_ms = 300"), "the template moved");
    let spec = dir.join("slow.toml");
    std::fs::write(&spec, text).unwrap();
    spec
}

#[test]
fn a_client_run_survives_its_owner_being_killed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let spec = slow_lumara(dir.path());

    let mut owner = Serving::start(&db, &[]);
    let client = lucid(&db)
        .args(["run", spec.to_str().unwrap(), "--headless"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let a few steps complete, then kill the owner outright.
    std::thread::sleep(Duration::from_millis(1500));
    owner.child.kill().unwrap();
    owner.child.wait().unwrap();
    let output = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("stopped before session"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");

    // Nobody owns the store now: the session reads back as interrupted, and resumes.
    let listed = lucid(&db)
        .args(["sessions", "list", "--json"])
        .output()
        .unwrap();
    let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let session = &sessions.as_array().unwrap()[0];
    assert_eq!(session["status"], "interrupted", "{sessions:#}");
    let id = session["id"].as_str().unwrap();
    let resumed = lucid(&db)
        .args(["run", spec.to_str().unwrap(), "--resume", id, "--headless"])
        .output()
        .unwrap();
    assert!(
        matches!(resumed.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
}

#[test]
fn an_owner_stopped_with_sigterm_tells_the_client_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let spec = slow_lumara(dir.path());
    let owner = Serving::start(&db, &[]);
    let client = lucid(&db)
        .args(["run", spec.to_str().unwrap(), "--headless"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(owner.terminate().success());
    let output = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("stopped before session"), "{stderr}");
    assert!(!stderr.contains("the run failed"), "{stderr}");
    let listed = lucid(&db)
        .args(["sessions", "list", "--json"])
        .output()
        .unwrap();
    let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = sessions.as_array().unwrap()[0]["id"].as_str().unwrap();
    let resumed = lucid(&db)
        .args(["run", spec.to_str().unwrap(), "--resume", id, "--headless"])
        .output()
        .unwrap();
    assert!(
        matches!(resumed.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
}

/// The socket is the owner's alone (0600): another user cannot connect, even where the
/// folders let them reach it. Needs root (to act as `nobody`), `setpriv` and the
/// system's python3 (the CI installs both).
#[test]
fn another_user_cannot_connect_to_the_socket() {
    use std::os::unix::fs::PermissionsExt;
    let setpriv = Path::new("/usr/bin/setpriv");
    let python = Path::new("/usr/bin/python3");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !setpriv.exists() || !python.exists() {
        eprintln!(
            "SKIPPED another_user_cannot_connect_to_the_socket: needs root, setpriv and /usr/bin/python3"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = dir.path().join("store");
    let owner = Serving::start(&db, &[]);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o755)).unwrap();
    let connect = |uid: &str| {
        Command::new(setpriv)
            .args(["--reuid", uid, "--regid", uid, "--clear-groups"])
            .arg(python)
            .arg("-c")
            .arg(
                "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1])\nexcept PermissionError:\n sys.exit(13)\n",
            )
            .arg(&owner.socket)
            .status()
            .unwrap()
    };
    // Root (the owner's user) connects; nobody is refused by the socket's mode.
    assert_eq!(connect("0").code(), Some(0));
    assert_eq!(connect("65534").code(), Some(13));
    assert!(owner.terminate().success());
}
