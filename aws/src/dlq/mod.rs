//! The operator's side of the dead-letter queue: what is there and why
//! ([`DeadLetterQueue::list`]), and putting it back after a fix
//! ([`DeadLetterQueue::redrive`], in `redrive`).
//!
//! A message reaches the DLQ two ways. The consumer sends a permanent
//! failure there at once ([`crate::sqs::SqsDeadLetters`]) with `reason`,
//! `order_id` and `source_message_id` attributes; SQS moves one that failed
//! `maxReceiveCount` deliveries, with no attribute of ours. Either way the
//! body is the message as the queue delivered it (the producer's
//! high-value message, raw or in an SNS envelope), so the order id can be
//! read from it when no attribute names it.
//!
//! SQS has no peek: the only way to read a message is to receive it. A
//! listing receives every message with a short visibility timeout (30 s
//! and 1 s more per 10 messages, [`PEEK_VISIBILITY_SECONDS`]),
//! de-duplicates by message id until a receive brings nothing new, then
//! makes every message visible again at once (`ChangeMessageVisibility` to
//! 0). What that costs: one `GetQueueAttributes`, about one
//! `ReceiveMessage` per 10 messages plus one empty long poll (1 s), and one
//! `ChangeMessageVisibilityBatch` per 10. What it does to the counts: each
//! listing adds one to every message's `ApproximateReceiveCount` (the DLQ
//! has no redrive policy of its own, so the count moves nothing), and while
//! it runs (and until its window ends if it dies midway) the messages are
//! invisible to anyone else, a redrive included. Nothing is deleted.

mod redrive;

pub use redrive::{CopyFailure, MoveTaskStatus, RedriveMethod, RedriveReport};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::primitives::{DateTime, DateTimeFormat};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
    QueueAttributeName,
};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::sqs::{ORDER_ID_ATTRIBUTE, REASON_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE};

/// How long a listed message stays invisible, at least: the listing must
/// receive everything within it. A message that comes round again is
/// received in place of one not seen yet (SQS, and moto, hand out the
/// oldest visible first), so a listing slower than its window goes round
/// the messages it has seen and stops short. The window grows with the
/// queue (see [`peek_visibility`]); a listing that dies midway hides
/// nothing for longer.
pub const PEEK_VISIBILITY_SECONDS: i32 = 30;
/// What the window allows per `ReceiveMessage` of 10 messages: a receive
/// answers in tens of milliseconds on SQS, and took 0.7 s on a loaded moto.
const SECONDS_PER_RECEIVE: u64 = 1;
/// SQS's largest visibility timeout (12 hours).
const MAX_VISIBILITY_SECONDS: u64 = 43_200;

/// The peek window for a listing of a queue that holds about `visible`
/// messages.
fn peek_visibility(visible: u64) -> i32 {
    let seconds = PEEK_VISIBILITY_SECONDS as u64 + visible.div_ceil(10) * SECONDS_PER_RECEIVE;
    seconds.min(MAX_VISIBILITY_SECONDS) as i32
}
/// Long polling asks every SQS server; a short poll may answer "empty"
/// while messages remain, and the listing would stop early.
const WAIT_SECONDS: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("SQS {action} {queue_url}: {message} ({hint})")]
    Sqs {
        action: &'static str,
        queue_url: String,
        message: String,
        hint: &'static str,
        /// The SDK's whole account of it, for `-v`.
        detail: String,
    },
    #[error("{queue_url} reported no QueueArn")]
    NoArn { queue_url: String },
}

impl DlqError {
    /// More than the one-line message, when there is more to say.
    pub fn detail(&self) -> Option<&str> {
        match self {
            DlqError::Sqs { detail, .. } => Some(detail),
            DlqError::NoArn { .. } => None,
        }
    }
}

