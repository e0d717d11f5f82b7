//! Follow-ups: a parent sends a new message to a specialist thread it delegated to
//! before (`delegate` with `thread`), so a revision builds on the specialist's work
//! instead of starting it from zero. The thread continues as itself: same agent id,
//! same specialist, its earlier conversation then the message as a user turn, its turns
//! counting on.
//!
//! Memory: a finished thread keeps nothing in RAM. When a follow-up arrives, its
//! conversation is rebuilt from the session's recorded events (`resume::thread_context`,
//! the same fold a resumed run uses), so the cost of addressable threads is the store's,
//! not the process's, and a thread from any earlier iteration, or from before the
//! process was restarted, can be followed up. The run keeps only the ids of the threads
//! at work ([`Busy`]), so a thread is never run twice at once.
//!
//! A follow-up is refused, as a tool error the model reads, when the thread is not on
//! record, was delegated by another agent, is another specialist, or is still running.
//! On record it is the parent's `Delegated { follow_up: true }` (with the child's id and
//! the message) and the child's `FollowUp`, then the child's turns and finish as usual.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::agent::AgentThread;
use super::resume::{push_user, thread_context};
use super::TeamRun;
use crate::event::{AgentId, EventKind};
use crate::model::Message;
use crate::tool::ToolOutput;

/// The threads at work in this run.
#[derive(Default)]
pub(super) struct Working(Mutex<BTreeSet<AgentId>>);

impl Working {
    fn lock(&self) -> MutexGuard<'_, BTreeSet<AgentId>> {
        // Single inserts and removes: a poisoned set is still whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A thread marked at work until this is dropped.
pub(super) struct Busy<'a> {
    working: &'a Working,
    agent: AgentId,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.working.lock().remove(&self.agent);
    }
}

/// A follow-up about to run: the thread's context with the message at its end, its
/// turns so far, and its mark of being at work.
pub(super) struct FollowUp<'a> {
    pub messages: Vec<Message>,
    pub turns: u32,
    pub busy: Busy<'a>,
}

/// What a parent asked to send, from its `delegate` call.
pub(super) struct FollowUpRequest<'a> {
    pub call_id: &'a str,
    pub thread: AgentId,
    pub specialist: &'a str,
    pub message: &'a str,
    pub purpose: &'a str,
}

impl TeamRun {
    /// Marks a thread at work; `None` when it already is.
    pub(super) fn claim(&self, agent: AgentId) -> Option<Busy<'_>> {
        let claimed = self.working.lock().insert(agent);
        claimed.then(|| Busy {
            working: &self.working,
            agent,
        })
    }

    /// Checks a follow-up and records its start; the refusal is the tool's answer.
    pub(super) async fn follow_up(
        &self,
        parent: &AgentThread,
        request: FollowUpRequest<'_>,
    ) -> Result<FollowUp<'_>, ToolOutput> {
        let n = request.thread.0;
        if request.thread == parent.id {
            return Err(ToolOutput::error(format!(
                "thread {n} is your own; follow up only a specialist you delegated to"
            )));
        }
        let busy = self.claim(request.thread).ok_or_else(|| still_running(n))?;
        let events = self
            .bus
            .recorded()
            .await
            .map_err(|err| ToolOutput::error(format!("cannot follow up thread {n}: {err}")))?;
        let Some(context) = thread_context(&events, request.thread) else {
            return Err(ToolOutput::error(format!(
                "there is no thread {n} to follow up: pass the number a delegation's result \
                 gave you, or leave `thread` out to start a new specialist"
            )));
        };
        if context.parent != Some(parent.id) {
            return Err(ToolOutput::error(format!(
                "thread {n} was not delegated by you; you can follow up only the threads you \
                 delegated to"
            )));
        }
        if context.specialist != request.specialist {
            return Err(ToolOutput::error(format!(
                "thread {n} is `{}`, not `{}`; pass \"specialist\": \"{}\" to follow it up",
                context.specialist, request.specialist, context.specialist
            )));
        }
        if context.running {
            return Err(still_running(n));
        }
        self.bus.emit(
            Some(parent.id),
            EventKind::Delegated {
                call_id: request.call_id.to_string(),
                child: request.thread,
                specialist: request.specialist.to_string(),
                subtask: request.message.to_string(),
                purpose: request.purpose.to_string(),
                follow_up: true,
            },
        );
        self.bus.emit(
            Some(request.thread),
            EventKind::FollowUp {
                message: request.message.to_string(),
                iteration: parent.iteration,
            },
        );
        let mut messages = context.messages;
        push_user(&mut messages, request.message.to_string());
        Ok(FollowUp {
            messages,
            turns: context.turns,
            busy,
        })
    }
}

fn still_running(n: u32) -> ToolOutput {
    ToolOutput::error(format!(
        "thread {n} is still running; follow it up once its delegation has returned"
    ))
}

/// The line a delegation's result ends with: the thread the parent can follow up.
pub(super) fn thread_line(child: AgentId) -> String {
    let n = child.0;
    format!("(thread {n}: pass \"thread\": {n} to delegate to follow up)")
}
