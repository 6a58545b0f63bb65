//! The consumer's [`DeadLetters`] on SQS: a permanent failure is sent to
//! the dead-letter queue at once, one `SendMessageBatch` per 10, with its
//! reason and order id as message attributes (`orderflow`'s operator and
//! the console show them next to the body; the body is the message as it
//! arrived, so a redrive after a fix sends it through unchanged).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use orderflow_pipeline::{DeadLetter, DeadLetters};

/// Message attribute with the reason the consumer gave up.
pub const REASON_ATTRIBUTE: &str = "reason";
/// Message attribute with the order's id, when the message had one.
pub const ORDER_ID_ATTRIBUTE: &str = "order_id";
/// Message attribute with the id the message had on the queue.
pub const SOURCE_MESSAGE_ID_ATTRIBUTE: &str = "source_message_id";
/// How much of a reason travels: SQS caps a message with its attributes.
const REASON_MAX: usize = 1024;

#[derive(Clone, Debug)]
pub struct SqsDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, queue_url: impl Into<String>) -> SqsDeadLetters {
        SqsDeadLetters {
            client,
            queue_url: queue_url.into(),
        }
    }
}

fn text(value: &str) -> Result<MessageAttributeValue, String> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| e.to_string())
}

fn entry(id: usize, letter: &DeadLetter) -> Result<SendMessageBatchRequestEntry, String> {
    let mut reason = letter.reason.clone();
    if reason.len() > REASON_MAX {
        let mut end = REASON_MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    let mut e = SendMessageBatchRequestEntry::builder()
        .id(id.to_string())
        .message_body(&letter.body)
        .message_attributes(REASON_ATTRIBUTE, text(&reason)?)
        .message_attributes(SOURCE_MESSAGE_ID_ATTRIBUTE, text(&letter.message_id)?);
    if let Some(order_id) = &letter.order_id {
        e = e.message_attributes(ORDER_ID_ATTRIBUTE, text(order_id)?);
    }
    e.build().map_err(|e| e.to_string())
}

impl DeadLetters for SqsDeadLetters {
    async fn send_all(&self, letters: &[DeadLetter]) -> Vec<Result<(), String>> {
        let mut out: Vec<Result<(), String>> = letters
            .iter()
            .map(|_| Err("no answer from SQS".into()))
            .collect();
        for (chunk, batch) in letters.chunks(10).enumerate() {
            let base = chunk * 10;
            let mut request = self.client.send_message_batch().queue_url(&self.queue_url);
            for (i, letter) in batch.iter().enumerate() {
                match entry(base + i, letter) {
                    Ok(e) => request = request.entries(e),
                    Err(e) => out[base + i] = Err(e),
                }
            }
            match request.send().await {
                Ok(answer) => {
                    for ok in answer.successful() {
                        if let Ok(i) = ok.id().parse::<usize>() {
                            out[i] = Ok(());
                        }
                    }
                    for failed in answer.failed() {
                        if let Ok(i) = failed.id().parse::<usize>() {
                            out[i] = Err(format!(
                                "SQS {}: {}",
                                failed.code(),
                                failed.message().unwrap_or_default()
                            ));
                        }
                    }
                }
                Err(e) => {
                    let reason = format!("SendMessageBatch: {}", DisplayErrorContext(&e));
                    for r in &mut out[base..base + batch.len()] {
                        if r.is_err() {
                            *r = Err(reason.clone());
                        }
                    }
                }
            }
        }
        out
    }
}
