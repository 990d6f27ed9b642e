//! The orders queue port: what the intake sends and the worker receives. Two adapters: SQS
//! (`sqs`) and an in-memory queue with SQS's semantics (`memory`): visibility timeout, receive
//! count, and redrive to a dead-letter queue after N receives.

pub mod memory;
pub mod sqs;

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;

pub use memory::MemoryQueue;
pub use sqs::SqsQueue;

/// A message as received: its id, the handle to delete it or change its visibility, the body,
/// and how many times it has been received (1 on the first delivery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends one message; returns its id once the queue has accepted it.
    async fn send(&self, body: String) -> Result<String>;
    /// Up to `max` (≤ 10) messages, waiting up to `wait` for the first.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>>;
    /// Deletes received messages by receipt.
    async fn delete(&self, receipts: &[String]) -> Result<()>;
    /// Makes a received message visible again after `timeout` (backoff before a retry).
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<()>;
    /// Approximate (visible, in flight) counts.
    async fn depth(&self) -> Result<(u64, u64)>;
}
