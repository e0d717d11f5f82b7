use serde_json::json;

use super::*;
use crate::event::{Event, EventKind, SessionId};

/// Builds a stream: each call appends the next event.
struct Stream {
    session: SessionId,
    events: Vec<Event>,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            session: SessionId::generate(),
            events: Vec::new(),
        }
    }

    fn push(&mut self, agent: Option<u32>, kind: EventKind) -> &mut Stream {
        let seq = self.events.len() as u64;
        self.events.push(Event {
            session: self.session,
            seq,
            at_ms: 1_000 + seq * 10,
            agent: agent.map(AgentId),
            kind,
        });
        self
    }

    fn view(&self) -> Projection {
        Projection::of(&self.events)
    }
}

fn started() -> EventKind {
    EventKind::SessionStarted {
        team: "t".into(),
        spec_path: "s.toml".into(),
        task: "do it".into(),
        environment: "lumara".into(),
        seed: 7,
        world: 2,
        max_iterations: 3,
    }
}

fn spawned(name: &str, parent: Option<u32>) -> EventKind {
    EventKind::AgentSpawned {
        name: name.into(),
        role: name.into(),
        parent: parent.map(AgentId),
        model: "scripted".into(),
        purpose: None,
        iteration: 1,
    }
}

fn judged(iteration: u32, criterion: &str, passed: bool) -> EventKind {
    EventKind::CriterionJudged {
        iteration,
        criterion: criterion.into(),
        passed,
        reason: format!("{criterion} reason"),
        fix: if passed {
            String::new()
        } else {
            "fix it".into()
        },
        judged: true,
    }
}

#[test]
fn a_thread_moves_through_its_phases_and_counts_its_work() {
    let mut stream = Stream::new();
    stream
        .push(None, started())
        .push(Some(1), spawned("lead", None))
        .push(Some(2), spawned("scout", Some(1)));
    assert_eq!(
        stream.view().agents[&AgentId(1)].phase,
        ThreadPhase::Pending
    );
    stream.push(
        Some(1),
        EventKind::ModelTurn {
            turn: 1,
            tokens_in: 100,
            tokens_out: 20,
            stop: "tool_use".into(),
            cost_usd: Some(0.5),
            tool_calls: None,
        },
    );
    assert_eq!(
        stream.view().agents[&AgentId(1)].phase,
        ThreadPhase::Thinking
    );
    stream.push(
        Some(1),
        EventKind::ToolCalled {
            call_id: "c1".into(),
            tool: "delegate".into(),
            input: json!({}),
        },
    );
    assert_eq!(
        stream.view().agents[&AgentId(1)].phase,
        ThreadPhase::CallingTool
    );
    stream.push(
        Some(1),
        EventKind::Delegated {
            call_id: "c1".into(),
            child: AgentId(2),
            specialist: "scout".into(),
            subtask: "look".into(),
            purpose: "see".into(),
            follow_up: false,
        },
    );
    assert_eq!(
        stream.view().agents[&AgentId(1)].phase,
        ThreadPhase::Waiting
    );
    stream
        .push(
            Some(1),
            EventKind::ToolReturned {
                call_id: "c1".into(),
                tool: "delegate".into(),
                output: "seen".into(),
                is_error: false,
            },
        )
        .push(
            Some(1),
            EventKind::AgentFinished {
                status: AgentStatus::Done,
                turns: 2,
                answer: None,
            },
        );
    let view = stream.view();
    let lead = &view.agents[&AgentId(1)];
    assert_eq!(lead.phase, ThreadPhase::Done);
    assert_eq!((lead.turns, lead.last_turn, lead.tool_calls), (1, 2, 1));
    assert_eq!((lead.tokens_in, lead.tokens_out), (100, 20));
    assert_eq!(lead.children, vec![AgentId(2)]);
    assert_eq!(view.agents[&AgentId(2)].depth, 1);
    assert_eq!(view.tree_order(), vec![(AgentId(1), 0), (AgentId(2), 1)]);
    assert_eq!(view.cost_usd, Some(0.5));
    assert_eq!(view.standing(true), Standing::Running);
    assert_eq!(view.standing(false), Standing::Interrupted);
}

#[test]
fn a_grading_cut_off_by_a_kill_is_judged_again_from_the_start() {
    let mut stream = Stream::new();
    stream
        .push(None, started())
        .push(None, EventKind::GradingStarted { iteration: 1 })
        .push(None, judged(1, "landed", false))
        .push(
            None,
            EventKind::SessionResumed {
                iteration: 1,
                lead_turns: 2,
                replayed_calls: 0,
                reused_agents: 0,
                continued_agents: 0,
            },
        )
        .push(None, EventKind::GradingStarted { iteration: 1 })
        .push(None, judged(1, "landed", true))
        .push(
            None,
            EventKind::GradingFinished {
                iteration: 1,
                passed: true,
                facts: Facts::from_iter([("fuel".to_string(), json!(3))]),
            },
        );
    let view = stream.view();
    assert_eq!(view.resumed, 1);
    let verdicts = view.verdicts();
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].criteria.len(), 1, "{verdicts:?}");
    assert!(verdicts[0].criteria[0].passed);
    assert_eq!(view.gradings[0].graded_at_seq, Some(6));
    assert_eq!(view.facts.get("fuel"), Some(&json!(3)));
    assert!(view.passed());
}

