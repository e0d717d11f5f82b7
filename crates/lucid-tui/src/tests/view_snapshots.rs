//! Snapshots of every view and of the whole app after the recorded session, mouse
//! clicks, and the guarantee that control sequences in model text never reach the screen.

use super::*;

#[test]
fn snapshot_run_view_after_the_recorded_session() {
    let app = live_app(&recorded());
    insta::assert_snapshot!("run_view", screen(&app, 140, 36));
}

#[test]
fn snapshot_run_view_with_a_specialist_selected_and_calls_expanded() {
    let mut app = live_app(&recorded());
    // The navigator, whose tool calls carry the descent.
    let navigator = app
        .run
        .view
        .agents
        .values()
        .find(|t| t.name == "navigator")
        .unwrap()
        .id;
    app.run_ui.selected = Some(navigator);
    app.run_ui.cursor = 0;
    app.run_ui.follow = false;
    app.pane = Pane::Transcript;
    app.run_ui.expand_all = true;
    insta::assert_snapshot!("run_view_navigator_expanded", screen(&app, 140, 36));
}

#[test]
fn snapshot_run_view_mid_run_and_earlier_iteration() {
    let events = recorded();
    let cut = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::ToolCalled { .. }))
        .unwrap()
        + 4;
    let app = live_app(&events[..cut]);
    insta::assert_snapshot!("run_view_mid_run", screen(&app, 120, 30));
    let mut app = live_app(&events);
    app.pane = Pane::Grader;
    press(&mut app, KeyCode::Char('['));
    insta::assert_snapshot!("run_view_first_iteration", screen(&app, 120, 30));
}

#[test]
fn snapshot_sessions_view_picker_and_help() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    update(&mut app, Action::SessionsLoaded(Ok(sample_sessions())));
    insta::assert_snapshot!("sessions_view", screen(&app, 120, 12));
    update(
        &mut app,
        Action::SpecsListed(vec!["sessions/lumara.toml".into()]),
    );
    insta::assert_snapshot!("sessions_picker", screen(&app, 120, 12));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("sessions_help", screen(&app, 120, 30));
    let mut app = live_app(&recorded());
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("run_help", screen(&app, 120, 36));
}

#[test]
fn snapshot_empty_home_and_quit_question() {
    let app = app();
    insta::assert_snapshot!("empty_run_view", screen(&app, 100, 16));
    let events = recorded();
    let mut app = live_app(&events[..10]);
    press(&mut app, KeyCode::Char('q'));
    insta::assert_snapshot!("quit_question", screen(&app, 100, 20));
}

#[test]
fn snapshot_run_view_on_a_small_terminal() {
    let app = live_app(&recorded());
    insta::assert_snapshot!("run_view_80x24", screen(&app, 80, 24));
}

#[test]
fn escape_sequences_in_model_text_never_reach_the_screen() {
    let events = recorded();
    let mut app = live_app(&events[..3]);
    let lead = app.run.view.roots[0];
    let evil = "take over \u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mRED\u{1b}[0m \u{9b}6n done";
    for kind in [
        EventKind::Text { text: evil.into() },
        EventKind::ToolCalled {
            call_id: "x".into(),
            tool: "survey\u{1b}[1m".into(),
            input: serde_json::json!({"site": "B"}),
        },
        EventKind::ToolReturned {
            call_id: "x".into(),
            tool: "survey".into(),
            output: evil.into(),
            is_error: true,
        },
    ] {
        update(
            &mut app,
            Action::Event(Event {
                session: events[0].session,
                seq: 99,
                at_ms: events[0].at_ms,
                agent: Some(lead),
                kind,
            }),
        );
    }
    app.run_ui.expand_all = true;
    let text = screen(&app, 140, 30);
    assert!(text.contains("take over") && text.contains("RED"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{9b}') && !text.contains('\u{7}'));
    assert!(!text.contains("pwned") && !text.contains("[2J"), "{text}");
}

#[test]
fn every_theme_draws_the_run_view() {
    let events = recorded();
    for name in ["dark", "light", "high-contrast"] {
        let mut app = live_app(&events);
        app.theme = Theme::named(name, &[]).unwrap();
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        terminal.draw(|frame| views::draw(frame, &app)).unwrap();
    }
}

#[test]
fn a_click_selects_the_thread_or_session_under_the_mouse() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let click = |column, row| {
        Action::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let mut app = live_app(&recorded());
    screen(&app, 140, 36);
    // Rows: tabs, header, tree border, then the threads; the fourth is navigator #4.
    update(&mut app, click(10, 6));
    assert_eq!(app.run_ui.selected, Some(AgentId(4)));
    update(&mut app, click(100, 10));
    assert_eq!(app.pane, Pane::Transcript);
    press(&mut app, KeyCode::Char('2'));
    update(&mut app, Action::SessionsLoaded(Ok(sample_sessions())));
    screen(&app, 120, 12);
    update(&mut app, click(10, 5));
    assert_eq!(app.sessions.selected, 1);
}

#[test]
fn every_view_draws_on_tiny_terminals_without_panicking() {
    let events = recorded();
    for (w, h) in [(1, 1), (10, 4), (30, 8), (40, 12), (60, 14)] {
        for view in ['1', '2', '3'] {
            let mut app = live_app(&events);
            update(&mut app, Action::SessionsLoaded(Ok(sample_sessions())));
            press(&mut app, KeyCode::Char(view));
            screen(&app, w, h);
            press(&mut app, KeyCode::Char('?'));
            screen(&app, w, h);
        }
    }
}

#[test]
fn snapshot_grader_panel_with_a_criterion_not_judged() {
    // The last grading's first criterion as a grader that could not judge it records it.
    let mut events = recorded();
    let last = events
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::GradingStarted { .. }))
        .unwrap();
    let judged = events[last..]
        .iter_mut()
        .find_map(|e| match &mut e.kind {
            EventKind::CriterionJudged {
                passed,
                reason,
                fix,
                judged,
                ..
            } => Some((passed, reason, fix, judged)),
            _ => None,
        })
        .unwrap();
    *judged.0 = false;
    *judged.1 =
        "not judged: the grader's answer was malformed twice: no submit_verdicts call".into();
    judged.2.clear();
    *judged.3 = false;
    for event in &mut events[last..] {
        if let EventKind::GradingFinished { passed, .. }
        | EventKind::SessionFinished { passed, .. } = &mut event.kind
        {
            *passed = false;
        }
    }
    let mut app = live_app(&events);
    app.pane = Pane::Grader;
    let screen = screen(&app, 120, 30);
    assert!(screen.contains("? "), "{screen}");
    insta::assert_snapshot!("grader_not_judged", screen);
}
