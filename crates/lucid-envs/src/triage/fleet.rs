//! The fleet: N synthetic CI build logs, each failed for one known [`Cause`].
//!
//! A log is a header (runner, checkout), progress noise (compiling, downloading, tests
//! passing, build steps), a few red herrings that look like other causes (a mirror
//! retried, a deprecation "error", a flaky test that passed on retry, a disk-usage
//! warning), the failure itself (a signature line, sometimes with a context line), and
//! a trailer. Every cause has several textual signatures real CI systems print; the
//! world number decides which of them each cause *tends* to show (two preferred, the
//! others rare), so regularities exist per world that nobody is told about. The seed
//! draws the logs. Deterministic for a world and seed.
//!
//! This module owns the ground truth. Tools read the log text; only the grader's
//! verdict (`verdict`) compares a finding with a log's cause. Policies, facts, the store
//! and dreams never see the cause.

use crate::lumara::rng::{mix, SplitMix64};

/// Why a build failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    CompileError,
    TestFailure,
    TestTimeout,
    Oom,
    Network,
    DiskFull,
    DependencyConflict,
    FlakyInfra,
}

impl Cause {
    pub const ALL: [Cause; 8] = [
        Cause::CompileError,
        Cause::TestFailure,
        Cause::TestTimeout,
        Cause::Oom,
        Cause::Network,
        Cause::DiskFull,
        Cause::DependencyConflict,
        Cause::FlakyInfra,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cause::CompileError => "compile_error",
            Cause::TestFailure => "test_failure",
            Cause::TestTimeout => "test_timeout",
            Cause::Oom => "oom",
            Cause::Network => "network",
            Cause::DiskFull => "disk_full",
            Cause::DependencyConflict => "dependency_conflict",
            Cause::FlakyInfra => "flaky_infra",
        }
    }

    /// What the cause means, as the report tool's schema tells agents.
    pub fn description(self) -> &'static str {
        match self {
            Cause::CompileError => {
                "the code did not compile: a compiler, type, symbol or linker problem"
            }
            Cause::TestFailure => {
                "a test ran and its assertion did not hold (expected and actual values differ)"
            }
            Cause::TestTimeout => "a test or the job hung and hit its timeout or time limit",
            Cause::Oom => "a process ran out of memory (heap) and was killed",
            Cause::Network => "a download, fetch or connection to a host or registry broke",
            Cause::DiskFull => "the machine ran out of disk space (no space left on device)",
            Cause::DependencyConflict => {
                "package versions or dependencies could not be resolved together"
            }
            Cause::FlakyInfra => "the CI runner, agent, container or daemon broke, not the code",
        }
    }

    pub fn parse(name: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Signature templates: `(decisive line, optional context line before it)`.
    /// Placeholders: `{n}` a number, `{h}` a hex id, `{host}`, `{pkg}`, `{path}`.
    fn signatures(self) -> &'static [(&'static str, Option<&'static str>)] {
        match self {
            Cause::CompileError => &[
                ("error[E0{n}]: mismatched types expected `u{n}`, found `String`", Some("   --> src/lib_{n}.rs:{n}:{n}")),
                ("src/mod_{n}.c:{n}:{n}: fatal error: no such header file", None),
                ("error TS{n}: Property 'id{n}' does not exist on type 'T{n}'.", None),
                ("/usr/bin/ld: obj_{n}.o: undefined reference to `sym_{h}`", Some("collect2: error: ld returned 1 exit status")),
                ("Main{n}.java:{n}: error: cannot find symbol", Some("  symbol: variable v{n}")),
            ],
            Cause::TestFailure => &[
                ("test result: FAILED. {n} passed; {n} failed; 0 ignored", Some("thread 'tests::t{n}' panicked at src/t{n}.rs:{n}:{n}")),
                ("FAILED tests/test_{n}.py::t{n} - AssertionError: expected {n} but got {n}", None),
                ("Assertion mismatch: snapshot does not match stored s{n}.snap", None),
                ("junit: test case failed with an assertion error in C{n}", None),
                ("--- FAIL: Test{n} (0.{n}s) values differ: want {n}, got {n}", None),
            ],
            Cause::TestTimeout => &[
                ("test tests::t{n} has been running for over 60 seconds", Some("error: test run exceeded its deadline after {n}s")),
                ("Timeout: job exceeded the maximum execution time of {n}m", None),
                ("FAILED tests/test_{n}.py::t{n} - Failed: Timeout >{n}s", None),
                ("Error: Timeout of {n}ms exceeded. For async tests ensure done() is called", None),
                ("watchdog: process did not exit after {n}s, sending SIGKILL", None),
            ],
            Cause::Oom => &[
                ("[{n}.{n}] Killed process {n} (cc1plus) total-vm:{n}kB, anon-rss:{n}kB", Some("[{n}.{n}] oom-kill:constraint=CONSTRAINT_MEMCG,task=cc1plus,pid={n}")),
                ("Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space", None),
                ("fatal error: runtime: out of memory (heap {n} MB)", None),
                ("g++-{n}: fatal error: Killed signal terminated program cc1plus", None),
                ("The build container exited with code 137 (OOMKilled) after {n}s", None),
            ],
            Cause::Network => &[
                ("curl: ({n}) Could not resolve host: {host}", None),
                ("error: failed to download from `https://{host}/{pkg}-{n}.crate`", Some("Caused by: [{n}] Timeout was reached ({n} ms)")),
                ("npm ERR! network request to https://{host}/{pkg} failed, reason: ETIMEDOUT", None),
                ("fatal: unable to access 'https://{host}/{pkg}.git/': Connection timed out after {n} ms", None),
                ("Could not GET 'https://{host}/{pkg}/{n}'. Received status code 503 from server", None),
            ],
            Cause::DiskFull => &[
                ("write /var/lib/docker/tmp/l{h}: no space left on device", None),
                ("OSError: [Errno 28] No space left on device: '/tmp/b{n}'", None),
                ("npm ERR! code ENOSPC: no space left on device, write", None),
                ("fatal: sha1 file '.git/objects/{h}' write error: Disk quota exceeded", None),
                ("/usr/bin/ld: final link failed: No space left on device ({n} blocks)", None),
            ],
            Cause::DependencyConflict => &[
                ("ERROR: Cannot install {pkg}=={n}.{n} because these package versions have conflicting dependencies.", Some("The conflict is caused by: {pkg} {n}.{n} depends on core>={n}")),
                ("npm ERR! ERESOLVE unable to resolve dependency tree", Some("npm ERR! Found: {pkg}@{n}.{n}.{n}")),
                ("error: failed to select a version for the requirement `{pkg} = \"^{n}.{n}\"`", None),
                ("version solving failed: core {n}.{n} is incompatible with {pkg} {n}.{n}", None),
                ("[ERROR] Could not resolve dependencies for project org.ci:app{n}:jar:{n}.{n}", None),
            ],
            Cause::FlakyInfra => &[
                ("The runner has received a shutdown signal. This can happen when the runner service is stopped", None),
                ("Error response from daemon: container {h} is not running", None),
                ("##[error]The operation was canceled. runner-{n} stopped responding", None),
                ("ERROR: Job failed (system failure): prepare environment: exit status {n}", None),
                ("lost connection to agent ci-{n}.{host}; the build was aborted", None),
            ],
        }
    }
}

