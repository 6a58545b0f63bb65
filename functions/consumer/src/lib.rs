//! The consumer function's handler, apart from Lambda so it can be tested
//! without it.
//!
//! An SQS batch (up to the event source mapping's batch size) is processed
//! with the pipeline's `consume_all` (raw bodies and SNS envelopes alike):
//! each record transformed on its own, the items written together, 25 per
//! `BatchWriteItem`; the answer lists the records that failed in
//! `batchItemFailures` (the mapping has `ReportBatchItemFailures`), so only
//! those return to the queue and, past its `maxReceiveCount`, move to the
//! dead-letter queue. A record that would fail the same way on every
//! delivery (malformed, refused by a transform, too large) is sent to the
//! dead-letter queue at once instead, with its reason and order id as
//! message attributes, and deleted from the queue. One bad message never
//! fails the batch.
//!
//! The whole invocation fails (and every record comes back) only when no
//! transform chain can be loaded at all, or when a record has no message id
//! to report it by (the event source mapping always sets one).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use orderflow_host::TransformChain;
use orderflow_pipeline::consumer::{
    ConsumerOutcome, ConsumerResult, IncomingMessage, consume_all_until,
};
use orderflow_pipeline::reload::{PluginCache, RefreshError};
use orderflow_pipeline::{DeadLetter, DeadLetters, ItemStore, NoDeadLetters};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("no transform chain is available: {0}")]
    Plugins(#[from] RefreshError),
    #[error(
        "record {index} of the batch has no messageId, so its failure could not be reported alone; failing the whole batch"
    )]
    NoMessageId { index: usize },
}

/// The records of an SQS event as the pipeline's messages. A record
/// without a body becomes an empty body, which `consume` reports malformed.
pub fn messages(event: &SqsEvent) -> Result<Vec<IncomingMessage>, HandlerError> {
    event
        .records
        .iter()
        .enumerate()
        .map(|(index, r)| match r.message_id.as_deref() {
            Some(id) if !id.is_empty() => Ok(IncomingMessage {
                message_id: id.to_string(),
                body: r.body.clone().unwrap_or_default(),
            }),
            _ => Err(HandlerError::NoMessageId { index }),
        })
        .collect()
}

/// Consumes every record; the response names the ones to retry. A
/// permanent failure goes to `dead_letters` at once, with its reason, and
/// is not retried; one that cannot be sent there is retried like the others.
pub async fn consume_batch<S: ItemStore, D: DeadLetters>(
    transforms: &TransformChain,
    store: &S,
    dead_letters: &D,
    event: &SqsEvent,
    until: Option<Instant>,
) -> Result<(SqsBatchResponse, Vec<ConsumerResult>), HandlerError> {
    let started = Instant::now();
    let messages = messages(event)?;
    let results = consume_all_until(transforms, store, &messages, until).await;
    let letters: Vec<DeadLetter> = results
        .iter()
        .zip(&messages)
        .filter_map(|(r, m)| match &r.outcome {
            ConsumerOutcome::Failed {
                reason,
                permanent: true,
            } => Some(DeadLetter {
                message_id: r.message_id.clone(),
                order_id: r.order_id.clone(),
                body: m.body.clone(),
                reason: reason.clone(),
            }),
            _ => None,
        })
        .collect();
    let mut sent = dead_letters.send_all(&letters).await.into_iter();
    let mut response = SqsBatchResponse::default();
    let mut dead_lettered = 0usize;
    for (result, record) in results.iter().zip(&event.records) {
        let ConsumerOutcome::Failed { reason, permanent } = &result.outcome else {
            continue;
        };
        let receive_count = record
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str);
        if *permanent {
            match sent.next() {
                Some(Ok(())) => {
                    dead_lettered += 1;
                    tracing::error!(
                        message_id = %result.message_id, order_id = result.order_id.as_deref(), receive_count,
                        "moved to the dead-letter queue: {reason}"
                    );
                    continue;
                }
                Some(Err(e)) => tracing::warn!(
                    message_id = %result.message_id, "could not be sent to the dead-letter queue: {e}"
                ),
                None => {}
            }
        }
        tracing::warn!(
            message_id = %result.message_id, order_id = result.order_id.as_deref(), permanent = *permanent,
            receive_count, "record returned to the queue: {reason}"
        );
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = result.message_id.clone();
        response.batch_item_failures.push(failure);
    }
    tracing::info!(
        revision = %transforms.revision, records = results.len(), failed = response.batch_item_failures.len(),
        dead_lettered,
        micros = started.elapsed().as_micros() as u64, "batch consumed"
    );
    Ok((response, results))
}

pub struct Consumer<S, D = NoDeadLetters> {
    pub plugins: Arc<PluginCache<TransformChain>>,
    pub store: S,
    pub dead_letters: D,
}

impl<S: ItemStore> Consumer<S> {
    pub fn new(plugins: Arc<PluginCache<TransformChain>>, store: S) -> Consumer<S> {
        Consumer {
            plugins,
            store,
            dead_letters: NoDeadLetters,
        }
    }
}

impl<S: ItemStore, D: DeadLetters> Consumer<S, D> {
    /// Sends permanent failures to `dead_letters` at once.
    pub fn with_dead_letters<L: DeadLetters>(self, dead_letters: L) -> Consumer<S, L> {
        Consumer {
            plugins: self.plugins,
            store: self.store,
            dead_letters,
        }
    }

    /// One Lambda event → the batch response.
    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, HandlerError> {
        Ok(self.handle_with_results(event).await?.0)
    }

    /// As [`handle`](Self::handle), every transform call cut off at `until`
    /// (the invocation's end less what writing and answering take).
    pub async fn handle_until(
        &self,
        event: SqsEvent,
        until: Instant,
    ) -> Result<SqsBatchResponse, HandlerError> {
        Ok(self.handle_with_results_until(event, Some(until)).await?.0)
    }

    /// As [`handle`](Self::handle), with each record's result (for reports and tests).
    pub async fn handle_with_results(
        &self,
        event: SqsEvent,
    ) -> Result<(SqsBatchResponse, Vec<ConsumerResult>), HandlerError> {
        self.handle_with_results_until(event, None).await
    }

    async fn handle_with_results_until(
        &self,
        event: SqsEvent,
        until: Option<Instant>,
    ) -> Result<(SqsBatchResponse, Vec<ConsumerResult>), HandlerError> {
        let transforms = self.plugins.current().await.inspect_err(|e| {
            tracing::error!(
                records = event.records.len(),
                "failing the whole batch: no transform chain: {e}"
            )
        })?;
        consume_batch(
            &transforms.set,
            &self.store,
            &self.dead_letters,
            &event,
            until,
        )
        .await
        .inspect_err(|e| tracing::error!("{e}"))
    }
}
