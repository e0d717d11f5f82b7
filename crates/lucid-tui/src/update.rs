//! The reducer: `update(&mut AppState, Action) -> Vec<Command>`, the only place the TUI's
//! state changes. Keys become [`KeyAction`]s through the keymap and then state changes
//! or commands; events are folded into the run; ticks advance a replay. Pure apart from
//! the state it is given: no I/O, no clock reads.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::app::{Action, AppState, Command, Confirm, Pane, Replay, Source, View};
use super::keymap::{Context, KeyAction};
use super::memory_state::{MemoryCommand, MemoryUpdate};
use super::run_state::RunState;
use lucid_core::event::Event;

/// Replay pace at speed 1: gaps between events are clamped to this range, so a fast
/// offline session can be watched and a slow model call does not stall the replay.
pub const REPLAY_MIN_GAP_MS: u64 = 40;
pub const REPLAY_MAX_GAP_MS: u64 = 1500;

/// The most replay time one tick can bank.
const MAX_TICK_MS: u64 = 250;

/// Rows a page key moves.
const PAGE: usize = 20;

/// Applies one action; returns the work the runtime must do.
pub fn update(app: &mut AppState, action: Action) -> Vec<Command> {
    match action {
        Action::Key(key) if key.kind != KeyEventKind::Release => on_key(app, &key),
        Action::Key(_) => Vec::new(),
        Action::Mouse(mouse) => {
            if app.run_ui.pager.is_some() && app.view == View::Run && !app.help {
                let action = match mouse.kind {
                    MouseEventKind::ScrollDown => KeyAction::Down,
                    MouseEventKind::ScrollUp => KeyAction::Up,
                    _ => return Vec::new(),
                };
                let code = if action == KeyAction::Down {
                    KeyCode::Down
                } else {
                    KeyCode::Up
                };
                super::pager::on_key(app, &KeyEvent::from(code));
                return Vec::new();
            }
            if app.run_ui.diff_scroll.is_some() && !app.help && app.confirm.is_none() {
                match mouse.kind {
                    MouseEventKind::ScrollDown => scroll_diff(app, KeyAction::Down),
                    MouseEventKind::ScrollUp => scroll_diff(app, KeyAction::Up),
                    _ => {}
                }
                return Vec::new();
            }
            if app.help
                || app.confirm.is_some()
                || app.picker.is_some()
                || app.memory.editor.is_some()
                || app.memory.confirm.is_some()
            {
                return Vec::new();
            }
            let action = match mouse.kind {
                MouseEventKind::ScrollDown => KeyAction::Down,
                MouseEventKind::ScrollUp => KeyAction::Up,
                MouseEventKind::Down(MouseButton::Left) => {
                    click(app, mouse.column, mouse.row);
                    return Vec::new();
                }
                _ => return Vec::new(),
            };
            on_action(app, action)
        }
        Action::Event(event) => {
            if matches!(app.source, Source::Live { .. }) {
                apply_event(app, &event);
            }
            Vec::new()
        }
        Action::Tick { now_ms, elapsed_ms } => {
            app.now_ms = now_ms;
            advance_replay(app, elapsed_ms);
            Vec::new()
        }
        Action::SessionsLoaded(result) => {
            app.sessions.loaded = true;
            match result {
                Ok(mut list) => {
                    // Newest first.
                    list.reverse();
                    app.sessions.all = list;
                    app.sessions.error = None;
                    app.sessions.refilter();
                }
                Err(message) => app.sessions.error = Some(message),
            }
            Vec::new()
        }
        Action::ReplayLoaded(_, Ok(_)) if app.run_is_live() => {
            // The live run keeps the Run view; a replay would hide it.
            app.notice = Some("a run is live; replay when it has finished".into());
            Vec::new()
        }
        Action::ReplayLoaded(session, Ok(events)) => {
            start_replay(app, session, events);
            Vec::new()
        }
        Action::ReplayLoaded(session, Err(message)) => {
            app.notice = Some(format!("cannot replay {}: {message}", session.short_id()));
            Vec::new()
        }
        Action::SpecsListed(specs) => {
            if specs.is_empty() {
                app.notice =
                    Some("no session files in sessions/: type a session file's path (tab)".into());
            }
            app.picker = Some(super::picker::Picker::new(specs, &app.sessions.all));
            Vec::new()
        }
        Action::RunStarted { spec } => {
            reset_run(app);
            app.source = Source::Live { spec };
            app.view = View::Run;
            Vec::new()
        }
        Action::DreamStarted { team } => {
            app.dream = Some(super::app::DreamWatch {
                team,
                run: RunState::default(),
                outcome: None,
            });
            Vec::new()
        }
        Action::DreamEvent(event) => {
            if let Some(dream) = &mut app.dream {
                dream.run.apply(&event);
            }
            Vec::new()
        }
        Action::DreamEnded(outcome) => {
            let update = match &outcome {
                Ok(message) => MemoryUpdate::Done(message.clone()),
                Err(message) => MemoryUpdate::Failed(message.clone()),
            };
            if let Some(dream) = &mut app.dream {
                dream.outcome = Some(outcome);
            }
            let mut commands = app.memory.apply(update, &mut app.notice);
            commands.push(Command::LoadSessions);
            commands
        }
        Action::RunFailed(message) => {
            app.notice = Some(message);
            Vec::new()
        }
        Action::RunEnded => {
            app.confirm = None;
            vec![Command::LoadSessions]
        }
        Action::OwnerGone(message) => {
            // A run that lost its owner has said so already, with its id.
            if !matches!(app.source, Source::Interrupted { .. }) {
                app.notice = Some(message.clone());
            }
            app.client.get_or_insert_with(Default::default).owner_gone = Some(message);
            Vec::new()
        }
        Action::RunInterrupted(message) => {
            app.confirm = None;
            app.notice = Some(message);
            if let (Source::Live { spec }, None) = (&app.source, &app.run.view.finish) {
                app.source = Source::Interrupted { spec: spec.clone() };
            }
            vec![Command::LoadSessions]
        }
        Action::Memory(update) => app.memory.apply(update, &mut app.notice),
    }
}