#[test]
fn a_resumed_session_is_running_again_until_it_finishes() {
    let mut stream = Stream::new();
    stream.push(None, started()).push(
        None,
        EventKind::SessionFinished {
            passed: false,
            iterations: 1,
            duration_ms: 5,
            error: Some("the model went away".into()),
            cancelled: false,
        },
    );
    assert_eq!(stream.view().standing(false), Standing::Error);
    assert_eq!(stream.view().error(), Some("the model went away"));
    stream.push(
        None,
        EventKind::SessionResumed {
            iteration: 1,
            lead_turns: 0,
            replayed_calls: 0,
            reused_agents: 0,
            continued_agents: 0,
        },
    );
    assert_eq!(stream.view().standing(true), Standing::Running);
    assert_eq!(stream.view().error(), None);
    stream.push(
        None,
        EventKind::SessionFinished {
            passed: true,
            iterations: 1,
            duration_ms: 9,
            error: None,
            cancelled: false,
        },
    );
    let view = stream.view();
    assert_eq!(view.standing(false), Standing::Passed);
    assert_eq!(view.duration_ms(), 9);
    // A cancelled run reads as cancelled, not as an error.
    stream.push(
        None,
        EventKind::SessionResumed {
            iteration: 1,
            lead_turns: 0,
            replayed_calls: 0,
            reused_agents: 0,
            continued_agents: 0,
        },
    );
    stream.push(
        None,
        EventKind::SessionFinished {
            passed: false,
            iterations: 0,
            duration_ms: 3,
            error: Some("the run was cancelled".into()),
            cancelled: true,
        },
    );
    assert_eq!(stream.view().standing(false), Standing::Cancelled);
}

#[test]
fn text_from_outside_is_sanitized_on_the_way_in() {
    let mut stream = Stream::new();
    stream
        .push(None, started())
        .push(Some(1), spawned("lead\u{1b}[31m\u{7}", None))
        .push(None, EventKind::GradingStarted { iteration: 1 })
        .push(
            None,
            EventKind::CriterionJudged {
                iteration: 1,
                criterion: "ok".into(),
                passed: false,
                reason: "bad\u{1b}]0;title\u{7} news".into(),
                fix: "\u{9b}2Jfix".into(),
                judged: true,
            },
        );
    let view = stream.view();
    assert_eq!(view.agents[&AgentId(1)].name, "lead");
    let criterion = &view.gradings[0].criteria[0];
    assert_eq!(criterion.reason, "bad news");
    assert_eq!(criterion.fix, "2Jfix");
}

#[test]
fn every_reader_sees_the_recorded_session_alike() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/lumara_events.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let events: Vec<Event> = serde_json::from_str(&text).unwrap();
    let view = Projection::of(&events);
    let finish = view.finish.clone().unwrap();
    let graded = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::GradingFinished { .. }))
        .count();
    assert_eq!(view.verdicts().len(), graded);
    assert_eq!(finish.iterations as usize, graded);
    let lead = &view.agents[&view.roots[0]];
    assert_eq!(lead.name, "commander");
    assert!(lead.children.len() >= 3, "{:?}", lead.children);
    assert!(view.agents.values().all(|a| a.phase.is_finished()));
    let report = crate::run::report::SessionReport::of(&view, false);
    assert_eq!(report.outcome.iterations.len(), graded);
    assert_eq!(report.agents.len(), view.agents.len());
    assert_eq!(report.outcome.passed, finish.passed);
}

#[test]
fn a_thread_whose_answer_streams_in_reads_as_streaming_until_the_turn_or_a_retry() {
    let mut stream = Stream::new();
    stream
        .push(None, started())
        .push(Some(1), spawned("lead", None));
    let counted = stream.view().events;
    let delta = EventKind::TextDelta {
        turn: 1,
        at: 0,
        text: "Surveying".into(),
    };
    stream.push(Some(1), delta.clone());
    let view = stream.view();
    assert_eq!(view.agents[&AgentId(1)].phase, ThreadPhase::Streaming);
    assert_eq!(view.events, counted, "a live-only event is not counted");
    stream.push(
        Some(1),
        EventKind::Retry {
            attempt: 1,
            reason: "cut".into(),
            delay_ms: 5,
        },
    );
    assert_eq!(
        stream.view().agents[&AgentId(1)].phase,
        ThreadPhase::Thinking
    );
    stream.push(Some(1), delta).push(
        Some(1),
        EventKind::ModelTurn {
            turn: 1,
            tokens_in: 10,
            tokens_out: 2,
            stop: "end_turn".into(),
            cost_usd: None,
            tool_calls: Some(0),
        },
    );
    assert_eq!(
        stream.view().agents[&AgentId(1)].phase,
        ThreadPhase::Thinking
    );
}
