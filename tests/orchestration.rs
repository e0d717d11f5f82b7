//! The core loop on a small recording environment: delegation, isolation of contexts,
//! parallelism, the grader's view, the revise loop and its limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::sync::{Arc, Mutex};

use lucid_core::event::{AgentId, Event, EventBus, EventKind, EventSink, SessionId, SinkError};
use lucid_core::outcome::{run_session, SessionOrigin, SessionResult};
use lucid_core::run::{CancelToken, TeamRun};
use support::{
    request_text, workshop_toml, Recorder, Workshop, LEAD_SECRET, LEAD_THOUGHT, WORKER_THOUGHT,
};

#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn append(&self, event: &Event) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

async fn run(toml: &str) -> (SessionResult, Vec<Event>, Recorder) {
    let (result, events, recorder) = run_result(toml).await;
    (result.unwrap(), events, recorder)
}

const NOTES_AT_LEAST_TWO: &str = r#"
[[outcome.criteria]]
id = "two_notes"
description = "At least two notes."
check = "notes >= 2"
"#;

/// Fails the first attempt (two notes), passes the revision (three).
const NOTES_AT_LEAST_THREE: &str = r#"
[[outcome.criteria]]
id = "three_notes"
description = "At least three notes."
check = "notes >= 3"
"#;

#[tokio::test]
async fn delegation_spawns_children_with_parent_and_purpose() {
    let (result, events, _) = run(&workshop_toml(NOTES_AT_LEAST_TWO, 1, 0)).await;
    assert!(result.passed);
    let spawned: Vec<(AgentId, Option<AgentId>, Option<String>, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentSpawned {
                parent,
                purpose,
                name,
                ..
            } => Some((e.agent.unwrap(), *parent, purpose.clone(), name.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(spawned.len(), 3);
    assert_eq!(spawned[0], (AgentId(1), None, None, "lead".into()));
    let mut children: Vec<_> = spawned[1..].to_vec();
    children.sort();
    assert_eq!(
        children[0],
        (
            AgentId(2),
            Some(AgentId(1)),
            Some("note 0".into()),
            "worker".into()
        )
    );
    assert_eq!(
        children[1],
        (
            AgentId(3),
            Some(AgentId(1)),
            Some("note 1".into()),
            "worker".into()
        )
    );
    // Each delegation is recorded on the parent with the child it made.
    let delegated = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Delegated { .. }) && e.agent == Some(AgentId(1)))
        .count();
    assert_eq!(delegated, 2);
    // Sequence numbers have no gaps.
    assert!(events.iter().enumerate().all(|(i, e)| e.seq == i as u64));
}

#[tokio::test]
async fn only_the_final_answer_returns_and_children_never_see_the_parents_context() {
    let (_, _, recorder) = run(&workshop_toml(NOTES_AT_LEAST_TWO, 1, 0)).await;
    let worker_requests = recorder.requests("worker");
    assert!(!worker_requests.is_empty());
    for request in &worker_requests {
        let text = request_text(request);
        assert!(
            !text.contains(LEAD_SECRET),
            "a worker saw the lead's context: {text}"
        );
        assert!(
            !text.contains(LEAD_THOUGHT),
            "a worker saw the lead's reasoning"
        );
        assert!(
            request.messages[0].text().starts_with("write note"),
            "fresh context starts with the subtask"
        );
    }
    // The lead sees the workers' final answers, not their intermediate reasoning.
    let lead_requests = recorder.requests("lead");
    let last = request_text(lead_requests.last().unwrap());
    assert!(last.contains("finished noted: write note"));
    assert!(!last.contains(WORKER_THOUGHT));
}

#[tokio::test]
async fn two_delegations_in_one_turn_overlap_in_time() {
    let (_, events, _) = run(&workshop_toml(NOTES_AT_LEAST_TWO, 1, 40)).await;
    let position = |pred: &dyn Fn(&Event) -> bool| events.iter().position(pred).unwrap();
    let spawned = |id: u32| {
        position(&|e: &Event| {
            e.agent == Some(AgentId(id)) && matches!(e.kind, EventKind::AgentSpawned { .. })
        })
    };
    let finished = |id: u32| {
        position(&|e: &Event| {
            e.agent == Some(AgentId(id)) && matches!(e.kind, EventKind::AgentFinished { .. })
        })
    };
    // Both workers started before either finished: they ran at the same time.
    assert!(spawned(2) < finished(3) && spawned(3) < finished(2));
    let first_finish = finished(2).min(finished(3));
    let turns_before: usize = events[..first_finish]
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ModelTurn { .. }) && e.agent != Some(AgentId(1)))
        .count();
    assert!(
        turns_before >= 2,
        "both workers took a model turn before either finished"
    );
}

