//! A `project` session's changes in the Run view: the fold of `FilesChanged` (live and
//! replayed alike), the summary line, the diff overlay and its keys, a `shell` call's
//! one-line form, and sanitising of the model-written diff.

use super::*;
use crate::change_state::DiffLineKind;
use lucid_core::event::{ChangeKind, FileChange};

/// A diff of three files, long enough to scroll.
fn sample_diff() -> String {
    let mut diff = String::from(
        "diff --lucid a/src/calc.rs b/src/calc.rs\n--- a/src/calc.rs\n+++ b/src/calc.rs\n@@ -1,5 +1,5 @@\n pub fn add(a: i32, b: i32) -> i32 {\n-    a - b\n+    a + b\n }\n \n pub fn double(a: i32) -> i32 {\n",
    );
    diff.push_str("diff --lucid a/tests/calc.rs b/tests/calc.rs\n--- /dev/null\n+++ b/tests/calc.rs\n@@ -0,0 +1,24 @@\n");
    for i in 0..12 {
        diff.push_str(&format!(
            "+#[test]\n+fn adds_{i}() {{ assert_eq!(calc::add({i}, 1), {}); }}\n",
            i + 1
        ));
    }
    diff.push_str("diff --lucid a/NOTES.md b/NOTES.md\n--- a/NOTES.md\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-# Notes\n--- the subtraction bug is known\n");
    diff
}

fn file(path: &str, change: ChangeKind, added: u32, removed: u32) -> FileChange {
    FileChange {
        path: path.into(),
        change,
        before: None,
        after: None,
        lines_added: added,
        lines_removed: removed,
        binary: false,
    }
}

fn files_changed(iteration: u32, files: Vec<FileChange>, diff: String) -> EventKind {
    EventKind::FilesChanged {
        iteration,
        isolation: "copy".into(),
        project: "/home/me/calc".into(),
        work_root: "/tmp/lucid-work/calc".into(),
        files,
        diff,
    }
}

/// The recorded session with a `shell` call by the lead and a change set before the end.
fn project_events() -> Vec<Event> {
    let mut events = recorded();
    let session = events[0].session;
    let at_ms = events[0].at_ms;
    let lead = events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::AgentSpawned { parent: None, .. } => e.agent,
            _ => None,
        })
        .unwrap();
    let lead_done = events
        .iter()
        .rposition(|e| e.agent == Some(lead) && matches!(e.kind, EventKind::AgentFinished { .. }))
        .unwrap();
    let event = |agent, kind| Event {
        session,
        seq: 0,
        at_ms,
        agent,
        kind,
    };
    let shell = [
        event(
            Some(lead),
            EventKind::ToolCalled {
                call_id: "sh1".into(),
                tool: "shell".into(),
                input: serde_json::json!({"command": "cargo test"}),
            },
        ),
        event(
            Some(lead),
            EventKind::ToolReturned {
                call_id: "sh1".into(),
                tool: "shell".into(),
                output: "exit 101\nstdout:\ntest adds ... FAILED\n".into(),
                is_error: true,
            },
        ),
    ];
    events.splice(lead_done..lead_done, shell);
    let files = vec![
        file("src/calc.rs", ChangeKind::Modified, 1, 1),
        file("tests/calc.rs", ChangeKind::Added, 24, 0),
        file("NOTES.md", ChangeKind::Deleted, 0, 2),
    ];
    let end = events.len() - 1;
    events.insert(end, event(None, files_changed(2, files, sample_diff())));
    for (seq, event) in events.iter_mut().enumerate() {
        event.seq = seq as u64;
    }
    events
}

#[test]
fn files_changed_folds_the_latest_set_and_replay_folds_the_same() {
    let events = project_events();
    let mut app = live_app(&events);
    let changes = app.run.changes.clone().unwrap();
    assert_eq!(changes.iteration, 2);
    assert_eq!(
        (
            changes.files.len(),
            changes.lines_added,
            changes.lines_removed
        ),
        (3, 25, 3)
    );
    assert_eq!(changes.diff[0].kind, DiffLineKind::File);
    // `--- the subtraction bug…` inside a hunk is a removed line, not a file header.
    let last = changes.diff.last().unwrap();
    assert_eq!(
        (last.kind, last.text.as_str()),
        (DiffLineKind::Removed, "--- the subtraction bug is known")
    );

    // A later attempt's set replaces the earlier one whole.
    update(
        &mut app,
        Action::Event(Event {
            session: events[0].session,
            seq: 999,
            at_ms: events[0].at_ms,
            agent: None,
            kind: files_changed(3, Vec::new(), String::new()),
        }),
    );
    let latest = app.run.changes.as_ref().unwrap();
    assert_eq!(
        (latest.iteration, latest.files.len(), latest.diff.len()),
        (3, 0, 0)
    );

    let live = live_app(&events);
    let mut replay = super::app();
    update(
        &mut replay,
        Action::ReplayLoaded(events[0].session, Ok(events.clone())),
    );
    for _ in 1..events.len() {
        press(&mut replay, KeyCode::Char('.'));
    }
    assert_eq!(replay.run, live.run);
}