/// The row of `area` under (`column`, `row`), if the point is inside it.
fn row_in(area: Rect, column: u16, row: u16) -> Option<usize> {
    area.contains(Position::new(column, row))
        .then(|| usize::from(row - area.y))
}

/// A left click focuses the pane under the mouse and selects the row clicked.
fn click(app: &mut AppState, column: u16, row: u16) {
    let hits = &app.hits;
    match app.view {
        View::Run => {
            if let Some(at) = row_in(hits.tree.get(), column, row) {
                app.pane = Pane::Tree;
                let order = app.run.tree_order();
                if let Some(&(id, _)) = order.get(app.run_ui.tree_scroll.get() + at) {
                    if app.run_ui.selected != Some(id) {
                        select_thread(app, id);
                    }
                }
            } else if row_in(hits.transcript.get(), column, row).is_some() {
                app.pane = Pane::Transcript;
            } else if row_in(hits.grader.get(), column, row).is_some() {
                app.pane = Pane::Grader;
            }
        }
        View::Sessions => {
            if let Some(at) = row_in(hits.sessions.get(), column, row) {
                let index = app.sessions.scroll.get() + at;
                if index < app.sessions.list.len() {
                    app.sessions.selected = index;
                }
            }
        }
        View::Memory => {
            use super::memory_state::MemoryPane;
            if let Some(at) = row_in(hits.memory_list.get(), column, row) {
                app.memory.pane = MemoryPane::List;
                let rows = usize::from(hits.memory_list.get().height);
                let first = super::views::scroll_to(0, app.memory.selected, rows);
                if first + at < app.memory.visible().len() {
                    app.memory.selected = first + at;
                    app.memory.citation = 0;
                }
            } else if row_in(hits.memory_detail.get(), column, row).is_some() {
                app.memory.pane = MemoryPane::Detail;
            }
        }
    }
}

fn reset_run(app: &mut AppState) {
    app.run = RunState::default();
    app.run_ui.selected = None;
    app.run_ui.cursor = 0;
    app.run_ui.follow = true;
    app.run_ui.expanded.clear();
    app.run_ui.grading = None;
    app.run_ui.diff_scroll = None;
    app.run_ui.pager = None;
    app.run_ui.back.clear();
    app.run_ui.tree_scroll.set(0);
    app.run_ui.transcript_scroll.set(0);
}

