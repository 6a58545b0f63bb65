//! Publish and store failures injected at the client boundary.

use crate::env::*;
use orderflow_consumer::Consumer;
use orderflow_producer::Producer;
use orderflow_test_support::events::http_post;
use orderflow_test_support::ports::{FlakyPublisher, Throttle, ThrottledStore};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_failures_at_the_client_are_retried_and_the_rest_reported() {
    let env = env(|_| {}).await;
    env.publish(&example().0).await;
    // The whole first call fails, the first attempt of every other entry
    // fails retryably, and one order for good (a sender fault).
    let flaky = FlakyPublisher::new(env.stack.publisher(), |i, _| i % 2 == 0)
        .fail_first_call()
        .poison("ord-poison");
    let producer = Producer::new(env.stack.plugin_cache(env.runtime.clone()), flaky);
    let mut orders: Vec<Value> = (0..14)
        .map(|i| order(&format!("ord-{i:02}"), "EUR", 200_000 + i))
        .collect();
    orders.push(order("ord-poison", "EUR", 300_000));
    let r = invoke(&producer, json!({ "orders": orders })).await;
    assert_eq!(
        (count(&r, "published"), count(&r, "failed")),
        (14, 1),
        "{}",
        r["results"]
    );
    let failed = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == "failed")
        .unwrap();
    assert_eq!(failed["order_id"], "ord-poison");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("InvalidParameter"),
        "{failed}"
    );
    let seen = producer.publisher.attempts.lock().unwrap().clone();
    assert!(
        seen.values().any(|&n| n >= 2),
        "some entries were retried: {seen:?}"
    );

    // Over HTTP the caller learns to retry: 503, with every order's result.
    let http = producer
        .handle(http_post(
            &json!({"orders": [order("ord-poison", "EUR", 300_000)]}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(http["statusCode"], 503);

    // Each message reached the queue exactly once despite the retries.
    let drain = env.drain(&env.consumer()).await;
    assert_eq!(drain.received, 14);
    let items = env.stack.items().await.unwrap();
    assert_eq!(
        ids(&items),
        (0..14).map(|i| format!("ord-{i:02}")).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_write_returns_the_record_and_succeeds_on_redelivery() {
    let env = env(|_| {}).await;
    env.publish(&example().0).await;
    let producer = env.producer();
    let orders: Vec<Value> = (0..12)
        .map(|i| order(&format!("ord-{i:02}"), "EUR", 150_000))
        .collect();
    assert_eq!(
        count(
            &invoke(&producer, json!({ "orders": orders })).await,
            "published"
        ),
        12
    );

    // Every item's first write is refused, as DynamoDB does under a burst.
    let store = ThrottledStore::new(env.stack.store(), Throttle::FirstWrite);
    let consumer = Consumer::new(env.stack.plugin_cache(env.runtime.clone()), store);
    let drain = env.drain(&consumer).await;
    assert_eq!(
        drain.failed, 12,
        "every first write was refused and reported"
    );
    assert_eq!(drain.deleted, 12);
    let retryable = drain
        .results
        .iter()
        .filter(|r| {
            matches!(
                &r.outcome,
                orderflow_pipeline::consumer::ConsumerOutcome::Failed {
                    permanent: false,
                    ..
                }
            )
        })
        .count();
    assert_eq!(retryable, 12);
    assert_eq!(env.stack.items().await.unwrap().len(), 12);
    assert!(env.stack.dead_letters().await.unwrap().is_empty());
}