/// One SDK error as a [`DlqError::Sqs`]: a line with the likely fix.
fn failure<E, R>(action: &'static str, queue_url: &str, e: &SdkError<E, R>) -> DlqError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(e).to_string();
    let (message, hint) = match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            let message = match se.err().message() {
                Some(m) if !m.is_empty() => format!("{code}: {m}"),
                _ if code.is_empty() => "the service answered an error".to_string(),
                _ => code.to_string(),
            };
            let hint = match code {
                "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" => {
                    "check --dlq-url / --queue-url and the region"
                }
                "AccessDenied" | "AccessDeniedException" => {
                    "these credentials may not do this: the README's operator section lists the SQS actions `orderflow dlq` needs"
                }
                _ => "see -v for the full error",
            };
            (message, hint)
        }
        SdkError::TimeoutError(_) => ("timed out".into(), "check the network and the region"),
        SdkError::DispatchFailure(_) if detail.contains("credentials") => (
            "no AWS credentials were found".into(),
            "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
        SdkError::DispatchFailure(_) => (
            "could not reach SQS".into(),
            "check the network, the region and AWS_ENDPOINT_URL",
        ),
        _ => (
            detail.lines().next().unwrap_or("failed").to_string(),
            "see -v for the full error",
        ),
    };
    DlqError::Sqs {
        action,
        queue_url: queue_url.to_string(),
        message,
        hint,
        detail,
    }
}

/// Why a message is in the dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The consumer's, from the `reason` attribute.
    Recorded { text: String },
    /// SQS moved it after `maxReceiveCount` deliveries that each failed
    /// (or timed out); nobody wrote down why. `receives` excludes this
    /// listing's own receive (earlier listings' are in it).
    NotRecorded { receives: u64 },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Recorded { text } => f.write_str(text),
            Reason::NotRecorded { receives: 1 } => {
                f.write_str("received 1 time without success (no reason recorded)")
            }
            Reason::NotRecorded { receives } => write!(
                f,
                "received {receives} times without success (no reason recorded)"
            ),
        }
    }
}

/// A message in the dead-letter queue, as a listing saw it. Not its body:
/// that is a whole order, customer and attributes included, and a listing
/// is printed where logs go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeadLetterMessage {
    pub message_id: String,
    /// From the `order_id` attribute, else from the body; `None` when
    /// neither has one (a body that is not an order message).
    pub order_id: Option<String>,
    /// `ApproximateReceiveCount` as SQS reported it to this listing: the
    /// deliveries on the source queue (SQS carries them over), this
    /// listing's receive and every earlier listing's.
    pub receive_count: u64,
    /// When it was sent to the DLQ (`SentTimestamp`, RFC 3339 to the
    /// second). For a
    /// message SQS moved there, SQS keeps the original enqueue time.
    pub sent_at: Option<String>,
    pub reason: Reason,
    /// Its id on the source queue, when the consumer recorded it.
    pub source_message_id: Option<String>,
}

/// What a listing found.
#[derive(Clone, Debug, Serialize)]
pub struct Listing {
    pub queue_url: String,
    /// Oldest first.
    pub messages: Vec<DeadLetterMessage>,
    /// True when the listing stopped at its limit: there may be more.
    pub truncated: bool,
    /// Messages whose visibility could not be reset: they are listed, and
    /// reappear by themselves when the listing's peek window ends.
    pub still_hidden: usize,
}

/// A dead-letter queue and, for a redrive, the queue its messages go back to.
#[derive(Clone, Debug)]
pub struct DeadLetterQueue {
    client: Client,
    dlq_url: String,
}