fn apply_event(app: &mut AppState, event: &Event) {
    app.run.apply(event);
    if app.run_ui.selected.is_none() {
        app.run_ui.selected = app.run.view.roots.first().copied();
    }
    if app.run_ui.follow {
        app.run_ui.cursor = selected_len(app).saturating_sub(1);
    }
}

fn start_replay(app: &mut AppState, session: lucid_core::event::SessionId, events: Vec<Event>) {
    reset_run(app);
    app.source = Source::Replay(Replay {
        session,
        events,
        next: 0,
        paused: false,
        speed: 1.0,
        banked_ms: 0.0,
    });
    app.view = View::Run;
    app.notice = Some(format!("replaying {}", session.short_id()));
    // The first event (session start) shows at once.
    step_replay(app);
}

/// Applies the next replayed event; false when the replay is over.
fn step_replay(app: &mut AppState) -> bool {
    let Source::Replay(replay) = &mut app.source else {
        return false;
    };
    let Some(event) = replay.events.get(replay.next).cloned() else {
        return false;
    };
    replay.next += 1;
    apply_event(app, &event);
    true
}

/// Replay time passes: applies every event whose (clamped) gap has been banked.
fn advance_replay(app: &mut AppState, elapsed_ms: u64) {
    if let Source::Replay(replay) = &mut app.source {
        if replay.paused {
            return;
        }
        // A long quiet spell (the loop sleeps while nothing moves) is not banked.
        replay.banked_ms += elapsed_ms.min(MAX_TICK_MS) as f64;
    }
    loop {
        let Source::Replay(replay) = &mut app.source else {
            return;
        };
        let Some(next) = replay.events.get(replay.next) else {
            return;
        };
        let previous = replay
            .next
            .checked_sub(1)
            .and_then(|i| replay.events.get(i));
        let gap = previous.map_or(0, |p| next.at_ms.saturating_sub(p.at_ms));
        let gap = gap.clamp(REPLAY_MIN_GAP_MS, REPLAY_MAX_GAP_MS) as f64 / replay.speed;
        if replay.banked_ms < gap {
            return;
        }
        replay.banked_ms -= gap;
        step_replay(app);
    }
}

fn selected_len(app: &AppState) -> usize {
    app.run_ui
        .selected
        .and_then(|id| app.run.transcripts.get(&id))
        .map_or(0, |t| t.entries.len())
}

fn on_key(app: &mut AppState, key: &KeyEvent) -> Vec<Command> {
    if let Some(Confirm::QuitWhileLive) = app.confirm {
        app.confirm = None;
        if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            app.quit = true;
            return vec![Command::CancelRun];
        }
        return Vec::new();
    }
    if let Some(Confirm::CancelRun(lead)) = app.confirm {
        app.confirm = None;
        if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            app.notice = Some(format!(
                "cancelling the run: {lead} and every thread under it"
            ));
            return vec![Command::CancelAgent(lead)];
        }
        app.notice = Some("the run goes on".into());
        return Vec::new();
    }
    if app.help {
        // Any key closes the help.
        app.help = false;
        return Vec::new();
    }
    if let Some(picker) = &mut app.picker {
        match picker.on_key(key) {
            super::picker::Outcome::Stay => {}
            super::picker::Outcome::Close => app.picker = None,
            super::picker::Outcome::Start(choice) => {
                app.picker = None;
                return vec![Command::StartRun(choice)];
            }
        }
        return Vec::new();
    }
    if app.run_ui.diff_scroll.is_some() {
        diff_key(app, key);
        return Vec::new();
    }
    if app.view == View::Run && app.run_ui.pager.is_some() {
        super::pager::on_key(app, key);
        return Vec::new();
    }
    let action = app.keymap.action(app.view.context(), key);
    if app.view == View::Memory && app.memory.takes_raw_keys() {
        return app.memory.on_key(action, key, &mut app.notice);
    }
    match action {
        Some(action) => on_action(app, action),
        None => Vec::new(),
    }
}

