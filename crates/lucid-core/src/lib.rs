//! lucid-core: everything a run is, without a window or a command line — session files,
//! the event protocol, the store, models, tools, the agent loop, the grader, memory and
//! dreaming, and the one front door that starts every run ([`session::launch`]).
//!
//! Data flows down this list; a module depends only on modules above it:
//!
//! | module | owns |
//! |---|---|
//! | [`spec`] | session files: types, loading, validation with positions |
//! | [`config`] | where lucid's files are (config file, keymap, themes, default store) and the user's config file, in the session file's terms |
//! | [`event`] | the `Event` vocabulary, verdicts, sanitising, and the in-process bus |
//! | [`store`] | sled: sessions, events, memories, dreams, schema version |
//! | [`model`] | the provider trait, request/response types, the scripted provider |
//! | [`sandbox`] | running commands confined to a root: Landlock or bubblewrap, no network, no secrets, limits |
//! | [`tool`] | the tool trait and registry; the MCP client (`tool::mcp`) |
//! | [`world`] | the `Environment`/`Episode`/`Worlds` traits and what every world shares: rules, command facts and tools, work folders and their changes |
//! | [`run`] | agent loop, delegation and follow-ups, advisor, parallelism, budgets |
//! | [`outcome`] | the grader and the revise loop |
//! | [`memory`] | memory records, versions and their history, diffs, review (approve, reject, retire), edits and reverts, Agent Skills export/import |
//! | [`dream`] | digesting sessions, mining patterns, proposing playbooks |
//! | [`session`] | the front door: load a session file, launch it, its handle (events, ops, join) |
//!
//! The built-in worlds are in `lucid-envs`, the store owner's local API in
//! `lucid-server`, the terminal UI in `lucid-tui`, the command line in `lucid`.

pub mod config;
pub mod dream;
pub mod event;
pub mod memory;
pub mod model;
pub mod outcome;
pub mod run;
pub mod sandbox;
pub mod session;
pub mod spec;
pub mod store;
pub mod tool;
pub mod world;
