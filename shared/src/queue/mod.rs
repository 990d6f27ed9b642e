//! The orders queue port's adapters (the port is `crate::ports::Queue`): SQS
//! (`sqs`) and an in-memory queue with SQS's semantics (`memory`): visibility timeout, receive
//! count, and redrive to a dead-letter queue after N receives.

pub mod memory;
pub mod sqs;

pub use memory::MemoryQueue;
pub use sqs::SqsQueue;

/// The port itself lives with the others (`crate::ports`).
pub use crate::ports::{Queue, Received};

/// The longest delay SQS takes for a message (`DelaySeconds`).
pub const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(900);
