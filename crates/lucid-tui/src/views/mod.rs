//! Views: pure functions from `&AppState` to a frame. The screen is a tab bar with the
//! session header, the current view, and a footer of key hints (or a notice); the diff
//! overlay, the pager, help, the quit question and the session-file picker draw over it. Views never change state
//! (beyond the scroll memos in `RunUi`/`SessionsUi`) and never touch the store.

mod changes;
mod grader;
mod help;
mod memory;
mod memory_editor;
mod pager;
mod picker;
mod sessions;
pub(crate) mod transcript;
mod tree;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::app::{AppState, Confirm, Pane, Source, View};
use super::keymap::KeyAction;

pub use tree::tree_rows;

/// Draws the whole app.
pub fn draw(frame: &mut Frame, app: &AppState) {
    let [top, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    // The theme's background under everything (the terminal's own unless a theme sets one).
    frame.render_widget(
        ratatui::widgets::Block::new().style(app.theme.background),
        frame.area(),
    );
    draw_header(frame, top, app);
    match app.view {
        View::Run => draw_run(frame, body, app),
        View::Sessions => sessions::draw(frame, body, app),
        View::Memory => memory::draw(frame, body, app),
    }
    draw_footer(frame, footer, app);
    if app.view == View::Run && app.run_ui.diff_scroll.is_some() {
        changes::draw_diff(frame, body, app);
    }
    if let (View::Run, Some(pager)) = (app.view, &app.run_ui.pager) {
        pager::draw(frame, body, app, pager);
    }
    if let Some(picker) = &app.picker {
        picker::draw(frame, body, app, picker);
    }
    if app.help {
        help::draw(frame, body, app);
    }
    match app.confirm {
        Some(Confirm::CancelRun(lead)) => ask(
            frame,
            body,
            app,
            ("Cancel the run?", 64),
            &format!("{lead} leads the run: cancelling it ends the whole run."),
            ("cancel the run", "keep it going"),
        ),
        Some(Confirm::QuitWhileLive) => ask(
            frame,
            body,
            app,
            ("Quit?", 52),
            "A run is live. Quit and cancel it?",
            ("quit and cancel", "stay"),
        ),
        None => {}
    }
}

/// A yes/no question over the view: `y` does `answers.0`, any other key `answers.1`.
fn ask(
    frame: &mut Frame,
    body: Rect,
    app: &AppState,
    (title, width): (&str, u16),
    question: &str,
    answers: (&str, &str),
) {
    let area = centered(body, width, 5);
    frame.render_widget(Clear, area);
    let text = vec![
        Line::from(question.to_string()),
        Line::from(vec![
            Span::styled("y", app.theme.key),
            Span::raw(format!(" {}   ", answers.0)),
            Span::styled("any other key", app.theme.key),
            Span::raw(format!(" {}", answers.1)),
        ]),
    ];
    frame.render_widget(Paragraph::new(text).block(bordered(title, true, app)), area);
}

/// A bordered block whose border shows whether it has the focus.
pub fn bordered<'a>(title: &'a str, focused: bool, app: &AppState) -> Block<'a> {
    let theme = &app.theme;
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.border_focus
        } else {
            theme.border
        })
        .title(Span::styled(format!(" {title} "), theme.title))
}

/// A rectangle of at most `width`×`height` in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// `1.2s`, `3m04s`, `1h02m`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if ms < 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

pub use lucid_core::event::{format_dollars as dollars, format_tokens as tokens};

/// The session's tokens and cost: `tokens 12.3k in / 1.4k out · $0.0123 (grader 2 calls,
/// 900 tok, $0.0010)`. Counts every agent turn and every other call (grader, advisors,
/// dreamer); each role outside the agents shows its share.
fn usage(run: &crate::run_state::RunState) -> String {
    let (tokens_in, tokens_out) = run.view.tokens();
    let mut text = format!(
        "tokens {} in / {} out",
        tokens(tokens_in),
        tokens(tokens_out)
    );
    if let Some(cost) = run.view.cost_usd {
        text.push_str(&format!(" · {}", dollars(cost)));
    }
    for (role, usage) in &run.view.usage_by_role {
        text.push_str(&format!(
            " ({role} {} call{}, {} tok{})",
            usage.calls,
            if usage.calls == 1 { "" } else { "s" },
            tokens(usage.tokens_in + usage.tokens_out),
            usage
                .cost_usd
                .map(|c| format!(", {}", dollars(c)))
                .unwrap_or_default()
        ));
    }
    text
}

