//! Reading a run: cost and tokens shown live (tree, header, sessions), text wrapped by
//! display width, the pager, the thread's prompt entry, jumping to a delegated thread
//! and back, and the transcript's scroll after a thread change or a resize.

use super::*;
use crate::app::AppState;
use crate::run_state::Entry;

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
            cancelled: false,
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

const LEAD: AgentId = AgentId(1);
const CHILD: AgentId = AgentId(2);
const SUBTASK: &str = "Survey sites B, C and D from low orbit, compare their slopes and hazards, \
    and recommend one landing site with the numbers that decided it; end with SUBTASK-END.";

/// A small live session whose lead writes long English, CJK and emoji text, delegates a
/// long subtask to a child, and calls a tool with a long result.
fn long_session() -> Vec<Event> {
    let mut events = Vec::new();
    let mut push = |agent: Option<AgentId>, kind: EventKind| {
        let seq = events.len() as u64;
        events.push(Event {
            session: SessionId(0x0193_0000_0000_0000_0000_0000_0000_0077),
            seq,
            at_ms: 1_795_000_000_000 + seq * 100,
            agent,
            kind,
        });
    };
    push(
        None,
        EventKind::SessionStarted {
            team: "readers".into(),
            spec_path: "sessions/read.toml".into(),
            task: "Land the probe on the safest site.".into(),
            environment: "lumara".into(),
            seed: 1,
            world: 1,
            max_iterations: 1,
        },
    );
    let spawn =
        |name: &str, parent: Option<AgentId>, purpose: Option<&str>| EventKind::AgentSpawned {
            name: name.into(),
            role: name.into(),
            parent,
            model: "offline".into(),
            purpose: purpose.map(Into::into),
            iteration: 1,
        };
    push(Some(LEAD), spawn("commander", None, None));
    push(
        Some(LEAD),
        EventKind::briefed(
            "You are the commander of a lunar landing team.\n\
             Delegate surveys to detectors and the descent to the navigator.\n\
             ## Playbook: ejecta sites need a 150 m burn margin (v2)\n\
             When the terrain is ejecta, keep the burn margin at 150 m or more. PROMPT-END",
        ),
    );
    push(
        Some(LEAD),
        EventKind::Text {
            text: "The lander has three candidate sites and enough propellant for one \
                   low-pass survey, so I will send a detector to compare them before \
                   committing to a descent; the navigator flies it afterwards.\n\
                   着陆器有三个候选着陆点，推进剂只够一次低空勘测，所以我先派探测器比较它们。\n\
                   Status: 🚀 descent planned 🛰️ survey pending ✅ checks green"
                .into(),
        },
    );
    push(
        Some(LEAD),
        EventKind::Delegated {
            call_id: "c1".into(),
            child: CHILD,
            specialist: "detector".into(),
            subtask: SUBTASK.into(),
            purpose: "Survey sites B, C, D".into(),
            follow_up: false,
        },
    );
    push(
        Some(CHILD),
        spawn("detector", Some(LEAD), Some("Survey sites B, C, D")),
    );
    push(
        Some(CHILD),
        EventKind::ModelTurn {
            turn: 1,
            tokens_in: 300,
            tokens_out: 40,
            stop: "end".into(),
            cost_usd: None,
            tool_calls: None,
        },
    );
    push(
        Some(CHILD),
        EventKind::Text {
            text: "Site C is flat and clear.".into(),
        },
    );
    push(
        Some(CHILD),
        EventKind::AgentFinished {
            status: lucid_core::event::AgentStatus::Done,
            turns: 1,
            answer: Some("Site C.".into()),
        },
    );
    push(
        Some(LEAD),
        EventKind::ToolCalled {
            call_id: "c2".into(),
            tool: "vehicle_status".into(),
            input: serde_json::json!({"site": "C"}),
        },
    );
    push(
        Some(LEAD),
        EventKind::ToolReturned {
            call_id: "c2".into(),
            tool: "vehicle_status".into(),
            output: "Lander: 2715 kg with 1115 kg of propellant; the approach to site C \
                     costs 225 kg and the return to orbit needs 340 kg, leaving a reserve \
                     of 550 kg at touchdown. RESULT-END"
                .into(),
            is_error: false,
        },
    );
    events
}

