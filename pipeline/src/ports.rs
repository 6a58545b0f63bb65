//! The ports the stages need from the outside world. Small on purpose:
//! an AWS client, the embedded pipeline or a fault-injecting wrapper in a
//! test each implement them in a few lines.

use crate::decision_log::DecisionRecord;
use orderflow_host::Item;
use std::future::Future;

/// A message for the high-value topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Unique within one batch (SNS batch entry ids).
    pub id: String,
    pub body: String,
    /// String message attributes, already within the service's limits.
    pub attributes: Vec<(String, String)>,
}

impl OutgoingMessage {
    /// Bytes the message counts for against a batch's total payload.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len() + "String".len())
                .sum::<usize>()
    }
}

/// The fate of one entry of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    Published {
        message_id: String,
    },
    /// `retryable` is the service's word on whether trying again can help.
    Failed {
        reason: String,
        retryable: bool,
    },
}

pub trait Publisher: Send + Sync {
    /// Publishes up to 10 messages; answers per entry, in any order, keyed
    /// by [`OutgoingMessage::id`]. An `Err` means the whole call failed.
    fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> impl Future<Output = Result<Vec<(String, PublishOutcome)>, String>> + Send;
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub message: String,
    /// Whether a later attempt may succeed (throttling, a network blip).
    pub retryable: bool,
}

pub trait ItemStore: Send + Sync {
    /// Writes an item under its key, replacing any item with the same key:
    /// a redelivered message must not create a second item.
    fn put(&self, item: &Item) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes several items, answering for each, in order. A store with a
    /// batch API (DynamoDB's `BatchWriteItem`) makes this one call per 25
    /// items; the default writes them one by one.
    fn put_all(&self, items: &[&Item]) -> impl Future<Output = Vec<Result<(), StoreError>>> + Send {
        async move {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(self.put(item).await);
            }
            out
        }
    }
}

/// Where the producer records what it decided, for `orderflow replay`.
/// Best effort by design: a failed write is logged and counted by the
/// caller, never turned into a failed order.
pub trait DecisionLog: Send + Sync {
    /// Writes one invocation's records as one object; answers where.
    fn write(
        &self,
        records: &[DecisionRecord],
    ) -> impl Future<Output = Result<String, String>> + Send;
}

/// No decision log (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDecisionLog;

impl DecisionLog for NoDecisionLog {
    async fn write(&self, _: &[DecisionRecord]) -> Result<String, String> {
        Ok(String::new())
    }
}

/// A decision log that may be switched off (the template's parameter).
impl<L: DecisionLog> DecisionLog for Option<L> {
    async fn write(&self, records: &[DecisionRecord]) -> Result<String, String> {
        match self {
            Some(log) => log.write(records).await,
            None => Ok(String::new()),
        }
    }
}

/// A message the consumer gives up on for good: it would fail the same way
/// on every delivery (malformed, refused by a transform, too large).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    /// The order's id when the message had a valid order.
    pub order_id: Option<String>,
    pub body: String,
    /// Why, for whoever looks at the dead-letter queue (the CloudWatch
    /// alarm fires on it).
    pub reason: String,
}

/// Where the consumer puts a permanent failure at once, with its reason.
/// The queue's own redrive would deliver it `maxReceiveCount` times first,
/// each a failed invocation of the batch's record, and keep no reason.
pub trait DeadLetters: Send + Sync {
    /// Sends each letter; answers for each, in order. A letter that could
    /// not be sent goes back to the queue and reaches the dead-letter queue
    /// through redrive.
    fn send_all(
        &self,
        letters: &[DeadLetter],
    ) -> impl Future<Output = Vec<Result<(), String>>> + Send;
}

/// No dead-letter queue of the consumer's own: every failure goes back to
/// the queue (the default, and the template's redrive still applies).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDeadLetters;

impl DeadLetters for NoDeadLetters {
    async fn send_all(&self, letters: &[DeadLetter]) -> Vec<Result<(), String>> {
        letters
            .iter()
            .map(|_| Err("no dead-letter queue configured".into()))
            .collect()
    }
}

/// A dead-letter queue that may not be configured.
impl<D: DeadLetters> DeadLetters for Option<D> {
    async fn send_all(&self, letters: &[DeadLetter]) -> Vec<Result<(), String>> {
        match self {
            Some(d) => d.send_all(letters).await,
            None => NoDeadLetters.send_all(letters).await,
        }
    }
}