#[tokio::test]
async fn the_grader_sees_only_task_rubric_output_and_facts() {
    let criteria = r#"
[[outcome.criteria]]
id = "reports_done"
description = "The output says the work is done."
"#;
    let (result, events, recorder) = run(&workshop_toml(criteria, 1, 0)).await;
    assert!(
        result.passed,
        "the scripted grader passes an output that says All done"
    );
    let grader_requests = recorder.requests("grader");
    assert_eq!(grader_requests.len(), 1);
    let request = &grader_requests[0];
    assert_eq!(request.messages.len(), 1, "a fresh context: one message");
    let text = request_text(request);
    for needed in [
        "Write notes.",
        "reports_done: The output says the work is done.",
        "All done.",
        "\"notes\": 2",
    ] {
        assert!(
            text.contains(needed),
            "grader context lacks {needed:?}: {text}"
        );
    }
    for private in [
        WORKER_THOUGHT,
        LEAD_THOUGHT,
        LEAD_SECRET,
        "You lead.",
        "You write notes.",
    ] {
        assert!(!text.contains(private), "grader saw {private:?}");
    }
    let judged = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::CriterionJudged {
                criterion,
                passed,
                reason,
                ..
            } => Some((criterion.clone(), *passed, reason.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        judged,
        (
            "reports_done".into(),
            true,
            "the output says whether it is done".into()
        )
    );
}

#[tokio::test]
async fn the_team_revises_with_feedback_until_the_rubric_is_met() {
    let (result, events, recorder) = run(&workshop_toml(NOTES_AT_LEAST_THREE, 3, 0)).await;
    assert!(result.passed);
    assert_eq!(
        result.verdicts.len(),
        2,
        "fails once with two notes, passes with three"
    );
    assert!(!result.verdicts[0].passed());
    let feedback: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RevisionStarted { feedback, .. } => Some(feedback.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(feedback.len(), 1);
    assert!(feedback[0].contains("- three_notes: "), "{}", feedback[0]);
    assert!(
        feedback[0].contains("must change: notes must be at least 3 (it was 2)"),
        "{}",
        feedback[0]
    );
    // The lead's conversation carried the feedback into its next pass.
    let lead = recorder.requests("lead");
    assert!(request_text(lead.last().unwrap()).contains("Grader feedback (iteration 1 of 3)"));
}

#[tokio::test]
async fn threads_of_a_kind_share_one_toolkit_per_attempt_and_a_revision_gets_its_own() {
    let (result, _, recorder) = run(&workshop_toml(NOTES_AT_LEAST_THREE, 3, 0)).await;
    // Two workers note into the first attempt's episode, three into the second's: the
    // second attempt's tools reach its own episode, or its facts would show no notes.
    assert!(result.passed);
    assert_eq!(result.verdicts.len(), 2);
    let workers = recorder.requests("worker");
    assert_eq!(workers.len(), 10, "five workers, two turns each");
    let mut toolkits: Vec<Arc<[lucid_core::tool::ToolSpec]>> = Vec::new();
    for request in &workers {
        assert_eq!(request.tools.len(), 1);
        assert_eq!(request.tools[0].name, "note");
        if !toolkits
            .iter()
            .any(|seen| Arc::ptr_eq(seen, &request.tools))
        {
            toolkits.push(Arc::clone(&request.tools));
        }
    }
    assert_eq!(
        toolkits.len(),
        2,
        "one shared declaration list for the workers of each attempt"
    );
}

#[tokio::test]
async fn the_revise_loop_stops_at_the_iteration_limit() {
    let criteria = r#"
[[outcome.criteria]]
id = "impossible"
description = "A hundred notes."
check = "notes >= 100"
"#;
    let (result, events, _) = run(&workshop_toml(criteria, 2, 0)).await;
    assert!(!result.passed);
    assert_eq!(result.verdicts.len(), 2);
    let revisions = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::RevisionStarted { .. }))
        .count();
    assert_eq!(revisions, 1);
    match &events.last().unwrap().kind {
        EventKind::SessionFinished {
            passed,
            iterations,
            error,
            ..
        } => assert_eq!((*passed, *iterations, error.clone()), (false, 2, None)),
        other => panic!("last event is {other:?}"),
    }
}

