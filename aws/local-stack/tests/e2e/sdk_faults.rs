//! Faults at the AWS boundary, below the real SDK clients
//! (`orderflow_test_support::faults`): the SDK's own retry (standard mode,
//! jittered backoff, bounded attempts, here with a shorter first backoff)
//! meets throttling, partial batch failures, 503s, slow and tampered
//! objects, and a consumer that dies mid-batch. moto produces none of these
//! itself (see the injector's notes).

use crate::env::*;
use orderflow_aws::{DynamoStore, S3Source, clients};
use orderflow_consumer::Consumer;
use orderflow_pipeline::consumer::ConsumerOutcome;
use orderflow_pipeline::reload::PluginCache;
use orderflow_producer::Producer;
use orderflow_test_support::faults::{Fault, Faults, quick_standard_retries};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub fn faulty_sns(faults: &Arc<Faults>, c: &aws_sdk_sns::Client) -> aws_sdk_sns::Client {
    let c = faults.sns(c);
    aws_sdk_sns::Client::from_conf(
        c.config()
            .to_builder()
            .retry_config(quick_standard_retries())
            .build(),
    )
}

pub fn faulty_s3(faults: &Arc<Faults>, c: &aws_sdk_s3::Client) -> aws_sdk_s3::Client {
    let c = faults.s3(c);
    aws_sdk_s3::Client::from_conf(
        c.config()
            .to_builder()
            .retry_config(quick_standard_retries())
            .build(),
    )
}

pub fn faulty_dynamodb(
    faults: &Arc<Faults>,
    c: &aws_sdk_dynamodb::Client,
) -> aws_sdk_dynamodb::Client {
    let c = faults.dynamodb(c);
    let config = c
        .config()
        .to_builder()
        .retry_config(quick_standard_retries());
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

fn high_value(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| order(&format!("ord-{i:03}"), "EUR", 200_000 + i as u64))
        .collect()
}

