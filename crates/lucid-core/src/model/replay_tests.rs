//! Unit tests of the replay profile: reconstruction from events and matching requests.

use super::*;
use crate::event::SessionId;
use crate::model::ToolSpec;

const TASK: &str = "Land safely.";

struct Log {
    session: SessionId,
    events: Vec<Event>,
}

impl Log {
    fn new() -> Self {
        let mut log = Log {
            session: SessionId::generate(),
            events: Vec::new(),
        };
        log.push(
            None,
            EventKind::SessionStarted {
                team: "t".into(),
                spec_path: "s.toml".into(),
                task: TASK.into(),
                environment: "lumara".into(),
                seed: 1,
                world: 1,
                max_iterations: 2,
            },
        );
        log
    }

    fn push(&mut self, agent: Option<u32>, kind: EventKind) {
        self.events.push(Event {
            session: self.session,
            seq: self.events.len() as u64,
            at_ms: 0,
            agent: agent.map(AgentId),
            kind,
        });
    }

    fn spawn(&mut self, id: u32, name: &str, parent: Option<u32>) {
        self.push(
            Some(id),
            EventKind::AgentSpawned {
                name: name.into(),
                role: name.into(),
                parent: parent.map(AgentId),
                model: "m".into(),
                purpose: None,
                iteration: 1,
            },
        );
    }

    fn delegate(&mut self, parent: u32, child: u32, name: &str, subtask: &str) {
        self.push(
            Some(parent),
            EventKind::Delegated {
                call_id: format!("d{child}"),
                child: AgentId(child),
                specialist: name.into(),
                subtask: subtask.into(),
                purpose: String::new(),
                follow_up: false,
            },
        );
        self.spawn(child, name, Some(parent));
    }

    fn turn(&mut self, id: u32) {
        self.push(
            Some(id),
            EventKind::ModelTurn {
                turn: 1,
                tokens_in: 1,
                tokens_out: 1,
                stop: "tool_use".into(),
                cost_usd: None,
                tool_calls: None,
            },
        );
    }

    fn text(&mut self, id: u32, text: &str) {
        self.push(Some(id), EventKind::Text { text: text.into() });
    }

    fn call(&mut self, id: u32, call_id: &str, tool: &str, input: Value) {
        self.push(
            Some(id),
            EventKind::ToolCalled {
                call_id: call_id.into(),
                tool: tool.into(),
                input,
            },
        );
    }

    fn verdict(&mut self, iteration: u32, criterion: &str, passed: bool) {
        self.push(
            None,
            EventKind::CriterionJudged {
                iteration,
                criterion: criterion.into(),
                passed,
                reason: format!("{criterion} in {iteration}"),
                fix: String::new(),
                judged: true,
            },
        );
    }
}

/// A lead that sends two detectors off in parallel, their events interleaved the way the
/// runner emits them: each `ModelTurn` first, then that answer's text and calls.
fn parallel_detectors() -> Vec<Event> {
    let mut log = Log::new();
    log.spawn(1, "commander", None);
    log.turn(1);
    log.call(1, "c1", "delegate", json!({"specialist": "detector"}));
    log.delegate(1, 2, "detector", "Survey A");
    log.call(1, "c2", "delegate", json!({"specialist": "detector"}));
    log.delegate(1, 3, "detector", "Survey B");
    log.turn(3);
    log.turn(2);
    log.call(2, "t1", "survey_site", json!({"site": "A"}));
    log.text(3, "B first");
    log.call(3, "t1", "survey_site", json!({"site": "B"}));
    log.turn(2);
    log.text(2, "A is fine");
    log.turn(3);
    log.text(3, "B is steep");
    log.turn(1);
    log.text(1, "Done: A.");
    log.verdict(1, "soft", false);
    log.verdict(1, "fuel", true);
    log.verdict(2, "soft", true);
    log.events
}

fn request(first: &str, answers: &[ModelResponse]) -> ModelRequest {
    let mut messages = vec![Message::user_text(first)];
    for answer in answers {
        messages.push(Message {
            role: Role::Assistant,
            content: answer.content.clone(),
        });
        messages.push(Message::user_text("results"));
    }
    ModelRequest {
        system: String::new(),
        messages: messages.into(),
        tools: vec![].into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 100,
        temperature: None,
    }
}