impl DeadLetterQueue {
    pub fn new(client: Client, dlq_url: impl Into<String>) -> DeadLetterQueue {
        DeadLetterQueue {
            client,
            dlq_url: dlq_url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.dlq_url
    }

    /// Every message in the queue, up to `max`, leaving each where it was
    /// (see the module's account of what a listing costs).
    pub async fn list(&self, max: usize) -> Result<Listing, DlqError> {
        let visible = self.visible().await?;
        let peek = peek_visibility(visible.min(max as u64));
        let mut seen: BTreeMap<String, (DeadLetterMessage, String)> = BTreeMap::new();
        let mut truncated = false;
        let outcome = loop {
            if seen.len() >= max {
                truncated = true;
                break Ok(());
            }
            let answer = self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages((max - seen.len()).min(10) as i32)
                .visibility_timeout(peek)
                .wait_time_seconds(WAIT_SECONDS)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => break Err(failure("ReceiveMessage", &self.dlq_url, &e)),
            };
            let mut new = 0;
            for m in answer.messages() {
                let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else {
                    continue;
                };
                // A message seen before came round again: only its newest
                // receipt handle can make it visible.
                match seen.get_mut(id) {
                    Some(entry) => entry.1 = handle.to_string(),
                    None => {
                        new += 1;
                        seen.insert(id.to_string(), (describe(m), handle.to_string()));
                    }
                }
            }
            if new == 0 {
                break Ok(());
            }
        };
        let handles: Vec<String> = seen.values().map(|(_, h)| h.clone()).collect();
        let still_hidden = self.release(&handles).await;
        outcome?;
        let mut messages: Vec<DeadLetterMessage> = seen.into_values().map(|(m, _)| m).collect();
        messages.sort_by(|a, b| (&a.sent_at, &a.message_id).cmp(&(&b.sent_at, &b.message_id)));
        Ok(Listing {
            queue_url: self.dlq_url.clone(),
            messages,
            truncated,
            still_hidden,
        })
    }

    /// About how many messages the DLQ holds that a receive can see.
    async fn visible(&self) -> Result<u64, DlqError> {
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(&self.dlq_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| failure("GetQueueAttributes", &self.dlq_url, &e))?;
        Ok(answer
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// Makes received messages visible again now; how many could not be
    /// (they reappear when their visibility timeout ends).
    async fn release(&self, handles: &[String]) -> usize {
        let mut failed = 0;
        for batch in handles.chunks(10) {
            let mut request = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.dlq_url);
            for (i, handle) in batch.iter().enumerate() {
                if let Ok(entry) = ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                {
                    request = request.entries(entry);
                }
            }
            match request.send().await {
                Ok(answer) => failed += answer.failed().len(),
                Err(e) => {
                    tracing::warn!(error = %DisplayErrorContext(&e), "could not make {} DLQ messages visible again", batch.len());
                    failed += batch.len();
                }
            }
        }
        failed
    }
}

fn attribute(m: &Message, name: &str) -> Option<String> {
    m.message_attributes()?
        .get(name)?
        .string_value()
        .map(str::to_string)
}

fn describe(m: &Message) -> DeadLetterMessage {
    let system = |name: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&name));
    let receive_count: u64 = system(MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let sent_at = system(MessageSystemAttributeName::SentTimestamp)
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|ms| {
            DateTime::from_secs(ms.div_euclid(1000))
                .fmt(DateTimeFormat::DateTime)
                .ok()
        });
    let reason = match attribute(m, REASON_ATTRIBUTE) {
        Some(text) => Reason::Recorded { text },
        None => Reason::NotRecorded {
            receives: receive_count.saturating_sub(1),
        },
    };
    DeadLetterMessage {
        message_id: m.message_id().unwrap_or_default().to_string(),
        order_id: attribute(m, ORDER_ID_ATTRIBUTE)
            .or_else(|| order_id_in(m.body().unwrap_or_default())),
        receive_count,
        sent_at,
        reason,
        source_message_id: attribute(m, SOURCE_MESSAGE_ID_ATTRIBUTE),
    }
}

/// The order id in a body as the consumer reads it (raw, or in an SNS
/// envelope), without validating the order: a message may be here
/// because it does not validate.
fn order_id_in(body: &str) -> Option<String> {
    let inner = orderflow_host::wire::message_body(body).ok()?;
    let value: serde_json::Value = serde_json::from_str(&inner).ok()?;
    value["order"]["order_id"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests;
