//! A thread's conversation while its loop runs: lent to each turn's request instead of
//! copied into it, and handed back to its owner when the loop ends, however it ends.
//! The request is done with it before the turn's answer and tool results are added, so
//! adding them copies nothing; a request still held somewhere gets a copy of its own.

use std::sync::Arc;

use crate::model::Message;

pub(super) struct Conversation<'a> {
    messages: Arc<Vec<Message>>,
    owner: &'a mut Vec<Message>,
}

impl<'a> Conversation<'a> {
    /// Takes the owner's messages for the loop; they go back when this drops.
    pub fn lend(owner: &'a mut Vec<Message>) -> Self {
        Self {
            messages: Arc::new(std::mem::take(owner)),
            owner,
        }
    }

    /// The messages so far, for a request.
    pub fn shared(&self) -> Arc<Vec<Message>> {
        Arc::clone(&self.messages)
    }

    /// The messages, to add to.
    pub fn messages_mut(&mut self) -> &mut Vec<Message> {
        Arc::make_mut(&mut self.messages)
    }
}

impl std::ops::Deref for Conversation<'_> {
    type Target = [Message];

    fn deref(&self) -> &[Message] {
        &self.messages
    }
}

impl Drop for Conversation<'_> {
    fn drop(&mut self) {
        let messages = std::mem::take(&mut self.messages);
        *self.owner = Arc::try_unwrap(messages).unwrap_or_else(|shared| (*shared).clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_gets_every_message_back_and_a_held_request_keeps_its_own() {
        let mut owner = vec![Message::user_text("task")];
        let held = {
            let mut conversation = Conversation::lend(&mut owner);
            let request = conversation.shared();
            conversation
                .messages_mut()
                .push(Message::user_text("answer"));
            assert_eq!(request.len(), 1, "the request in flight is unchanged");
            conversation.messages_mut().push(Message::user_text("more"));
            assert_eq!(conversation.len(), 3);
            conversation.shared()
        };
        assert_eq!(owner.len(), 3);
        assert_eq!(held.len(), 3);
    }

    #[test]
    fn adding_after_the_request_is_done_copies_nothing() {
        let mut owner = vec![Message::user_text("task")];
        let mut conversation = Conversation::lend(&mut owner);
        let request = conversation.shared();
        let before = Arc::as_ptr(&request);
        drop(request);
        conversation
            .messages_mut()
            .push(Message::user_text("answer"));
        assert_eq!(Arc::as_ptr(&conversation.shared()), before);
    }
}
