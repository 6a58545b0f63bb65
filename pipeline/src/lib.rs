//! The pipeline's two stages and the ports they talk through.
//!
//! - [`producer`]: validated orders → rule chain → high-value ones published
//!   through a [`Publisher`] (SNS on AWS, an in-process topic embedded);
//! - [`consumer`]: queue messages → transform chain → an [`ItemStore`]
//!   (DynamoDB on AWS, files on disk embedded);
//! - [`decision_log`]: the record of one decided order, which the decision
//!   log holds and `orderflow replay` reads.
//!
//! The stages take the current rule set or transform chain as an argument,
//! so whoever hot-swaps plugin sets (the Lambdas) needs no help from them.
//! AWS limits (batch sizes, message sizes, attribute counts) are enforced
//! here, not left to the service: a local server does not enforce them all.

pub mod consumer;
pub mod decision_log;
pub mod embedded;
pub mod failed_answers;
pub mod ports;
pub mod producer;
pub mod reload;

pub use ports::{
    DeadLetter, DeadLetters, ItemStore, NoDeadLetters, OutgoingMessage, PublishOutcome, Publisher,
    StoreError,
};
