//! `lucid bench` prints figures; these check the figures are there and sane, never how
//! fast anything was.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    bench_in(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn bench_in(folder: &std::path::Path, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(folder)
        .arg("bench")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn positive(value: &Value) -> bool {
    value.as_f64().is_some_and(|x| x > 0.0 && x.is_finite())
}

#[test]
fn overhead_store_and_dream_figures_are_printed() {
    let overhead = bench(&["overhead", "--workers", "40", "--steps", "2", "--json"]);
    assert_eq!(overhead["workers"], 40);
    assert!(
        positive(&overhead["us_per_step_unrecorded"])
            && positive(&overhead["us_per_step_recorded"])
    );

    // A finished worker's heap is measured where glibc tells.
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        for how in ["unrecorded", "recorded"] {
            let field = format!("finished_worker_heap_bytes_{how}");
            assert!(positive(&overhead[&field]), "{overhead}");
        }
    }

    let store = bench(&["store", "--events", "2000", "--json"]);
    assert_eq!(store["events"], 2000);
    assert!(positive(&store["append_events_per_s"]) && positive(&store["replay_events_per_s"]));

    let dream = bench(&["dream", "--sessions", "24", "--json"]);
    assert_eq!(dream["sessions"], 24);
    assert!(dream["events"].as_u64().unwrap() > 24 * 10);
    assert!(dream["proposals"].as_u64().unwrap() >= 1, "{dream}");
}

#[test]
fn the_benches_run_from_a_folder_without_the_session_files() {
    let folder = tempfile::tempdir().unwrap();
    let overhead = bench_in(
        folder.path(),
        &["overhead", "--workers", "20", "--steps", "1", "--json"],
    );
    assert_eq!(overhead["workers"], 20);
    assert!(positive(&overhead["us_per_step_recorded"]), "{overhead}");
}

#[test]
fn the_calibration_of_the_default_world_is_in_its_band() {
    let figures = bench(&["lumara", "--json"]);
    let first = figures["first_attempt_pass_rate"].as_f64().unwrap();
    let last = figures["final_pass_rate"].as_f64().unwrap();
    assert!(
        (0.2..=0.6).contains(&first),
        "first-attempt pass rate {first}"
    );
    assert!(
        last >= first + 0.15,
        "final pass rate {last} vs first {first}"
    );
    assert_eq!(figures["seeds"].as_array().unwrap().len(), 30);
}

#[test]
fn hostile_attacks_are_measured_and_nothing_gets_out() {
    let figures = bench(&[
        "hostile",
        "--attack",
        "escapes-in-text",
        "--attack",
        "key-echo-401",
        "--attack",
        "huge",
        "--json",
    ]);
    let attacks = figures["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), 6, "three attacks, two protocols");
    for attack in attacks {
        let expected = match attack["mode"].as_str().unwrap() {
            "escapes-in-text" => 1,
            _ => 3,
        };
        assert_eq!(attack["exit"], expected, "{attack}");
        assert_eq!(attack["key_leaks"], 0, "{attack}");
        assert_eq!(attack["control_chars"], 0, "{attack}");
        assert!(positive(&attack["peak_rss_mib"]), "{attack}");
        assert!(attack["outcome"].as_str().is_some_and(|o| !o.is_empty()));
    }
    let huge = attacks.iter().find(|a| a["mode"] == "huge").unwrap();
    assert!(
        huge["outcome"]
            .as_str()
            .unwrap()
            .contains("max_response_bytes"),
        "{huge}"
    );
}
