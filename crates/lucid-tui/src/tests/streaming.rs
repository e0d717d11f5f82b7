//! A model turn's text streaming into the live view: it grows in the thread's transcript
//! while the tree says `streaming`, a retry drops the void attempt's text, and the whole
//! turn replaces it; nothing from outside reaches the screen raw.

use super::{live_app, screen};
use crate::app::Action;
use crate::run_state::{Entry, ThreadPhase};
use crate::update::update;
use lucid_core::event::{AgentId, Event, EventKind, SessionId};

const LEAD: AgentId = AgentId(1);

/// A live run whose lead has been spawned; `events` are stamped in order (a live-only
/// event carries the next recorded event's number, as the bus does).
struct Live {
    app: crate::app::AppState,
    session: SessionId,
    seq: u64,
}

impl Live {
    fn new() -> Live {
        let mut live = Live {
            app: live_app(&[]),
            session: SessionId(0x0193_0000_0000_0000_0000_0000_0000_0042),
            seq: 0,
        };
        live.send(EventKind::SessionStarted {
            team: "t".into(),
            spec_path: "s.toml".into(),
            task: "land".into(),
            environment: "lumara".into(),
            seed: 1,
            world: 1,
            max_iterations: 1,
        });
        live.send(EventKind::AgentSpawned {
            name: "commander".into(),
            role: "commander".into(),
            parent: None,
            model: "offline".into(),
            purpose: None,
            iteration: 1,
        });
        live
    }

    fn send(&mut self, kind: EventKind) {
        let live_only = kind.is_live_only();
        let agent = !matches!(kind, EventKind::SessionStarted { .. });
        let event = Event {
            session: self.session,
            seq: self.seq,
            at_ms: 1_795_000_000_000 + self.seq,
            agent: agent.then_some(LEAD),
            kind,
        };
        if !live_only {
            self.seq += 1;
        }
        update(&mut self.app, Action::Event(event));
    }

    fn delta(&mut self, turn: u32, at: u64, text: &str) {
        self.send(EventKind::TextDelta {
            turn,
            at,
            text: text.into(),
        });
    }

    fn entries(&self) -> &[Entry] {
        &self.app.run.transcripts[&LEAD].entries
    }

    fn phase(&self) -> ThreadPhase {
        self.app.run.view.agents[&LEAD].phase
    }
}

fn turn(turn: u32) -> EventKind {
    EventKind::ModelTurn {
        turn,
        tokens_in: 100,
        tokens_out: 10,
        stop: "end_turn".into(),
        cost_usd: None,
        tool_calls: Some(0),
    }
}

#[test]
fn text_grows_in_the_transcript_while_the_thread_reads_as_streaming() {
    let mut live = Live::new();
    assert_eq!(live.phase(), ThreadPhase::Pending);
    live.delta(1, 0, "Surveying sites ");
    live.delta(1, 16, "A and B\nfirst");
    assert_eq!(live.phase(), ThreadPhase::Streaming);
    let Some(Entry::Streaming { lines, .. }) = live.entries().last() else {
        panic!("no streaming entry: {:?}", live.entries());
    };
    assert_eq!(lines, &["Surveying sites A and B", "first"]);
    let screen = screen(&live.app, 120, 20);
    assert!(screen.contains("streaming"), "{screen}");
    assert!(screen.contains("Surveying sites A and B"), "{screen}");
    assert!(screen.contains("first▍"), "{screen}");

    // The whole turn replaces the partial text.
    live.send(turn(1));
    live.send(EventKind::Text {
        text: "Surveying sites A and B\nfirst, then C.".into(),
    });
    assert_eq!(live.phase(), ThreadPhase::Thinking);
    let texts: Vec<&Entry> = live
        .entries()
        .iter()
        .filter(|e| matches!(e, Entry::Text(_) | Entry::Streaming { .. }))
        .collect();
    assert_eq!(
        texts,
        vec![&Entry::Text(vec![
            "Surveying sites A and B".into(),
            "first, then C.".into()
        ])]
    );
    let folded: usize = live.entries().iter().map(|e| e.height(false)).sum();
    assert_eq!(live.app.run.transcripts[&LEAD].folded_lines, folded);
}

#[test]
fn a_retry_drops_the_void_attempts_text() {
    let mut live = Live::new();
    live.delta(1, 0, "half an ans");
    live.send(EventKind::Retry {
        attempt: 1,
        reason: "the stream was cut".into(),
        delay_ms: 5,
    });
    assert!(
        !live
            .entries()
            .iter()
            .any(|e| matches!(e, Entry::Streaming { .. })),
        "{:?}",
        live.entries()
    );
    live.delta(1, 0, "A whole");
    let Some(Entry::Streaming { lines, .. }) = live.entries().last() else {
        panic!("no streaming entry");
    };
    assert_eq!(lines, &["A whole"]);
    let screen = screen(&live.app, 120, 20);
    assert!(!screen.contains("half an ans"), "{screen}");
}

#[test]
fn streamed_text_is_cleaned_bounded_and_a_piece_that_does_not_fit_is_ignored() {
    let mut live = Live::new();
    // A control sequence cut across two pieces never reaches the screen.
    live.delta(1, 0, "ok \u{1b}]0;pwn");
    live.delta(1, 10, "ed\u{7} \u{1b}[31mred");
    let Some(Entry::Streaming { lines, .. }) = live.entries().last() else {
        panic!("no streaming entry");
    };
    assert_eq!(lines, &["ok  red"]);
    // Rewritten from byte 3 (a secret recognised late, say).
    live.delta(1, 3, "fine");
    // Past the end: not what this view has; ignored.
    live.delta(1, 999, "lost");
    let Some(Entry::Streaming { lines, text, .. }) = live.entries().last() else {
        panic!("no streaming entry");
    };
    assert_eq!(lines, &["ok fine"]);
    assert_eq!(text, "ok fine");
    for _ in 0..40 {
        let at = match live.entries().last() {
            Some(Entry::Streaming { text, .. }) => text.len() as u64,
            _ => 0,
        };
        live.delta(1, at, &"x".repeat(1000));
    }
    let Some(Entry::Streaming { text, .. }) = live.entries().last() else {
        panic!("no streaming entry");
    };
    assert_eq!(text.len(), lucid_core::event::MAX_LIVE_TEXT);
    let screen = screen(&live.app, 120, 20);
    assert!(
        !screen.contains('\u{1b}') && !screen.contains("pwned"),
        "{screen}"
    );
}