fn on_action(app: &mut AppState, action: KeyAction) -> Vec<Command> {
    app.notice = None;
    match action {
        KeyAction::Quit => {
            // A client's live run goes on in the lucid that runs it.
            if app.run_is_live() && app.client.is_none() {
                app.confirm = Some(Confirm::QuitWhileLive);
            } else {
                app.quit = true;
            }
            Vec::new()
        }
        KeyAction::Help => {
            app.help = true;
            Vec::new()
        }
        KeyAction::ViewRun => {
            app.view = View::Run;
            Vec::new()
        }
        KeyAction::ViewSessions => {
            app.view = View::Sessions;
            vec![Command::LoadSessions]
        }
        KeyAction::ViewMemory => {
            app.view = View::Memory;
            vec![Command::Memory(MemoryCommand::Load)]
        }
        _ => match app.view {
            View::Run => run_action(app, action),
            View::Sessions => sessions_action(app, action),
            View::Memory if action == KeyAction::DreamNow => dream_now(app),
            View::Memory => {
                let key = KeyEvent::from(KeyCode::Null);
                app.memory.on_key(Some(action), &key, &mut app.notice)
            }
        },
    }
}

/// `D`: dream for the team on show, else the team of the newest session.
fn dream_now(app: &mut AppState) -> Vec<Command> {
    if app.run_is_live() {
        app.notice = Some("a run is live; dream when it has finished".into());
        return Vec::new();
    }
    if app.dream_is_live() {
        app.notice = Some("a dream is already under way".into());
        return Vec::new();
    }
    let on_show = (!app.run.view.team.is_empty()
        && app.run.view.environment != lucid_core::dream::DREAM_ENVIRONMENT)
        .then(|| app.run.view.team.clone());
    let newest = app
        .sessions
        .all
        .iter()
        .find(|s| !s.is_dream())
        .map(|s| s.team.clone());
    match on_show.or(newest) {
        Some(team) => {
            app.notice = Some(format!("dreaming over team {team}'s new sessions…"));
            vec![Command::Memory(MemoryCommand::DreamNow { team })]
        }
        None => {
            app.notice = Some("nothing to dream about yet: run a session first".into());
            Vec::new()
        }
    }
}

fn sessions_action(app: &mut AppState, action: KeyAction) -> Vec<Command> {
    let ui = &mut app.sessions;
    let last = ui.list.len().saturating_sub(1);
    match action {
        KeyAction::Down => ui.selected = (ui.selected + 1).min(last),
        KeyAction::Up => ui.selected = ui.selected.saturating_sub(1),
        KeyAction::PageDown => ui.selected = (ui.selected + PAGE).min(last),
        KeyAction::PageUp => ui.selected = ui.selected.saturating_sub(PAGE),
        KeyAction::Top => ui.selected = 0,
        KeyAction::Bottom => ui.selected = last,
        KeyAction::Open => {
            if let Some(summary) = ui.list.get(ui.selected) {
                return vec![Command::LoadReplay(summary.id)];
            }
        }
        KeyAction::NewRun => {
            if app.run_is_live() {
                app.notice = Some("a run is already live; wait for it or cancel it".into());
                return Vec::new();
            }
            if app.dream_is_live() {
                app.notice = Some("a dream is under way; start the run when it has ended".into());
                return Vec::new();
            }
            return vec![Command::ListSpecs];
        }
        KeyAction::Refresh => return vec![Command::LoadSessions],
        KeyAction::FilterSessions => {
            ui.filter = ui.filter.next();
            ui.refilter();
            app.notice = Some(format!("listing {} (f: next filter)", ui.filter.label()));
        }
        _ => {}
    }
    Vec::new()
}

