//! Reading a run: cost and tokens shown live (tree, header, sessions), text wrapped by
//! display width, the pager, the thread's prompt entry, jumping to a delegated thread
//! and back, and the transcript's scroll after a thread change or a resize.

use super::*;

/// The recorded session as if its model profiles had prices and the grader's calls
/// were on record: every turn costs $0.0012, and each grading pass used 900 tokens
/// costing $0.0005.
pub(super) fn priced() -> Vec<Event> {
    let mut events = Vec::new();
    for mut event in recorded() {
        if let EventKind::ModelTurn { cost_usd, .. } = &mut event.kind {
            *cost_usd = Some(0.0012);
        }
        let graded = matches!(event.kind, EventKind::GradingFinished { .. });
        let at = event.clone();
        events.push(event);
        if graded {
            events.push(Event {
                agent: None,
                kind: EventKind::ModelUsage {
                    role: "grader".into(),
                    profile: "offline".into(),
                    tokens_in: 800,
                    tokens_out: 100,
                    cost_usd: Some(0.0005),
                },
                ..at
            });
        }
    }
    events
}

#[test]
fn cost_and_tokens_show_in_the_tree_and_the_header() {
    let app = live_app(&priced());
    let grader = &app.run.view.usage_by_role["grader"];
    assert!(grader.calls >= 1);
    let shown = screen(&app, 160, 30);
    // Every thread's row has its tokens and its cost.
    let lead = app.run.view.roots[0];
    let cost = app.run.view.agents[&lead].cost_usd.unwrap();
    assert!(
        shown.contains(&format!(" tok · ${cost:.4} · ")),
        "the lead's cost in its row:\n{shown}"
    );
    // The header: the session's tokens, its cost and the grader's share.
    let (tokens_in, _) = app.run.view.tokens();
    assert!(shown.contains(&format!("tokens {} in", crate::views::tokens(tokens_in))));
    assert!(shown.contains(&format!(
        "(grader {} call{}, ",
        grader.calls,
        if grader.calls == 1 { "" } else { "s" }
    )));
    insta::assert_snapshot!("run_view_priced", shown);
}

#[test]
fn a_finished_live_run_says_ended_not_live() {
    let app = live_app(&recorded());
    let passed = app.run.view.finish.as_ref().unwrap().passed;
    let top = screen(&app, 140, 10);
    let expected = if passed {
        "ended · passed"
    } else {
        "ended · rubric not met"
    };
    assert!(top.contains(expected), "{top}");
    assert!(!top.contains("live ·"), "{top}");
    let events = recorded();
    let mut app = live_app(&events[..10]);
    let end = Event {
        seq: 10,
        agent: None,
        kind: EventKind::SessionFinished {
            passed: false,
            iterations: 1,
            duration_ms: 5,
            error: Some("the model went away".into()),
        },
        ..events[9].clone()
    };
    update(&mut app, Action::Event(end));
    let top = screen(&app, 140, 10);
    assert!(top.contains("ended with an error"), "{top}");
    assert!(!top.contains("live"), "{top}");
}

#[test]
fn the_sessions_list_has_a_tokens_column() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    let sessions = sample_sessions();
    let expected = format!(
        "{}/{}",
        crate::views::tokens(sessions[0].tokens_in),
        crate::views::tokens(sessions[0].tokens_out)
    );
    update(&mut app, Action::SessionsLoaded(Ok(sessions)));
    let shown = screen(&app, 140, 12);
    assert!(shown.contains("tok in/out"), "{shown}");
    assert!(shown.contains(&expected), "{shown}");
}
