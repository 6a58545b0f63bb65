//! The JSON that crosses the pipeline's boundaries, apart from the engine,
//! so what reads it can be fuzzed without building wasmtime or the AWS SDK.
//!
//! - [`HighValueMessage`]: what the producer publishes on the high-value
//!   topic, and the consumer reads back and re-validates;
//! - [`message_body`]: the SNS envelope a queue may wrap it in.

mod envelope;
mod message;

pub use envelope::{EnvelopeError, message_body};
pub use message::{HighValueMessage, PublishedDecision};