#[tokio::test]
async fn cancellation_reaches_every_thread() {
    let spec = support::spec(&workshop_toml(NOTES_AT_LEAST_TWO, 1, 5_000));
    let env = Arc::new(Workshop {
        recorder: Recorder::default(),
    });
    let sink = Arc::new(Collect::default());
    let bus = Arc::new(EventBus::new(SessionId::generate(), sink.clone()));
    let cancel = CancelToken::new();
    let team = TeamRun::new(Arc::new(spec), env, bus, &[], cancel.clone()).unwrap();
    let origin = SessionOrigin {
        spec_path: "workshop.toml".into(),
        seed: 1,
        world: 1,
    };
    let handle = tokio::spawn(run_session(team, origin));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    cancel.cancel();
    let result = tokio::time::timeout(std::time::Duration::from_secs(3), handle)
        .await
        .expect("cancellation ends the run promptly")
        .unwrap();
    assert_eq!(result.unwrap_err(), lucid_core::run::RunError::Cancelled);
    let events = sink.0.lock().unwrap().clone();
    let cancelled = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::AgentFinished {
                    status: lucid_core::event::AgentStatus::Cancelled,
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        cancelled, 3,
        "both slow workers and the lead were cancelled"
    );
    match &events.last().unwrap().kind {
        EventKind::SessionFinished { error, .. } => {
            assert_eq!(error.as_deref(), Some("the run was cancelled"))
        }
        other => panic!("last event is {other:?}"),
    }
}

/// The workshop team with `limits` appended and `worker_extra` added to the worker.
fn workshop_with(limits: &str, worker_extra: &str, lead_extra: &str, latency: u64) -> String {
    support::workshop_toml(NOTES_AT_LEAST_TWO, 1, latency)
        .replace(
            "prompt = \"You write notes.\"",
            &format!("prompt = \"You write notes.\"\n{worker_extra}"),
        )
        .replace(
            "prompt = \"You lead.\"",
            &format!("prompt = \"You lead.\"\n{lead_extra}"),
        )
        + limits
}

async fn run_result(
    toml: &str,
) -> (
    Result<SessionResult, lucid_core::run::RunError>,
    Vec<Event>,
    Recorder,
) {
    let spec = support::spec(toml);
    let recorder = Recorder::default();
    let env = Arc::new(Workshop {
        recorder: recorder.clone(),
    });
    let sink = Arc::new(Collect::default());
    let bus = Arc::new(EventBus::new(SessionId::generate(), sink.clone()));
    let team = TeamRun::new(Arc::new(spec), env, bus, &[], CancelToken::new()).unwrap();
    let origin = SessionOrigin {
        spec_path: "workshop.toml".into(),
        seed: 1,
        world: 1,
    };
    let result = run_session(team, origin).await;
    let events = sink.0.lock().unwrap().clone();
    (result, events, recorder)
}

#[tokio::test]
async fn max_parallel_bounds_how_many_specialists_work_at_once() {
    let (result, events, _) =
        run_result(&workshop_with("\n[limits]\nmax_parallel = 1\n", "", "", 30)).await;
    assert!(result.unwrap().passed);
    // With one slot, the second worker's first model turn comes after the first
    // worker finished.
    let first_turn = |id: u32| {
        events
            .iter()
            .position(|e| {
                e.agent == Some(AgentId(id)) && matches!(e.kind, EventKind::ModelTurn { .. })
            })
            .unwrap()
    };
    let finished = |id: u32| {
        events
            .iter()
            .position(|e| {
                e.agent == Some(AgentId(id)) && matches!(e.kind, EventKind::AgentFinished { .. })
            })
            .unwrap()
    };
    let (a, b) = if first_turn(2) < first_turn(3) {
        (2, 3)
    } else {
        (3, 2)
    };
    assert!(
        finished(a) < first_turn(b),
        "the workers overlapped despite max_parallel = 1"
    );
}

#[tokio::test]
async fn the_session_turn_budget_stops_every_thread_and_the_revisions() {
    let toml = workshop_with("\n[limits]\nmax_total_turns = 2\n", "", "", 0)
        .replace("max_iterations = 1", "max_iterations = 3");
    let (result, events, _) = run_result(&toml).await;
    let result = result.expect("a spent budget is an outcome, not a runtime failure");
    assert!(!result.passed);
    assert_eq!(
        result.verdicts.len(),
        1,
        "no revision starts once the budget is spent"
    );
    let reason = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Error { message } if message.contains("max_total_turns") => {
                Some(message.clone())
            }
            _ => None,
        })
        .expect("the reason is recorded");
    assert!(reason.contains("budget of 2 model turns"), "{reason}");
    let turns = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ModelTurn { .. }))
        .count();
    assert_eq!(turns, 2, "no model turn beyond the budget");
    let called = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ToolCalled { .. }))
        .count();
    let returned = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ToolReturned { .. }))
        .count();
    assert_eq!(called, returned, "every call made still gets its answer");
    match &events.last().unwrap().kind {
        EventKind::SessionFinished { passed, error, .. } => {
            assert_eq!((*passed, error.clone()), (false, None))
        }
        other => panic!("last event is {other:?}"),
    }
}

