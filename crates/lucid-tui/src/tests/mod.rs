//! Reducer tests and snapshots of every view on ratatui's `TestBackend`, fed a recorded
//! offline Lumara session (`tests/fixtures/lumara_events.json`, times and ids fixed).
//! Regenerate the recording with
//! `cargo test --lib tui::tests::record_fixture -- --ignored`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::app::{Action, AppState, Command, Confirm, Pane, Source, View};
use crate::keymap::Keymap;
use crate::memory_state::{
    Citation, MemoryCommand, MemoryItem, MemoryStatus, MemoryUpdate, MemoryVersion,
};
use crate::picker::RunChoice;
use crate::run_state::{Entry, ThreadPhase};
use crate::theme::Theme;
use crate::update::update;
use crate::views;
use lucid_core::event::{AgentId, Event, EventKind, SessionId};

const FIXTURE: &str = "tests/fixtures/lumara_events.json";

pub(super) fn recorded() -> Vec<Event> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(FIXTURE),
    )
    .expect("the recorded session is checked in");
    serde_json::from_str(&text).expect("the recording parses")
}

pub(super) fn app() -> AppState {
    let mut app = AppState::new(Keymap::default(), Theme::default());
    app.now_ms = 0;
    app
}

pub(super) fn live_app(events: &[Event]) -> AppState {
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

pub(super) fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(super) fn press(app: &mut AppState, code: KeyCode) -> Vec<Command> {
    update(app, key(code))
}

/// The screen as text, one line per row, trailing spaces trimmed.
pub(super) fn screen(app: &AppState, width: u16, height: u16) -> String {
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

mod changes;
mod memory;
mod reading;
mod streaming;
mod view_snapshots;

#[test]
#[ignore = "regenerates the recorded session fixture"]
fn record_fixture() {
    use lucid_core::event::{EventBus, EventSink, SinkError};
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
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("sessions/lumara.toml");
    let spec = lucid_core::spec::load(&spec_path, &lucid_envs::catalog()).unwrap();
    let env = lucid_envs::build(
        &spec.environment,
        spec.environment.seed,
        spec.environment.world,
    )
    .unwrap();
    let bus = Arc::new(EventBus::new(
        SessionId(0x0193_0000_0000_0000_0000_0000_0000_0001),
        sink.clone(),
    ));
    let team = lucid_core::run::TeamRun::new(
        Arc::new(spec),
        env,
        bus,
        &[],
        lucid_core::run::CancelToken::new(),
    )
    .unwrap();
    let origin = lucid_core::outcome::SessionOrigin {
        spec_path: "sessions/lumara.toml".into(),
        seed: 2,
        world: 1,
    };
    runtime
        .block_on(lucid_core::outcome::run_session(team, origin))
        .unwrap();
    let mut events = sink.0.lock().unwrap().clone();
    for event in &mut events {
        event.at_ms = 1_795_000_000_000 + event.seq * 137;
    }
    let json = serde_json::to_string_pretty(&events).unwrap();
    std::fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(FIXTURE),
        json + "\n",
    )
    .unwrap();
}

#[test]
fn the_recorded_run_folds_into_a_tree_transcripts_and_verdicts() {
    let events = recorded();
    let app = live_app(&events);
    let run = &app.run;
    assert_eq!(run.view.team, "lumara-landing");
    let names: Vec<&str> = run.view.agents.values().map(|t| t.name.as_str()).collect();
    for name in ["commander", "detector", "navigator"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let lead = &run.view.agents[&run.view.roots[0]];
    assert!(
        lead.children.len() >= 3,
        "the commander delegated: {:?}",
        lead.children
    );
    assert!(run.view.agents.values().all(|t| t.phase.is_finished()));
    assert!(!run.view.gradings.is_empty());
    assert!(run
        .view
        .gradings
        .iter()
        .all(|g| g.passed.is_some() && !g.criteria.is_empty()));
    assert!(run.view.finish.is_some());
    assert!(!app.run_is_live());
    // The commander is selected and the transcript follows it.
    assert_eq!(app.run_ui.selected, Some(run.view.roots[0]));
    assert_eq!(
        app.run_ui.cursor,
        run.transcripts[&lead.id].entries.len() - 1
    );
}

#[test]
fn phases_follow_tool_calls_and_delegations() {
    let events = recorded();
    let mut app = live_app(&[]);
    let mut saw = std::collections::HashSet::new();
    for event in &events {
        update(&mut app, Action::Event(event.clone()));
        for thread in app.run.view.agents.values() {
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
    let count = app.run.view.gradings.len();
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
    // The lead's end is the run's end: `c` on it asks first.
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.run_ui.selected, Some(AgentId(1)));
    assert!(press(&mut app, KeyCode::Char('c')).is_empty());
    assert_eq!(app.confirm, Some(Confirm::CancelRun(AgentId(1))));
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.confirm.is_none());
    press(&mut app, KeyCode::Char('c'));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        vec![Command::CancelAgent(AgentId(1))]
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
    // A replay's footer offers pause (a live run's does not: it cannot pause).
    let notice = app.notice.take();
    let footer = screen(&app, 120, 20);
    app.notice = notice;
    assert!(footer.contains("space pause"), "{footer}");
    assert!(!screen(&live_app(&events[..5]), 120, 20).contains("space pause"));
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
    assert_eq!(app.run.view.events as usize, events.len());
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
    // The recent run comes first, with its seed and world; then the files.
    let picker = app.picker.as_ref().unwrap();
    assert_eq!(
        picker.recent.len(),
        1,
        "two runs of one file, seed and world"
    );
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Command::StartRun(RunChoice {
            spec: "sessions/lumara.toml".into(),
            seed: None,
            world: None,
        })]
    );
    assert!(app.picker.is_none());
}

