//! lucid: a terminal workbench for teams of LLM agents that check their own work and
//! learn from their history.
//!
//! Data flows down this list; a module depends only on modules above it:
//!
//! | module | owns |
//! |---|---|
//! | [`spec`] | session files: types, loading, validation with positions |
//! | [`event`] | the `Event` vocabulary and the in-process bus |
//! | [`store`] | sled: sessions, events, memories, dreams, schema version |
//! | [`model`] | the provider trait, request/response types, the scripted provider |
//! | [`tool`] | the tool trait and registry; the MCP client (`tool::mcp`) |
//! | [`sandbox`] | running commands confined to a root: Landlock or bubblewrap, no network, no secrets, limits |
//! | [`env`] | built-in environments (lumara, fleet, build-triage, workspace, project): tools, result facts, scripted policies; facts from commands and `[tools]` commands |
//! | [`run`] | agent loop, delegation, advisor, parallelism, budgets |
//! | [`outcome`] | the grader and the revise loop |
//! | [`memory`] | memory records, versions, diffs, approval, Agent Skills export/import |
//! | [`dream`] | digesting sessions, mining patterns, proposing playbooks |
//! | [`session`] | the front door: load a session file, launch it, its handle (events, ops, join) |
//! | [`server`] | the store's owner serves it on `<store>/lucid.sock` (axum); the client other commands use |
//! | [`cli`] | the `lucid` command line |

pub mod cli;
pub mod dream;
pub mod env;
pub mod event;
pub mod memory;
pub mod model;
pub mod outcome;
pub mod run;
pub mod sandbox;
pub mod serve;
pub mod server;
pub mod session;
pub mod spec;
pub mod store;
pub mod tool;
pub mod tui;