fn results_by_status<'a>(r: &'a Value, status: &str) -> Vec<&'a Value> {
    let all = r["results"].as_array().unwrap();
    all.iter().filter(|x| x["status"] == status).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_throttling_and_partial_failures_end_published_once_or_failed_with_a_reason() {
    let mut env = env(|_| {}).await;
    env.publish(&example().0).await;
    let faults = Faults::seeded(12)
        .rate(Fault::Throttled, 0.3)
        .rate(Fault::EntryFailed, 0.25)
        .rate(Fault::EntryRefused, 0.04)
        .only(|c| c.action == "PublishBatch")
        .shared();
    env.stack.sns = faulty_sns(&faults, &env.stack.sns);
    env.moto.start_recording().unwrap();
    let producer = env.producer();
    let r = invoke(&producer, json!({ "orders": high_value(80) })).await;

    let published: BTreeSet<String> = published(&r).into_iter().collect();
    let failed = results_by_status(&r, "failed");
    assert_eq!(published.len() + failed.len(), 80, "{}", r["results"]);
    for f in &failed {
        let reason = f["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("publish failed after")
                && ["InvalidParameter", "InternalError", "Throttling"]
                    .iter()
                    .any(|c| reason.contains(c)),
            "{f}"
        );
    }
    let injected = faults.injected();
    println!(
        "injected: {injected:?}; published {}, failed {}",
        published.len(),
        failed.len()
    );
    for kind in [Fault::Throttled, Fault::EntryFailed, Fault::EntryRefused] {
        assert!(
            faults.count(kind) > 0,
            "{kind:?} was injected: {injected:?}"
        );
    }
    // A refusal is final: its order is answered after one attempt.
    assert!(
        failed.iter().any(|f| f["reason"]
            .as_str()
            .unwrap()
            .contains("after 1 attempt(s): SNS InvalidParameter")),
        "{failed:?}"
    );
    // The SDK retried the throttled calls: more calls left the client than
    // reached the server, and every refused call was tried again.
    let reached = env.moto.calls("PublishBatch");
    assert!(
        faults.calls("PublishBatch") >= reached + faults.count(Fault::Throttled) as usize,
        "{} calls, {reached} reached moto",
        faults.calls("PublishBatch")
    );
    assert!(
        published.len() >= 60,
        "most orders got through: {}",
        published.len()
    );

    // Published exactly once: the queue holds one message per published order.
    let drain = env.drain(&env.consumer()).await;
    assert_eq!(drain.received, published.len());
    let stored: BTreeSet<String> = ids(&env.stack.items().await.unwrap()).into_iter().collect();
    assert_eq!(stored, published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_throttling_and_unprocessed_items_end_written_or_in_batch_item_failures() {
    let env = env(|_| {}).await;
    env.publish(&example().0).await;
    let orders = high_value(60);
    let r = invoke(&env.producer(), json!({ "orders": orders })).await;
    assert_eq!(count(&r, "published"), 60);

    let faults = Faults::seeded(3)
        .rate(Fault::Throttled, 0.35)
        .rate(Fault::Unprocessed, 0.5)
        .only(|c| c.action == "BatchWriteItem")
        .shared();
    let store = DynamoStore::new(
        faulty_dynamodb(&faults, &env.stack.dynamodb),
        &env.stack.table,
    );
    let consumer = Consumer::new(env.stack.plugin_cache(env.runtime.clone()), store);

    // One invocation: each record is stored, or returned in batchItemFailures.
    let mapping = env.stack.event_source();
    let poll = mapping.poll(&consumer, 0).await.unwrap();
    assert_eq!(poll.received, 60);
    let stored: BTreeSet<String> = ids(&env.stack.items().await.unwrap()).into_iter().collect();
    let mut returned = 0;
    for result in &poll.results {
        let id = result.order_id.clone().unwrap();
        match &result.outcome {
            ConsumerOutcome::Stored { .. } => assert!(stored.contains(&id), "{id}"),
            ConsumerOutcome::Failed { reason, permanent } => {
                assert!(
                    !permanent && reason.contains("DynamoDB BatchWriteItem"),
                    "{reason}"
                );
                assert!(!stored.contains(&id), "{id} was reported failed yet stored");
                returned += 1;
            }
        }
    }
    assert_eq!(
        poll.failed, returned,
        "every failure is in batchItemFailures"
    );
    println!(
        "injected: {:?}; {returned} of 60 returned",
        faults.injected()
    );
    assert!(faults.count(Fault::Throttled) > 0 && faults.count(Fault::Unprocessed) > 0);

    // Redelivered until written: every order once, the content the embedded pipeline stores.
    env.drain(&consumer).await;
    let items = env.stack.items().await.unwrap();
    assert_eq!(
        without_revision(&items),
        without_revision(&embedded_items(&example().0, &orders).await)
    );
    assert!(env.stack.dead_letters().await.unwrap().is_empty());
}

/// A producer whose plugin cache reads S3 through `faults`, re-checking the
/// manifest on every event.
fn producer_on(
    env: &Env,
    faults: &Arc<Faults>,
    timeouts: aws_config::timeout::TimeoutConfig,
) -> Producer<orderflow_aws::SnsPublisher> {
    let s3 = faulty_s3(faults, &clients::s3_with(&env.stack.sdk, timeouts));
    let source = S3Source::new(s3, env.stack.plugin_location());
    let cache = Arc::new(PluginCache::new(
        source,
        env.runtime.clone(),
        Duration::ZERO,
    ));
    Producer::new(cache, env.stack.publisher())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_unavailable_slow_or_tampered_keeps_the_last_good_plugin_set() {
    let env = env(|_| {}).await;
    // The last good set lacks vip-customer, so the next one needs a new object.
    let mut smaller = example().0.clone();
    smaller.rules.remove(1);
    let short = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(300))
        .operation_timeout(Duration::from_secs(1))
        .build();
    let cases: [(&str, Faults, &[&str]); 3] = [
        (
            "unavailable",
            Faults::seeded(1).rate(Fault::Unavailable, 1.0),
            &["ServiceUnavailable", "503"],
        ),
        (
            "slow",
            Faults::seeded(2)
                .rate(Fault::Slow, 1.0)
                .slow_for(Duration::from_secs(2)),
            &["timed out", "timeout", "Timeout"],
        ),
        (
            "tampered",
            Faults::seeded(3)
                .rate(Fault::Tampered, 1.0)
                .only(|c| c.action == "GetObject" && c.path.ends_with(".wasm")),
            &["sha256"],
        ),
    ];
    for (what, faults, why) in cases {
        let faults = faults.shared();
        let good = env.publish(&smaller).await;
        faults.set_enabled(false);
        let producer = producer_on(&env, &faults, short.clone());
        let r = invoke(
            &producer,
            json!(order(&format!("ord-{what}-1"), "EUR", 200_000)),
        )
        .await;
        assert_eq!(r["revision"], json!(good), "{what}");

        faults.set_enabled(true);
        let next = env.publish(&example().0).await;
        let r = invoke(
            &producer,
            json!(order(&format!("ord-{what}-2"), "EUR", 200_000)),
        )
        .await;
        assert_eq!(
            r["revision"],
            json!(good),
            "{what}: the last good set keeps serving"
        );
        assert_eq!(count(&r, "published"), 1, "{what}: and decides");
        let error = producer
            .plugins
            .status()
            .await
            .last_error
            .expect("the failure is reported");
        let error = error.to_string();
        assert!(why.iter().any(|w| error.contains(w)), "{what}: {error}");
        assert!(!faults.injected().is_empty(), "{what}");

        faults.set_enabled(false);
        let r = invoke(
            &producer,
            json!(order(&format!("ord-{what}-3"), "EUR", 200_000)),
        )
        .await;
        assert_eq!(r["revision"], json!(next), "{what}: recovered");
        assert!(producer.plugins.status().await.last_error.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_dies_mid_batch_is_redelivered_and_every_item_stored_once() {
    let env = env(|_| {}).await;
    env.publish(&example().0).await;
    let orders = high_value(60);
    let r = invoke(&env.producer(), json!({ "orders": orders })).await;
    assert_eq!(count(&r, "published"), 60);

    // The second BatchWriteItem (items 26..50) never answers: the consumer
    // dies there, after the first 25 were written, and deletes nothing.
    let faults = Faults::seeded(9).hang_after("BatchWriteItem", 2).shared();
    let store = DynamoStore::new(faults.dynamodb(&env.stack.dynamodb), &env.stack.table);
    let dying = Consumer::new(env.stack.plugin_cache(env.runtime.clone()), store);
    let mapping = env.stack.event_source();
    let event = mapping.receive(0).await.unwrap().unwrap();
    assert_eq!(event.records.len(), 60);
    let died =
        tokio::time::timeout(Duration::from_secs(15), dying.handle_with_results(event)).await;
    assert!(died.is_err(), "the consumer hung and was killed");
    drop(dying);
    // (The SDK may give up on a hung attempt and try again: each hangs too.)
    assert!(faults.count(Fault::Hung) >= 1);
    let partial = env.stack.items().await.unwrap();
    assert_eq!(partial.len(), 25, "part of the batch was written");

    // The visibility timeout (1 s here) gives the batch to a new consumer.
    let drain = env.drain(&env.consumer()).await;
    assert_eq!((drain.received, drain.deleted, drain.failed), (60, 60, 0));
    let items = env.stack.items().await.unwrap();
    assert_eq!(
        without_revision(&items),
        without_revision(&embedded_items(&example().0, &orders).await),
        "every order once"
    );
    for before in &partial {
        assert!(
            items.contains(before),
            "rewritten with the same content: {before}"
        );
    }
    assert!(env.stack.dead_letters().await.unwrap().is_empty());
}
