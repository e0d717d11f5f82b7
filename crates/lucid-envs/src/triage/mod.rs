//! Build triage: a fleet of failed CI builds, one triage agent per log.
//!
//! The environment generates N synthetic CI build logs (`fleet`), each failed for one
//! known cause: compile errors, test failures, test timeouts, out-of-memory kills,
//! network fetch failures, full disks, dependency conflicts or flaky infrastructure,
//! buried in realistic noise and red herrings. The commander delegates one `triager`
//! per log, all in one turn, so they run in parallel under `[limits] max_parallel`,
//! each in its own fresh context; a triager reads its log through `log_info`,
//! `read_log` and `grep_log` and files `report_cause` (cause and evidence line).
//!
//! The world number seeds which textual signatures each cause tends to show; nobody is
//! told. The scripted grader (`verdict`) scores each finding against the log's hidden
//! cause, and what the episode reveals after grading is its verdict, not the cause: per
//! log (fact `cases`) the signature phrases the triager saw, the cause it chose, `right`
//! or `wrong`, and the grader's stated reason (which line shows the failure, whether
//! the cited one does; never the hidden cause of a log the team got wrong). From those
//! verdicts a dream learns rules `{"when": {"log_contains": TEXT}, "then": {"cause":
//! CAUSE}}` that the triager reads from its prompt. The hidden causes themselves reach
//! only [`ground_truth`], for benchmarks and audits, never a policy, the store or a dream.
//!
//! Files: `fleet` (ground truth and log text), `tools` (tools, episode state and facts),
//! `verdict` (the grader's per-log verdict), `policy` (the scripted commander and
//! triager).
//!
//! # Options (`[environment]` table)
//! - `logs` (integer, 1–2000, default 200): how many build logs the fleet has.
//!
//! Unknown keys are rejected with [`EnvError::BadOption`].

mod fleet;
mod policy;
mod tools;
mod verdict;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use lucid_core::model::Policy;
use lucid_core::spec::{CaseLearning, EnvironmentCapabilities, Figure};
use lucid_core::world::{EnvError, Environment, Episode};

use fleet::Fleet;
pub use fleet::{phrase, Cause};
use tools::{TriageEpisode, FACT_NAMES};

pub const KIND: &str = "build-triage";

/// How many logs a fleet has unless the session says otherwise.
pub const DEFAULT_LOGS: u32 = 200;
const MAX_LOGS: u32 = 2000;

/// The rule feature a triager checks by grepping its log.
pub const LOG_FEATURE: &str = "log_contains";
/// The rule parameter that names a cause.
pub const CAUSE_LABEL: &str = "cause";

/// Tool names.
pub const TOOLS: [&str; 4] = [
    tools::LOG_INFO,
    tools::READ_LOG,
    tools::GREP_LOG,
    tools::REPORT_CAUSE,
];

/// Roles build triage ships scripted policies for.
pub const ROLES: [&str; 2] = ["commander", "triager"];

/// What build triage offers a session file, and what dreams and benchmarks may use:
/// per-log cases (signature phrases seen → cause), accuracy and tool calls per log.
pub fn capabilities() -> EnvironmentCapabilities {
    EnvironmentCapabilities {
        cases: Some(CaseLearning {
            fact: "cases".into(),
            feature: LOG_FEATURE.into(),
            label: CAUSE_LABEL.into(),
        }),
        figures: vec![
            Figure {
                fact: "accuracy".into(),
                higher_is_better: true,
            },
            Figure {
                fact: "tool_calls_per_log".into(),
                higher_is_better: false,
            },
        ],
        ..lucid_core::world::capabilities(&TOOLS, &FACT_NAMES, &ROLES)
    }
}

/// The hidden cause of every log of the fleet of `logs` logs a session of `world` and
/// `seed` triages, in log order (log 1 first). For benchmarks and tests that audit
/// what is recorded: nothing a policy, the store or a dream reads comes from here.
pub fn ground_truth(world: u64, seed: u64, logs: u32) -> Vec<Cause> {
    Fleet::generate(world, seed, logs)
        .logs
        .iter()
        .map(|log| log.cause)
        .collect()
}

/// The build-triage environment for one world and seed.
pub struct BuildTriage {
    fleet: Arc<Fleet>,
}

impl BuildTriage {
    /// Generates the fleet for `world` and `seed`; see the module docs for `options`.
    pub fn new(options: &toml::Table, seed: u64, world: u64) -> Result<Self, EnvError> {
        let mut logs = DEFAULT_LOGS;
        for (key, value) in options {
            match key.as_str() {
                "logs" => {
                    logs = value
                        .as_integer()
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| (1..=MAX_LOGS).contains(n))
                        .ok_or_else(|| EnvError::BadOption {
                            key: key.clone(),
                            message: format!(
                                "must be a whole number of logs from 1 to {MAX_LOGS} (it was {value})"
                            ),
                        })?;
                }
                other => {
                    return Err(EnvError::BadOption {
                        key: other.to_string(),
                        message: "unknown option for build-triage; the only option is `logs`"
                            .into(),
                    })
                }
            }
        }
        Ok(BuildTriage {
            fleet: Arc::new(Fleet::generate(world, seed, logs)),
        })
    }
}

impl Environment for BuildTriage {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn briefing(&self) -> String {
        let count = self.fleet.logs.len();
        format!(
            "The CI fleet produced {count} failed build logs, ids 1 to {count}. Each failed for one cause: {}.\n\
             Triage agents read a log with log_info, read_log and grep_log and file report_cause.\n\
             LOGS count={count}",
            Cause::ALL.map(Cause::name).join(", ")
        )
    }

    fn policy(&self, role: &str) -> Option<Arc<dyn Policy>> {
        match role {
            "commander" => Some(Arc::new(policy::Commander)),
            "triager" => Some(Arc::new(policy::Triager)),
            _ => None,
        }
    }

    fn episode(&self) -> Arc<dyn Episode> {
        Arc::new(TriageEpisode::new(self.fleet.clone()))
    }
}
