//! The consumer stage: a queue message becomes a stored item.
//!
//! Bodies arrive raw (the subscription's raw message delivery) or wrapped
//! in an SNS envelope; both are accepted. The item key is the order's id and
//! its own creation time, so a message delivered twice overwrites the same
//! item instead of adding one.

use crate::ports::ItemStore;
use orderflow_host::transforms::TransformTrace;
use orderflow_host::{HighValueMessage, Item, TransformChain};
use serde::Serialize;
use std::time::Instant;

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// One message off the queue.
#[derive(Clone, Debug)]
pub struct IncomingMessage {
    pub message_id: String,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ConsumerOutcome {
    Stored {
        order_id: String,
        timestamp: String,
    },
    /// The message cannot be processed now; it goes back to the queue and,
    /// past the receive limit, to the dead-letter queue. `permanent` says
    /// retrying cannot help (a malformed body, a transform that refuses).
    Failed {
        reason: String,
        permanent: bool,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsumerResult {
    pub message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(flatten)]
    pub outcome: ConsumerOutcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TransformTrace>,
}

/// Unwraps an SNS envelope if there is one.
pub fn message_body(body: &str) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Message")]
        message: String,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(e) if e.kind == "Notification" => Ok(e.message),
        Ok(e) => Err(format!("an SNS {} envelope, not a Notification", e.kind)),
        Err(_) => Ok(body.to_string()),
    }
}

/// Processes one message off the wire: parse and validate it (the queue
/// is an input like any other), then [`consume_message`].
pub async fn consume<S: ItemStore>(
    transforms: &TransformChain,
    store: &S,
    message: &IncomingMessage,
) -> ConsumerResult {
    let started = Instant::now();
    let parsed = message_body(&message.body)
        .and_then(|b| HighValueMessage::from_json(&b).map_err(|e| e.to_string()));
    match parsed {
        Ok(msg) => transform_and_store(transforms, store, &message.message_id, &msg, started).await,
        Err(reason) => {
            tracing::error!(message_id = %message.message_id, stage = "consume", "malformed message: {reason}");
            ConsumerResult {
                message_id: message.message_id.clone(),
                order_id: None,
                outcome: ConsumerOutcome::Failed {
                    reason: format!("malformed message: {reason}"),
                    permanent: true,
                },
                trace: Vec::new(),
            }
        }
    }
}

/// Processes one message already typed and validated: transform, store.
/// The embedded pipeline hands over what its producer published.
pub async fn consume_message<S: ItemStore>(
    transforms: &TransformChain,
    store: &S,
    message_id: &str,
    msg: &HighValueMessage,
) -> ConsumerResult {
    transform_and_store(transforms, store, message_id, msg, Instant::now()).await
}

async fn transform_and_store<S: ItemStore>(
    transforms: &TransformChain,
    store: &S,
    message_id: &str,
    msg: &HighValueMessage,
    started: Instant,
) -> ConsumerResult {
    let mut result = ConsumerResult {
        message_id: message_id.to_string(),
        order_id: Some(msg.order.order_id.clone()),
        outcome: ConsumerOutcome::Failed {
            reason: String::new(),
            permanent: true,
        },
        trace: Vec::new(),
    };
    let (item, trace) = transforms.apply(Item::new(&msg.order, &msg.decision));
    result.trace = trace;
    let item = match item {
        Ok(item) if item.size_bytes() > MAX_ITEM_BYTES => {
            result.outcome = ConsumerOutcome::Failed {
                reason: format!(
                    "item is about {} bytes, over DynamoDB's {MAX_ITEM_BYTES}",
                    item.size_bytes()
                ),
                permanent: true,
            };
            return log(result, msg, started);
        }
        Ok(item) => item,
        Err(e) => {
            result.outcome = ConsumerOutcome::Failed {
                reason: e.to_string(),
                permanent: !e.failure.is_transient(),
            };
            return log(result, msg, started);
        }
    };
    result.outcome = match store.put(&item).await {
        Ok(()) => ConsumerOutcome::Stored {
            order_id: item.order_id.clone(),
            timestamp: item.timestamp.clone(),
        },
        Err(e) => ConsumerOutcome::Failed {
            reason: format!("store: {e}"),
            permanent: !e.retryable,
        },
    };
    log(result, msg, started)
}

fn log(result: ConsumerResult, msg: &HighValueMessage, started: Instant) -> ConsumerResult {
    let message_id = &result.message_id;
    let plugins: Vec<String> = result
        .trace
        .iter()
        .map(|t| format!("{}@{}", t.plugin, t.version))
        .collect();
    let micros = started.elapsed().as_micros() as u64;
    match &result.outcome {
        ConsumerOutcome::Stored { .. } => tracing::info!(
            order_id = %msg.order.order_id, message_id = %message_id, stage = "consume",
            revision = %msg.decision.revision, plugins = ?plugins, micros, "item stored"
        ),
        ConsumerOutcome::Failed { reason, permanent } => tracing::error!(
            order_id = %msg.order.order_id, message_id = %message_id, stage = "consume",
            revision = %msg.decision.revision, plugins = ?plugins, permanent, micros, "item not stored: {reason}"
        ),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bodies_pass_through_and_envelopes_are_unwrapped() {
        assert_eq!(message_body(r#"{"order": 1}"#).unwrap(), r#"{"order": 1}"#);
        let env = serde_json::json!({"Type": "Notification", "MessageId": "x", "Message": "{\"order\": 1}"}).to_string();
        assert_eq!(message_body(&env).unwrap(), r#"{"order": 1}"#);
        let sub =
            serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "hi"}).to_string();
        assert!(
            message_body(&sub)
                .unwrap_err()
                .contains("SubscriptionConfirmation")
        );
    }
}
