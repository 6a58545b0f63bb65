//! When the DLQ alarm fires: a poison order is dead-lettered with its
//! reason, the operator's listing shows it, the cause is fixed (a plugin
//! set that accepts it is published) and a redrive sends it back, where
//! it is stored. Through `orderflow_aws::dlq`, which `orderflow dlq` runs.

use crate::env::*;
use orderflow_aws::dlq::{DeadLetterQueue, Reason, RedriveMethod, RedriveReport};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_order_is_listed_with_its_reason_and_stored_after_the_fix_and_a_redrive() {
    // The consumer checks the manifest on every batch, so the fix is seen at once.
    let env = env(|s| {
        s.parameter("RefreshSeconds", "0");
    })
    .await;
    // A bad change: normalize may answer no more than 64 bytes, which no
    // order fits, so every order is a permanent failure in the consumer.
    let mut broken = example().0.clone();
    broken.transforms[0].limits.max_output_bytes = Some(64);
    env.publish(&broken).await;
    let producer = env.producer();
    let consumer = env.consumer();

    let r = invoke(&producer, json!(order("ord-poison", "EUR", 500_000))).await;
    assert_eq!(count(&r, "published"), 1, "{r}");
    let drain = env.drain(&consumer).await;
    assert_eq!((drain.deleted, drain.failed), (1, 0), "to the DLQ at once");
    assert!(env.stack.items().await.unwrap().is_empty());

    let dlq = DeadLetterQueue::new(env.stack.sqs.clone(), &env.stack.dlq_url);
    let listing = dlq.list(100).await.unwrap();
    assert_eq!(listing.messages.len(), 1, "{listing:?}");
    let m = &listing.messages[0];
    assert_eq!(m.order_id.as_deref(), Some("ord-poison"));
    assert_eq!(m.receive_count, 1);
    let Reason::Recorded { text } = &m.reason else {
        panic!("the consumer recorded why: {m:?}");
    };
    assert!(text.contains("normalize") && text.contains("64"), "{text}");

    // The fix, then the redrive (moto has no move task: by copy).
    env.publish(&example().0).await;
    let report = dlq
        .redrive(
            &env.stack.queue_url,
            RedriveMethod::Auto,
            Duration::from_secs(30),
            100,
        )
        .await
        .unwrap();
    assert!(
        matches!(report, RedriveReport::Copied { moved: 1, .. }) && report.complete(),
        "{report:?}"
    );
    assert!(dlq.list(100).await.unwrap().messages.is_empty());

    let drain = env.drain(&consumer).await;
    assert_eq!((drain.received, drain.deleted, drain.failed), (1, 1, 0));
    assert_eq!(ids(&env.stack.items().await.unwrap()), ["ord-poison"]);
    assert!(dlq.list(100).await.unwrap().messages.is_empty());
}
