//! The JSON that crosses the pipeline's boundaries, apart from the engine,
//! so what reads it can be fuzzed without building wasmtime or the AWS SDK.
//!
//! - [`request`]: what the producer is sent (a direct invocation, an API
//!   Gateway HTTP API request with its [`Caller`]) and the HTTP answers it
//!   gives;
//! - [`HighValueMessage`]: what the producer publishes on the high-value
//!   topic, and the consumer reads back and re-validates;
//! - [`message_body`]: the SNS envelope a queue may wrap it in.

pub mod caller;
mod envelope;
mod message;
pub mod request;

pub use caller::Caller;
pub use envelope::{EnvelopeError, message_body};
pub use message::{HighValueMessage, PublishedDecision};
