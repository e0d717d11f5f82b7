//! Frame-time figures for `lucid bench tui`: a synthetic session with a large agent tree
//! and a long transcript is folded through the reducer and drawn on ratatui's
//! `TestBackend` (the real views, no terminal I/O), and the frame times are measured.

use std::time::Instant;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde::Serialize;

use super::app::{Action, AppState, Pane};
use super::keymap::Keymap;
use super::theme::Theme;
use super::update::update;
use super::views;
use lucid_core::event::{AgentId, Event, EventKind, SessionId};

/// What one benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct FrameFigures {
    pub nodes: usize,
    pub transcript_lines: usize,
    pub events: usize,
    pub width: u16,
    pub height: u16,
    pub frames: usize,
    /// Events folded per second by the reducer.
    pub fold_events_per_s: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A session with `nodes` threads (each delegating to up to 8) and a lead transcript of
/// about `lines` lines.
pub fn synthetic_session(nodes: usize, lines: usize) -> Vec<Event> {
    let session = SessionId(1);
    let mut events = Vec::new();
    let mut push = |agent: Option<AgentId>, kind: EventKind| {
        let seq = events.len() as u64;
        events.push(Event {
            session,
            seq,
            at_ms: 1_000 + seq,
            agent,
            kind,
        });
    };
    push(
        None,
        EventKind::SessionStarted {
            team: "bench".into(),
            spec_path: "bench.toml".into(),
            task: "bench".into(),
            environment: "synthetic".into(),
            seed: 0,
            world: 0,
            max_iterations: 3,
        },
    );
    for i in 1..=nodes as u32 {
        let parent = (i > 1).then(|| AgentId((i - 2) / 8 + 1));
        push(
            Some(AgentId(i)),
            EventKind::AgentSpawned {
                name: if i == 1 {
                    "commander".into()
                } else {
                    format!("worker{i}")
                },
                role: "worker".into(),
                parent,
                model: "offline".into(),
                purpose: parent.map(|_| format!("survey sector {i} and report hazards")),
                iteration: 1,
            },
        );
        push(
            Some(AgentId(i)),
            EventKind::ModelTurn {
                turn: 1,
                tokens_in: 500,
                tokens_out: 80,
                stop: "tool_use".into(),
                cost_usd: None,
                tool_calls: None,
            },
        );
    }
    // Each round adds 4 lines: a turn, two lines of text, a folded tool call.
    let lead = Some(AgentId(1));
    for round in 0..lines.div_ceil(4) {
        push(
            lead,
            EventKind::ModelTurn {
                turn: round as u32 + 2,
                tokens_in: 900,
                tokens_out: 60,
                stop: "tool_use".into(),
                cost_usd: None,
                tool_calls: None,
            },
        );
        push(
            lead,
            EventKind::Text {
                text: format!("Round {round}: checking the plan.\nNext I call the simulator."),
            },
        );
        let call_id = format!("c{round}");
        push(
            lead,
            EventKind::ToolCalled {
                call_id: call_id.clone(),
                tool: "simulate".into(),
                input: serde_json::json!({"round": round}),
            },
        );
        push(
            lead,
            EventKind::ToolReturned {
                call_id,
                tool: "simulate".into(),
                output: "touchdown 1.5 m/s\nfuel 500 kg".into(),
                is_error: false,
            },
        );
    }
    events
}

/// Folds the synthetic session and draws `frames` frames of the Run view, moving the
/// tree selection and the transcript cursor between frames so every frame does work.
pub fn measure(
    nodes: usize,
    lines: usize,
    frames: usize,
    width: u16,
    height: u16,
) -> Result<FrameFigures, String> {
    let events = synthetic_session(nodes, lines);
    let mut app = AppState::new(Keymap::default(), Theme::default());
    update(
        &mut app,
        Action::RunStarted {
            spec: "bench.toml".into(),
        },
    );
    let fold_start = Instant::now();
    for event in &events {
        update(&mut app, Action::Event(event.clone()));
    }
    let fold_s = fold_start.elapsed().as_secs_f64();
    let transcript_lines = app
        .run
        .transcripts
        .get(&AgentId(1))
        .map_or(0, |t| t.folded_lines);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).map_err(|e| e.to_string())?;
    let down = Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Down,
    ));
    let up = Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Up,
    ));
    let mut times = Vec::with_capacity(frames);
    for frame in 0..frames {
        // Alternate: the transcript following its tail, the tree selection deep inside.
        app.pane = if frame % 2 == 0 {
            Pane::Tree
        } else {
            Pane::Transcript
        };
        update(
            &mut app,
            if frame % 4 < 2 {
                down.clone()
            } else {
                up.clone()
            },
        );
        if frame % 2 == 0 {
            app.run_ui.selected = Some(AgentId(1));
            app.run_ui.follow = true;
            app.run_ui.cursor = app
                .run
                .transcripts
                .get(&AgentId(1))
                .map_or(0, |t| t.entries.len().saturating_sub(1));
        } else {
            app.run_ui.selected = Some(AgentId((nodes as u32 / 2).max(1)));
        }
        let start = Instant::now();
        terminal
            .draw(|f| views::draw(f, &app))
            .map_err(|e| e.to_string())?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok(FrameFigures {
        nodes,
        transcript_lines,
        events: events.len(),
        width,
        height,
        frames,
        fold_events_per_s: events.len() as f64 / fold_s.max(1e-9),
        mean_ms: times.iter().sum::<f64>() / times.len().max(1) as f64,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        max_ms: times.last().copied().unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_synthetic_session_has_the_asked_for_size() {
        let figures = super::measure(200, 1000, 4, 100, 30).unwrap();
        assert_eq!(figures.nodes, 200);
        assert!(figures.transcript_lines >= 1000, "{figures:?}");
    }
}