fn run_action(app: &mut AppState, action: KeyAction) -> Vec<Command> {
    match action {
        KeyAction::FocusNext | KeyAction::FocusPrev => {
            let order = [Pane::Tree, Pane::Transcript, Pane::Grader];
            let at = order.iter().position(|p| *p == app.pane).unwrap_or(0);
            let step = if action == KeyAction::FocusNext {
                1
            } else {
                order.len() - 1
            };
            app.pane = order[(at + step) % order.len()];
        }
        KeyAction::CancelThread => {
            let Some(id) = app.run_ui.selected else {
                return Vec::new();
            };
            if !app.run_is_live() {
                app.notice = Some("nothing to cancel: the run is not live".into());
                return Vec::new();
            }
            let finished = app
                .run
                .view
                .agents
                .get(&id)
                .is_none_or(|t| t.phase.is_finished());
            if finished {
                app.notice = Some(format!("thread {id} has already ended"));
                return Vec::new();
            }
            let lead = app
                .run
                .view
                .agents
                .get(&id)
                .is_some_and(|t| t.parent.is_none());
            if lead {
                // The lead's end is the run's end: ask first.
                app.confirm = Some(Confirm::CancelRun(id));
                return Vec::new();
            }
            app.notice = Some(format!("cancelling thread {id} and its children"));
            return vec![Command::CancelAgent(id)];
        }
        KeyAction::ExpandAll => {
            // Single toggles are relative to the default, so they reset with it.
            app.run_ui.expand_all = !app.run_ui.expand_all;
            app.run_ui.expanded.clear();
        }
        KeyAction::ToggleWrap => {
            app.run_ui.compact = !app.run_ui.compact;
            app.notice = Some(
                if app.run_ui.compact {
                    "transcript: one line per entry (w wraps again)"
                } else {
                    "transcript: long lines wrap (w: one line per entry)"
                }
                .into(),
            );
        }
        KeyAction::Pager => {
            let Some(id) = app.run_ui.selected else {
                return Vec::new();
            };
            let len = selected_len(app);
            if len == 0 {
                app.notice = Some("nothing to read yet: the thread has no entries".into());
                return Vec::new();
            }
            let entry = app.run_ui.cursor.min(len - 1);
            app.run_ui.pager = Some(super::pager::Pager::new(id, entry));
        }
        KeyAction::Back => match app.run_ui.back.pop() {
            Some((id, cursor)) if app.run.view.agents.contains_key(&id) => {
                select_thread(app, id);
                let last = selected_len(app).saturating_sub(1);
                app.run_ui.cursor = cursor.min(last);
                app.run_ui.follow = app.run_ui.cursor >= last && app.run_is_live();
                app.pane = Pane::Transcript;
            }
            _ => {
                app.notice =
                    Some("nowhere to go back to: Enter on a delegation jumps to its thread".into())
            }
        },
        KeyAction::PrevIteration | KeyAction::NextIteration => {
            let count = app.run.view.gradings.len();
            if count == 0 {
                return Vec::new();
            }
            let at = app.run_ui.grading.unwrap_or(count - 1);
            let at = if action == KeyAction::PrevIteration {
                at.saturating_sub(1)
            } else {
                at + 1
            };
            app.run_ui.grading = (at < count - 1).then_some(at);
        }
        KeyAction::ShowDiff => {
            if app.run.changes.is_some() {
                app.run_ui.diff_scroll = Some(0);
            } else {
                app.notice = Some(
                    "no file changes recorded: only `project` sessions record them, after each attempt"
                        .into(),
                );
            }
        }
        KeyAction::Pause | KeyAction::Step | KeyAction::Faster | KeyAction::Slower => {
            let Source::Replay(replay) = &mut app.source else {
                app.notice = Some("pause, step and speed apply to replays".into());
                return Vec::new();
            };
            match action {
                KeyAction::Pause => replay.paused = !replay.paused,
                KeyAction::Faster => replay.speed = (replay.speed * 2.0).min(64.0),
                KeyAction::Slower => replay.speed = (replay.speed / 2.0).max(0.125),
                _ => {
                    replay.paused = true;
                    step_replay(app);
                }
            }
        }
        _ => match app.pane {
            Pane::Tree => tree_action(app, action),
            Pane::Transcript => transcript_action(app, action),
            Pane::Grader => {}
        },
    }
    Vec::new()
}

/// A key while the diff overlay is open: Esc, `q` or the diff key close it, `?` shows
/// the help, the movement keys scroll it; everything else waits until it is closed.
fn diff_key(app: &mut AppState, key: &KeyEvent) {
    if key.code == KeyCode::Esc {
        app.run_ui.diff_scroll = None;
        return;
    }
    match app.keymap.action(Context::Run, key) {
        Some(KeyAction::Quit | KeyAction::ShowDiff) => app.run_ui.diff_scroll = None,
        Some(KeyAction::Help) => app.help = true,
        Some(action) => scroll_diff(app, action),
        None => {}
    }
}

