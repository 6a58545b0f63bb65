//! The producer's [`Publisher`] on SNS: one `PublishBatch` per batch of at
//! most 10 messages (the producer stage enforces SNS's limits before it
//! calls), each entry answered on its own.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use orderflow_pipeline::{OutgoingMessage, PublishOutcome, Publisher};

#[derive(Clone, Debug)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> SnsPublisher {
        SnsPublisher {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

/// One batch entry, its attributes as SNS `String` message attributes.
pub fn batch_entry(m: &OutgoingMessage) -> Result<PublishBatchRequestEntry, String> {
    let mut entry = PublishBatchRequestEntry::builder()
        .id(&m.id)
        .message(&m.body);
    for (name, value) in &m.attributes {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| format!("message attribute {name}: {e}"))?;
        entry = entry.message_attributes(name, attr);
    }
    entry
        .build()
        .map_err(|e| format!("batch entry {}: {e}", m.id))
}

/// Maps SNS's per-entry answer. A failure the service blames on the sender
/// (`SenderFault`: a malformed entry, a bad attribute) will fail the same
/// way again; anything else (throttling, an internal error) may pass on retry.
pub fn outcomes(output: &PublishBatchOutput) -> Vec<(String, PublishOutcome)> {
    let mut out = Vec::with_capacity(output.successful().len() + output.failed().len());
    for ok in output.successful() {
        let (Some(id), Some(message_id)) = (ok.id(), ok.message_id()) else {
            tracing::warn!(entry = ?ok.id(), "SNS reported a successful entry without an id or message id");
            continue;
        };
        out.push((
            id.to_string(),
            PublishOutcome::Published {
                message_id: message_id.to_string(),
            },
        ));
    }
    for failed in output.failed() {
        let reason = match failed.message() {
            Some(m) if !m.is_empty() => format!("SNS {}: {m}", failed.code()),
            _ => format!("SNS {}", failed.code()),
        };
        out.push((
            failed.id().to_string(),
            PublishOutcome::Failed {
                reason,
                retryable: !failed.sender_fault(),
            },
        ));
    }
    out
}

impl Publisher for SnsPublisher {
    async fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<(String, PublishOutcome)>, String> {
        let mut entries = Vec::with_capacity(batch.len());
        let mut refused = Vec::new();
        for m in batch {
            match batch_entry(m) {
                Ok(e) => entries.push(e),
                Err(reason) => refused.push((
                    m.id.clone(),
                    PublishOutcome::Failed {
                        reason,
                        retryable: false,
                    },
                )),
            }
        }
        if entries.is_empty() {
            return Ok(refused);
        }
        let output = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "SNS PublishBatch to {}: {}",
                    self.topic_arn,
                    DisplayErrorContext(&e)
                )
            })?;
        let mut answers = outcomes(&output);
        answers.extend(refused);
        Ok(answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::types::{BatchResultErrorEntry, PublishBatchResultEntry};

    #[test]
    fn entries_carry_string_attributes() {
        let m = OutgoingMessage {
            id: "m0".into(),
            body: "{}".into(),
            attributes: vec![
                ("revision".into(), "sha256:ab".into()),
                ("tier".into(), "gold".into()),
            ],
        };
        let e = batch_entry(&m).unwrap();
        assert_eq!(e.id(), "m0");
        let attrs = e.message_attributes().unwrap();
        assert_eq!(attrs["tier"].data_type(), "String");
        assert_eq!(attrs["revision"].string_value(), Some("sha256:ab"));
    }

    #[test]
    fn sender_faults_are_final_and_service_faults_retryable() {
        let output = PublishBatchOutput::builder()
            .successful(
                PublishBatchResultEntry::builder()
                    .id("m0")
                    .message_id("mid-0")
                    .build(),
            )
            .failed(
                BatchResultErrorEntry::builder()
                    .id("m1")
                    .code("InvalidParameter")
                    .message("bad attribute")
                    .sender_fault(true)
                    .build()
                    .unwrap(),
            )
            .failed(
                BatchResultErrorEntry::builder()
                    .id("m2")
                    .code("Throttled")
                    .sender_fault(false)
                    .build()
                    .unwrap(),
            )
            .build();
        let mut got = outcomes(&output);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![
                (
                    "m0".into(),
                    PublishOutcome::Published {
                        message_id: "mid-0".into()
                    }
                ),
                (
                    "m1".into(),
                    PublishOutcome::Failed {
                        reason: "SNS InvalidParameter: bad attribute".into(),
                        retryable: false
                    }
                ),
                (
                    "m2".into(),
                    PublishOutcome::Failed {
                        reason: "SNS Throttled".into(),
                        retryable: true
                    }
                ),
            ]
        );
    }
}
