//! The Memory view: its keys, editor, filters, provenance, dreaming, and snapshots.

use super::*;

fn memories() -> Vec<MemoryItem> {
    let session = SessionId(0x0193_0000_0000_0000_0000_0000_0000_0001);
    vec![
        MemoryItem {
            id: "mem-01".into(),
            title: "Simulate twice before committing a descent".into(),
            kind: "playbook".into(),
            scope: "lumara-landing".into(),
            status: MemoryStatus::Proposed,
            version: 2,
            body: "Run simulate_descent at two throttle levels.\nCommit the one with lower touchdown speed.".into(),
            rules: vec!["navigator: min_simulations = 2".into()],
            provenance: vec![Citation { session, note: "soft_landing failed at iteration 1, passed at 2".into() }],
            author: "dream 01M8".into(),
            versions: vec![
                MemoryVersion { version: 1, body: "Run simulate_descent once.\nCommit the one with lower touchdown speed.".into() },
                MemoryVersion { version: 2, body: "Run simulate_descent at two throttle levels.\nCommit the one with lower touchdown speed.".into() },
            ],
        },
        MemoryItem {
            id: "mem-02".into(),
            title: "Prefer sites with slope under 5°".into(),
            kind: "note".into(),
            scope: "lumara-landing".into(),
            status: MemoryStatus::Approved,
            version: 1,
            body: "Flat sites pass hazard checks more often.".into(),
            rules: vec![],
            provenance: vec![],
            author: "ana".into(),
            versions: vec![MemoryVersion { version: 1, body: "Flat sites pass hazard checks more often.".into() }],
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
    assert_eq!(
        press(&mut app, KeyCode::Char('r')),
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
    // Edit: typing changes the text; Esc asks; any key but y keeps editing; ctrl-s saves.
    press(&mut app, KeyCode::Char('e'));
    assert!(app.memory.editor.is_some());
    press(&mut app, KeyCode::Char('!'));
    press(&mut app, KeyCode::Esc);
    assert!(app.memory.editor.as_ref().unwrap().confirm_drop);
    press(&mut app, KeyCode::Char('n'));
    assert!(!app.memory.editor.as_ref().unwrap().confirm_drop);
    let save = update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
    );
    match &save[..] {
        [Command::Memory(MemoryCommand::SaveEdit { id, body })] => {
            assert_eq!(id, "mem-01");
            assert!(body.starts_with('!'), "{body}");
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
fn dream_now_targets_the_team_on_show_and_streams_the_dreamer_without_leaving_the_view() {
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
    update(&mut app, Action::DreamStarted);
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
            Action::Event(Event {
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
            Action::Event(Event {
                session,
                seq,
                at_ms,
                agent,
                kind,
            }),
        );
    }
    let dreamer = &app.run.transcripts[&AgentId(1)];
    assert!(matches!(
        dreamer.entries[..],
        [Entry::Pattern { support: 4, .. }, Entry::Proposal { .. }]
    ));
    update(
        &mut app,
        Action::Memory(MemoryUpdate::Loaded(Ok(memories()))),
    );
    insta::assert_snapshot!("memory_view_dreaming", screen(&app, 120, 18));
    assert!(app.run_is_live(), "q asks while the dream runs");
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
        update(&mut app, Action::DreamStarted);
        screen(&app, w, h);
        press(&mut app, KeyCode::Char('v'));
        screen(&app, w, h);
        press(&mut app, KeyCode::Char('e'));
        screen(&app, w, h);
    }
}