fn calls(response: &ModelResponse) -> Vec<(String, Value)> {
    response
        .tool_uses()
        .map(|(_, name, input)| (name.to_string(), input.clone()))
        .collect()
}

#[test]
fn answers_are_rebuilt_per_thread_from_interleaved_events() {
    let recording = Recording::from_events(&parallel_detectors());
    let shape: Vec<(u32, &str, &str, usize)> = recording
        .threads
        .iter()
        .map(|t| {
            (
                t.agent.0,
                t.name.as_str(),
                t.opening.as_str(),
                t.answers.len(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, "commander", TASK, 2),
            (2, "detector", "Survey A", 2),
            (3, "detector", "Survey B", 2),
        ]
    );
    let b = &recording.threads[2];
    assert_eq!(b.answers[0].text, "B first");
    assert_eq!(b.answers[0].calls[0].input, json!({"site": "B"}));
    assert_eq!(b.answers[1].text, "B is steep");
    assert!(b.answers[1].calls.is_empty());
    let lead = &recording.threads[0];
    assert_eq!(lead.answers[0].calls.len(), 2);
    assert_eq!(lead.answers[1].text, "Done: A.");
    assert_eq!(recording.verdicts[&1].len(), 2);
    assert_eq!(recording.verdicts[&2].len(), 1);
}

#[test]
fn parallel_specialists_of_one_name_are_told_apart_by_subtask() {
    let recording = Arc::new(Recording::from_events(&parallel_detectors()));
    let detector = ReplayProvider::new(Arc::clone(&recording), Seat::Agent("detector".into()));
    // B asks first, although A was spawned first.
    let b0 = detector.answer(&request("Survey B", &[]));
    let a0 = detector.answer(&request("Survey A", &[]));
    assert_eq!(
        calls(&b0),
        vec![("survey_site".into(), json!({"site": "B"}))]
    );
    assert_eq!(
        calls(&a0),
        vec![("survey_site".into(), json!({"site": "A"}))]
    );
    // Both recorded calls were `t1`; the replayed ids name their thread.
    assert_ne!(b0.tool_uses().next(), a0.tool_uses().next());
    let a1 = detector.answer(&request("Survey A", &[a0]));
    let b1 = detector.answer(&request("Survey B", &[b0]));
    assert_eq!(a1.text(), "A is fine");
    assert_eq!(b1.text(), "B is steep");
    assert_eq!(a1.stop, StopReason::EndTurn);
}

#[test]
fn the_lead_is_matched_with_its_briefing_and_across_turns() {
    let recording = Arc::new(Recording::from_events(&parallel_detectors()));
    let lead = ReplayProvider::new(recording, Seat::Agent("commander".into()));
    let opening = format!("{TASK}\n\n## Briefing\nSix sites.");
    let first = lead.answer(&request(&opening, &[]));
    assert_eq!(calls(&first).len(), 2);
    let second = lead.answer(&request(&opening, &[first]));
    assert_eq!(second.text(), "Done: A.");
}

#[test]
fn what_was_not_recorded_is_said_in_text() {
    let recording = Arc::new(Recording::from_events(&parallel_detectors()));
    let detector = ReplayProvider::new(Arc::clone(&recording), Seat::Agent("detector".into()));
    let unknown = detector.answer(&request("Survey C", &[]));
    assert_eq!(unknown.stop, StopReason::EndTurn);
    assert!(
        unknown.text().contains(&recording.session),
        "{}",
        unknown.text()
    );
    assert!(
        unknown.text().contains(
            "no recorded thread of agent `detector` begins with the message \"Survey C\""
        ),
        "{}",
        unknown.text()
    );
    // A second thread with a recorded subtask: the recording had only one.
    detector.answer(&request("Survey A", &[]));
    let again = detector.answer(&request("Survey A", &[]));
    assert!(
        again.text().contains("this is thread 2"),
        "{}",
        again.text()
    );
    // A turn past the recorded ones.
    let b0 = detector.answer(&request("Survey B", &[]));
    let b1 = detector.answer(&request("Survey B", std::slice::from_ref(&b0)));
    let beyond = detector.answer(&request("Survey B", &[b0, b1]));
    assert!(
        beyond.text().contains("this is turn 3"),
        "{}",
        beyond.text()
    );
    // An agent the recording never had.
    let stranger = ReplayProvider::new(recording, Seat::Agent("pilot".into()));
    assert!(stranger
        .answer(&request(TASK, &[]))
        .text()
        .contains("agent `pilot`"));
}

#[test]
fn the_same_subtask_again_takes_the_next_recorded_thread() {
    let mut log = Log::new();
    log.spawn(1, "lead", None);
    for (child, site) in [(2, "F"), (3, "C")] {
        log.delegate(1, child, "navigator", "Fly the descent");
        log.turn(child);
        log.call(child, "t1", "commit", json!({ "site": site }));
    }
    let recording = Arc::new(Recording::from_events(&log.events));
    let navigator = ReplayProvider::new(recording, Seat::Agent("navigator".into()));
    let first = navigator.answer(&request("Fly the descent", &[]));
    let second = navigator.answer(&request("Fly the descent", &[]));
    assert_eq!(calls(&first)[0].1, json!({"site": "F"}));
    assert_eq!(calls(&second)[0].1, json!({"site": "C"}));
}

fn grading(criteria: &[&str]) -> ModelRequest {
    let mut request = request("## Task\n…", &[]);
    request.tools = vec![ToolSpec {
        name: "submit_verdicts".into(),
        description: String::new(),
        input_schema: json!({"type": "object", "properties": {"verdicts": {"type": "array", "items": {
            "type": "object",
            "properties": {"criterion": {"type": "string", "enum": criteria}}
        }}}}),
    }].into();
    request.tool_choice = ToolChoice::Tool {
        name: "submit_verdicts".into(),
    };
    request
}

#[test]
fn the_grader_answers_each_iteration_with_its_recorded_verdicts() {
    let recording = Arc::new(Recording::from_events(&parallel_detectors()));
    let grader = ReplayProvider::new(recording, Seat::Grader);
    let first = grader.answer(&grading(&["soft", "fuel"]));
    let (_, name, input) = first.tool_uses().next().unwrap();
    assert_eq!(name, "submit_verdicts");
    assert_eq!(
        input,
        &json!({"verdicts": [
            {"criterion": "soft", "passed": false, "reason": "soft in 1", "fix": ""},
            {"criterion": "fuel", "passed": true, "reason": "fuel in 1", "fix": ""}
        ]})
    );
    // Iteration 2 judged only `soft`; `fuel` was not recorded there.
    let second = grader.answer(&grading(&["soft", "fuel"]));
    let (_, _, input) = second.tool_uses().next().unwrap();
    assert_eq!(input["verdicts"][0]["passed"], json!(true));
    assert_eq!(input["verdicts"][1]["passed"], json!(false));
    assert!(input["verdicts"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("no verdict on `fuel` was recorded in iteration 2"));
    let third = grader.answer(&grading(&["soft"]));
    assert!(third
        .text()
        .contains("no verdicts were recorded for iteration 3 (recorded iterations: 1, 2)"));
}

#[test]
fn the_advisor_gives_the_recorded_answer_to_the_same_question() {
    let mut log = Log::new();
    log.push(
        Some(1),
        EventKind::AdvisorConsulted {
            advisor: "strong".into(),
            question: "Which site?".into(),
            answer: "Site C.".into(),
        },
    );
    let advisor = ReplayProvider::new(Arc::new(Recording::from_events(&log.events)), Seat::Advisor);
    let asked = request(
        "## Question\nWhich site?\n\n## Recent work of the agent asking\n- x",
        &[],
    );
    assert_eq!(advisor.answer(&asked).text(), "Site C.");
    let other = request("## Question\nWhich burn?\n\n## Recent work…", &[]);
    assert!(advisor.answer(&other).text().contains("no advisor answer"));
}