/// The index of the first entry of the lead's transcript that matches.
fn lead_entry(app: &AppState, wanted: fn(&Entry) -> bool) -> usize {
    app.run.transcripts[&LEAD]
        .entries
        .iter()
        .position(wanted)
        .unwrap()
}

fn on_entry(app: &mut AppState, index: usize) {
    app.pane = Pane::Transcript;
    app.run_ui.follow = false;
    app.run_ui.cursor = index;
}

#[test]
fn long_text_wraps_on_words_with_cjk_and_emoji_by_display_width() {
    let mut app = live_app(&long_session());
    on_entry(&mut app, 0);
    let shown = screen(&app, 110, 24);
    // Whole words on every row, nothing cut.
    assert!(shown.contains("enough propellant for"), "{shown}");
    assert!(
        shown.contains("the navigator flies it afterwards."),
        "{shown}"
    );
    assert!(shown.contains("checks green"), "{shown}");
    // Two cells a CJK character: 33 of them fill the 66-cell row, the rest wraps.
    assert!(shown.contains("派 探 测 器 比 │"), "{shown}");
    insta::assert_snapshot!("transcript_wrapped", shown);
    // `w`: one row per entry, cut with `…`.
    press(&mut app, KeyCode::Char('w'));
    let shown = screen(&app, 110, 24);
    assert!(shown.contains("one line each"), "{shown}");
    assert!(
        !shown.contains("the navigator flies it afterwards."),
        "{shown}"
    );
    insta::assert_snapshot!("transcript_compact", shown);
}

#[test]
fn an_expanded_entry_shows_its_whole_text_wrapped() {
    let mut app = live_app(&long_session());
    let tool = lead_entry(&app, |e| matches!(e, Entry::Tool { .. }));
    on_entry(&mut app, tool);
    assert!(!screen(&app, 100, 30).contains("RESULT-END"));
    press(&mut app, KeyCode::Enter);
    let shown = screen(&app, 100, 30);
    assert!(shown.contains("RESULT-END"), "{shown}");
    // A delegation's subtask, whole, when expanded (`e` expands every entry).
    press(&mut app, KeyCode::Char('e'));
    let shown = screen(&app, 100, 30);
    assert!(shown.contains("subtask:"), "{shown}");
    assert!(shown.contains("SUBTASK-END."), "{shown}");
}

#[test]
fn the_pager_shows_an_entry_whole_and_finds_and_highlights_matches() {
    let mut app = live_app(&long_session());
    let text = lead_entry(&app, |e| matches!(e, Entry::Text(_)));
    on_entry(&mut app, text);
    press(&mut app, KeyCode::Char('v'));
    assert!(app.run_ui.pager.is_some());
    press(&mut app, KeyCode::Char('/'));
    for c in "SITES".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let typing = screen(&app, 70, 16);
    assert!(typing.contains("/SITES▍"), "{typing}");
    press(&mut app, KeyCode::Enter);
    let pager = app.run_ui.pager.clone().unwrap();
    assert_eq!(pager.query, "SITES");
    let first = pager.current.expect("a match");
    let shown = screen(&app, 70, 16);
    assert!(shown.contains("/SITES (1 match)"), "{shown}");
    // The match is highlighted: its cells carry the selection style.
    let mut terminal = ratatui::Terminal::new(TestBackend::new(70, 16)).unwrap();
    terminal.draw(|f| views::draw(f, &app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let highlighted: String = (0..16)
        .flat_map(|y| (0..70).map(move |x| (x, y)))
        .filter(|&(x, y)| buffer[(x, y)].bg == app.theme.selected.bg.unwrap_or_default())
        .map(|(x, y)| buffer[(x, y)].symbol().to_string())
        .collect();
    assert!(highlighted.contains("sites"), "{highlighted:?}");
    insta::assert_snapshot!("pager_search", shown);
    // `n` goes round to the only match again; `q` closes.
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.run_ui.pager.as_ref().unwrap().current, Some(first));
    press(&mut app, KeyCode::Char('G'));
    press(&mut app, KeyCode::Char('q'));
    assert!(app.run_ui.pager.is_none());
}

#[test]
fn enter_on_a_delegation_jumps_to_its_thread_and_back_returns() {
    let mut app = live_app(&long_session());
    let delegation = lead_entry(&app, |e| matches!(e, Entry::Delegated { .. }));
    on_entry(&mut app, delegation);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.run_ui.selected, Some(CHILD));
    assert_eq!(
        app.run_ui.cursor, 0,
        "the child's transcript from its start"
    );
    let shown = screen(&app, 120, 24);
    assert!(shown.contains("Transcript: detector #2"), "{shown}");
    press(&mut app, KeyCode::Char('b'));
    assert_eq!(app.run_ui.selected, Some(LEAD));
    assert_eq!(app.run_ui.cursor, delegation);
    // Nothing more to go back to.
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.run_ui.selected, Some(LEAD));
    assert!(app.notice.as_deref().unwrap_or("").contains("nowhere"));
}

