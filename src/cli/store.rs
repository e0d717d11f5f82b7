//! `lucid store check`: reads the whole store back and says what is damaged and how to
//! recover. Exit 0 when every record reads, 3 when something does not (or the store will
//! not open); a store held by another lucid is not checked (exit 3, saying so).

use std::path::PathBuf;

use clap::Subcommand;

use lucid_core::store::{Store, StoreError};

use super::exit;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Read every record of the store back and say what is damaged and how to recover.
    Check,
}

pub fn store(db: Option<PathBuf>, command: StoreCommand) -> u8 {
    match command {
        StoreCommand::Check => check(db),
    }
}

fn check(db: Option<PathBuf>) -> u8 {
    let path = db.unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    let store = match Store::open(&path) {
        Ok(store) => store,
        Err(err @ StoreError::Locked { .. }) => {
            eprintln!("lucid: {err}; close it (or stop `lucid serve`) and check again");
            return exit::RUNTIME;
        }
        Err(err) => {
            outln!("store {}: does not open", path.display());
            eprintln!("lucid: {err}");
            return exit::RUNTIME;
        }
    };
    let health = store.check();
    let counts: Vec<String> = health
        .counts
        .iter()
        .map(|(name, count)| format!("{count} {name}"))
        .collect();
    outln!("store {}: {}", path.display(), counts.join(", "));
    if health.is_healthy() {
        outln!("ok: every record reads back");
        return exit::OK;
    }
    outln!("{} record(s) do not read back:", health.problem_count);
    for problem in &health.problems {
        outln!("  {}", lucid_core::event::one_line(problem, 300));
    }
    if health.problem_count > health.problems.len() {
        outln!(
            "  … and {} more",
            health.problem_count - health.problems.len()
        );
    }
    outln!(
        "To recover: keep a copy of the folder ({}), then start a fresh store with --db PATH \
         (or LUCID_DB); commands that read a damaged record say which one and stop.",
        path.display()
    );
    exit::RUNTIME
}