/// Moves the diff overlay's first row; the last page stays full.
fn scroll_diff(app: &mut AppState, action: KeyAction) {
    let Some(first) = app.run_ui.diff_scroll else {
        return;
    };
    let total = app.run.changes.as_ref().map_or(0, |c| c.rows());
    // The overlay's height as last drawn (a page before the first frame).
    let height = usize::from(app.hits.diff.get().height);
    let page = if height == 0 { PAGE } else { height };
    let last = total.saturating_sub(height.max(1));
    let first = first.min(last);
    let to = match action {
        KeyAction::Down => first.saturating_add(1),
        KeyAction::Up => first.saturating_sub(1),
        KeyAction::PageDown => first.saturating_add(page),
        KeyAction::PageUp => first.saturating_sub(page),
        KeyAction::Top => 0,
        KeyAction::Bottom => last,
        _ => first,
    };
    app.run_ui.diff_scroll = Some(to.min(last));
}

fn tree_action(app: &mut AppState, action: KeyAction) {
    let order = app.run.tree_order();
    if order.is_empty() {
        return;
    }
    let at = app
        .run_ui
        .selected
        .and_then(|id| order.iter().position(|(o, _)| *o == id))
        .unwrap_or(0);
    let last = order.len() - 1;
    let to = match action {
        KeyAction::Down => (at + 1).min(last),
        KeyAction::Up => at.saturating_sub(1),
        KeyAction::PageDown => (at + PAGE).min(last),
        KeyAction::PageUp => at.saturating_sub(PAGE),
        KeyAction::Top => 0,
        KeyAction::Bottom => last,
        KeyAction::Open => {
            app.pane = Pane::Transcript;
            at
        }
        _ => at,
    };
    if to != at || app.run_ui.selected.is_none() {
        select_thread(app, order[to].0);
    }
}

/// Shows thread `id`: from its start, or following its tail while it is running in a
/// live run; the transcript scroll starts over.
fn select_thread(app: &mut AppState, id: lucid_core::event::AgentId) {
    app.run_ui.selected = Some(id);
    app.run_ui.transcript_scroll.set(0);
    let running = app
        .run
        .view
        .agents
        .get(&id)
        .is_some_and(|a| !a.phase.is_finished());
    app.run_ui.follow = running && app.run_is_live();
    app.run_ui.cursor = if app.run_ui.follow {
        selected_len(app).saturating_sub(1)
    } else {
        0
    };
}

/// The child thread of the delegation under the transcript cursor, if it is one.
fn delegation_under_cursor(app: &AppState) -> Option<lucid_core::event::AgentId> {
    let id = app.run_ui.selected?;
    match app
        .run
        .transcripts
        .get(&id)?
        .entries
        .get(app.run_ui.cursor)?
    {
        crate::run_state::Entry::Delegated { child, .. } => {
            app.run.view.agents.contains_key(child).then_some(*child)
        }
        _ => None,
    }
}

/// The most places the back key remembers.
const MAX_BACK: usize = 100;

fn transcript_action(app: &mut AppState, action: KeyAction) {
    if action == KeyAction::Open {
        if let (Some(from), Some(child)) = (app.run_ui.selected, delegation_under_cursor(app)) {
            if app.run_ui.back.len() >= MAX_BACK {
                app.run_ui.back.remove(0);
            }
            app.run_ui.back.push((from, app.run_ui.cursor));
            select_thread(app, child);
            return;
        }
    }
    let len = selected_len(app);
    let last = len.saturating_sub(1);
    let ui = &mut app.run_ui;
    match action {
        KeyAction::Down => ui.cursor = ui.cursor.saturating_add(1).min(last),
        KeyAction::Up => ui.cursor = ui.cursor.saturating_sub(1),
        KeyAction::PageDown => ui.cursor = ui.cursor.saturating_add(PAGE).min(last),
        KeyAction::PageUp => ui.cursor = ui.cursor.saturating_sub(PAGE),
        KeyAction::Top => ui.cursor = 0,
        KeyAction::Bottom => ui.cursor = last,
        KeyAction::Open => {
            if let Some(id) = ui.selected {
                let key = (id, ui.cursor);
                if !ui.expanded.remove(&key) {
                    ui.expanded.insert(key);
                }
            }
        }
        _ => {}
    }
    ui.follow = ui.cursor >= last;
}
