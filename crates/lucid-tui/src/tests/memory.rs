//! The Memory view: its keys, questions before a reject or retire, the editor of title,
//! body and rules, filters, provenance, history, dreaming, and snapshots.

use super::*;
use crate::memory_editor::{Field, Prompt};
use crate::memory_state::{Edit, HistoryLine};

fn line(version: u32, by: &str, summary: &str) -> HistoryLine {
    HistoryLine {
        version,
        at_ms: 1_795_000_000_000 + u64::from(version) * 60_000,
        by: by.into(),
        summary: summary.into(),
        needs_review: summary.contains("proposed again"),
    }
}

fn memories() -> Vec<MemoryItem> {
    let session = SessionId(0x0193_0000_0000_0000_0000_0000_0000_0001);
    vec![
        MemoryItem {
            id: "mem-01".into(),
            short_id: "k3m9x2qa".into(),
            title: "Simulate twice before committing a descent".into(),
            kind: "playbook".into(),
            scope: "lumara-landing".into(),
            status: MemoryStatus::Proposed,
            version: 2,
            body: "Run simulate_descent at two throttle levels.\nCommit the one with lower touchdown speed.".into(),
            rules: vec![r#"{"when":{"agent":"navigator"},"then":{"min_simulations":2}}"#.into()],
            provenance: vec![Citation { session, note: "soft_landing failed at iteration 1, passed at 2".into() }],
            author: "dream 01M8".into(),
            versions: vec![
                MemoryVersion { version: 1, body: "Run simulate_descent once.\nCommit the one with lower touchdown speed.".into() },
                MemoryVersion { version: 2, body: "Run simulate_descent at two throttle levels.\nCommit the one with lower touchdown speed.".into() },
            ],
            history: vec![
                line(1, "dream 01M7", "created as proposed (proposed by a dream)"),
                line(2, "dream 01M8", "revised by a dream"),
            ],
        },
        MemoryItem {
            id: "mem-02".into(),
            short_id: "7fw2c0nd".into(),
            title: "Prefer sites with slope under 5°".into(),
            kind: "note".into(),
            scope: "lumara-landing".into(),
            status: MemoryStatus::Approved,
            version: 2,
            body: "Flat sites pass hazard checks more often.".into(),
            rules: vec![],
            provenance: vec![],
            author: "ana".into(),
            versions: vec![
                MemoryVersion { version: 1, body: "Flat sites pass hazard checks more often.".into() },
                MemoryVersion { version: 2, body: "Flat sites pass hazard checks more often.".into() },
            ],
            history: vec![
                line(1, "ana", "created as proposed"),
                line(2, "ana", "approved"),
            ],
        },
    ]
}

#[test]
fn memory_keys_approve_reject_edit_search_filter_and_open_provenance() {
    let mut app = app();
    assert_eq!(
        press(&mut app, KeyCode::Char('3')),
        vec![Command::Memory(MemoryCommand::Load)]
    );
    update(
        &mut app,
        Action::Memory(MemoryUpdate::Loaded(Ok(memories()))),
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('a')),
        vec![Command::Memory(MemoryCommand::Approve("mem-01".into()))]
    );
    // Reject asks first: any key but y keeps it, y rejects.
    assert!(press(&mut app, KeyCode::Char('r')).is_empty());
    assert!(app.memory.confirm.is_some());
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.memory.confirm.is_none());
    assert!(app.notice.as_deref().unwrap().contains("nothing rejected"));
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        vec![Command::Memory(MemoryCommand::Reject("mem-01".into()))]
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('x')),
        vec![Command::Memory(MemoryCommand::Export("mem-01".into()))]
    );
    // An approval's result reloads the list.
    assert_eq!(
        update(
            &mut app,
            Action::Memory(MemoryUpdate::Done("approved mem-01".into()))
        ),
        vec![Command::Memory(MemoryCommand::Load)]
    );
    // Edit: typing changes the title; Esc asks; any key but y keeps editing; ctrl-s
    // saves what changed (a proposal: without asking whether to approve).
    press(&mut app, KeyCode::Char('e'));
    assert!(app.memory.editor.is_some());
    press(&mut app, KeyCode::Char('!'));
    press(&mut app, KeyCode::Esc);
    assert_eq!(
        app.memory.editor.as_ref().unwrap().prompt,
        Some(Prompt::DropChanges)
    );
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.memory.editor.as_ref().unwrap().prompt, None);
    let save = update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
    );
    match &save[..] {
        [Command::Memory(MemoryCommand::SaveEdit { id, edit })] => {
            assert_eq!(id, "mem-01");
            assert_eq!(
                edit,
                &Edit {
                    base_version: Some(2),
                    title: Some("!Simulate twice before committing a descent".into()),
                    ..Edit::default()
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(app.memory.editor.is_none());
    // Search and filters.
    press(&mut app, KeyCode::Char('/'));
    for c in "slope".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.memory.visible().len(), 1);
    assert_eq!(app.memory.current().unwrap().id, "mem-02");
    press(&mut app, KeyCode::Char('/'));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.memory.visible().len(), 2);
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.memory.visible().len(), 1, "proposed only");
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.memory.current().unwrap().id, "mem-02", "approved only");
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.memory.visible().len(), 2, "back to all");
    // Provenance: Enter on a citation replays its session.
    press(&mut app, KeyCode::Tab);
    let session = memories()[0].provenance[0].session;
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Command::LoadReplay(session)]
    );
}

