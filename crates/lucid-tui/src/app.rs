//! The TUI's one state, what goes into the reducer ([`Action`]) and what comes out of it
//! ([`Command`]). The reducer (`update`) is the only writer of [`AppState`]; the views
//! only read it; the runtime turns commands into work (store reads, runs, cancels) and
//! the results back into actions. Nothing here touches the terminal or the store.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::PathBuf;

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;

use super::keymap::{Context, Keymap};
use super::memory_state::{MemoryCommand, MemoryState, MemoryUpdate};
use super::run_state::RunState;
use super::theme::Theme;
use lucid_core::event::{AgentId, Event, SessionId};
use lucid_core::store::SessionSummary;

/// The three tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Run,
    Sessions,
    Memory,
}

impl View {
    pub fn context(self) -> Context {
        match self {
            View::Run => Context::Run,
            View::Sessions => Context::Sessions,
            View::Memory => Context::Memory,
        }
    }
}

/// The panes of the Run view that take keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Tree,
    Transcript,
    Grader,
}

/// Where the Run view's events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Nothing to show yet.
    Idle,
    /// A run (or a dream) this process started; events arrive from its bus.
    Live { spec: String },
    /// A stored session played back.
    Replay(Replay),
    /// A live run whose events stopped without an end (the lucid running it went away):
    /// it reads back as interrupted.
    Interrupted { spec: String },
}

/// A stored session being played back through the Run view.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub session: SessionId,
    pub events: Vec<Event>,
    /// The next event to apply.
    pub next: usize,
    pub paused: bool,
    /// 1.0 is recorded pace (gaps clamped, see `update`).
    pub speed: f64,
    /// Replay time banked towards the next event, in milliseconds.
    pub banked_ms: f64,
}

/// A question the user must answer before anything else happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// `q` while a run is live.
    QuitWhileLive,
    /// `c` on the lead: cancelling it ends the whole run.
    CancelRun(lucid_core::event::AgentId),
}

/// The Run view's cursor and folding; the run itself is in [`RunState`].
#[derive(Debug, Clone, Default)]
pub struct RunUi {
    pub selected: Option<AgentId>,
    /// The transcript's cursor: an entry index of the selected thread.
    pub cursor: usize,
    /// The cursor sticks to the newest entry.
    pub follow: bool,
    /// Expanded transcript entries, by thread and index.
    pub expanded: HashSet<(AgentId, usize)>,
    /// Every tool call expanded.
    pub expand_all: bool,
    /// One row per transcript entry, cut with `…`, instead of wrapped text (`w`).
    pub compact: bool,
    /// The grader iteration on show; `None` follows the latest.
    pub grading: Option<usize>,
    /// The diff overlay's first visible row; `None` while it is closed.
    pub diff_scroll: Option<usize>,
    /// The pager over one transcript entry, while it is open.
    pub pager: Option<crate::pager::Pager>,
    /// Where Enter on a delegation jumped from (thread, transcript cursor), newest last;
    /// the back key returns there.
    pub back: Vec<(AgentId, usize)>,
    /// First visible row of the tree and the transcript, remembered between frames so
    /// the view scrolls only when the cursor leaves it (a drawing memo, not state).
    pub tree_scroll: Cell<usize>,
    pub transcript_scroll: Cell<usize>,
}

/// Which sessions the Sessions view lists (`f` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionFilter {
    /// Team runs only: dreams are listed apart.
    #[default]
    Runs,
    Dreams,
    All,
}

impl SessionFilter {
    pub fn admits(self, summary: &SessionSummary) -> bool {
        match self {
            SessionFilter::Runs => !summary.is_dream(),
            SessionFilter::Dreams => summary.is_dream(),
            SessionFilter::All => true,
        }
    }

    pub fn next(self) -> SessionFilter {
        match self {
            SessionFilter::Runs => SessionFilter::Dreams,
            SessionFilter::Dreams => SessionFilter::All,
            SessionFilter::All => SessionFilter::Runs,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SessionFilter::Runs => "runs",
            SessionFilter::Dreams => "dreams",
            SessionFilter::All => "runs and dreams",
        }
    }
}

/// The dream `D` started, watched in the Memory view apart from the run on show.
#[derive(Debug, Clone)]
pub struct DreamWatch {
    /// The team whose history it mines.
    pub team: String,
    /// The dream's own session: the dreamer's thread.
    pub run: RunState,
    /// How it ended, once it has: one sentence.
    pub outcome: Option<Result<String, String>>,
}

/// The Sessions view.
#[derive(Debug, Clone, Default)]
pub struct SessionsUi {
    /// Every recorded session, newest first.
    pub all: Vec<SessionSummary>,
    /// The sessions the filter admits, as listed.
    pub list: Vec<SessionSummary>,
    pub filter: SessionFilter,
    pub selected: usize,
    pub loaded: bool,
    pub error: Option<String>,
    pub scroll: Cell<usize>,
}

