//! `lucid bench fleet` prints its figures: checked for presence and sanity, never speed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::process::Command;

use serde_json::Value;

#[test]
fn the_fleet_over_loopback_figures_are_printed_per_size() {
    let output = Command::new(env!("CARGO_BIN_EXE_lucid"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "bench",
            "fleet",
            "--agents",
            "12,30",
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
    assert_eq!(f["critical_path_calls"], 5, "lead 2 + worker steps + 1");
    assert!(f["cores"].as_u64().unwrap() >= 1);
    let rows = f["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, agents) in rows.iter().zip([12, 30]) {
        assert_eq!(row["agents"], agents);
        assert_eq!(row["ideal_ms"], 25.0);
        // Every model turn went over HTTP: the lead's 2 and each worker's 3.
        assert_eq!(row["model_turns"], 2 + agents * 3);
        let wall = row["wall_ms"].as_f64().unwrap();
        assert!(wall > 0.0 && (row["ratio"].as_f64().unwrap() - wall / 25.0).abs() < 1e-9);
        // The client and the server are measured apart (where /proc tells).
        if cfg!(target_os = "linux") {
            assert!(
                row["client_cpu_us_per_step"].as_f64().unwrap() > 0.0,
                "{row}"
            );
            assert!(
                row["server_cpu_us_per_step"].as_f64().unwrap() > 0.0,
                "{row}"
            );
            // The kernel's time is a part of the whole (the kernel apportions the two by
            // sampling, so a run this short may show none).
            let kernel = row["client_kernel_us_per_step"].as_f64().unwrap();
            assert!(
                kernel >= 0.0 && kernel <= row["client_cpu_us_per_step"].as_f64().unwrap(),
                "{row}"
            );
            assert!(row["peak_rss_mib"].as_f64().unwrap() > 1.0, "{row}");
            assert!(row["rss_kib_per_agent"].as_f64().unwrap() >= 0.0, "{row}");
        }
        // The heap was marked while all worked and at the last finish (glibc tells).
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            let heap = &row["heap"];
            assert!(heap["live_bytes"].as_f64().unwrap() >= 0.0, "{row}");
            assert!(heap["finished_bytes"].as_f64().unwrap() >= 0.0, "{row}");
        }
    }
    // The breakdown comes once, at the largest size up to 1,000.
    assert!(rows[0]["breakdown"].is_null());
    if cfg!(target_os = "linux") {
        let b = &rows[1]["breakdown"];
        for part in ["runtime_us", "recording_us", "http_client_and_json_us"] {
            assert!(b[part].as_f64().unwrap() >= 0.0, "{b}");
        }
        assert!(b["runtime_us"].as_f64().unwrap() > 0.0, "{b}");
    }
}
