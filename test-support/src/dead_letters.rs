//! A queue and its dead-letter queue holding both kinds of dead letter,
//! on a moto server (feature `moto`), for the operator's `dlq` tests.
//!
//! - 12 letters the consumer sent for permanent failures, `ord-0` …
//!   `ord-11`, reason `transform normalize refused: case <i>`, source
//!   message id `m-<i>`; the odd ones without an order id (the listing
//!   reads it from the body);
//! - 3 orders SQS itself moved after `maxReceiveCount` (2) failed
//!   deliveries, `poison-0` … `poison-2`, with no reason.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use orderflow_pipeline::{DeadLetter, DeadLetters};

/// The two queues' URLs.
pub struct DeadLettered {
    /// The high-value queue, whose redrive policy names the DLQ.
    pub queue_url: String,
    pub dlq_url: String,
}

/// The order ids [`dead_lettered`] leaves in the DLQ, sorted.
pub fn order_ids() -> Vec<String> {
    let mut ids: Vec<String> = (0..12)
        .map(|i| format!("ord-{i}"))
        .chain((0..3).map(|i| format!("poison-{i}")))
        .collect();
    ids.sort();
    ids
}

/// A high-value message's body as the producer publishes it.
pub fn body(order_id: &str) -> String {
    let mut order = crate::orders::order_value();
    order["order_id"] = order_id.into();
    serde_json::json!({"order": order, "decision": {"high_value": true}}).to_string()
}

async fn queue(sqs: &Client, name: &str, dlq_arn: Option<&str>) -> (String, String) {
    let mut create = sqs.create_queue().queue_name(name);
    if let Some(arn) = dlq_arn {
        let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": "2"});
        create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = create
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let answer = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = answer.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
    (url, arn)
}

/// Creates the queues and fills the DLQ; `consumer` is the consumer's
/// `DeadLetters` for the DLQ's URL (`orderflow_aws::SqsDeadLetters`).
pub async fn dead_lettered<D: DeadLetters>(
    sqs: &Client,
    consumer: impl FnOnce(&str) -> D,
) -> DeadLettered {
    let (dlq_url, dlq_arn) = queue(sqs, "high-value-dlq", None).await;
    let (queue_url, _) = queue(sqs, "high-value", Some(&dlq_arn)).await;
    let letters: Vec<DeadLetter> = (0..12)
        .map(|i| DeadLetter {
            message_id: format!("m-{i}"),
            order_id: (i % 2 == 0).then(|| format!("ord-{i}")),
            body: body(&format!("ord-{i}")),
            reason: format!("transform normalize refused: case {i}"),
        })
        .collect();
    let sent = consumer(&dlq_url).send_all(&letters).await;
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");
    for i in 0..3 {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(body(&format!("poison-{i}")))
            .send()
            .await
            .unwrap();
    }
    // Two deliveries that fail (visible again at once); the third receive
    // finds them past maxReceiveCount and SQS moves them to the DLQ.
    for _ in 0..9 {
        sqs.receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    DeadLettered { queue_url, dlq_url }
}

/// Every message on `queue_url` with its attributes, received until a
/// receive comes back empty. They stay in flight (not deleted) for the
/// queue's visibility timeout, so none is received twice.
pub async fn receive_all(sqs: &Client, queue_url: &str) -> Vec<Message> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            return all;
        }
        all.extend(out.messages().iter().cloned());
    }
}

/// The order id in a high-value message's body.
pub fn body_order_id(m: &Message) -> String {
    let v: serde_json::Value = serde_json::from_str(m.body().unwrap_or_default()).unwrap();
    v["order"]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The order ids of the messages on `queue_url`, received and deleted, sorted.
pub async fn drain_order_ids(sqs: &Client, queue_url: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for m in receive_all(sqs, queue_url).await {
        ids.push(body_order_id(&m));
        sqs.delete_message()
            .queue_url(queue_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    ids.sort();
    ids
}
