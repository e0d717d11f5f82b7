use serde_json::json;

use super::*;
use crate::event::{EventKind, SessionId};

/// Builds a session's events, agent by agent.
struct Script {
    session: SessionId,
    events: Vec<Event>,
}

impl Script {
    fn new() -> Script {
        Script {
            session: SessionId::generate(),
            events: Vec::new(),
        }
    }

    fn at(&mut self, agent: u32, kind: EventKind) -> &mut Self {
        let seq = self.events.len() as u64;
        self.events.push(Event {
            session: self.session,
            seq,
            at_ms: seq,
            agent: (agent > 0).then_some(AgentId(agent)),
            kind,
        });
        self
    }

    fn spawn(&mut self, agent: u32, parent: Option<u32>) -> &mut Self {
        self.at(
            agent,
            EventKind::AgentSpawned {
                name: if parent.is_some() { "worker" } else { "lead" }.into(),
                role: "r".into(),
                parent: parent.map(AgentId),
                model: "m".into(),
                purpose: None,
                iteration: 1,
            },
        )
    }

    fn turn(&mut self, agent: u32, calls: u32) -> &mut Self {
        self.at(
            agent,
            EventKind::ModelTurn {
                turn: 1,
                tokens_in: 1,
                tokens_out: 1,
                stop: "tool_use".into(),
                cost_usd: None,
                tool_calls: Some(calls),
            },
        )
    }

    fn call(&mut self, agent: u32, id: &str, tool: &str) -> &mut Self {
        self.at(
            agent,
            EventKind::ToolCalled {
                call_id: id.into(),
                tool: tool.into(),
                input: json!({"id": id}),
            },
        )
    }

    fn returned(&mut self, agent: u32, id: &str, tool: &str) -> &mut Self {
        self.at(
            agent,
            EventKind::ToolReturned {
                call_id: id.into(),
                tool: tool.into(),
                output: format!("{id} done"),
                is_error: false,
            },
        )
    }

    fn delegate(&mut self, parent: u32, id: &str, child: u32) -> &mut Self {
        self.call(parent, id, DELEGATE_TOOL)
            .at(
                parent,
                EventKind::Delegated {
                    call_id: id.into(),
                    child: AgentId(child),
                    specialist: "worker".into(),
                    subtask: format!("subtask {child}"),
                    purpose: "p".into(),
                    follow_up: false,
                },
            )
            .spawn(child, Some(parent))
    }

    fn answer(&mut self, agent: u32, text: &str) -> &mut Self {
        self.turn(agent, 0)
            .at(agent, EventKind::Text { text: text.into() })
    }

    fn finish(&mut self, agent: u32, text: &str) -> &mut Self {
        self.at(
            agent,
            EventKind::AgentFinished {
                status: AgentStatus::Done,
                turns: 2,
                answer: Some(text.into()),
            },
        )
    }

    fn point(&self) -> ResumePoint {
        resume_point(&self.events, Message::user_text("task"))
    }
}

fn child(call: &StepCall) -> &ThreadResume {
    call.child.as_ref().expect("a specialist on record")
}

