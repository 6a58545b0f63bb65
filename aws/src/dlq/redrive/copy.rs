//! A redrive by copy, where the server has no message-move task (or the
//! operator asks for one): receive, `SendMessageBatch` to the queue,
//! `DeleteMessageBatch` of exactly the entries that were sent. A message
//! not sent stays in the DLQ, visible again at the end; one sent but not
//! deleted is in both queues (the consumer's write is idempotent), and is
//! never sent twice. Standard queues only (a FIFO queue needs a message
//! group per send).

use super::super::{DeadLetterQueue, DlqError, failure};
use super::{CopyFailure, RedriveReport};
use crate::sqs::{ORDER_ID_ATTRIBUTE, REASON_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, SendMessageBatchRequestEntry};
use std::collections::{BTreeMap, BTreeSet};

/// How long a message being copied stays invisible: one batch's send and
/// delete take well under it.
const COPY_VISIBILITY_SECONDS: i32 = 60;

impl DeadLetterQueue {
    /// Copies at most `max` messages back to `queue_url`; `why` is why not
    /// by a move task.
    pub(super) async fn copy(
        &self,
        queue_url: &str,
        max: usize,
        why: String,
    ) -> Result<RedriveReport, DlqError> {
        let mut moved = 0;
        let mut failed: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut not_deleted = Vec::new();
        let mut stop: Option<DlqError> = None;
        loop {
            let done = moved + failed.len() + not_deleted.len();
            if done >= max {
                break;
            }
            let answer = self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages((max - done).min(10) as i32)
                .visibility_timeout(COPY_VISIBILITY_SECONDS)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    stop = Some(failure("ReceiveMessage", &self.dlq_url, &e));
                    break;
                }
            };
            let batch: Vec<&Message> = answer
                .messages()
                .iter()
                .filter(|m| m.message_id().is_some() && m.receipt_handle().is_some())
                .collect();
            // Only a message not sent, or sent and not deleted, comes round
            // again here: each is tried once (a failed one keeps its newest
            // handle, to be made visible at the end).
            let fresh: Vec<&Message> = batch
                .iter()
                .copied()
                .filter(|m| {
                    let id = m.message_id().unwrap();
                    if let Some(entry) = failed.get_mut(id) {
                        entry.1 = m.receipt_handle().unwrap().to_string();
                        return false;
                    }
                    !not_deleted.iter().any(|n| n == id)
                })
                .collect();
            if fresh.is_empty() {
                break;
            }
            let mut request = self.client.send_message_batch().queue_url(queue_url);
            for (i, m) in fresh.iter().enumerate() {
                request = request.entries(resend(i, m));
            }
            let sent = match request.send().await {
                Ok(a) => a,
                Err(e) => {
                    let e = failure("SendMessageBatch", queue_url, &e);
                    for m in &fresh {
                        let (id, handle) = (m.message_id().unwrap(), m.receipt_handle().unwrap());
                        failed.insert(id.into(), (e.to_string(), handle.into()));
                    }
                    stop = Some(e);
                    break;
                }
            };
            let ok: BTreeSet<usize> = sent
                .successful()
                .iter()
                .filter_map(|s| s.id().parse().ok())
                .collect();
            for f in sent.failed() {
                if let Some(m) = f.id().parse::<usize>().ok().and_then(|i| fresh.get(i)) {
                    let reason = format!("SQS {}: {}", f.code(), f.message().unwrap_or_default());
                    failed.insert(
                        m.message_id().unwrap().into(),
                        (reason, m.receipt_handle().unwrap().into()),
                    );
                }
            }
            let sent: Vec<&Message> = ok.iter().filter_map(|&i| fresh.get(i).copied()).collect();
            let gone = self.delete(&sent).await;
            for m in &sent {
                match gone.contains(m.message_id().unwrap()) {
                    true => moved += 1,
                    false => not_deleted.push(m.message_id().unwrap().to_string()),
                }
            }
        }
        let handles: Vec<String> = failed.values().map(|(_, h)| h.clone()).collect();
        self.release(&handles).await;
        let stopped = match stop {
            // Nothing went anywhere: the error is the answer.
            Some(e) if moved == 0 && not_deleted.is_empty() => return Err(e),
            stop => stop.map(|e| e.to_string()),
        };
        Ok(RedriveReport::Copied {
            moved,
            stopped,
            failed: failed
                .into_iter()
                .map(|(message_id, (reason, _))| CopyFailure { message_id, reason })
                .collect(),
            not_deleted,
            why,
        })
    }

    /// Deletes messages from the DLQ; the ids of those deleted.
    async fn delete(&self, messages: &[&Message]) -> BTreeSet<String> {
        let mut gone = BTreeSet::new();
        if messages.is_empty() {
            return gone;
        }
        let mut request = self.client.delete_message_batch().queue_url(&self.dlq_url);
        for (i, m) in messages.iter().enumerate() {
            if let Ok(entry) = DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
            {
                request = request.entries(entry);
            }
        }
        match request.send().await {
            Ok(answer) => {
                for ok in answer.successful() {
                    if let Some(m) = ok.id().parse::<usize>().ok().and_then(|i| messages.get(i)) {
                        gone.insert(m.message_id().unwrap_or_default().to_string());
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "DeleteMessageBatch after a redrive's send failed")
            }
        }
        gone
    }
}

/// A DLQ message as it goes back: its body and attributes, less the
/// consumer's record of why it failed.
fn resend(i: usize, m: &Message) -> SendMessageBatchRequestEntry {
    let mut entry = SendMessageBatchRequestEntry::builder()
        .id(i.to_string())
        .message_body(m.body().unwrap_or_default());
    for (name, value) in m.message_attributes().into_iter().flatten() {
        if ![
            REASON_ATTRIBUTE,
            ORDER_ID_ATTRIBUTE,
            SOURCE_MESSAGE_ID_ATTRIBUTE,
        ]
        .contains(&name.as_str())
        {
            entry = entry.message_attributes(name, value.clone());
        }
    }
    entry.build().expect("an id and a body are set")
}