/// Lines every kind of build prints while it works.
const PROGRESS: [&str; 14] = [
    "   Compiling crate_{n} v{n}.{n}.{n}",
    "  Downloaded pkg_{n} v{n}.{n}.{n} ({n} KB)",
    "Collecting lib{n}=={n}.{n}",
    "[{n}/{n}] Building CXX object src/CMakeFiles/core.dir/f{n}.cpp.o",
    "Step {n}/{n} : RUN make -j{n}",
    " ---> Using cache",
    "test tests::t{n} ... ok",
    "Fetched {n} kB in {n}s ({n} kB/s)",
    "+ ./scripts/ci.sh --stage {n}",
    "   Running build script for crate_{n}",
    "added {n} packages in {n}s",
    "PASS src/c{n}.test.js ({n} ms)",
    "Resolving deltas: 100% ({n}/{n}), done.",
    "[INFO] Building jar: /builds/app/target/app-{n}.jar",
];

/// Lines that look like failures but are not what broke the build.
const HERRINGS: [&str; 9] = [
    "warning: failed to fetch from mirror {host}, retrying (1/3)",
    "error: the API used here is deprecated (this will become a hard error in a future release)",
    "test tests::flaky_{n} ... FAILED (passed on retry 2 of 3)",
    "warning: disk usage at {n}% on /var/lib/docker",
    "warning: unused variable: `v{n}`",
    "npm WARN deprecated pkg{n}@{n}.{n}: this library is no longer supported",
    "memory usage high: {n} MB of {n} MB, continuing",
    "Retrying in {n} seconds: connection reset by peer",
    "note: a previous attempt of this job errored; this is attempt 2",
];

const HOSTS: [&str; 6] = [
    "registry.npmjs.org",
    "crates.io",
    "pypi.org",
    "repo.maven.apache.org",
    "github.com",
    "proxy.golang.org",
];
const PACKAGES: [&str; 8] = [
    "left-pad", "serde", "requests", "lodash", "tokio", "numpy", "guava", "react",
];

/// One build log and its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildLog {
    /// 1-based id.
    pub id: u32,
    pub cause: Cause,
    pub lines: Vec<String>,
    /// 1-based numbers of the lines that show the cause (signature and context).
    pub evidence: Vec<u32>,
}

impl BuildLog {
    /// The 1-based line, if it exists.
    pub fn line(&self, number: u32) -> Option<&str> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        self.lines.get(index).map(String::as_str)
    }
}

/// Every log of one fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub world: u64,
    pub seed: u64,
    pub logs: Vec<BuildLog>,
}

