//! The pager: one transcript entry, whole, wrapped to the screen's width, scrollable, with
//! a search (`/`, Enter; `n`/`N` the next/previous match, highlighted). Its state and keys
//! live here (the reducer hands it every key while it is open); `views::pager` draws it.
//! The search is ASCII case-insensitive and finds matches within a wrapped row.

use crossterm::event::{KeyCode, KeyEvent};

use crate::app::AppState;
use crate::entry_lines::Tone;
use crate::keymap::{Context, KeyAction};
use lucid_core::event::AgentId;

/// The longest search typed.
const MAX_QUERY: usize = 200;

/// The pager over entry `entry` of thread `agent`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pager {
    pub agent: AgentId,
    pub entry: usize,
    /// The first row shown.
    pub scroll: usize,
    /// The search being typed, while `/` is open.
    pub typing: Option<String>,
    /// The search in force (empty: none).
    pub query: String,
    /// The row of the match `n`/`N` went to last.
    pub current: Option<usize>,
}

impl Pager {
    pub fn new(agent: AgentId, entry: usize) -> Pager {
        Pager {
            agent,
            entry,
            scroll: 0,
            typing: None,
            query: String::new(),
            current: None,
        }
    }
}

/// The width and height the pager's text had when last drawn (80×20 before that).
fn size(app: &AppState) -> (usize, usize) {
    let area = app.hits.pager.get();
    if area.width == 0 || area.height == 0 {
        (80, 20)
    } else {
        (usize::from(area.width), usize::from(area.height))
    }
}

/// The pager's rows at `width`: the entry whole, wrapped.
pub fn rows(app: &AppState, pager: &Pager, width: usize) -> Vec<(Tone, String)> {
    app.run
        .transcripts
        .get(&pager.agent)
        .and_then(|t| t.entries.get(pager.entry))
        .map(|entry| crate::views::transcript::rows(entry, true, false, width))
        .unwrap_or_default()
}

/// Where `query` occurs in `row` (byte ranges), ASCII case-insensitive.
pub fn matches(row: &str, query: &str) -> Vec<(usize, usize)> {
    if query.is_empty() {
        return Vec::new();
    }
    let hay = row.to_ascii_lowercase();
    let needle = query.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = hay[from..].find(&needle) {
        let start = from + at;
        out.push((start, start + needle.len()));
        from = start + needle.len();
    }
    out
}

/// A key while the pager is open.
pub fn on_key(app: &mut AppState, key: &KeyEvent) {
    let Some(mut pager) = app.run_ui.pager.take() else {
        return;
    };
    let (width, height) = size(app);
    let rows = rows(app, &pager, width);
    let last = rows.len().saturating_sub(height);
    let mut open = true;
    if let Some(typed) = &mut pager.typing {
        match key.code {
            KeyCode::Esc => pager.typing = None,
            KeyCode::Enter => {
                pager.query = std::mem::take(typed);
                pager.typing = None;
                pager.current = None;
                find(&mut pager, &rows, height, true);
            }
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Char(c) if typed.chars().count() < MAX_QUERY && !c.is_control() => {
                typed.push(c)
            }
            _ => {}
        }
    } else {
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => open = false,
            KeyCode::Char('/') => pager.typing = Some(String::new()),
            KeyCode::Char('n') => find(&mut pager, &rows, height, true),
            KeyCode::Char('N') => find(&mut pager, &rows, height, false),
            _ => match app.keymap.action(Context::Run, key) {
                Some(KeyAction::Help) => app.help = true,
                Some(KeyAction::Pager) => open = false,
                Some(action) => scroll(&mut pager, action, height, last),
                None => {}
            },
        }
    }
    if open {
        app.run_ui.pager = Some(pager);
    }
}

/// Moves the first row; the last page stays full.
pub fn scroll(pager: &mut Pager, action: KeyAction, height: usize, last: usize) {
    let first = pager.scroll.min(last);
    pager.scroll = match action {
        KeyAction::Down => first.saturating_add(1),
        KeyAction::Up => first.saturating_sub(1),
        KeyAction::PageDown => first.saturating_add(height.max(1)),
        KeyAction::PageUp => first.saturating_sub(height.max(1)),
        KeyAction::Top => 0,
        KeyAction::Bottom => last,
        _ => first,
    }
    .min(last);
}

/// Goes to the next (or previous) row with a match, round the end; scrolls it into view.
fn find(pager: &mut Pager, rows: &[(Tone, String)], height: usize, forward: bool) {
    let hits: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, (_, row))| !matches(row, &pager.query).is_empty())
        .map(|(i, _)| i)
        .collect();
    let (Some(&first), Some(&last)) = (hits.first(), hits.last()) else {
        pager.current = None;
        return;
    };
    let to = match (pager.current, forward) {
        (None, true) => hits
            .iter()
            .copied()
            .find(|&r| r >= pager.scroll)
            .unwrap_or(first),
        (None, false) => hits
            .iter()
            .rev()
            .copied()
            .find(|&r| r < pager.scroll)
            .unwrap_or(last),
        (Some(at), true) => hits.iter().copied().find(|&r| r > at).unwrap_or(first),
        (Some(at), false) => hits.iter().rev().copied().find(|&r| r < at).unwrap_or(last),
    };
    pager.current = Some(to);
    let height = height.max(1);
    if to < pager.scroll || to >= pager.scroll + height {
        pager.scroll = to.saturating_sub(height / 3);
    }
    pager.scroll = pager.scroll.min(rows.len().saturating_sub(height));
}

/// How many rows hold a match of the search in force.
pub fn match_count(rows: &[(Tone, String)], query: &str) -> usize {
    rows.iter().map(|(_, row)| matches(row, query).len()).sum()
}