impl SessionsUi {
    /// Lists what the filter admits, keeping the selected session selected when it
    /// still shows.
    pub fn refilter(&mut self) {
        let selected = self.list.get(self.selected).map(|s| s.id);
        self.list = self
            .all
            .iter()
            .filter(|s| self.filter.admits(s))
            .cloned()
            .collect();
        self.selected = selected
            .and_then(|id| self.list.iter().position(|s| s.id == id))
            .unwrap_or(0);
    }
}

/// Where the clickable lists were drawn last frame (inner areas), so a mouse click can
/// be mapped to a row. A drawing memo written by the views, read by the reducer.
#[derive(Debug, Clone, Default)]
pub struct HitAreas {
    pub tree: Cell<Rect>,
    pub transcript: Cell<Rect>,
    pub grader: Cell<Rect>,
    /// The diff overlay's text (its height is the page the scroll keys move).
    pub diff: Cell<Rect>,
    /// The pager's text (its width wraps the entry, its height is a page).
    pub pager: Cell<Rect>,
    /// The session table's rows (below its header).
    pub sessions: Cell<Rect>,
    pub memory_list: Cell<Rect>,
    pub memory_detail: Cell<Rect>,
}

/// This window is the client of another lucid that holds the store: live runs execute
/// there, so quitting leaves them running.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientStatus {
    /// Once the owner has gone: the sentence the footer keeps when it has nothing newer.
    pub owner_gone: Option<String>,
}

/// Everything the TUI shows.
pub struct AppState {
    pub view: View,
    pub pane: Pane,
    pub run: RunState,
    pub source: Source,
    pub run_ui: RunUi,
    pub sessions: SessionsUi,
    pub memory: MemoryState,
    pub picker: Option<crate::picker::Picker>,
    /// The latest dream started from this window, live or ended.
    pub dream: Option<DreamWatch>,
    pub help: bool,
    pub confirm: Option<Confirm>,
    /// A one-line message for the footer (errors, acknowledgements).
    pub notice: Option<String>,
    /// Wall clock of the latest tick (for elapsed times of running threads).
    pub now_ms: u64,
    pub keymap: Keymap,
    pub theme: Theme,
    pub quit: bool,
    pub hits: HitAreas,
    /// Set when this window is another lucid's client.
    pub client: Option<ClientStatus>,
}

/// What the reducer is told.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// An event of the live run.
    Event(Event),
    /// Time passed: `now_ms` is the wall clock, `elapsed_ms` the time since the last tick.
    Tick {
        now_ms: u64,
        elapsed_ms: u64,
    },
    SessionsLoaded(Result<Vec<SessionSummary>, String>),
    ReplayLoaded(SessionId, Result<Vec<Event>, String>),
    SpecsListed(Vec<PathBuf>),
    /// A run was started (from the picker or the command line).
    RunStarted {
        spec: String,
    },
    /// A dream over `team`'s history started; its events arrive as `DreamEvent`s and
    /// show in the Memory view's dream panel (the run on show stays).
    DreamStarted {
        team: String,
    },
    /// An event of the dream `D` started.
    DreamEvent(Event),
    /// The dream ended: what it proposed, or why it failed.
    DreamEnded(Result<String, String>),
    /// Starting or running the live session failed.
    RunFailed(String),
    /// The live session's task ended.
    RunEnded,
    /// The live session's events stopped without an end: the sentence for the footer.
    RunInterrupted(String),
    /// The lucid this window is the client of has gone: the sentence for the footer.
    OwnerGone(String),
    Memory(MemoryUpdate),
}

/// What the reducer asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Cancel one thread of the live run and its children.
    CancelAgent(AgentId),
    /// Cancel the whole live run.
    CancelRun,
    LoadSessions,
    LoadReplay(SessionId),
    ListSpecs,
    StartRun(crate::picker::RunChoice),
    Memory(MemoryCommand),
}

impl AppState {
    pub fn new(keymap: Keymap, theme: Theme) -> AppState {
        AppState {
            view: View::Run,
            pane: Pane::Tree,
            run: RunState::default(),
            source: Source::Idle,
            run_ui: RunUi {
                follow: true,
                ..RunUi::default()
            },
            sessions: SessionsUi::default(),
            memory: MemoryState::default(),
            picker: None,
            dream: None,
            help: false,
            confirm: None,
            notice: None,
            now_ms: 0,
            keymap,
            theme,
            quit: false,
            hits: HitAreas::default(),
            client: None,
        }
    }

    /// A live run is being shown and has not finished.
    pub fn run_is_live(&self) -> bool {
        matches!(self.source, Source::Live { .. }) && self.run.view.finish.is_none()
    }

    /// A dream this window started has not ended (its panel's clock runs).
    pub fn dream_is_live(&self) -> bool {
        self.dream.as_ref().is_some_and(|d| d.outcome.is_none())
    }

    /// The clock for elapsed times: the wall clock while live, the replayed time otherwise.
    pub fn clock_ms(&self) -> u64 {
        match self.source {
            Source::Live { .. } if self.run.view.finish.is_none() => {
                self.now_ms.max(self.run.view.last_event_ms)
            }
            _ => self.run.view.last_event_ms,
        }
    }
}