/// Rows of the transcript pane (inside its border) as drawn last.
fn transcript_rows(app: &AppState, width: u16, height: u16) -> Vec<String> {
    let shown = screen(app, width, height);
    let area = app.hits.transcript.get();
    shown
        .lines()
        .skip(usize::from(area.y))
        .take(usize::from(area.height))
        .map(|line| {
            line.chars()
                .skip(usize::from(area.x))
                .take(usize::from(area.width))
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

#[test]
fn changing_threads_shows_the_new_transcript_from_its_start() {
    let mut app = live_app(&recorded());
    // Read the lead's transcript to its end, so the scroll is far down.
    app.pane = Pane::Transcript;
    press(&mut app, KeyCode::Char('G'));
    screen(&app, 120, 30);
    assert!(app.run_ui.transcript_scroll.get() > 0);
    app.pane = Pane::Tree;
    press(&mut app, KeyCode::Char('j'));
    let rows = transcript_rows(&app, 120, 30);
    assert!(rows[0].starts_with("▸ task: "), "{rows:#?}");
    assert!(rows[1].starts_with("── turn 1"), "{rows:#?}");
    assert_eq!(app.run_ui.cursor, 0);
}

#[test]
fn a_page_down_in_a_200_thread_tree_leaves_no_half_empty_transcript() {
    // 200 threads; each worker writes two lines and finishes.
    let mut events = crate::bench::synthetic_session(200, 80);
    for i in 2..=200 {
        for kind in [
            EventKind::Text {
                text: format!("Sector {i}: surveyed.\nNo hazards found."),
            },
            EventKind::AgentFinished {
                status: lucid_core::event::AgentStatus::Done,
                turns: 1,
                answer: Some(format!("sector {i} clear")),
            },
        ] {
            let last = events.last().unwrap().clone();
            events.push(Event {
                seq: last.seq + 1,
                at_ms: last.at_ms + 1,
                agent: Some(AgentId(i)),
                kind,
                ..last
            });
        }
    }
    let mut app = live_app(&events);
    app.pane = Pane::Transcript;
    press(&mut app, KeyCode::Char('G'));
    screen(&app, 120, 30);
    app.pane = Pane::Tree;
    let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
    update(&mut app, Action::Key(ctrl_d));
    let rows = transcript_rows(&app, 120, 30);
    let filled = rows.iter().filter(|r| !r.is_empty()).count();
    let entries = app.run.transcripts[&app.run_ui.selected.unwrap()]
        .entries
        .len();
    assert!(
        filled >= entries.min(rows.len()),
        "{filled} of {} rows for {entries} entries: {rows:#?}",
        rows.len()
    );
    assert!(!rows[0].starts_with("■"), "{rows:#?}");
}

#[test]
fn a_resize_never_leaves_the_pane_half_empty_with_rows_hidden_above() {
    let mut app = live_app(&recorded());
    app.pane = Pane::Transcript;
    press(&mut app, KeyCode::Char('G'));
    // Small first: the scroll goes far down; then a tall, wide terminal.
    screen(&app, 80, 20);
    let rows = transcript_rows(&app, 200, 60);
    let first = app.run_ui.transcript_scroll.get();
    let trailing_empty = rows.iter().rev().take_while(|r| r.is_empty()).count();
    assert!(
        first == 0 || trailing_empty == 0,
        "scrolled {first} rows down with {trailing_empty} empty rows below: {rows:#?}"
    );
}

#[test]
fn every_thread_starts_with_what_it_was_told() {
    let mut app = live_app(&long_session());
    let lead = &app.run.transcripts[&LEAD].entries[0];
    assert!(
        matches!(
            lead,
            Entry::Prompt {
                system: Some(_),
                ..
            }
        ),
        "{lead:?}"
    );
    on_entry(&mut app, 0);
    let folded = screen(&app, 110, 24);
    assert!(
        folded.contains("▸ system prompt (4 lines) and task: Land the probe on the"),
        "{folded}"
    );
    press(&mut app, KeyCode::Enter);
    let open = screen(&app, 110, 24);
    assert!(open.contains("PROMPT-END"), "{open}");
    assert!(open.contains("Playbook: ejecta sites"), "{open}");
    insta::assert_snapshot!("prompt_entry", open);
    // A specialist's task is its delegated subtask; a session recorded before the system
    // prompt was kept says so.
    let child = &app.run.transcripts[&CHILD].entries[0];
    let Entry::Prompt { system, task, .. } = child else {
        panic!("{child:?}");
    };
    assert!(system.is_none());
    assert!(task.concat().contains("SUBTASK-END."));
    let old = live_app(&recorded());
    let lead = old.run.view.roots[0];
    let Entry::Prompt { system, task, .. } = &old.run.transcripts[&lead].entries[0] else {
        panic!("no prompt entry");
    };
    assert!(system.is_none());
    assert!(!task.is_empty(), "the session's task stands in");
}

#[test]
fn a_long_system_prompt_is_recorded_bounded() {
    let long = "é".repeat(lucid_core::event::MAX_BRIEF);
    let EventKind::AgentBriefed { system, cut } = EventKind::briefed(&long) else {
        panic!("not a brief");
    };
    assert!(system.len() <= lucid_core::event::MAX_BRIEF);
    assert_eq!(system.len() as u64 + cut, long.len() as u64);
}

/// A follow-up the lead sends a finished thread shows in that thread's transcript as
/// its own entry; the thread's first entry keeps the task it was first given.
#[test]
fn a_follow_up_shows_in_the_thread_it_continues() {
    let mut events = long_session();
    let last = events.last().unwrap().clone();
    let mut push = |agent: Option<AgentId>, kind: EventKind| {
        let seq = events.len() as u64;
        events.push(Event {
            seq,
            at_ms: last.at_ms + seq,
            agent,
            kind,
            ..last.clone()
        });
    };
    push(
        Some(LEAD),
        EventKind::Delegated {
            call_id: "c9".into(),
            child: CHILD,
            specialist: "detector".into(),
            subtask: "FOLLOW-UP: check site C again with a low pass.".into(),
            purpose: "Re-check site C".into(),
            follow_up: true,
        },
    );
    push(
        Some(CHILD),
        EventKind::FollowUp {
            message: "FOLLOW-UP: check site C again with a low pass.".into(),
            iteration: 1,
        },
    );
    let app = live_app(&events);
    let entries = &app.run.transcripts[&CHILD].entries;
    let Entry::Prompt { task, .. } = &entries[0] else {
        panic!("{:?}", entries[0]);
    };
    assert!(task.concat().contains("SUBTASK-END."), "{task:?}");
    assert!(
        matches!(entries.last(), Some(Entry::FollowUp(m)) if m.concat().contains("FOLLOW-UP: check site C")),
        "{entries:?}"
    );
}
