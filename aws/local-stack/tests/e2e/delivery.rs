//! High-value orders land in the table once each; malformed messages end in the DLQ.

use crate::env::*;
use aws_lambda_events::sqs::SqsEvent;
use orderflow_test_support::events::{http_body, http_post};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_value_orders_land_in_the_table_transformed_once_each() {
    let env = env(|_| {}).await;
    let revision = env.publish(&example().0).await;
    let producer = env.producer();
    let consumer = env.consumer();

    // A batch by direct invocation, one order over the HTTP API.
    let orders = sample_orders();
    let (http_order, batch) = orders.split_last().unwrap();
    let response = invoke(&producer, json!({ "orders": batch })).await;
    assert_eq!(response["revision"], json!(revision));
    assert_eq!(response["results"].as_array().unwrap().len(), batch.len());
    assert_eq!(
        count(&response, "failed") + count(&response, "rejected"),
        0,
        "{}",
        response["summary"]
    );
    let mut expected = published(&response);
    assert!(
        !expected.is_empty() && count(&response, "not_high_value") > 0,
        "{}",
        response["summary"]
    );

    let http = producer
        .handle(http_post(&http_order.to_string()))
        .await
        .unwrap();
    assert_eq!(http["statusCode"], 200, "{http}");
    expected.extend(published(&http_body(&http)));
    expected.sort();

    let drain = env.drain(&consumer).await;
    assert_eq!(
        (drain.received, drain.deleted, drain.failed),
        (expected.len(), expected.len(), 0)
    );
    let items = env.stack.items().await.unwrap();
    assert_eq!(ids(&items), expected, "exactly the high-value orders");
    let sent: HashMap<&str, &Value> = orders
        .iter()
        .map(|o| (o["order_id"].as_str().unwrap(), &o["attributes"]))
        .collect();
    let mut redacted = 0;
    for item in &items {
        assert_eq!(item["RuleSetRevision"], json!(revision));
        assert_eq!(item["HighValue"], json!(true));
        assert!(
            item["DisplayTotal"].is_string() && item["ItemCount"].is_i64(),
            "normalize ran: {item}"
        );
        // Each PII attribute the order was sent with is stored, redacted.
        let attrs = item["Attributes"].as_object().unwrap();
        let sent = sent[item["OrderId"].as_str().unwrap()];
        for key in ["email", "phone"]
            .into_iter()
            .filter(|k| sent.get(k).is_some())
        {
            let stored = attrs
                .get(key)
                .unwrap_or_else(|| panic!("{key} was sent and is stored: {item}"));
            assert!(
                stored.as_str().unwrap().contains("***") && *stored != sent[key],
                "redact-pii ran: {item}"
            );
            redacted += 1;
        }
    }
    assert!(redacted > 0, "the sample orders carry PII to redact");
    // The same items as the in-process pipeline stores for the same input.
    let embedded = embedded_items(&example().0, &orders).await;
    assert_eq!(without_revision(&items), without_revision(&embedded));

    // Delivered twice: the event source mapping invokes the consumer, the
    // delete is lost, the message comes back after its visibility timeout.
    let again = invoke(&producer, json!({ "orders": batch })).await;
    assert_eq!(published(&again).len(), published(&response).len());
    let mapping = env.stack.event_source();
    let event: SqsEvent = mapping
        .receive(1)
        .await
        .unwrap()
        .expect("messages are waiting");
    // Raw message delivery: the body is the producer's message, its
    // attributes are SQS message attributes.
    let record = &event.records[0];
    assert!(
        record.body.as_deref().unwrap().starts_with("{\"order\":"),
        "{:?}",
        record.body
    );
    assert_eq!(
        record.message_attributes["revision"]
            .string_value
            .as_deref(),
        Some(revision.as_str())
    );
    let first = consumer.handle(event.clone()).await.unwrap();
    assert!(first.batch_item_failures.is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let drain = mapping.drain(&consumer, DRAIN).await.unwrap();
    assert_eq!(
        drain.received,
        published(&again).len(),
        "every message once more, the redelivered ones included"
    );
    let after = env.stack.items().await.unwrap();
    assert_eq!(after, items, "redelivery and republishing change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_go_to_the_dead_letter_queue_at_once_with_their_reason() {
    let env = env(|_| {}).await;
    env.publish(&example().0).await;
    let producer = env.producer();
    let consumer = env.consumer();

    let good = invoke(&producer, json!(order("ord-good", "EUR", 500_000))).await;
    assert_eq!(count(&good, "published"), 1);
    env.stack.send_raw("this is not JSON").await.unwrap();
    let envelope = json!({"Type": "Notification", "MessageId": "m", "TopicArn": env.stack.topic_arn,
                          "Message": json!({"order": {"order_id": "ord-bad"}, "decision": {}}).to_string()});
    env.stack.send_raw(&envelope.to_string()).await.unwrap();

    let drain = env.drain(&consumer).await;
    assert!(
        drain.invocation_errors.is_empty(),
        "{:?}",
        drain.invocation_errors
    );
    // Received once each, not the queue's receive limit: nothing to retry.
    assert_eq!(drain.failed, 0, "a permanent failure is not retried");
    assert_eq!(drain.deleted, 3, "the bad ones leave the queue for the DLQ");
    let reasons: HashSet<String> = drain
        .results
        .iter()
        .filter_map(|r| match &r.outcome {
            orderflow_pipeline::consumer::ConsumerOutcome::Failed {
                reason,
                permanent: true,
            } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().all(|r| r.starts_with("malformed message")),
        "{reasons:?}"
    );

    assert_eq!(ids(&env.stack.items().await.unwrap()), ["ord-good"]);
    let mut dead = env.stack.dead_letters_with_reasons().await.unwrap();
    dead.sort();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0].0, "this is not JSON");
    assert!(
        dead[1].0.contains("ord-bad"),
        "the SNS-enveloped one: {}",
        dead[1].0
    );
    for (_, reason) in &dead {
        let reason = reason.as_deref().expect("each with its reason");
        assert!(reasons.contains(reason), "{reason} in {reasons:?}");
    }
}