fn draw_header(frame: &mut Frame, area: Rect, app: &AppState) {
    let theme = &app.theme;
    let [tabs, info] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let mut spans = vec![Span::styled(" lucid ", theme.header)];
    for (view, label) in [
        (View::Run, "1 Run"),
        (View::Sessions, "2 Sessions"),
        (View::Memory, "3 Memory"),
    ] {
        let style = if app.view == view {
            theme.tab_active
        } else {
            theme.tab
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(format!(" {label} "), style));
    }
    let state = match &app.source {
        Source::Idle => "no run".to_string(),
        Source::Live { .. } => match &app.run.view.finish {
            None => "live".to_string(),
            Some(f) if f.error.is_some() => "ended with an error".to_string(),
            Some(f) => format!(
                "ended · {}",
                if f.passed { "passed" } else { "rubric not met" }
            ),
        },
        Source::Interrupted { .. } => "interrupted".to_string(),
        Source::Replay(replay) => format!(
            "replay {}/{} · {} · {}×",
            replay.next,
            replay.events.len(),
            if replay.paused {
                "paused"
            } else if replay.next >= replay.events.len() {
                "ended"
            } else {
                "playing"
            },
            replay.speed
        ),
    };
    spans.push(Span::styled(format!("   {state}"), theme.warning));
    frame.render_widget(Line::from(spans), tabs);

    let run = &app.run;
    let mut parts = Vec::new();
    if let Some(session) = run.view.session {
        parts.push(format!("session {}", session.short_id()));
        parts.push(format!("team {}", run.view.team));
        parts.push(usage(run));
        parts.push(format!(
            "models {}",
            if run.models.is_empty() {
                "-".into()
            } else {
                run.models.join(", ")
            }
        ));
        parts.push(format!(
            "playbooks {}",
            if run.view.playbooks.is_empty() {
                "none".into()
            } else {
                run.view
                    .playbooks
                    .iter()
                    .map(|p| {
                        format!(
                            "{} v{} → {}",
                            lucid_core::event::one_line(&p.title, 60),
                            p.version,
                            p.agent_name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        ));
        if run.view.resumed > 0 {
            parts.push(format!("resumed ×{}", run.view.resumed));
        }
        if let Some(finish) = &run.view.finish {
            parts.push(format!(
                "{} after {} iteration{} in {}",
                if finish.passed { "passed" } else { "not met" },
                finish.iterations,
                if finish.iterations == 1 { "" } else { "s" },
                duration(finish.duration_ms)
            ));
        }
    } else {
        parts.push("no session on show: 2 for history, n there to start a run".into());
    }
    frame.render_widget(
        Line::styled(format!(" {}", parts.join(" · ")), theme.dim),
        info,
    );
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &AppState) {
    let theme = &app.theme;
    let owner_gone = app.client.as_ref().and_then(|c| c.owner_gone.as_ref());
    if let Some(notice) = app.notice.as_ref().or(owner_gone) {
        frame.render_widget(Line::styled(format!(" {notice}"), theme.warning), area);
        return;
    }
    let hints: &[(KeyAction, &str)] = match app.view {
        View::Run => &[
            (KeyAction::FocusNext, "focus"),
            (KeyAction::Down, "move"),
            (KeyAction::Open, "open"),
            (KeyAction::CancelThread, "cancel thread"),
            (KeyAction::PrevIteration, "prev iter"),
            (KeyAction::Pause, "pause"),
            (KeyAction::Help, "help"),
            (KeyAction::Quit, "quit"),
        ],
        View::Sessions => &[
            (KeyAction::Down, "move"),
            (KeyAction::Open, "replay"),
            (KeyAction::NewRun, "new run"),
            (KeyAction::FilterSessions, "runs/dreams"),
            (KeyAction::Help, "help"),
            (KeyAction::Quit, "quit"),
        ],
        View::Memory if app.memory.editor.is_some() => &[],
        View::Memory => &[
            (KeyAction::Approve, "approve"),
            (KeyAction::Reject, "reject"),
            (KeyAction::Retire, "retire"),
            (KeyAction::Edit, "edit"),
            (KeyAction::Versions, "versions"),
            (KeyAction::Search, "search"),
            (KeyAction::DreamNow, "dream"),
            (KeyAction::Help, "help"),
            (KeyAction::Quit, "quit"),
        ],
    };
    let mut spans = vec![Span::raw(" ")];
    if let (View::Run, Some(pager)) = (app.view, &app.run_ui.pager) {
        let keys: &[(&str, &str)] = if pager.typing.is_some() {
            &[("enter", "find"), ("esc", "cancel")]
        } else {
            &[
                ("j/k", "scroll"),
                ("pgdn/pgup", "page"),
                ("g/G", "top/bottom"),
                ("/", "search"),
                ("n/N", "next/previous match"),
                ("q/esc", "close"),
            ]
        };
        for (key, label) in keys {
            spans.push(Span::styled(*key, theme.key));
            spans.push(Span::styled(format!(" {label}  "), theme.hint));
        }
        frame.render_widget(Line::from(spans), area);
        return;
    }
    if app.view == View::Run && app.run_ui.diff_scroll.is_some() {
        for (key, label) in [
            (KeyAction::Down, "scroll"),
            (KeyAction::PageDown, "page"),
            (KeyAction::Top, "top"),
            (KeyAction::Bottom, "bottom"),
        ] {
            spans.push(Span::styled(app.keymap.label(key), theme.key));
            spans.push(Span::styled(format!(" {label}  "), theme.hint));
        }
        spans.push(Span::styled("esc", theme.key));
        spans.push(Span::styled(" close", theme.hint));
        frame.render_widget(Line::from(spans), area);
        return;
    }
    if app.view == View::Memory && app.memory.editor.is_some() {
        spans.push(Span::styled("tab", theme.key));
        spans.push(Span::styled(" next field  ", theme.hint));
        spans.push(Span::styled("ctrl-s", theme.key));
        spans.push(Span::styled(" save as a new version  ", theme.hint));
        spans.push(Span::styled("esc", theme.key));
        spans.push(Span::styled(" leave", theme.hint));
    }
    for (action, label) in hints {
        // Offer only what works now: pause in a replay, cancel while a run is live.
        let useless = match action {
            KeyAction::Pause => !matches!(app.source, Source::Replay(_)),
            KeyAction::CancelThread => !app.run_is_live(),
            _ => false,
        };
        if useless {
            continue;
        }
        let keys = app.keymap.keys(*action);
        let Some(key) = keys.first() else { continue };
        spans.push(Span::styled(key.to_string(), theme.key));
        spans.push(Span::styled(format!(" {label}  "), theme.hint));
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_run(frame: &mut Frame, area: Rect, app: &AppState) {
    // One row across the bottom for what a project session changed.
    let changes_height = u16::from(app.run.changes.is_some() && area.height > 8);
    let [panes, changes_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(changes_height)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(panes);
    // Room for two rows per criterion, at most half the pane (never a panic on a tiny
    // terminal: `min` before `max`, not `clamp`, whose bounds could cross).
    let criteria = app
        .run
        .view
        .gradings
        .iter()
        .map(|g| g.criteria.len())
        .max()
        .unwrap_or(0);
    let wanted = (criteria as u16).saturating_mul(2).saturating_add(4);
    let grader_height = wanted.min(right.height / 2).max(6.min(right.height));
    let [transcript_area, grader_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(grader_height)]).areas(right);
    tree::draw(frame, left, app, app.pane == Pane::Tree);
    transcript::draw(frame, transcript_area, app, app.pane == Pane::Transcript);
    grader::draw(frame, grader_area, app, app.pane == Pane::Grader);
    changes::draw_summary(frame, changes_area, app);
}

/// Keeps `cursor` within a window of `height` rows starting at the remembered offset;
/// returns the new first row.
pub fn scroll_to(offset: usize, cursor: usize, height: usize) -> usize {
    if height == 0 {
        return cursor;
    }
    if cursor < offset {
        cursor
    } else if cursor >= offset + height {
        cursor + 1 - height
    } else {
        offset
    }
}

/// A style for a whole row when it is under the cursor.
pub fn row_style(selected: bool, app: &AppState) -> Style {
    if selected {
        app.theme.selected
    } else {
        Style::new()
    }
}