#[test]
fn snapshot_memory_view_detail_versions_and_editor() {
    let mut app = app();
    press(&mut app, KeyCode::Char('3'));
    insta::assert_snapshot!("memory_unavailable", {
        update(
            &mut app,
            Action::Memory(MemoryUpdate::Loaded(Err(
                "Memory records are not available in this build.".into(),
            ))),
        );
        screen(&app, 120, 14)
    });
    update(
        &mut app,
        Action::Memory(MemoryUpdate::Loaded(Ok(memories()))),
    );
    insta::assert_snapshot!("memory_view", screen(&app, 120, 18));
    press(&mut app, KeyCode::Char('v'));
    insta::assert_snapshot!("memory_versions_diff", screen(&app, 120, 18));
    press(&mut app, KeyCode::Char('e'));
    insta::assert_snapshot!("memory_editor", screen(&app, 120, 18));
}

#[test]
fn dream_now_targets_the_team_on_show_and_streams_the_dreamer_apart_from_the_run_on_show() {
    let mut app = app();
    press(&mut app, KeyCode::Char('3'));
    assert!(
        press(&mut app, KeyCode::Char('D')).is_empty(),
        "no team yet"
    );
    let mut app = live_app(&recorded());
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(
        press(&mut app, KeyCode::Char('D')),
        vec![Command::Memory(MemoryCommand::DreamNow {
            team: "lumara-landing".into()
        })]
    );
    let run_on_show = app.run.clone();
    update(
        &mut app,
        Action::DreamStarted {
            team: "lumara-landing".into(),
        },
    );
    assert_eq!(app.view, View::Memory);
    let session = SessionId(7);
    let dream_events = [
        EventKind::SessionStarted {
            team: "lumara-landing".into(),
            spec_path: "(dream)".into(),
            task: "Dream".into(),
            environment: "dream".into(),
            seed: 0,
            world: 0,
            max_iterations: 0,
        },
        EventKind::AgentSpawned {
            name: "dreamer".into(),
            role: "dreamer".into(),
            parent: None,
            model: "offline".into(),
            purpose: Some("review the team's history and propose memories".into()),
            iteration: 1,
        },
    ];
    for (seq, kind) in dream_events.into_iter().enumerate() {
        let agent = (seq == 1).then_some(AgentId(1));
        update(
            &mut app,
            Action::DreamEvent(Event {
                session,
                seq: seq as u64,
                at_ms: 1_795_000_000_000,
                agent,
                kind,
            }),
        );
    }
    let findings = [
        EventKind::PatternFound {
            summary: "soft_landing fails on dune terrain when the burn starts late".into(),
            support: 4,
        },
        EventKind::MemoryProposed {
            memory_id: "mem-03".into(),
            version: 1,
            title: "Start the burn earlier over dunes".into(),
            change: "new".into(),
        },
    ];
    for (seq, kind) in findings.into_iter().enumerate() {
        let at_ms = 1_795_000_000_000;
        let seq = 2 + seq as u64;
        let agent = Some(AgentId(1));
        update(
            &mut app,
            Action::DreamEvent(Event {
                session,
                seq,
                at_ms,
                agent,
                kind,
            }),
        );
    }
    assert_eq!(
        app.run, run_on_show,
        "the dream leaves the run on show alone"
    );
    let dreamer = &app.dream.as_ref().unwrap().run.transcripts[&AgentId(1)];
    assert!(matches!(
        dreamer.entries[..],
        [
            Entry::Prompt { .. },
            Entry::Pattern { support: 4, .. },
            Entry::Proposal { .. }
        ]
    ));
    update(
        &mut app,
        Action::Memory(MemoryUpdate::Loaded(Ok(memories()))),
    );
    insta::assert_snapshot!("memory_view_dreaming", screen(&app, 120, 18));
    assert!(
        press(&mut app, KeyCode::Char('D')).is_empty(),
        "one dream at a time"
    );
    assert_eq!(
        update(
            &mut app,
            Action::DreamEnded(Ok(
                "dreamed over 4 session(s): 1 proposal(s) wait for review".into()
            ))
        ),
        vec![Command::Memory(MemoryCommand::Load), Command::LoadSessions]
    );
    insta::assert_snapshot!("memory_view_dream_ended", screen(&app, 120, 18));
    assert_eq!(app.run, run_on_show);
}