#[tokio::test]
async fn an_agent_out_of_turns_fails_and_its_parent_hears_its_last_words() {
    let (result, events, recorder) = run_result(&workshop_with("", "max_turns = 1", "", 0)).await;
    assert!(result.is_ok());
    let failures = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Error { message } if message.contains("used all 1 of its turns")))
        .count();
    assert_eq!(failures, 2);
    let lead = recorder.requests("lead");
    let last = request_text(lead.last().unwrap());
    assert!(
        last.contains("did not finish; its last words: WORKER-PRIVATE-THOUGHT"),
        "{last}"
    );
}

#[tokio::test]
async fn delegation_deeper_than_max_depth_is_refused() {
    let (result, events, _) =
        run_result(&workshop_with("\n[limits]\nmax_depth = 0\n", "", "", 0)).await;
    assert!(result.is_ok());
    let refused = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::ToolReturned { is_error: true, output, .. } if output.contains("delegation is limited to 0 levels")))
        .count();
    assert_eq!(refused, 2);
    assert!(!events.iter().any(|e| matches!(
        &e.kind,
        EventKind::AgentSpawned {
            parent: Some(_),
            ..
        }
    )));
}

#[tokio::test]
async fn the_advisor_answers_from_the_question_and_the_agent_continues() {
    let (result, events, recorder) =
        run_result(&workshop_with("", "", "advisor = \"slow\"", 0)).await;
    assert!(result.unwrap().passed);
    let consulted = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::AdvisorConsulted {
                question, answer, ..
            } => Some((question.clone(), answer.clone())),
            _ => None,
        })
        .expect("the lead consulted its advisor");
    assert_eq!(
        consulted,
        (
            "How long should notes be?".into(),
            "Advice: keep notes short.".into()
        )
    );
    let advisor = recorder.requests("advisor");
    assert_eq!(advisor.len(), 1);
    let text = request_text(&advisor[0]);
    assert!(
        text.contains("How long should notes be?")
            && text.contains("Recent work of the agent asking")
    );
    assert!(
        !text.contains("You lead."),
        "the advisor does not get the lead's system prompt"
    );
    // The lead carried on: it delegated after hearing the advice.
    assert!(events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Delegated { .. })));
}

#[tokio::test]
async fn cancelling_one_thread_stops_it_and_leaves_its_siblings_and_the_run() {
    let spec = support::spec(&workshop_toml(NOTES_AT_LEAST_TWO, 1, 600));
    let env = Arc::new(Workshop {
        recorder: Recorder::default(),
    });
    let sink = Arc::new(Collect::default());
    let bus = Arc::new(EventBus::new(SessionId::generate(), sink.clone()));
    let team = TeamRun::new(Arc::new(spec), env, bus, &[], CancelToken::new()).unwrap();
    let origin = SessionOrigin {
        spec_path: "workshop.toml".into(),
        seed: 1,
        world: 1,
    };
    let handle = tokio::spawn(run_session(Arc::clone(&team), origin));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!team.cancel_agent(AgentId(99)), "no such thread");
    assert!(team.cancel_agent(AgentId(2)), "the first worker is running");
    let result = tokio::time::timeout(std::time::Duration::from_secs(30), handle)
        .await
        .expect("the run goes on and ends")
        .unwrap();
    assert!(
        result.is_ok(),
        "the run itself was not cancelled: {result:?}"
    );
    let events = sink.0.lock().unwrap().clone();
    let cancelled: Vec<Option<AgentId>> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::AgentFinished {
                    status: lucid_core::event::AgentStatus::Cancelled,
                    ..
                }
            )
        })
        .map(|e| e.agent)
        .collect();
    assert_eq!(cancelled, vec![Some(AgentId(2))]);
}

#[tokio::test]
async fn every_thread_records_the_system_prompt_it_was_given_right_after_its_spawn() {
    let (_, events, _) = run(&workshop_toml(NOTES_AT_LEAST_TWO, 1, 0)).await;
    let mut briefed = 0;
    for (i, event) in events.iter().enumerate() {
        let EventKind::AgentSpawned { name, .. } = &event.kind else {
            continue;
        };
        let next = events.get(i + 1).expect("an event after the spawn");
        assert_eq!(next.agent, event.agent);
        let EventKind::AgentBriefed { system, cut } = &next.kind else {
            panic!("{name}'s spawn is followed by {:?}", next.kind);
        };
        let expected = if name == "lead" {
            "You lead."
        } else {
            "You write notes."
        };
        assert!(system.starts_with(expected), "{name}: {system}");
        assert_eq!(*cut, 0);
        briefed += 1;
    }
    assert_eq!(briefed, 3);
}
