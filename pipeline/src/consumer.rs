//! The consumer stage: a queue message becomes a stored item.
//!
//! Bodies arrive raw (the subscription's raw message delivery) or wrapped
//! in an SNS envelope; both are accepted. The item key is the order's id and
//! its own creation time, so a message delivered twice overwrites the same
//! item instead of adding one.

use crate::ports::ItemStore;
use orderflow_host::order::redact::redact;
use orderflow_host::transforms::TransformTrace;
use orderflow_host::wire::message_body;
use orderflow_host::{HighValueMessage, Item, TransformChain};
use serde::Serialize;
use std::borrow::Cow;
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

/// Processes one message off the wire: parse and validate it (the queue
/// is an input like any other), then [`consume_message`].
pub async fn consume<S: ItemStore>(
    transforms: &TransformChain,
    store: &S,
    message: &IncomingMessage,
) -> ConsumerResult {
    consume_all(transforms, store, std::slice::from_ref(message))
        .await
        .pop()
        .expect("one result per message")
}

/// Processes a batch of messages off the wire: each is parsed, validated
/// and transformed on its own, then every item is written in one
/// [`ItemStore::put_all`] (one `BatchWriteItem` per 25 on DynamoDB). One
/// result per message, in order.
pub async fn consume_all<S: ItemStore>(
    transforms: &TransformChain,
    store: &S,
    messages: &[IncomingMessage],
) -> Vec<ConsumerResult> {
    consume_all_until(transforms, store, messages, None).await
}

/// As [`consume_all`], with every transform call's deadline cut to what is
/// left before `until` (a Lambda's end, less the time it needs to write
/// and answer); a message cut off is a retryable failure.
pub async fn consume_all_until<S: ItemStore>(
    transforms: &TransformChain,
    store: &S,
    messages: &[IncomingMessage],
    until: Option<Instant>,
) -> Vec<ConsumerResult> {
    let started = Instant::now();
    let prepared: Vec<Prepared<'_>> = messages
        .iter()
        .map(|m| {
            let parsed = message_body(&m.body)
                .map_err(|e| e.to_string())
                .and_then(|b| HighValueMessage::from_json(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(msg) => prepare(transforms, &m.message_id, Cow::Owned(msg), until),
                Err(reason) => {
                    tracing::error!(message_id = %m.message_id, stage = "consume", "malformed message: {reason}");
                    Prepared {
                        result: failed(&m.message_id, None, format!("malformed message: {reason}"), true),
                        item: None,
                        msg: None,
                    }
                }
            }
        })
        .collect();
    store_prepared(store, prepared, started).await
}

/// Processes one message already typed and validated: transform, store.
/// The embedded pipeline hands over what its producer published.
pub async fn consume_message<S: ItemStore>(
    transforms: &TransformChain,
    store: &S,
    message_id: &str,
    msg: &HighValueMessage,
) -> ConsumerResult {
    let prepared = prepare(transforms, message_id, Cow::Borrowed(msg), None);
    store_prepared(store, vec![prepared], Instant::now())
        .await
        .pop()
        .expect("one result")
}

/// A message transformed and ready to store, or already failed.
struct Prepared<'a> {
    result: ConsumerResult,
    item: Option<Item>,
    msg: Option<Cow<'a, HighValueMessage>>,
}

fn failed(
    message_id: &str,
    order_id: Option<String>,
    reason: String,
    permanent: bool,
) -> ConsumerResult {
    ConsumerResult {
        message_id: message_id.to_string(),
        order_id,
        outcome: ConsumerOutcome::Failed { reason, permanent },
        trace: Vec::new(),
    }
}

fn prepare<'a>(
    transforms: &TransformChain,
    message_id: &str,
    msg: Cow<'a, HighValueMessage>,
    until: Option<Instant>,
) -> Prepared<'a> {
    let order_id = Some(msg.order.order_id.clone());
    let (item, trace) = transforms.apply_until(Item::new(&msg.order, &msg.decision), until);
    // Until the store answers, a ready item's result is a retryable failure.
    let (reason, permanent, item) = match item {
        Ok(item) if item.size_bytes() > MAX_ITEM_BYTES => (
            format!(
                "item is about {} bytes, over DynamoDB's {MAX_ITEM_BYTES}",
                item.size_bytes()
            ),
            true,
            None,
        ),
        Ok(item) => ("not yet stored".into(), false, Some(item)),
        Err(e) => (e.to_string(), !e.failure.is_transient(), None),
    };
    let mut result = failed(message_id, order_id, reason, permanent);
    result.trace = trace;
    Prepared {
        result,
        item,
        msg: Some(msg),
    }
}

async fn store_prepared<S: ItemStore>(
    store: &S,
    prepared: Vec<Prepared<'_>>,
    started: Instant,
) -> Vec<ConsumerResult> {
    let items: Vec<&Item> = prepared.iter().filter_map(|p| p.item.as_ref()).collect();
    let mut written = store.put_all(&items).await.into_iter();
    prepared
        .into_iter()
        .map(|mut p| {
            if let Some(item) = &p.item {
                p.result.outcome = match written.next() {
                    Some(Ok(())) => ConsumerOutcome::Stored {
                        order_id: item.order_id.clone(),
                        timestamp: item.timestamp.clone(),
                    },
                    // The store's own message may quote what it was sent.
                    Some(Err(e)) => ConsumerOutcome::Failed {
                        reason: format!("store: {}", redact(&e.to_string())),
                        permanent: !e.retryable,
                    },
                    None => ConsumerOutcome::Failed {
                        reason: "store: no answer for this item".into(),
                        permanent: false,
                    },
                };
            }
            match &p.msg {
                Some(msg) => log(p.result, msg, started),
                None => p.result,
            }
        })
        .collect()
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