#[test]
fn the_memory_view_and_its_editor_draw_on_tiny_terminals() {
    for (w, h) in [(1, 1), (12, 5), (40, 10)] {
        let mut app = app();
        press(&mut app, KeyCode::Char('3'));
        update(
            &mut app,
            Action::Memory(MemoryUpdate::Loaded(Ok(memories()))),
        );
        update(
            &mut app,
            Action::DreamStarted {
                team: "lumara-landing".into(),
            },
        );
        screen(&app, w, h);
        press(&mut app, KeyCode::Char('v'));
        screen(&app, w, h);
        press(&mut app, KeyCode::Char('e'));
        screen(&app, w, h);
        // The editor's questions and the one before a retire.
        press(&mut app, KeyCode::Char('!'));
        press(&mut app, KeyCode::Esc);
        screen(&app, w, h);
        press(&mut app, KeyCode::Char('y'));
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('e'));
        press(&mut app, KeyCode::Char('!'));
        ctrl_s(&mut app);
        assert_eq!(
            app.memory.editor.as_ref().unwrap().prompt,
            Some(Prompt::ApproveEdit)
        );
        screen(&app, w, h);
        press(&mut app, KeyCode::Char('x'));
        press(&mut app, KeyCode::Esc);
        press(&mut app, KeyCode::Char('y'));
        press(&mut app, KeyCode::Char('R'));
        assert!(app.memory.confirm.is_some());
        screen(&app, w, h);
    }
}

fn ctrl_s(app: &mut AppState) -> Vec<Command> {
    update(
        app,
        Action::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
    )
}

fn type_text(app: &mut AppState, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// The Memory view with the records loaded and the approved note (mem-02) selected.
fn on_the_approved_note() -> AppState {
    let mut app = app();
    press(&mut app, KeyCode::Char('3'));
    update(
        &mut app,
        Action::Memory(MemoryUpdate::Loaded(Ok(memories()))),
    );
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.memory.current().unwrap().id, "mem-02");
    app
}

#[test]
fn retire_asks_first_and_reviews_that_do_not_apply_say_why() {
    let mut app = on_the_approved_note();
    // An approved memory: approve and reject do not apply; R retires after a yes.
    assert!(press(&mut app, KeyCode::Char('a')).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("approved already"));
    assert!(press(&mut app, KeyCode::Char('r')).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("R retires it"));
    assert!(app.memory.confirm.is_none());
    assert!(press(&mut app, KeyCode::Char('R')).is_empty());
    insta::assert_snapshot!("memory_confirm_retire", screen(&app, 120, 18));
    assert!(press(&mut app, KeyCode::Esc).is_empty(), "Esc keeps it");
    assert!(app.notice.as_deref().unwrap().contains("nothing retired"));
    assert_eq!(app.view, View::Memory);
    press(&mut app, KeyCode::Char('R'));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        vec![Command::Memory(MemoryCommand::Retire("mem-02".into()))]
    );
    // While asking, keys answer the question, not the keymap: `3` is a no, not a view.
    press(&mut app, KeyCode::Char('R'));
    assert!(press(&mut app, KeyCode::Char('1')).is_empty());
    assert_eq!(app.view, View::Memory);

    // A retired memory comes back with `a`; it cannot be retired or rejected again.
    let mut items = memories();
    items[1].status = MemoryStatus::Retired;
    update(&mut app, Action::Memory(MemoryUpdate::Loaded(Ok(items))));
    assert!(press(&mut app, KeyCode::Char('R')).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("retired already"));
    assert!(press(&mut app, KeyCode::Char('r')).is_empty());
    assert!(app.memory.confirm.is_none());
    assert_eq!(
        press(&mut app, KeyCode::Char('a')),
        vec![Command::Memory(MemoryCommand::Approve("mem-02".into()))]
    );
    // A proposal does not retire.
    press(&mut app, KeyCode::Char('k'));
    assert!(press(&mut app, KeyCode::Char('R')).is_empty());
    assert!(app
        .notice
        .as_deref()
        .unwrap()
        .contains("only approved memories retire"));
}

