//! Reducer tests and snapshots of every view on ratatui's `TestBackend`, fed a recorded
//! offline Lumara session (`tests/fixtures/lumara_events.json`, times and ids fixed).
//! Regenerate the recording with
//! `cargo test --lib tui::tests::record_fixture -- --ignored`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::{Action, AppState, Command, Confirm, Pane, Source, View};
use super::keymap::Keymap;
use super::memory_state::{
    Citation, MemoryCommand, MemoryItem, MemoryStatus, MemoryUpdate, MemoryVersion,
};
use super::run_state::ThreadPhase;
use super::theme::Theme;
use super::update::update;
use super::views;
use crate::event::{AgentId, Event, EventKind, SessionId};

const FIXTURE: &str = "tests/fixtures/lumara_events.json";

fn recorded() -> Vec<Event> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE))
        .expect("the recorded session is checked in");
    serde_json::from_str(&text).expect("the recording parses")
}

fn app() -> AppState {
    let mut app = AppState::new(Keymap::default(), Theme::default());
    app.now_ms = 0;
    app
}

fn live_app(events: &[Event]) -> AppState {
    let mut app = app();
    update(
        &mut app,
        Action::RunStarted {
            spec: "sessions/lumara.toml".into(),
        },
    );
    for event in events {
        update(&mut app, Action::Event(event.clone()));
    }
    app
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn press(app: &mut AppState, code: KeyCode) -> Vec<Command> {
    update(app, key(code))
}

/// The screen as text, one line per row, trailing spaces trimmed.
fn screen(app: &AppState, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal
        .draw(|frame| views::draw(frame, app))
        .expect("draw");
    let buffer = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[test]
#[ignore = "regenerates the recorded session fixture"]
fn record_fixture() {
    use crate::event::{EventBus, EventSink, SinkError};
    struct Keep(Mutex<Vec<Event>>);
    impl EventSink for Keep {
        fn append(&self, event: &Event) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(event.clone());
            Ok(())
        }
        fn flush(&self) -> Result<(), SinkError> {
            Ok(())
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sink = Arc::new(Keep(Mutex::new(Vec::new())));
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sessions/lumara.toml");
    let spec = crate::spec::load(&spec_path, &crate::env::catalog()).unwrap();
    let env = crate::env::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    )
    .unwrap();
    let bus = Arc::new(EventBus::new(
        SessionId(0x0193_0000_0000_0000_0000_0000_0000_0001),
        sink.clone(),
    ));
    let team = crate::run::TeamRun::new(
        Arc::new(spec),
        env,
        bus,
        &[],
        crate::run::CancelToken::new(),
    )
    .unwrap();
    let origin = crate::outcome::SessionOrigin {
        spec_path: "sessions/lumara.toml".into(),
        seed: 2,
        world: 1,
    };
    runtime
        .block_on(crate::outcome::run_session(team, origin))
        .unwrap();
    let mut events = sink.0.lock().unwrap().clone();
    for event in &mut events {
        event.at_ms = 1_795_000_000_000 + event.seq * 137;
    }
    let json = serde_json::to_string_pretty(&events).unwrap();
    std::fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE),
        json + "\n",
    )
    .unwrap();
}

#[test]
fn the_recorded_run_folds_into_a_tree_transcripts_and_verdicts() {
    let events = recorded();
    let app = live_app(&events);
    let run = &app.run;
    assert_eq!(run.team, "lumara-landing");
    let names: Vec<&str> = run.threads.values().map(|t| t.name.as_str()).collect();
    for name in ["commander", "detector", "navigator"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let lead = &run.threads[&run.roots[0]];
    assert!(
        lead.children.len() >= 3,
        "the commander delegated: {:?}",
        lead.children
    );
    assert!(run.threads.values().all(|t| t.phase.is_finished()));
    assert!(!run.gradings.is_empty());
    assert!(run
        .gradings
        .iter()
        .all(|g| g.passed.is_some() && !g.criteria.is_empty()));
    assert!(run.finish.is_some());
    assert!(!app.run_is_live());
    // The commander is selected and the transcript follows it.
    assert_eq!(app.run_ui.selected, Some(run.roots[0]));
    assert_eq!(app.run_ui.cursor, lead.transcript.len() - 1);
}

#[test]
fn phases_follow_tool_calls_and_delegations() {
    let events = recorded();
    let mut app = live_app(&[]);
    let mut saw = std::collections::HashSet::new();
    for event in &events {
        update(&mut app, Action::Event(event.clone()));
        for thread in app.run.threads.values() {
            saw.insert(thread.phase);
        }
    }
    for phase in [
        ThreadPhase::Pending,
        ThreadPhase::Thinking,
        ThreadPhase::CallingTool,
        ThreadPhase::Waiting,
        ThreadPhase::Done,
    ] {
        assert!(saw.contains(&phase), "never saw {phase:?}: {saw:?}");
    }
}

#[test]
fn keys_move_focus_select_threads_expand_and_step_iterations() {
    let events = recorded();
    let mut app = live_app(&events);
    let order = app.run.tree_order();
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.run_ui.selected, Some(order[1].0));
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.run_ui.selected, Some(order.last().unwrap().0));
    press(&mut app, KeyCode::Char('g'));
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.pane, Pane::Transcript);
    press(&mut app, KeyCode::Char('k'));
    assert!(!app.run_ui.follow, "moving up stops following");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.run_ui.expanded.len(), 1);
    press(&mut app, KeyCode::Enter);
    assert!(app.run_ui.expanded.is_empty());
    press(&mut app, KeyCode::End);
    assert!(app.run_ui.follow);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.pane, Pane::Grader);
    let count = app.run.gradings.len();
    press(&mut app, KeyCode::Char('['));
    if count > 1 {
        assert_eq!(app.run_ui.grading, Some(count - 2));
        press(&mut app, KeyCode::Char(']'));
    }
    assert_eq!(app.run_ui.grading, None, "back on the latest iteration");
    press(&mut app, KeyCode::Char('2'));
    assert_eq!(app.view, View::Sessions);
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    press(&mut app, KeyCode::Char('x'));
    assert!(!app.help);
}