#[test]
fn a_shell_call_reads_as_its_command_and_exit_status() {
    let mut app = live_app(&project_events());
    let lead = app.run.view.roots[0];
    let thread = &app.run.transcripts[&lead];
    let at = thread
        .entries
        .iter()
        .position(|e| matches!(e, Entry::Tool { tool, .. } if tool == "shell"))
        .unwrap();
    app.pane = Pane::Transcript;
    app.run_ui.follow = false;
    app.run_ui.cursor = at;
    let text = screen(&app, 140, 36);
    assert!(text.contains("▸ ✗ shell: cargo test → exit 101"), "{text}");
    // Enter expands it to the whole result, as for any tool.
    press(&mut app, KeyCode::Enter);
    let text = screen(&app, 140, 36);
    assert!(
        text.contains("▾ ✗ shell: cargo test\n") || text.contains("▾ ✗ shell: cargo test "),
        "{text}"
    );
    assert!(text.contains("    test adds ... FAILED"), "{text}");
}

#[test]
fn snapshot_run_view_with_changes_and_the_diff_overlay() {
    let mut app = live_app(&project_events());
    insta::assert_snapshot!("run_view_with_changes", screen(&app, 140, 36));
    press(&mut app, KeyCode::Char('d'));
    insta::assert_snapshot!("diff_overlay", screen(&app, 100, 30));
    press(&mut app, KeyCode::Char('G'));
    insta::assert_snapshot!("diff_overlay_bottom", screen(&app, 100, 30));
}

#[test]
fn the_diff_overlay_scrolls_and_closes() {
    let mut app = live_app(&project_events());
    press(&mut app, KeyCode::Char('d'));
    screen(&app, 100, 30);
    let rows = app.run.changes.as_ref().unwrap().rows();
    let height = usize::from(app.hits.diff.get().height);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.run_ui.diff_scroll, Some(2));
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.run_ui.diff_scroll, Some(1));
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.run_ui.diff_scroll, Some(rows - height));
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.run_ui.diff_scroll, Some(rows - height));
    press(&mut app, KeyCode::PageUp);
    assert_eq!(
        app.run_ui.diff_scroll,
        Some((rows - height).saturating_sub(height))
    );
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(app.run_ui.diff_scroll, Some(0));
    // Other keys wait: the view does not change under the overlay.
    press(&mut app, KeyCode::Char('2'));
    assert_eq!((app.view, app.run_ui.diff_scroll), (View::Run, Some(0)));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.run_ui.diff_scroll, None);
    press(&mut app, KeyCode::Char('d'));
    press(&mut app, KeyCode::Char('q'));
    assert_eq!(app.run_ui.diff_scroll, None);
    assert!(!app.quit, "q closes the diff, it does not quit");

    // A session without changes says why there is nothing to show.
    let mut app = live_app(&recorded());
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(app.run_ui.diff_scroll, None);
    assert!(app.notice.as_deref().unwrap_or("").contains("project"));
}

#[test]
fn escape_sequences_in_the_diff_never_reach_the_screen() {
    let events = recorded();
    let mut app = live_app(&events[..3]);
    let evil = "diff --lucid a/x\u{1b}[2J b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old \u{1b}]0;pwned\u{7}line\n+new \u{1b}[31mRED\u{1b}[0m \u{9b}6n line\u{1b}P+q\u{1b}\\\n";
    update(
        &mut app,
        Action::Event(Event {
            session: events[0].session,
            seq: 3,
            at_ms: events[0].at_ms,
            agent: None,
            kind: files_changed(
                1,
                vec![file("x\u{1b}[5m", ChangeKind::Modified, 1, 1)],
                evil.into(),
            ),
        }),
    );
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
    for open in [false, true] {
        if open {
            press(&mut app, KeyCode::Char('d'));
        }
        terminal.draw(|frame| views::draw(frame, &app)).unwrap();
        let buffer = terminal.backend().buffer();
        let text: String = buffer.content().iter().map(|c| c.symbol()).collect();
        assert!(
            !text.contains(['\u{1b}', '\u{9b}', '\u{7}']),
            "a control character reached the buffer"
        );
        assert!(!text.contains("pwned") && !text.contains("[2J"), "{text}");
        if open {
            assert!(
                text.contains("+new RED 6n line") && text.contains("-old line"),
                "{text}"
            );
        }
    }
}

#[test]
fn the_changes_line_and_the_diff_draw_on_tiny_terminals() {
    let events = project_events();
    for (w, h) in [(1, 1), (10, 4), (30, 8), (40, 12), (80, 24)] {
        let mut app = live_app(&events);
        screen(&app, w, h);
        press(&mut app, KeyCode::Char('d'));
        press(&mut app, KeyCode::Char('G'));
        screen(&app, w, h);
        press(&mut app, KeyCode::PageUp);
        screen(&app, w, h);
    }
}
