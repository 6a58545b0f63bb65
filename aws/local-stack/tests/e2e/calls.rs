//! What the pipeline costs in AWS calls, counted by moto's request recorder:
//! 400 high-value orders, sent 100 an invocation, published 10 a
//! `PublishBatch` and stored 25 a `BatchWriteItem`.

use crate::env::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_orders_cost_forty_publishes_and_sixteen_batch_writes() {
    // Long enough that no message comes back while its batch of 100 is
    // still being processed (a redelivery would be a second write).
    let env = env(|s| s.visibility_timeout = 60).await;
    env.publish(&example().0).await;
    let producer = env.producer();
    let consumer = env.consumer();
    let orders: Vec<Value> = (0..400)
        .map(|i| order(&format!("ord-{i:04}"), "EUR", 500_000))
        .collect();

    env.moto.start_recording().unwrap();
    let mut published = 0;
    for batch in orders.chunks(100) {
        let response = invoke(&producer, json!({ "orders": batch })).await;
        published += count(&response, "published");
    }
    let drain = env.drain(&consumer).await;
    assert_eq!(published, 400);
    assert_eq!((drain.deleted, drain.failed), (400, 0));
    assert_eq!(env.stack.items().await.unwrap().len(), 400);

    let (sns, dynamodb) = (
        env.moto.calls("PublishBatch"),
        env.moto.calls("BatchWriteItem"),
    );
    let per_thousand = |n: usize| n * 1000 / 400;
    println!(
        "AWS calls for 400 stored orders: {sns} PublishBatch, {dynamodb} BatchWriteItem \
         ({} and {} per 1,000; {} PutItem)",
        per_thousand(sns),
        per_thousand(dynamodb),
        env.moto.calls("PutItem")
    );
    assert_eq!(sns, 40, "10 orders a PublishBatch");
    assert!(
        per_thousand(dynamodb) <= 40,
        "{dynamodb} BatchWriteItem calls"
    );
    assert_eq!(env.moto.calls("PutItem"), 0);
}