#[test]
fn a_cut_fan_out_reuses_finished_specialists_and_continues_the_others() {
    let mut s = Script::new();
    s.spawn(1, None)
        .turn(1, 4)
        .delegate(1, "d2", 2)
        .delegate(1, "d3", 3)
        .delegate(1, "d4", 4)
        .call(1, "e1", "survey");
    s.returned(1, "e1", "survey");
    // 2 finished (its answer never reached the lead); 3 answered, its finish is not on
    // record; 4 is mid-way: one whole step, then a call out.
    s.turn(2, 1).call(2, "a", "read").returned(2, "a", "read");
    s.answer(2, "two").finish(2, "two");
    s.turn(3, 1).call(3, "b", "read").returned(3, "b", "read");
    s.answer(3, "three");
    s.turn(4, 1).call(4, "c", "read").returned(4, "c", "read");
    s.turn(4, 2).call(4, "d", "read").call(4, "e", "write");
    s.returned(4, "d", "read");

    let point = s.point();
    assert_eq!(point.lead_turns, 1);
    assert_eq!(point.lead_answer, None);
    assert_eq!(point.turns_taken, 7);
    assert_eq!((point.reused_agents, point.continued_agents), (2, 1));
    assert!(point.abandoned.is_empty());
    // The lead's context ends with its open turn; its step's calls keep what returned.
    let last = point.lead_conversation.last().unwrap();
    assert_eq!(last.role, Role::Assistant);
    let step = &point.lead_step;
    assert_eq!(step.len(), 4);
    assert_eq!(step[3].result, Some(("e1 done".into(), false)));
    assert!(step[3].child.is_none());
    match &child(&step[0]).state {
        ThreadState::Finished {
            answer, recorded, ..
        } => assert_eq!((answer.as_deref(), *recorded), (Some("two"), true)),
        other => panic!("{other:?}"),
    }
    match &child(&step[1]).state {
        ThreadState::Finished {
            answer,
            recorded,
            turns,
            ..
        } => assert_eq!(
            (answer.as_deref(), *recorded, *turns),
            (Some("three"), false, 2)
        ),
        other => panic!("{other:?}"),
    }
    match &child(&step[2]).state {
        ThreadState::Unfinished {
            messages,
            turns,
            step,
            ..
        } => {
            assert_eq!(*turns, 2);
            // subtask, turn 1, its results, turn 2 (open)
            assert_eq!(messages.len(), 4);
            assert_eq!(messages[0].text(), "subtask 4");
            let results: Vec<bool> = step.iter().map(|c| c.result.is_some()).collect();
            assert_eq!(results, [true, false]);
        }
        other => panic!("{other:?}"),
    }
    // Every environment call that returned is replayed, in the order it ran.
    let replayed: Vec<&str> = point
        .replay
        .iter()
        .map(|(_, input)| input["id"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, ["e1", "a", "b", "c", "d"]);
}

#[test]
fn a_turn_whose_calls_are_not_all_on_record_runs_again() {
    let mut s = Script::new();
    s.spawn(1, None)
        .turn(1, 1)
        .call(1, "e1", "survey")
        .returned(1, "e1", "survey");
    // The kill cut the record of the next turn after its first of three calls.
    s.turn(1, 3).delegate(1, "d2", 2);
    s.turn(2, 1).call(2, "a", "read");
    let point = s.point();
    assert_eq!(point.lead_turns, 1, "the cut turn is not kept");
    assert!(point.lead_step.is_empty());
    assert_eq!(point.lead_conversation.len(), 3);
    // Its specialist is not continued: it is recorded as cancelled.
    assert_eq!(point.abandoned, [(AgentId(2), 1)]);
    assert_eq!(point.replay.len(), 1);
    assert_eq!(point.next_agent, 3);
}

#[test]
fn a_lead_whose_spawn_was_lost_is_spawned_again() {
    let mut s = Script::new();
    s.turn(1, 0).at(1, EventKind::Text { text: "x".into() });
    let point = s.point();
    assert!(!point.lead_spawned);
    assert_eq!(point.lead_answer.as_deref(), Some("x"));
    assert!(point.lead_finish_missing);
    let mut s = Script::new();
    s.spawn(1, None).answer(1, "done").finish(1, "done");
    let point = s.point();
    assert!(point.lead_spawned && !point.lead_finish_missing);
}

#[test]
fn a_specialist_cancelled_with_the_run_continues() {
    let mut s = Script::new();
    s.spawn(1, None).turn(1, 1).delegate(1, "d2", 2);
    s.turn(2, 1).call(2, "a", "read").returned(2, "a", "read");
    s.turn(2, 1).call(2, "b", "read");
    s.at(
        2,
        EventKind::AgentFinished {
            status: AgentStatus::Cancelled,
            turns: 2,
            answer: None,
        },
    );
    let point = s.point();
    assert_eq!((point.reused_agents, point.continued_agents), (0, 1));
    match &child(&point.lead_step[0]).state {
        ThreadState::Unfinished { turns, step, .. } => {
            assert_eq!(*turns, 2);
            assert_eq!(step.len(), 1);
            assert!(step[0].result.is_none());
        }
        other => panic!("{other:?}"),
    }
}

/// Pass 1: the lead delegates to worker 2 (one environment call `e1`, then an answer);
/// pass 2: the lead follows thread 2 up, which makes the call `e2`.
fn followed_up(answered: bool) -> Script {
    let mut s = Script::new();
    s.spawn(1, None)
        .turn(1, 1)
        .delegate(1, "d2", 2)
        .turn(2, 1)
        .call(2, "e1", "env")
        .returned(2, "e1", "env")
        .answer(2, "first")
        .finish(2, "first")
        .returned(1, "d2", DELEGATE_TOOL)
        .answer(1, "done")
        .finish(1, "done")
        .at(
            0,
            EventKind::GradingFinished {
                iteration: 1,
                passed: false,
                facts: Default::default(),
            },
        )
        .at(
            0,
            EventKind::RevisionStarted {
                iteration: 2,
                feedback: "fix it".into(),
            },
        )
        .turn(1, 1)
        .call(1, "f2", DELEGATE_TOOL)
        .at(
            1,
            EventKind::Delegated {
                call_id: "f2".into(),
                child: AgentId(2),
                specialist: "worker".into(),
                subtask: "again".into(),
                purpose: "p".into(),
                follow_up: true,
            },
        )
        .at(
            2,
            EventKind::FollowUp {
                message: "again".into(),
                iteration: 2,
            },
        )
        .turn(2, 1)
        .call(2, "e2", "env")
        .returned(2, "e2", "env");
    if answered {
        s.answer(2, "second").finish(2, "second");
    }
    s
}

#[test]
fn a_follow_up_cut_by_a_kill_continues_the_thread_with_its_whole_conversation() {
    let point = followed_up(false).point();
    assert_eq!(point.iteration, 2);
    assert_eq!(point.lead_step.len(), 1);
    let thread = child(&point.lead_step[0]);
    assert_eq!(thread.agent, AgentId(2));
    assert!(thread.spawned, "its follow-up is on record");
    match &thread.state {
        ThreadState::Unfinished {
            messages,
            turns,
            segment_turns,
            step,
        } => {
            let texts: Vec<String> = messages.iter().map(Message::text).collect();
            // subtask, call, result, answer, follow-up, call, result
            assert_eq!(messages.len(), 7, "{texts:?}");
            assert_eq!(texts[0], "subtask 2");
            assert_eq!(texts[3], "first");
            assert_eq!(texts[4], "again");
            assert_eq!(messages[4].role, Role::User);
            assert_eq!((*turns, *segment_turns), (3, 1));
            assert!(step.is_empty(), "its next move is a model turn");
        }
        other => panic!("{other:?}"),
    }
    // Only this pass's environment calls are replayed: pass 1's episode is gone.
    let replayed: Vec<&str> = point
        .replay
        .iter()
        .map(|(_, input)| input["id"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, ["e2"]);
    assert!(point.abandoned.is_empty());
    assert_eq!((point.reused_agents, point.continued_agents), (0, 1));
}

#[test]
fn a_follow_up_that_finished_before_the_kill_hands_over_its_answer() {
    let point = followed_up(true).point();
    let thread = child(&point.lead_step[0]);
    match &thread.state {
        ThreadState::Finished {
            answer,
            turns,
            recorded,
            ..
        } => assert_eq!(
            (answer.as_deref(), *turns, *recorded),
            (Some("second"), 4, true)
        ),
        other => panic!("{other:?}"),
    }
    let replayed: Vec<&str> = point
        .replay
        .iter()
        .map(|(_, input)| input["id"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, ["e2"]);
    assert_eq!(point.reused_agents, 1);
}

#[test]
fn a_follow_ups_context_is_the_threads_recorded_conversation() {
    let events = followed_up(true).events;
    let context = thread_context(&events, AgentId(2)).unwrap();
    let texts: Vec<String> = context.messages.iter().map(Message::text).collect();
    assert_eq!(texts.len(), 8, "{texts:?}");
    assert_eq!((texts[4].as_str(), texts[7].as_str()), ("again", "second"));
    assert_eq!(context.turns, 4);
    assert_eq!(context.parent, Some(AgentId(1)));
    assert_eq!(context.specialist, "worker");
    assert!(!context.running);
    // Mid-follow-up, it is at work; the lead is no delegated thread.
    let running = followed_up(false).events;
    assert!(thread_context(&running, AgentId(2)).unwrap().running);
    assert!(thread_context(&running, AgentId(1)).is_none());
}
