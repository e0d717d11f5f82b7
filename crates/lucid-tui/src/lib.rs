//! The terminal UI: lucid's face. A person watches a run live (the agent tree, the
//! selected thread's transcript, the grader's verdicts), replays stored sessions through
//! the same view, browses the history and reviews memories, all from the keyboard.
//!
//! One state, one reducer, views over it: [`app::AppState`] is changed only by
//! [`update::update`] from [`app::Action`]s (keys, events, ticks, results of background
//! work); [`views::draw`] renders `&AppState`; [`runtime`] owns the loop, the terminal
//! input and the background work the reducer asks for ([`app::Command`]). The TUI only
//! listens to events and sends commands (cancel a thread, start a run); it never reaches
//! into the runner, and the store is read on blocking threads, never while drawing.
//! Sessions and live runs come through a `backend` (this window's store, or the lucid
//! that holds it), so the loop works the same when this window is another lucid's client.
//!
//! Files: `app` (state, actions, commands), `update` (the reducer), `run_state` (the fold
//! of a session's events), `change_state` (the files a project session changed, and its
//! diff), `memory_state` (the Memory view's model and keys), `memory_editor` (its editor
//! of title, body and rules), `memory_backend` (its records from the store), `views/` (tree, transcript, grader, changes and the diff overlay,
//! sessions, memory, help), `keymap`, `theme`, `config`, `terminal` (setup and teardown),
//! `live` (starting a run), `backend` (where sessions are: local or through the owner),
//! `runtime` (the loop), `work` (what commands start), `bench` (frame-time figures).
//! `memory_remote` gives the Memory view its records from the store's owner instead.
//! `entry_lines` (a transcript entry as text, folded or whole), `wrap` (wrapping and
//! cutting by display width), `pager` (the full-screen reader of one entry).

pub mod app;
pub mod backend;
pub mod bench;
pub mod change_state;
pub mod config;
pub mod entry_lines;
pub mod keymap;
pub mod live;
pub mod memory_backend;
pub mod memory_editor;
pub mod memory_remote;
pub mod memory_state;
pub mod pager;
pub mod picker;
pub mod run_state;
pub mod runtime;
pub mod terminal;
pub mod theme;
pub mod update;
pub mod views;
mod work;
pub mod wrap;

#[cfg(test)]
mod tests;
