//! Lambda's SQS event source mapping, emulated: the consumer handler
//! driven from the queue as Lambda drives it (moto cannot run functions).

use anyhow::{Context, Result, bail};
use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use orderflow_consumer::Consumer;
use orderflow_pipeline::consumer::ConsumerResult;
use orderflow_pipeline::{DeadLetters, ItemStore};
use std::time::{Duration, Instant};

/// What one poll of the event source mapping did.
#[derive(Debug, Default, Clone)]
pub struct Poll {
    pub received: usize,
    pub deleted: usize,
    /// Records the consumer reported in `batchItemFailures`.
    pub failed: usize,
    /// The invocation itself failed (every record returns to the queue).
    pub invocation_error: Option<String>,
    pub results: Vec<ConsumerResult>,
}

/// What a drain did in total.
#[derive(Debug, Default, Clone)]
pub struct Drain {
    pub invocations: usize,
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
    pub invocation_errors: Vec<String>,
    pub results: Vec<ConsumerResult>,
}

/// Emulates Lambda's SQS event source mapping: receive up to 10 messages,
/// invoke the consumer with an `SqsEvent` built from them, delete the ones
/// not reported in `batchItemFailures`, and leave the rest to reappear after
/// the visibility timeout (SQS moves them to the DLQ past `maxReceiveCount`).
pub struct EventSourceMapping {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
    /// Visibility timeout given on each receive; `None`: the queue's own.
    pub visibility_timeout: Option<i32>,
}

impl EventSourceMapping {
    /// Receives one batch of up to `batch_size` records, as the mapping
    /// does: ReceiveMessage gives at most 10, so it receives again while
    /// messages keep coming (the batching window, without its wait);
    /// `None` if the queue had nothing visible.
    pub async fn receive(&self, wait_seconds: i32) -> Result<Option<SqsEvent>> {
        let mut messages = Vec::new();
        while messages.len() < self.batch_size as usize {
            let wanted = (self.batch_size as usize - messages.len()).min(10) as i32;
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(if messages.is_empty() { wait_seconds } else { 0 })
                .set_visibility_timeout(self.visibility_timeout)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .context("ReceiveMessage")?;
            if out.messages().is_empty() {
                break;
            }
            messages.extend_from_slice(out.messages());
        }
        if messages.is_empty() {
            return Ok(None);
        }
        let region = self
            .queue_arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_string();
        let mut event = SqsEvent::default();
        for m in &messages {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id().map(str::to_string);
            r.receipt_handle = m.receipt_handle().map(str::to_string);
            r.body = m.body().map(str::to_string);
            r.md5_of_body = m.md5_of_body().map(str::to_string);
            r.md5_of_message_attributes = m.md5_of_message_attributes().map(str::to_string);
            r.attributes = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            r.message_attributes = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            let mut attr = SqsMessageAttribute::default();
                            attr.string_value = v.string_value().map(str::to_string);
                            attr.string_list_values = v.string_list_values().to_vec();
                            attr.data_type = Some(v.data_type().to_string());
                            (k.clone(), attr)
                        })
                        .collect()
                })
                .unwrap_or_default();
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(self.queue_arn.clone());
            r.aws_region = Some(region.clone());
            event.records.push(r);
        }
        Ok(Some(event))
    }

    /// Deletes the records of `event` whose message ids are not in `failed`.
    pub async fn delete_succeeded(&self, event: &SqsEvent, failed: &[String]) -> Result<usize> {
        let mut deleted = 0;
        for r in &event.records {
            if r.message_id.as_ref().is_some_and(|id| failed.contains(id)) {
                continue;
            }
            let Some(handle) = &r.receipt_handle else {
                continue;
            };
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .context("DeleteMessage")?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// One receive → invoke → delete cycle.
    pub async fn poll<S: ItemStore, D: DeadLetters>(
        &self,
        consumer: &Consumer<S, D>,
        wait_seconds: i32,
    ) -> Result<Poll> {
        let Some(event) = self.receive(wait_seconds).await? else {
            return Ok(Poll::default());
        };
        let mut poll = Poll {
            received: event.records.len(),
            ..Poll::default()
        };
        match consumer.handle_with_results(event.clone()).await {
            Ok((response, results)) => {
                let failed: Vec<String> = response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect();
                poll.failed = failed.len();
                poll.deleted = self.delete_succeeded(&event, &failed).await?;
                poll.results = results;
            }
            Err(e) => poll.invocation_error = Some(e.to_string()),
        }
        Ok(poll)
    }

    /// (visible, in flight) messages.
    pub async fn depth(&self) -> Result<(u64, u64)> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .context("GetQueueAttributes")?;
        let get = |n: QueueAttributeName| -> u64 {
            out.attributes()
                .and_then(|a| a.get(&n))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    /// Polls until the queue is empty (nothing visible or in flight), or
    /// fails after `timeout`.
    pub async fn drain<S: ItemStore, D: DeadLetters>(
        &self,
        consumer: &Consumer<S, D>,
        timeout: Duration,
    ) -> Result<Drain> {
        let started = Instant::now();
        let mut drain = Drain::default();
        loop {
            let poll = self.poll(consumer, 0).await?;
            if poll.received > 0 {
                drain.invocations += 1;
                drain.received += poll.received;
                drain.deleted += poll.deleted;
                drain.failed += poll.failed;
                drain.invocation_errors.extend(poll.invocation_error);
                drain.results.extend(poll.results);
                continue;
            }
            if self.depth().await? == (0, 0) {
                return Ok(drain);
            }
            if started.elapsed() > timeout {
                bail!(
                    "the queue did not drain within {timeout:?}: {:?} messages (visible, in flight) left",
                    self.depth().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
