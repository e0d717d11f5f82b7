//! The `lucid` binary as a user drives it: run, sessions, exit codes, JSON documents.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

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

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON document ({err}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The report with what differs between runs (ids, times, durations) blanked out.
fn redacted(mut report: Value) -> Value {
    report["session_id"] = Value::String("[id]".into());
    report["short_id"] = Value::String("[short id]".into());
    report["duration_ms"] = Value::from(0);
    report
}

fn run_lumara(db: &Path, seed: &str) -> (Output, Value) {
    let output = lucid(
        db,
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--json",
            "--seed",
            seed,
        ],
    );
    let report = stdout_json(&output);
    (output, report)
}

#[test]
fn a_lumara_run_prints_the_report_and_exits_by_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (output, report) = run_lumara(dir.path(), "2");
    let passed = report["outcome"]["passed"].as_bool().unwrap();
    assert_eq!(output.status.code(), Some(if passed { 0 } else { 1 }));
    assert_eq!(report["team"], "lumara-landing");
    assert_eq!(report["spec"], "sessions/lumara.toml");
    let agents = report["agents"].as_array().unwrap();
    assert!(agents.len() >= 3, "{agents:?}");
    assert_eq!(agents[0]["name"], "commander");
    assert_eq!(agents[0]["parent"], Value::Null);
    for child in &agents[1..] {
        assert_eq!(
            child["parent"], agents[0]["id"],
            "specialists are the commander's children"
        );
        assert!(child["purpose"].as_str().is_some_and(|p| !p.is_empty()));
        assert!(child["turns"].as_u64().unwrap() >= 1);
    }
    let names: Vec<&str> = agents.iter().filter_map(|a| a["name"].as_str()).collect();
    assert!(
        names.contains(&"detector") && names.contains(&"navigator"),
        "{names:?}"
    );
    let iterations = report["outcome"]["iterations"].as_array().unwrap();
    assert!(!iterations.is_empty());
    for iteration in iterations {
        let criteria = iteration["criteria"].as_array().unwrap();
        let ids: Vec<&str> = criteria.iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids, ["soft_landing", "clear_ground", "fuel_reserve"]);
        let all = criteria.iter().all(|c| c["passed"].as_bool().unwrap());
        assert_eq!(iteration["passed"].as_bool(), Some(all));
    }
    assert_eq!(iterations.last().unwrap()["passed"].as_bool(), Some(passed));
    assert!(report["facts"]["touchdown_speed_mps"].is_number());
    assert_eq!(report["playbooks_applied"], Value::Array(vec![]));
    // Progress went to stderr, indented by thread depth.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\n    detector#"), "{stderr}");
    assert!(stderr.contains("grading iteration 1"), "{stderr}");

    // The session is in the store.
    let listed = lucid(dir.path(), &["sessions", "list", "--json"]);
    assert_eq!(listed.status.code(), Some(0));
    let sessions = stdout_json(&listed);
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], report["session_id"]);
    assert_eq!(
        sessions[0]["status"],
        if passed { "passed" } else { "failed" }
    );

    // `sessions show --json` folds the stored events into the same document.
    let id = report["session_id"].as_str().unwrap();
    let shown = lucid(dir.path(), &["sessions", "show", &id[..10], "--json"]);
    assert_eq!(
        shown.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert_eq!(redacted(stdout_json(&shown)), redacted(report.clone()));
    let human = lucid(dir.path(), &["sessions", "show", id]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("soft_landing"));
}

#[test]
fn the_seeded_report_matches_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = run_lumara(dir.path(), "2");
    let actual = serde_json::to_string_pretty(&redacted(report)).unwrap() + "\n";
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/lumara_seed2.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("tests/golden/lumara_seed2.json exists (UPDATE_GOLDEN=1 cargo test writes it)");
    assert_eq!(
        actual, expected,
        "the seeded run changed; if on purpose, rerun with UPDATE_GOLDEN=1"
    );
}

