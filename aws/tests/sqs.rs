//! Against a moto server: the consumer's dead-letter queue adapter sends
//! each letter with its reason and order id findable as message attributes.

use orderflow_aws::sqs::{ORDER_ID_ATTRIBUTE, REASON_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE};
use orderflow_aws::{SqsDeadLetters, clients};
use orderflow_pipeline::{DeadLetter, DeadLetters};
use orderflow_test_support::dead_letters::receive_all;
use orderflow_test_support::moto::MotoServer;

fn letter(i: usize, order_id: Option<&str>) -> DeadLetter {
    DeadLetter {
        message_id: format!("m-{i}"),
        order_id: order_id.map(String::from),
        body: format!("body {i}"),
        reason: format!("malformed message {i}"),
    }
}

#[tokio::test]
async fn dead_letters_carry_their_reason_and_order_id() {
    let moto = MotoServer::start().unwrap();
    let sqs = clients::sqs(&moto.sdk_config().await);
    let url = sqs
        .create_queue()
        .queue_name("dlq")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let dead = SqsDeadLetters::new(sqs.clone(), &url);
    // 12 letters: two batches.
    let letters: Vec<DeadLetter> = (0..12)
        .map(|i| letter(i, (i % 2 == 0).then_some("ord-7")))
        .collect();
    let sent = dead.send_all(&letters).await;
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");

    let mut found = Vec::new();
    for m in receive_all(&sqs, &url).await {
        let attrs = m.message_attributes().unwrap();
        let get = |k: &str| {
            attrs
                .get(k)
                .and_then(|v| v.string_value())
                .map(String::from)
        };
        found.push((
            m.body().unwrap().to_string(),
            get(REASON_ATTRIBUTE),
            get(ORDER_ID_ATTRIBUTE),
            get(SOURCE_MESSAGE_ID_ATTRIBUTE),
        ));
    }
    found.sort();
    assert_eq!(found.len(), 12);
    let (body, reason, order_id, source) = found.iter().find(|f| f.0 == "body 4").unwrap();
    assert_eq!(body, "body 4");
    assert_eq!(reason.as_deref(), Some("malformed message 4"));
    assert_eq!(order_id.as_deref(), Some("ord-7"));
    assert_eq!(source.as_deref(), Some("m-4"));
    let odd = found.iter().find(|f| f.0 == "body 5").unwrap();
    assert_eq!(odd.2, None, "no order id, no attribute");

    // A queue that does not exist: every letter is answered with the error.
    let gone = SqsDeadLetters::new(sqs, format!("{}-gone", url));
    let sent = gone.send_all(&letters[..3]).await;
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|r| r.as_ref().unwrap_err().contains("SendMessageBatch")),
        "{sent:?}"
    );
}