#[test]
fn cancel_targets_the_selected_live_thread_and_quit_asks_while_live() {
    let events = recorded();
    // Up to the first delegation's child spawn: the run is live.
    let cut = events
        .iter()
        .position(|e| {
            matches!(
                &e.kind,
                EventKind::AgentSpawned {
                    parent: Some(_),
                    ..
                }
            )
        })
        .unwrap();
    let mut app = live_app(&events[..=cut]);
    assert!(app.run_is_live());
    press(&mut app, KeyCode::Char('j'));
    let child = app.run_ui.selected.unwrap();
    assert_ne!(child, AgentId(1));
    assert_eq!(
        press(&mut app, KeyCode::Char('c')),
        vec![Command::CancelAgent(child)]
    );
    assert!(press(&mut app, KeyCode::Char('q')).is_empty());
    assert_eq!(app.confirm, Some(Confirm::QuitWhileLive));
    press(&mut app, KeyCode::Char('n'));
    assert!(!app.quit && app.confirm.is_none());
    press(&mut app, KeyCode::Char('q'));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        vec![Command::CancelRun]
    );
    assert!(app.quit);
    // Once finished, q quits at once and c has nothing to cancel.
    let mut app = live_app(&events);
    assert!(press(&mut app, KeyCode::Char('c')).is_empty());
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn a_replay_plays_paced_pauses_steps_and_changes_speed() {
    let events = recorded();
    let mut app = app();
    let session = events[0].session;
    update(&mut app, Action::ReplayLoaded(session, Ok(events.clone())));
    let next = |app: &AppState| match &app.source {
        Source::Replay(r) => r.next,
        _ => panic!("not replaying"),
    };
    assert_eq!(next(&app), 1, "the session start shows at once");
    update(
        &mut app,
        Action::Tick {
            now_ms: 0,
            elapsed_ms: 300,
        },
    );
    let after_tick = next(&app);
    assert!(after_tick > 1 && after_tick < events.len());
    press(&mut app, KeyCode::Char(' '));
    update(
        &mut app,
        Action::Tick {
            now_ms: 0,
            elapsed_ms: 10_000,
        },
    );
    assert_eq!(next(&app), after_tick, "paused");
    press(&mut app, KeyCode::Char('.'));
    assert_eq!(next(&app), after_tick + 1, "one step");
    press(&mut app, KeyCode::Char('+'));
    press(&mut app, KeyCode::Char(' '));
    update(
        &mut app,
        Action::Tick {
            now_ms: 0,
            elapsed_ms: 1_000_000,
        },
    );
    assert!(
        next(&app) < events.len(),
        "one tick banks at most a quarter second"
    );
    for _ in 0..1000 {
        update(
            &mut app,
            Action::Tick {
                now_ms: 0,
                elapsed_ms: 250,
            },
        );
    }
    assert_eq!(next(&app), events.len());
    assert_eq!(app.run.events as usize, events.len());
    assert_eq!(
        app.run,
        live_app(&events).run,
        "a replay folds to the same state as the live run"
    );
}

#[test]
fn sessions_view_replays_the_selection_and_opens_the_picker() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    let summaries = sample_sessions();
    update(&mut app, Action::SessionsLoaded(Ok(summaries.clone())));
    assert_eq!(app.sessions.list[0].id, summaries[1].id, "newest first");
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Command::LoadReplay(summaries[0].id)]
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('n')),
        vec![Command::ListSpecs]
    );
    update(
        &mut app,
        Action::SpecsListed(vec![
            "sessions/a.toml".into(),
            "sessions/lumara.toml".into(),
        ]),
    );
    press(&mut app, KeyCode::Down);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Command::StartRun("sessions/lumara.toml".into())]
    );
    assert!(app.picker.is_none());
}

fn sample_sessions() -> Vec<crate::store::SessionSummary> {
    let events = recorded();
    let mut first = crate::store::SessionSummary::start(&events[0]).unwrap();
    for event in &events[1..] {
        first.apply(event);
    }
    let mut second = first.clone();
    second.id = SessionId(first.id.0 + 1);
    second.started_at_ms += 3_600_000;
    second.status = crate::store::SessionStatus::Interrupted;
    second.duration_ms = None;
    vec![first, second]
}

#[test]
fn escape_sequences_in_model_text_never_reach_the_screen() {
    let events = recorded();
    let mut app = live_app(&events[..3]);
    let lead = app.run.roots[0];
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
        .threads
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
    update(
        &mut app,
        Action::Memory(MemoryUpdate::Loaded(Ok(memories()))),
    );
    insta::assert_snapshot!("memory_view_dreaming", screen(&app, 120, 18));
    assert!(app.run_is_live(), "q asks while the dream runs");
}

#[test]
fn snapshot_run_view_on_a_small_terminal() {
    let app = live_app(&recorded());
    insta::assert_snapshot!("run_view_80x24", screen(&app, 80, 24));
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
