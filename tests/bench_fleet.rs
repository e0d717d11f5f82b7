//! `lucid bench fleet` prints its figures: checked for presence and sanity, never speed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::process::Command;

use serde_json::Value;

#[test]
fn the_fleet_over_loopback_figures_are_printed() {
    let output = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "bench",
            "fleet",
            "--agents",
            "30",
            "--steps",
            "2",
            "--latency-ms",
            "5",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let f: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(f["agents"], 30);
    assert_eq!(f["max_parallel"], 30);
    assert_eq!(f["critical_path_calls"], 5, "lead 2 + worker steps + 1");
    assert_eq!(f["ideal_ms"], 25.0);
    // every model turn went over HTTP: the lead's 2 and each worker's 3
    assert_eq!(f["model_turns"], 2 + 30 * 3);
    assert_eq!(f["http_requests"], f["model_turns"]);
    let wall = f["wall_ms"].as_f64().unwrap();
    assert!(wall > 0.0 && (f["ratio"].as_f64().unwrap() - wall / 25.0).abs() < 1e-9);
    assert!(f["cores"].as_u64().unwrap() >= 1);
}