/// Which signatures a cause tends to show in a world: weights over its templates.
fn signature_weights(world: u64, cause: Cause) -> Vec<f64> {
    let count = cause.signatures().len();
    let mut rng = SplitMix64::new(mix(world, 0x7472_6961_6765 ^ cause as u64));
    let first = rng.below(count);
    let second = (first + 1 + rng.below(count.saturating_sub(1))) % count.max(1);
    (0..count)
        .map(|i| match i {
            i if i == first => 0.62,
            i if i == second => 0.28,
            _ => 0.1 / count.saturating_sub(2).max(1) as f64,
        })
        .collect()
}

fn fill(template: &str, rng: &mut SplitMix64) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(end) = after.find('}') else {
            out.push_str(after);
            return out;
        };
        match &after[1..end] {
            "n" => out.push_str(&(1 + rng.below(998)).to_string()),
            "h" => out.push_str(&format!("{:08x}", rng.next_u64() as u32)),
            "host" => out.push_str(HOSTS[rng.below(HOSTS.len())]),
            "pkg" => out.push_str(PACKAGES[rng.below(PACKAGES.len())]),
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

impl Fleet {
    /// Generates `count` logs for a world and seed.
    pub fn generate(world: u64, seed: u64, count: u32) -> Fleet {
        let mut rng = SplitMix64::new(mix(seed, world.wrapping_add(0x6c6f_6773)));
        let logs = (1..=count)
            .map(|id| {
                let cause = Cause::ALL[rng.below(Cause::ALL.len())];
                generate_log(id, cause, world, &mut rng)
            })
            .collect();
        Fleet { world, seed, logs }
    }

    pub fn log(&self, id: u32) -> Option<&BuildLog> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.logs.get(index)
    }
}

fn generate_log(id: u32, cause: Cause, world: u64, rng: &mut SplitMix64) -> BuildLog {
    let mut lines = vec![
        format!(
            "Running with ci-runner 16.{}.0 on runner-{}",
            rng.below(9),
            100 + rng.below(900)
        ),
        format!(
            "Checking out {:08x} as detached HEAD",
            rng.next_u64() as u32
        ),
        "Fetching changes with git depth set to 20...".to_string(),
    ];
    let before = 25 + rng.below(70);
    let after = 2 + rng.below(8);
    let herrings = rng.below(3);
    // Where the red herrings go: mostly before the failure, like real logs.
    let mut herring_at: Vec<usize> = (0..herrings)
        .map(|_| rng.below(before + after / 2))
        .collect();
    herring_at.sort_unstable();
    let push_noise = |lines: &mut Vec<String>, position: usize, rng: &mut SplitMix64| {
        for _ in herring_at.iter().filter(|&&at| at == position) {
            lines.push(fill(HERRINGS[rng.below(HERRINGS.len())], rng));
        }
        lines.push(fill(PROGRESS[rng.below(PROGRESS.len())], rng));
    };
    for position in 0..before {
        push_noise(&mut lines, position, rng);
    }
    let templates = cause.signatures();
    let (signature, context) = templates[rng.weighted(&signature_weights(world, cause))];
    let mut evidence = Vec::new();
    if let Some(context) = context {
        if rng.unit() < 0.6 {
            lines.push(fill(context, rng));
            evidence.push(lines.len() as u32);
        }
    }
    lines.push(fill(signature, rng));
    evidence.push(lines.len() as u32);
    evidence.sort_unstable();
    for position in before..before + after {
        push_noise(&mut lines, position, rng);
    }
    lines.push("Cleaning up project directory and file based variables".to_string());
    lines.push("Uploading artifacts for failed job".to_string());
    BuildLog {
        id,
        cause,
        lines,
        evidence,
    }
}

/// The signature phrase of a line: its first run of two to four plain words (letters
/// with inner `.-_` and one trailing `:,.!;`), the constant part a person would grep
/// for. `None` when the line has no such run.
pub fn phrase(line: &str) -> Option<String> {
    let plain = |word: &str| {
        let core = word.trim_end_matches([':', ',', '.', '!', ';']);
        !core.is_empty()
            && word.len() - core.len() <= 1
            && core.chars().any(|c| c.is_ascii_alphabetic())
            && core
                .chars()
                .all(|c| c.is_ascii_alphabetic() || matches!(c, '.' | '-' | '_'))
            && core.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    };
    let mut run: Vec<&str> = Vec::new();
    for word in line.split(' ') {
        if plain(word) {
            run.push(word);
            if run.len() == 4 {
                break;
            }
        } else if run.len() >= 2 {
            break;
        } else {
            run.clear();
        }
    }
    (run.len() >= 2).then(|| run.join(" "))
}

#[cfg(test)]
pub(super) fn signature_phrases(cause: Cause) -> Vec<String> {
    let mut rng = SplitMix64::new(1);
    cause
        .signatures()
        .iter()
        .filter_map(|(line, _)| phrase(&fill(line, &mut rng)))
        .collect()
}

#[cfg(test)]
pub(super) fn preferred(world: u64, cause: Cause) -> usize {
    let weights = signature_weights(world, cause);
    (0..weights.len())
        .max_by(|a, b| weights[*a].total_cmp(&weights[*b]))
        .unwrap_or(0)
}
