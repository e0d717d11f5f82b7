//! `lucid bench hostile`: every attack of the hostile model server (`lucid_testkit::hostile`)
//! once per protocol, each against a `lucid run --headless --json` of this very binary in
//! a child process, with the profile's default bounds (only `turn_timeout_s` is short, so
//! the endless streams end in seconds). Per attack it prints how the run ended, its wall
//! time, the child's peak RSS (its `VmHWM`), the store's size, the agents it spawned and
//! whether the key or a control character got out. Figures only: nothing is asserted.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use lucid_testkit::hostile::{Hostile, HostileServer, Mode, Protocol};

const KEY_VAR: &str = "LUCID_BENCH_HOSTILE_KEY";

/// How one attack went.
#[derive(Debug, Clone, Serialize)]
pub struct AttackFigures {
    pub protocol: &'static str,
    pub mode: &'static str,
    /// The run's exit code (`None`: killed by a signal).
    pub exit: Option<i32>,
    /// The run's last word: its failure line, or whether the rubric was met.
    pub outcome: String,
    pub wall_s: f64,
    pub peak_rss_mib: f64,
    pub store_mib: f64,
    /// Agents the run started besides the lead.
    pub agents_spawned: u64,
    pub requests: usize,
    /// Files (stdout, stderr, the store's) holding an 8-character prefix of the key.
    pub key_leaks: usize,
    /// ESC, BEL or 8-bit CSI characters on stdout and stderr.
    pub control_chars: usize,
}

/// All the attacks, one after the other.
#[derive(Debug, Clone, Serialize)]
pub struct HostileFigures {
    pub turn_timeout_s: u64,
    pub attacks: Vec<AttackFigures>,
}

/// Runs every attack (or those named in `only`) once per protocol.
pub async fn hostile(turn_timeout_s: u64, only: &[String]) -> Result<HostileFigures, String> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !Mode::ALL.iter().any(|mode| mode.name() == name.as_str()))
    {
        let known: Vec<&str> = Mode::ALL.iter().map(|mode| mode.name()).collect();
        return Err(format!(
            "no attack `{unknown}` (attacks: {})",
            known.join(", ")
        ));
    }
    let chosen = Mode::ALL
        .into_iter()
        .filter(|mode| only.is_empty() || only.iter().any(|name| name == mode.name()));
    let modes: Vec<Mode> = chosen.collect();
    let exe = std::env::current_exe().map_err(|err| format!("cannot find lucid itself: {err}"))?;
    let mut attacks = Vec::new();
    for protocol in Protocol::ALL {
        for &mode in &modes {
            attacks.push(attack(&exe, protocol, mode, turn_timeout_s).await?);
        }
    }
    Ok(HostileFigures {
        turn_timeout_s,
        attacks,
    })
}