#[test]
fn the_editor_edits_title_body_and_rules_and_asks_whether_to_approve_an_approved_memory() {
    let mut app = on_the_approved_note();
    press(&mut app, KeyCode::Char('e'));
    // Title: Enter moves to the body rather than breaking the title.
    press(&mut app, KeyCode::End);
    type_text(&mut app, " (steep)");
    press(&mut app, KeyCode::Enter);
    let editor = app.memory.editor.as_ref().unwrap();
    assert_eq!(editor.field, Field::Body);
    assert_eq!(
        editor.text(Field::Title),
        "Prefer sites with slope under 5° (steep)"
    );
    type_text(&mut app, "Check the slope first. ");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.memory.editor.as_ref().unwrap().field, Field::Rules);
    // A garbled rule is not saved: the editor stays, on the rules, and says why.
    type_text(&mut app, "{slope");
    assert!(ctrl_s(&mut app).is_empty());
    let editor = app.memory.editor.as_ref().unwrap();
    assert_eq!(editor.field, Field::Rules);
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("not saved: rules line 1"),
        "{:?}",
        app.notice
    );
    for _ in 0.."{slope".len() {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(
        &mut app,
        r#"{"when": {"slope": "steep"}, "then": {"avoid": true}}"#,
    );
    insta::assert_snapshot!("memory_editor_fields", screen(&app, 120, 18));

    // Saving an approved memory asks; any other key keeps editing; `p` saves it proposed.
    assert!(ctrl_s(&mut app).is_empty());
    assert_eq!(
        app.memory.editor.as_ref().unwrap().prompt,
        Some(Prompt::ApproveEdit)
    );
    insta::assert_snapshot!("memory_editor_approve_prompt", screen(&app, 120, 18));
    assert!(press(&mut app, KeyCode::Char('x')).is_empty());
    assert!(app.memory.editor.is_some());
    ctrl_s(&mut app);
    let saved = press(&mut app, KeyCode::Char('p'));
    let [Command::Memory(MemoryCommand::SaveEdit { id, edit })] = &saved[..] else {
        panic!("{saved:?}");
    };
    assert_eq!(id, "mem-02");
    assert_eq!(edit.base_version, Some(2));
    assert!(!edit.approve);
    assert_eq!(
        edit.title.as_deref(),
        Some("Prefer sites with slope under 5° (steep)")
    );
    assert_eq!(
        edit.body.as_deref(),
        Some("Check the slope first. Flat sites pass hazard checks more often.")
    );
    let rules = edit.rules.as_ref().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].flag("avoid"), Some(true));
    assert!(app.memory.editor.is_none());

    // `a` approves the edit with it.
    press(&mut app, KeyCode::Char('e'));
    type_text(&mut app, "!");
    ctrl_s(&mut app);
    let saved = press(&mut app, KeyCode::Char('a'));
    let [Command::Memory(MemoryCommand::SaveEdit { edit, .. })] = &saved[..] else {
        panic!("{saved:?}");
    };
    assert!(edit.approve);
    assert_eq!(edit.body, None, "only what changed");

    // After an unapproved edit the detail says it waits for approval again.
    let mut items = memories();
    items[1].status = MemoryStatus::Proposed;
    items[1].version = 3;
    items[1].versions.push(MemoryVersion {
        version: 3,
        body: "Check the slope first.".into(),
    });
    items[1].history.push(line(
        3,
        "ana",
        "edited; it was approved, so it is proposed again and steers no run until approved",
    ));
    update(&mut app, Action::Memory(MemoryUpdate::Loaded(Ok(items))));
    insta::assert_snapshot!("memory_edited_after_approval", screen(&app, 120, 18));
    press(&mut app, KeyCode::Char('v'));
    insta::assert_snapshot!("memory_history", screen(&app, 120, 18));
}