#[test]
fn equal_world_and_seed_repeat_exactly_and_seeds_vary() {
    let dir = tempfile::tempdir().unwrap();
    let (_, first) = run_lumara(dir.path(), "3");
    let (_, again) = run_lumara(dir.path(), "3");
    assert_eq!(redacted(first.clone()), redacted(again));
    let facts: Vec<Value> = ["4", "5", "6", "8"]
        .iter()
        .map(|seed| run_lumara(dir.path(), seed).1["facts"].clone())
        .collect();
    let distinct = facts
        .iter()
        .chain([&first["facts"]])
        .map(Value::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(
        distinct >= 4,
        "five seeds gave only {distinct} distinct outcomes"
    );
}

#[test]
fn an_invalid_session_file_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("broken.toml");
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"))
            .unwrap()
            .replace(
                "delegates = [\"detector\", \"navigator\"]",
                "delegates = [\"detector\", \"navigatr\"]",
            );
    std::fs::write(&spec, source).unwrap();
    let output = lucid(
        &dir.path().join("db"),
        &["run", spec.to_str().unwrap(), "--headless", "--json"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = source_line_of(&spec, "navigatr");
    assert!(
        stderr.contains(&format!("broken.toml:{line}:"))
            && stderr.contains("`navigatr`, which is not an agent"),
        "{stderr}"
    );
}

fn source_line_of(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn a_store_held_by_another_process_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let _held = lucid_core::store::Store::open(&db).unwrap();
    let output = lucid(&db, &["sessions", "list"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(db.to_str().unwrap()) && stderr.contains("in use"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = lucid(dir.path(), &["run"]);
    assert_eq!(output.status.code(), Some(2));
    let output = lucid(
        dir.path(),
        &["run", "sessions/lumara.toml", "--model", "gpt-9"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no model profile `gpt-9`"));
    let output = lucid(dir.path(), &["sessions", "show", "nonesuch"]);
    assert_eq!(output.status.code(), Some(2));
}

/// `--theme` and `--pace` are offered where a window opens, not on every subcommand's
/// help.
#[test]
fn the_theme_option_is_offered_only_where_the_tui_opens() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let text = String::from_utf8_lossy(&lucid(dir.path(), args).stdout).to_string();
        text.contains("--theme") || text.contains("--pace")
    };
    assert!(help(&["--help"]) && help(&["run", "--help"]) && help(&["replay", "--help"]));
    for command in [
        "memory", "sessions", "dream", "store", "bench", "serve", "apply",
    ] {
        assert!(
            !help(&[command, "--help"]),
            "`{command} --help` offers --theme"
        );
    }
}

/// Runs lucid with its stdout on a pipe whose reading end is already closed, as
/// `lucid … | head -1` leaves it once `head` has its line.
fn lucid_into_closed_pipe(db: &Path, args: &[&str]) -> Output {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just made by pipe() and are owned here alone.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .args(args)
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = run_lumara(dir.path(), "2");
    let id = report["session_id"].as_str().unwrap().to_string();
    let commands: [&[&str]; 5] = [
        &["sessions", "list"],
        &["sessions", "show", &id, "--json"],
        &["memory", "list", "--json"],
        &["memory", "list"],
        &[
            "run",
            "sessions/lumara.toml",
            "--headless",
            "--json",
            "--seed",
            "2",
        ],
    ];
    for args in commands {
        let output = lucid_into_closed_pipe(dir.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        let expected: &[i32] = if args[0] == "run" { &[0, 1] } else { &[0] };
        assert!(
            output.status.code().is_some_and(|c| expected.contains(&c)),
            "{args:?} exited {:?}: {stderr}",
            output.status
        );
    }
}

#[test]
fn a_damaged_snapshot_is_named_with_the_way_out_and_store_check_confirms_the_repair() {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = run_lumara(dir.path(), "2");
    let short = report["short_id"].as_str().unwrap().to_string();
    // Opened again, sled writes a snapshot of its log.
    assert!(lucid(dir.path(), &["sessions", "list"]).status.success());
    let snapshot = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
        .expect("a snapshot");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&snapshot, &bytes).unwrap();

    for args in [&["sessions", "list"][..], &["store", "check"][..]] {
        let output = lucid(dir.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("is damaged"), "{stderr}");
        assert!(
            stderr.contains(&format!("mv {}", snapshot.display())),
            "{stderr}"
        );
        assert!(stderr.contains("lucid store check"), "{stderr}");
        assert!(
            !stderr.contains("writable") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
    // The advice works: with the snapshot set aside, everything reads back.
    let aside = snapshot.with_file_name(format!(
        "damaged-{}",
        snapshot.file_name().unwrap().to_string_lossy()
    ));
    std::fs::rename(&snapshot, &aside).unwrap();
    let check = lucid(dir.path(), &["store", "check"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("1 sessions") && stdout.contains("ok: every record reads back"),
        "{stdout}"
    );
    let list = lucid(dir.path(), &["sessions", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains(&short));
}

/// The shortest prefix (4 characters or more) of `short` that starts no other of `all`.
fn unique_prefix<'a>(short: &'a str, all: &[String]) -> &'a str {
    (4..=short.len())
        .map(|len| &short[..len])
        .find(|p| all.iter().filter(|s| s.starts_with(p)).count() == 1)
        .unwrap()
}

#[test]
fn sessions_are_listed_and_found_by_short_id() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["2", "3", "4"] {
        run_lumara(dir.path(), seed);
    }
    let listed = stdout_json(&lucid(dir.path(), &["sessions", "list", "--json"]));
    let sessions = listed.as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let ids: Vec<String> = sessions
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let shorts: Vec<String> = sessions
        .iter()
        .map(|s| s["short_id"].as_str().unwrap().to_string())
        .collect();
    assert!(shorts.iter().all(|s| s.len() == 8), "{shorts:?}");

    // The table shows short ids, not full ones.
    let table = lucid(dir.path(), &["sessions", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    for (id, short) in ids.iter().zip(&shorts) {
        assert!(
            text.contains(&format!("\n{short}  lumara-landing")),
            "{text}"
        );
        assert!(!text.contains(id.as_str()), "{text}");
    }

    // `show` takes the short id (any case) or a unique prefix of it, and prints both ids.
    for typed in [
        shorts[1].to_uppercase(),
        unique_prefix(&shorts[1], &shorts).to_string(),
    ] {
        let shown = lucid(dir.path(), &["sessions", "show", &typed]);
        assert_eq!(
            shown.status.code(),
            Some(0),
            "{typed}: {}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            text.starts_with(&format!("session   {}  (id {})\n", shorts[1], ids[1])),
            "{text}"
        );
    }
    let json = stdout_json(&lucid(
        dir.path(),
        &["sessions", "show", &shorts[2], "--json"],
    ));
    assert_eq!(json["session_id"], ids[2].as_str());
    assert_eq!(json["short_id"], shorts[2].as_str());

    // What names several sessions is refused, naming them.
    let common = ids[0]
        .chars()
        .zip(ids[2].chars())
        .take_while(|(a, b)| a == b)
        .count();
    let refused = lucid(dir.path(), &["sessions", "show", &ids[0][..common]]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("matches 3 sessions: "), "{err}");
    for short in &shorts {
        assert!(err.contains(&format!("{short} (lumara-landing, ")), "{err}");
    }
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `run --headless` leaves the lead's final answer on stdout, `sessions export` writes
/// the recorded events as JSON lines that fold into the same report, and `replay
/// --headless` prints the progress lines the run printed.
#[test]
fn a_session_is_exported_as_events_and_replayed_as_progress_lines() {
    let dir = tempfile::tempdir().unwrap();
    let run = lucid(
        dir.path(),
        &["run", "sessions/lumara.toml", "--headless", "--seed", "2"],
    );
    assert!(matches!(run.status.code(), Some(0 | 1)), "{run:?}");
    let listed = stdout_json(&lucid(dir.path(), &["sessions", "list", "--json"]));
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let report = stdout_json(&lucid(dir.path(), &["sessions", "show", &id, "--json"]));

    // The answer on stdout is the lead's, as the report records it.
    let answer = report["answer"].as_str().unwrap();
    assert!(answer.contains("site"), "{answer}");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim_end(),
        answer.trim_end()
    );

    let exported = lucid(
        dir.path(),
        &["sessions", "export", &id[..12], "--format", "jsonl"],
    );
    assert_eq!(exported.status.code(), Some(0), "{exported:?}");
    let events: Vec<lucid_core::event::Event> = String::from_utf8_lossy(&exported.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(events.len() > 20, "{} events", events.len());
    let folded = lucid_core::run::report::SessionReport::fold(&events, false);
    assert_eq!(serde_json::to_value(&folded).unwrap(), report);

    let replayed = lucid(dir.path(), &["replay", &id, "--headless"]);
    assert_eq!(replayed.status.code(), Some(0), "{replayed:?}");
    let progress: Vec<String> = String::from_utf8_lossy(&run.stderr)
        .lines()
        .filter(|line| !line.starts_with("lucid:"))
        .map(str::to_string)
        .collect();
    let replayed: Vec<String> = String::from_utf8_lossy(&replayed.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(replayed.len() > 10 && replayed[0].starts_with("session "));
    assert_eq!(replayed, progress);
}

#[test]
fn sessions_are_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_, older) = run_lumara(dir.path(), "3");
    let (_, newer) = run_lumara(dir.path(), "4");
    let listed = stdout_json(&lucid(dir.path(), &["sessions", "list", "--json"]));
    assert_eq!(listed[0]["id"], newer["session_id"]);
    assert_eq!(listed[1]["id"], older["session_id"]);
    let table = lucid(dir.path(), &["sessions", "list"]);
    let table = String::from_utf8_lossy(&table.stdout);
    let row = |report: &Value| table.find(report["short_id"].as_str().unwrap()).unwrap();
    assert!(row(&newer) < row(&older));
}

#[test]
fn dreaming_for_a_team_with_no_sessions_is_a_usage_error_that_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    run_lumara(dir.path(), "3");
    let dreamt = lucid(dir.path(), &["dream", "--team", "nope"]);
    assert_eq!(dreamt.status.code(), Some(2), "{dreamt:?}");
    let said = String::from_utf8_lossy(&dreamt.stderr);
    assert!(
        said.contains("no session of team `nope`") && said.contains("lumara-landing"),
        "{said}"
    );
    let listed = stdout_json(&lucid(dir.path(), &["sessions", "list", "--json"]));
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "a dream session was recorded"
    );
}

#[test]
fn dreams_are_listed_apart_from_runs_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (_, run) = run_lumara(dir.path(), "3");
    let dreamt = lucid(dir.path(), &["dream", "--team", "lumara-landing"]);
    assert!(dreamt.status.success(), "{dreamt:?}");
    let kinds = |kind: &str| -> Vec<String> {
        stdout_json(&lucid(
            dir.path(),
            &["sessions", "list", "--json", "--kind", kind],
        ))
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["environment"].as_str().unwrap().to_string())
        .collect()
    };
    assert_eq!(kinds("runs"), ["lumara"]);
    assert_eq!(kinds("dreams"), ["dream"]);
    assert_eq!(kinds("all"), ["dream", "lumara"]);
    let table = lucid(dir.path(), &["sessions", "list"]);
    let table = String::from_utf8_lossy(&table.stdout);
    let short = run["short_id"].as_str().unwrap();
    let row = table.lines().find(|l| l.starts_with(short)).unwrap();
    assert!(row.contains("lumara w") && row.contains(" s3 "), "{table}");
    assert!(table.lines().any(|l| l.contains(" dream ")), "{table}");
}

/// Ctrl-C stops the run after the step in hand and says how to continue it.
#[test]
fn an_interrupted_run_prints_the_command_that_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("slow.toml");
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml"))
            .unwrap()
            .replace(
                "[models.offline]\nprovider = \"scripted\"\n",
                "[models.offline]\nprovider = \"scripted\"\nlatency_ms = 400\n",
            );
    assert!(source.contains("latency_ms = 400"));
    std::fs::write(&spec, source).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(dir.path().join("db"))
        .args(["run", spec.to_str().unwrap(), "--headless"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first progress line, so the session is on record.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    assert!(first.starts_with("session "), "{first}");
    let id = first.split_whitespace().nth(1).unwrap().to_string();
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    child.wait().unwrap();
    assert!(
        rest.contains(&format!("--resume {id} --headless")),
        "no resume command in:\n{rest}"
    );
}
