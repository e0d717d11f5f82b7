//! The grader panel: one iteration's verdict, criterion by criterion (✓ passed, ✗ failed,
//! ? not judged: failed closed; why, and what must change), with `[` and `]` stepping to
//! earlier or later iterations.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::bordered;
use crate::app::AppState;
use lucid_core::event::one_line;

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState, focused: bool) {
    let theme = &app.theme;
    app.hits.grader.set(area);
    let run = &app.run;
    let count = run.view.gradings.len();
    let index = app.run_ui.grading.unwrap_or(count.saturating_sub(1));
    let Some(grading) = run.view.gradings.get(index) else {
        let block = bordered("Grader", focused, app);
        let text = if run.view.session.is_some() {
            "The grader judges when the team finishes an iteration."
        } else {
            ""
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, theme.dim)).block(block),
            area,
        );
        return;
    };
    let verdict = match grading.passed {
        None => "judging…",
        Some(true) => "rubric met",
        Some(false) => "rubric not met",
    };
    let title = format!(
        "Grader · iteration {} of {} · {verdict}{}",
        grading.iteration,
        run.view.max_iterations.max(grading.iteration),
        if count > 1 {
            format!(" · [ ] {}/{count}", index + 1)
        } else {
            String::new()
        }
    );
    let mut lines = Vec::new();
    for criterion in &grading.criteria {
        // A criterion the grader could not judge failed closed: `?`, and its reason
        // (which starts "not judged: …") says why.
        let (mark, style) = match (criterion.passed, criterion.judged) {
            (true, _) => ("✓", theme.pass),
            (false, true) => ("✗", theme.fail),
            (false, false) => ("?", theme.fail),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} {}", criterion.id), style),
            Span::styled(
                format!("  {}", one_line(&criterion.reason, 1000)),
                theme.reason,
            ),
        ]));
        if !criterion.passed && !criterion.fix.is_empty() {
            lines.push(Line::styled(
                format!("    fix: {}", one_line(&criterion.fix, 1000)),
                theme.fix,
            ));
        }
    }
    if let Some(feedback) = &grading.feedback {
        if lines.is_empty() {
            lines.push(Line::styled(
                lucid_core::event::one_line(feedback, 300),
                theme.dim,
            ));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(bordered(&title, focused, app)),
        area,
    );
}
