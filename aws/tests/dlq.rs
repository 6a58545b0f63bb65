//! Against a moto server, through the real SQS client: the operator's
//! listing of the dead-letter queue finds both kinds of dead letter (the
//! consumer's, with a reason, and SQS's after maxReceiveCount, without),
//! loses nothing however often it runs, and a redrive sends every message
//! back to the queue.

use orderflow_aws::dlq::{DeadLetterQueue, Reason, RedriveMethod, RedriveReport};
use orderflow_aws::sqs::REASON_ATTRIBUTE;
use orderflow_aws::{SqsDeadLetters, clients};
use orderflow_test_support::dead_letters::{
    DeadLettered, body_order_id, dead_lettered, order_ids, receive_all,
};
use orderflow_test_support::moto::MotoServer;
use std::time::Duration;

#[tokio::test]
async fn a_listing_shows_every_dead_letter_with_its_order_and_reason_and_loses_none() {
    let moto = MotoServer::start().unwrap();
    let sqs = clients::sqs(&moto.sdk_config().await);
    let DeadLettered { dlq_url, .. } =
        dead_lettered(&sqs, |url| SqsDeadLetters::new(sqs.clone(), url)).await;
    let dlq = DeadLetterQueue::new(sqs.clone(), &dlq_url);

    let first = dlq.list(1000).await.unwrap();
    assert_eq!(first.messages.len(), 15, "{first:#?}");
    assert!(!first.truncated && first.still_hidden == 0);
    let by_order = |listing: &orderflow_aws::dlq::Listing, id: &str| {
        listing
            .messages
            .iter()
            .find(|m| m.order_id.as_deref() == Some(id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} is listed: {listing:#?}"))
    };
    for i in 0..12 {
        // The odd ones have no attribute: their id comes from the body.
        let m = by_order(&first, &format!("ord-{i}"));
        assert_eq!(
            m.reason,
            Reason::Recorded {
                text: format!("transform normalize refused: case {i}")
            }
        );
        assert_eq!(m.receive_count, 1, "this listing's receive only");
        assert_eq!(m.source_message_id, Some(format!("m-{i}")));
        assert!(
            m.sent_at.as_deref().is_some_and(|t| t.ends_with('Z')),
            "{m:?}"
        );
    }
    for i in 0..3 {
        let m = by_order(&first, &format!("poison-{i}"));
        assert_eq!(m.reason, Reason::NotRecorded { receives: 2 });
        assert_eq!(
            m.reason.to_string(),
            "received 2 times without success (no reason recorded)"
        );
        assert_eq!(m.receive_count, 3);
        assert_eq!(m.source_message_id, None);
    }

    // Listing again loses nothing, and every message is visible again at
    // once (not in 30 s): each count is one higher.
    let second = dlq.list(1000).await.unwrap();
    assert_eq!(second.messages.len(), 15);
    for m in &first.messages {
        let again = second
            .messages
            .iter()
            .find(|n| n.message_id == m.message_id)
            .expect("listed again");
        assert_eq!(again.receive_count, m.receive_count + 1);
        assert_eq!(
            again.reason.to_string().contains("no reason"),
            m.source_message_id.is_none()
        );
    }

    // A limit stops the listing and says so; the rest stays where it was.
    let some = dlq.list(7).await.unwrap();
    assert!(some.truncated && some.messages.len() == 7, "{some:?}");
    assert_eq!(dlq.list(1000).await.unwrap().messages.len(), 15);
}

#[tokio::test]
async fn a_redrive_sends_every_message_back_and_empties_the_dlq() {
    let moto = MotoServer::start().unwrap();
    let sqs = clients::sqs(&moto.sdk_config().await);
    let DeadLettered {
        queue_url: source,
        dlq_url,
    } = dead_lettered(&sqs, |url| SqsDeadLetters::new(sqs.clone(), url)).await;
    let dlq = DeadLetterQueue::new(sqs.clone(), &dlq_url);

    // A queue that does not exist takes nothing: the copy deletes only
    // what was sent, so every message is still there, visible at once.
    let e = dlq
        .redrive(
            &format!("{source}-gone"),
            RedriveMethod::Copy,
            Duration::from_secs(30),
            10_000,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("SendMessageBatch"), "{e}");
    assert_eq!(dlq.list(1000).await.unwrap().messages.len(), 15);

    // A bounded copy, asked for by name: five go back, the rest stay.
    let first = dlq
        .redrive(&source, RedriveMethod::Copy, Duration::from_secs(30), 5)
        .await
        .unwrap();
    assert!(
        matches!(&first, RedriveReport::Copied { moved: 5, why, .. } if why == "--method copy"),
        "{first:?}"
    );
    assert_eq!(dlq.list(1000).await.unwrap().messages.len(), 10);

    // moto 5 has no message-move task: the copy runs, and says why.
    let report = dlq
        .redrive(
            &source,
            RedriveMethod::Auto,
            Duration::from_secs(30),
            10_000,
        )
        .await
        .unwrap();
    let RedriveReport::Copied {
        moved,
        failed,
        not_deleted,
        why,
        stopped,
    } = &report
    else {
        panic!("moto has no move task: {report:?}");
    };
    assert_eq!(*moved, 10);
    assert!(
        failed.is_empty() && not_deleted.is_empty() && stopped.is_none(),
        "{report:?}"
    );
    assert!(why.contains("no message-move task"), "{why}");
    assert!(report.complete());
    assert!(dlq.list(1000).await.unwrap().messages.is_empty());

    // Every order is back on the queue, as it was sent, without the
    // consumer's record of its last failure.
    let mut back = Vec::new();
    for m in receive_all(&sqs, &source).await {
        let attrs = m.message_attributes();
        assert!(
            attrs.is_none_or(|a| !a.contains_key(REASON_ATTRIBUTE)),
            "{m:?}"
        );
        back.push(body_order_id(&m));
    }
    back.sort();
    assert_eq!(back, order_ids());

    // Asked for the task alone, a server without one is an error naming the way out.
    let e = dlq
        .redrive(&source, RedriveMethod::Task, Duration::from_secs(1), 10)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--method copy"), "{e}");
}
