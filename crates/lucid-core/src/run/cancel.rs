//! Cancellation that reaches every thread: cancelling a token cancels every token made
//! from it with [`CancelToken::child`], so cancelling an agent stops its sub-agents too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::Notify;

#[derive(Default)]
struct Node {
    cancelled: AtomicBool,
    notify: Notify,
    children: Mutex<Vec<Weak<Node>>>,
}

/// A cancellation signal shared by a thread and its descendants.
#[derive(Clone, Default)]
pub struct CancelToken {
    node: Arc<Node>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// A token cancelled when this one is (and also on its own).
    pub fn child(&self) -> CancelToken {
        let child = CancelToken::new();
        {
            let mut children = self
                .node
                .children
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Checked under the lock `cancel` takes after setting the flag, so a child is
            // either in the list `cancel` walks or sees the flag here.
            if !self.is_cancelled() {
                // Finished children are dropped only when the list would grow: a lead
                // that delegates 10,000 times does not walk its list each time.
                if children.len() == children.capacity() {
                    children.retain(|weak| weak.strong_count() > 0);
                }
                children.push(Arc::downgrade(&child.node));
                return child;
            }
        }
        child.cancel();
        child
    }

    pub fn cancel(&self) {
        if self.node.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        self.node.notify.notify_waiters();
        let children: Vec<Weak<Node>> = std::mem::take(
            &mut *self
                .node
                .children
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for child in children.iter().filter_map(Weak::upgrade) {
            CancelToken { node: child }.cancel();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.node.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once the token is cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.node.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancelling_a_parent_reaches_grandchildren_but_not_siblings() {
        let root = CancelToken::new();
        let a = root.child();
        let a1 = a.child();
        let b = root.child();
        a.cancel();
        assert!(a.is_cancelled() && a1.is_cancelled());
        assert!(!b.is_cancelled() && !root.is_cancelled());
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.cancelled().await }
        });
        root.cancel();
        waiter.await.unwrap();
        assert!(
            root.child().is_cancelled(),
            "children of a cancelled token start cancelled"
        );
    }

    #[test]
    fn finished_children_do_not_pile_up_and_live_ones_are_kept() {
        let root = CancelToken::new();
        let live: Vec<CancelToken> = (0..100).map(|_| root.child()).collect();
        for _ in 0..10_000 {
            drop(root.child());
        }
        let listed = root.node.children.lock().unwrap().len();
        assert!(
            listed <= 2 * (live.len() + 1),
            "{listed} entries for 100 live children"
        );
        root.cancel();
        assert!(live.iter().all(CancelToken::is_cancelled));
    }
}
