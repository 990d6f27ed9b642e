//! Adapters for the ports in `crate::ports`.

pub mod dynamo;
pub mod memory;

pub use dynamo::DynamoStore;
pub use memory::MemoryStore;