#[test]
fn the_picker_takes_a_typed_path_seed_and_world_and_says_what_is_wrong() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    let summaries = sample_sessions();
    update(&mut app, Action::SessionsLoaded(Ok(summaries.clone())));
    update(&mut app, Action::SpecsListed(Vec::new()));
    let recent = &app.picker.as_ref().unwrap().recent[0];
    let (seed, world) = (summaries[0].seed, summaries[0].world);
    assert_eq!((recent.seed, recent.world), (Some(seed), Some(world)));
    // Enter on the recent run starts it again with its seed and world.
    let again = RunChoice {
        spec: summaries[0].spec_path.clone().into(),
        seed: Some(seed),
        world: Some(world),
    };
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Command::StartRun(again)]
    );

    press(&mut app, KeyCode::Char('n'));
    update(&mut app, Action::SpecsListed(Vec::new()));
    // Tab to the path: clear it and type another; then a seed, a bad world.
    press(&mut app, KeyCode::Tab);
    update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    type_keys(&mut app, "elsewhere/mine.toml");
    press(&mut app, KeyCode::Tab);
    for _ in 0..20 {
        press(&mut app, KeyCode::Backspace);
    }
    type_keys(&mut app, "42");
    press(&mut app, KeyCode::Tab);
    for _ in 0..20 {
        press(&mut app, KeyCode::Backspace);
    }
    type_keys(&mut app, "x9");
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    let error = app.picker.as_ref().unwrap().error.clone().unwrap();
    assert!(error.contains("world must be a whole number"), "{error}");
    insta::assert_snapshot!("picker_typed", screen(&app, 100, 14));
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Command::StartRun(RunChoice {
            spec: "elsewhere/mine.toml".into(),
            seed: Some(42),
            world: None,
        })]
    );
}

#[test]
fn no_new_run_starts_while_a_dream_is_under_way() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    update(
        &mut app,
        Action::DreamStarted {
            team: "lumara-landing".into(),
        },
    );
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app
        .notice
        .as_deref()
        .unwrap()
        .contains("a dream is under way"));
    update(&mut app, Action::DreamEnded(Ok("dreamed".into())));
    assert_eq!(
        press(&mut app, KeyCode::Char('n')),
        vec![Command::ListSpecs]
    );
}

fn type_keys(app: &mut AppState, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

#[test]
fn the_sessions_view_lists_runs_and_dreams_apart() {
    let mut app = app();
    press(&mut app, KeyCode::Char('2'));
    let mut summaries = sample_sessions();
    let mut dream = summaries[0].clone();
    dream.id = SessionId(summaries[1].id.0 + 1);
    dream.environment = lucid_core::dream::DREAM_ENVIRONMENT.into();
    dream.started_at_ms += 7_200_000;
    summaries.push(dream.clone());
    update(&mut app, Action::SessionsLoaded(Ok(summaries.clone())));
    let listed = |app: &AppState| app.sessions.list.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(listed(&app), vec![summaries[1].id, summaries[0].id], "runs");
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(listed(&app), vec![dream.id], "dreams");
    insta::assert_snapshot!("sessions_dreams", screen(&app, 130, 8));
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(listed(&app).len(), 3, "all");
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(
        app.sessions.list[app.sessions.selected].id, summaries[1].id,
        "the selection stays on the session it was on"
    );
}

pub(super) fn sample_sessions() -> Vec<lucid_core::store::SessionSummary> {
    let events = recorded();
    let mut first = lucid_core::store::SessionSummary::start(&events[0]).unwrap();
    for event in &events[1..] {
        first.apply(event);
    }
    let mut second = first.clone();
    second.id = SessionId(first.id.0 + 1);
    second.started_at_ms += 3_600_000;
    second.status = lucid_core::store::SessionStatus::Interrupted;
    second.duration_ms = None;
    vec![first, second]
}