async fn attack(
    exe: &Path,
    protocol: Protocol,
    mode: Mode,
    turn_timeout_s: u64,
) -> Result<AttackFigures, String> {
    let server = HostileServer::start(Hostile::new(mode, protocol))
        .await
        .map_err(|err| format!("cannot start the hostile server: {err}"))?;
    let dir = super::figures::scratch_dir(&format!("hostile-{}-{}", protocol.name(), mode.name()));
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let key = format!(
        "hb-{:08x}{:012x}",
        std::process::id(),
        lucid_core::event::now_ms()
    );
    let spec = dir.join("hostile.toml");
    let session = server.session_toml(
        KEY_VAR,
        &format!("turn_timeout_s = {turn_timeout_s}\nmax_retries = 1"),
        20,
        "max_parallel = 64\nmax_total_turns = 5000",
    );
    std::fs::write(&spec, session).map_err(|err| format!("{}: {err}", spec.display()))?;
    let file =
        |name: &str| std::fs::File::create(dir.join(name)).map_err(|err| format!("{name}: {err}"));
    let mut command = Command::new(exe);
    command
        .arg("--db")
        .arg(dir.join("store"))
        .args(["run", "--headless", "--json"])
        .arg(&spec)
        .env(KEY_VAR, &key)
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .env_remove("LUCID_CONFIG")
        .stdin(Stdio::null())
        .stdout(file("stdout")?)
        .stderr(file("stderr")?);
    let started = Instant::now();
    let child = command
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", exe.display()))?;
    let pid = child.id();
    let (exit, peak_kib) = tokio::task::spawn_blocking(move || wait_with_peak(pid))
        .await
        .map_err(|err| format!("the waiting task failed: {err}"))?
        .map_err(|err| format!("cannot wait for the run: {err}"))?;
    // Reaped by waitpid: the handle has nothing left to wait for.
    drop(child);
    let wall_s = started.elapsed().as_secs_f64();
    let stdout = std::fs::read(dir.join("stdout")).unwrap_or_default();
    let stderr = std::fs::read(dir.join("stderr")).unwrap_or_default();
    let figures = AttackFigures {
        protocol: protocol.name(),
        mode: mode.name(),
        exit,
        outcome: outcome(exit, &stderr),
        wall_s,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        store_mib: size_of(&dir.join("store")) as f64 / (1024.0 * 1024.0),
        agents_spawned: agents_spawned(&stdout),
        requests: server.requests(),
        key_leaks: key_leaks(&key, &[&stdout, &stderr], &dir.join("store")),
        control_chars: [&stdout, &stderr]
            .iter()
            .map(|bytes| {
                String::from_utf8_lossy(bytes)
                    .chars()
                    .filter(|c| matches!(c, '\u{1b}' | '\u{7}' | '\u{9b}'))
                    .count()
            })
            .sum(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(figures)
}

/// Waits for the child `pid`; its exit code and peak resident set in KiB.
///
/// The peak is the child's `VmHWM`, read every few milliseconds while it runs: the
/// `ru_maxrss` that `wait4` reports starts from the parent's footprint at the fork (Linux
/// carries it across the `exec`), so it would measure this bench, not the run.
fn wait_with_peak(pid: u32) -> std::io::Result<(Option<i32>, u64)> {
    let status_file = format!("/proc/{pid}/status");
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    let mut peak = 0;
    loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|status| super::figures::status_kib(&status, "VmHWM"))
        {
            peak = peak.max(kib);
        }
        let mut status = 0;
        // SAFETY: `status` is a live local; WNOHANG makes the call return at once.
        let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if reaped == pid {
            let exit = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            return Ok((exit, peak));
        }
        if reaped < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The run's failure line, or its verdict.
fn outcome(exit: Option<i32>, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let failure = text
        .lines()
        .rev()
        .find(|line| line.starts_with("lucid: "))
        .map(|line| lucid_core::event::one_line(line.trim_start_matches("lucid: "), 160));
    match (exit, failure) {
        (Some(0), _) => "rubric met".into(),
        (Some(1), _) => "rubric not met".into(),
        (_, Some(line)) => line,
        (code, None) => format!("exit {code:?}"),
    }
}

/// Agents besides the lead in the run's JSON report.
fn agents_spawned(stdout: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(stdout)
        .ok()
        .and_then(|report| Some(report["agents"].as_array()?.len() as u64))
        .map_or(0, |agents| agents.saturating_sub(1))
}

/// How many of `outputs` and the store's files hold the key's 8-character prefix in any
/// letter case.
fn key_leaks(key: &str, outputs: &[&[u8]], store: &Path) -> usize {
    let needle = key.as_bytes()[..lucid_core::event::MIN_PREFIX].to_ascii_lowercase();
    let holds = |bytes: &[u8]| {
        bytes
            .to_ascii_lowercase()
            .windows(needle.len())
            .any(|w| w == needle.as_slice())
    };
    let in_outputs = outputs.iter().filter(|bytes| holds(bytes)).count();
    let in_store = files(store)
        .iter()
        .filter(|path| std::fs::read(path).is_ok_and(|bytes| holds(&bytes)))
        .count();
    in_outputs + in_store
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        match std::fs::read_dir(&path) {
            Ok(entries) => stack.extend(entries.flatten().map(|entry| entry.path())),
            Err(_) => out.push(path),
        }
    }
    out
}

fn size_of(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum()
}

pub fn print_hostile(f: &HostileFigures) {
    println!(
        "hostile model server · each attack once per protocol against `lucid run --headless --json`, default bounds, turn_timeout_s = {}, max_retries = 1",
        f.turn_timeout_s
    );
    println!(
        "  {:<9} {:<16} {:>4} {:>7} {:>9} {:>8} {:>6} {:>8} {:>4} {:>4}  outcome",
        "protocol",
        "attack",
        "exit",
        "wall s",
        "peak MiB",
        "store MiB",
        "agents",
        "requests",
        "key",
        "ctl"
    );
    for a in &f.attacks {
        println!(
            "  {:<9} {:<16} {:>4} {:>7.1} {:>9.1} {:>9.2} {:>6} {:>8} {:>4} {:>4}  {}",
            a.protocol,
            a.mode,
            a.exit.map_or("sig".to_string(), |code| code.to_string()),
            a.wall_s,
            a.peak_rss_mib,
            a.store_mib,
            a.agents_spawned,
            a.requests,
            a.key_leaks,
            a.control_chars,
            a.outcome
        );
    }
    let peak = f.attacks.iter().map(|a| a.peak_rss_mib).fold(0.0, f64::max);
    println!("  highest peak RSS {peak:.1} MiB");
}
