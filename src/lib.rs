//! The `lucid` command line: clap commands, the headless printer, bench printing and exit
//! codes, over the workspace's crates — `lucid-core` (the run), `lucid-envs` (the built-in
//! worlds), `lucid-server` (the store owner's local API), `lucid-tui` (the terminal UI) and
//! `lucid-testkit` (the loopback policy server the fleet bench measures against).

pub mod cli;
