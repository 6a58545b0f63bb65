//! The stages with faults injected at the port boundary: publish entries
//! that fail and are retried, a store that fails, a transform that refuses.

use orderflow_host::order::parse_orders;
use orderflow_host::{Manifest, PluginSpec, RuleSet, TransformChain};
use orderflow_pipeline::consumer::{ConsumerOutcome, IncomingMessage, consume};
use orderflow_pipeline::embedded::{self, MemoryQueue, OrderStatus};
use orderflow_pipeline::producer::{ProducerOutcome, produce};
use orderflow_test_support::manifests::{load, spec};
use orderflow_test_support::orders::{ORDER, order_lines};
use orderflow_test_support::ports::{FlakyPublisher, MemoryStore, Throttle, ThrottledStore};
use serde_json::json;

fn chains(transform: (&str, serde_json::Value)) -> (RuleSet, TransformChain) {
    load(&Manifest {
        rules: vec![spec("threshold", json!({"minimum_minor": {"EUR": 1000}}))],
        transforms: vec![spec(transform.0, transform.1)],
        ..Default::default()
    })
}

/// One sample order through the whole embedded pipeline.
async fn embedded_run_one(
    rules: &RuleSet,
    transforms: &TransformChain,
) -> Vec<embedded::OrderReport> {
    let store = tempfile::tempdir().unwrap();
    embedded::run(
        rules,
        transforms,
        store.path(),
        parse_orders(&order_lines(1)),
    )
    .await
}

/// A publisher that fails entries m3, m13, m23 … on their first attempt.
fn flaky_queue() -> FlakyPublisher<MemoryQueue> {
    FlakyPublisher::new(MemoryQueue::default(), |_, m| m.id.ends_with('3'))
}

#[tokio::test]
async fn failed_entries_are_retried_and_reported_when_they_cannot_succeed() {
    let (rules, _) = chains(("normalize", json!({})));
    let flaky = flaky_queue();
    let results = produce(&rules, &flaky, parse_orders(&order_lines(25))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r.outcome, ProducerOutcome::Published { .. })),
        "retried until published"
    );
    assert_eq!(
        flaky.calls(),
        4,
        "3 batches of at most 10, then one retry batch"
    );

    let permanent = flaky_queue().permanently();
    let results = produce(&rules, &permanent, parse_orders(&order_lines(25))).await;
    let failed: Vec<_> = results
        .iter()
        .filter(|r| matches!(r.outcome, ProducerOutcome::Failed { .. }))
        .collect();
    assert_eq!(
        failed.len(),
        3,
        "m3, m13, m23 fail for good and are reported, not dropped"
    );
    assert!(
        matches!(&failed[0].outcome, ProducerOutcome::Failed { reason } if reason.contains("Throttled"))
    );
}

/// A store that refuses every write, retryably.
fn broken_store() -> ThrottledStore<MemoryStore> {
    ThrottledStore::new(MemoryStore::default(), Throttle::Always)
}

#[tokio::test]
async fn a_store_failure_is_a_retryable_failure_of_that_message() {
    let (rules, transforms) = chains(("normalize", json!({})));
    let queue = MemoryQueue::default();
    let produced = produce(&rules, &queue, parse_orders(ORDER)).await;
    let ProducerOutcome::Published { message_id } = &produced[0].outcome else {
        panic!("published")
    };
    let body = serde_json::json!({"order": serde_json::from_str::<serde_json::Value>(ORDER).unwrap(), "decision": {"revision": rules.revision, "high_value": true}});
    let r = consume(
        &transforms,
        &broken_store(),
        &IncomingMessage {
            message_id: message_id.clone(),
            body: body.to_string(),
        },
    )
    .await;
    assert!(
        matches!(
            r.outcome,
            ConsumerOutcome::Failed {
                permanent: false,
                ..
            }
        ),
        "{:?}",
        r.outcome
    );
}

#[tokio::test]
async fn malformed_messages_fail_permanently_with_their_reason() {
    let (_, transforms) = chains(("normalize", json!({})));
    for (body, expect) in [
        ("not json", "malformed message"),
        (
            r#"{"order": {"order_id": "x"}, "decision": {"revision": "r", "high_value": true}}"#,
            "missing field",
        ),
        (
            r#"{"Type": "SubscriptionConfirmation", "Message": "x"}"#,
            "SubscriptionConfirmation",
        ),
    ] {
        let r = consume(
            &transforms,
            &broken_store(),
            &IncomingMessage {
                message_id: "m".into(),
                body: body.into(),
            },
        )
        .await;
        match r.outcome {
            ConsumerOutcome::Failed {
                reason,
                permanent: true,
            } => assert!(reason.contains(expect), "{reason}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_refusing_transform_sends_the_order_to_the_dead_letter_queue_with_its_reason() {
    let (rules, transforms) = chains(("hostile-transform", json!({"behaviour": "fail"})));
    let store = tempfile::tempdir().unwrap();
    let reports = embedded::run(
        &rules,
        &transforms,
        store.path(),
        parse_orders(&order_lines(2)),
    )
    .await;
    assert_eq!(reports.len(), 2);
    for r in reports {
        assert_eq!(r.status, OrderStatus::Rejected);
        let error = r.error.unwrap();
        assert!(
            error.contains("refused on purpose") && error.contains("dead-letter queue"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_transform_past_a_deadline_its_fuel_outlasts_rejects_the_order_with_the_fix() {
    let (rules, transforms) = load(&Manifest {
        rules: vec![spec("threshold", json!({"minimum_minor": {"EUR": 1000}}))],
        transforms: vec![PluginSpec {
            // Only the deadline can stop this loop: its fuel outlasts 5 ms
            // at normal speed, so every try would miss it.
            limits: orderflow_host::limits::LimitOverrides {
                fuel: Some(orderflow_host::limits::MAX_FUEL),
                timeout_ms: Some(5),
                ..Default::default()
            },
            ..spec("hostile-transform", json!({"behaviour": "loop"}))
        }],
        ..Default::default()
    });
    let reports = embedded_run_one(&rules, &transforms).await;
    assert_eq!(
        reports[0].status,
        OrderStatus::Rejected,
        "{:?}",
        reports[0].error
    );
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.contains("exceeded its deadline of 5 ms")
            && error.contains("lower fuel to 50000000 or raise timeout_ms"),
        "{error}"
    );
}

/// A rule set of one hostile rule with `behaviour`, under the given limits.
fn hostile_rule(behaviour: &str, limits: orderflow_host::limits::LimitOverrides) -> RuleSet {
    load(&Manifest {
        rules: vec![PluginSpec {
            limits,
            ..spec("hostile-rule", json!({ "behaviour": behaviour }))
        }],
        transforms: vec![],
        ..Default::default()
    })
    .0
}

/// A rule set of one hostile rule that loops, under the given limits.
fn looping_rule(limits: orderflow_host::limits::LimitOverrides) -> RuleSet {
    hostile_rule("loop", limits)
}

#[tokio::test]
async fn a_rule_past_a_deadline_its_fuel_beats_fails_the_order_for_a_retry_but_out_of_fuel_rejects_it()
 {
    use orderflow_host::limits::LimitOverrides;
    let queue = MemoryQueue::default();
    // 100,000 log calls are slow for their fuel: at normal speed the fuel
    // would run out before 5 ms, so meeting the deadline means a slow
    // machine, worth another try.
    let deadline = hostile_rule(
        "log-flood",
        LimitOverrides {
            fuel: Some(5 * orderflow_host::limits::FUEL_PER_MS),
            timeout_ms: Some(5),
            ..Default::default()
        },
    );
    let results = produce(&deadline, &queue, parse_orders(&order_lines(1))).await;
    match &results[0].outcome {
        ProducerOutcome::Failed { reason } => assert!(
            reason.contains("exceeded its deadline of 5 ms")
                && reason.contains("send the order again"),
            "{reason}"
        ),
        other => panic!("a deadline is transient, not a verdict: {other:?}"),
    }
    let report = results[0]
        .decision
        .as_ref()
        .unwrap()
        .rejected
        .as_ref()
        .unwrap();
    assert!(report.transient);
    // The embedded pipeline (the CLI) says `failed`, not `rejected`.
    let (_, transforms) = chains(("normalize", json!({})));
    let reports = embedded_run_one(&deadline, &transforms).await;
    assert_eq!(
        reports[0].status,
        OrderStatus::Failed,
        "{:?}",
        reports[0].error
    );

    // A loop whose fuel outlasts the deadline at normal speed would miss
    // it every time: final.
    let outlasting = looping_rule(LimitOverrides {
        fuel: Some(orderflow_host::limits::MAX_FUEL),
        timeout_ms: Some(5),
        ..Default::default()
    });
    let results = produce(&outlasting, &queue, parse_orders(&order_lines(1))).await;
    match &results[0].outcome {
        ProducerOutcome::Rejected { reason } => {
            assert!(reason.contains("outlasts at normal speed"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    // Fuel is deterministic: the same order would fail the same way again.
    let fuel = looping_rule(LimitOverrides {
        fuel: Some(100_000),
        ..Default::default()
    });
    let results = produce(&fuel, &queue, parse_orders(&order_lines(1))).await;
    match &results[0].outcome {
        ProducerOutcome::Rejected { reason } => {
            assert!(reason.contains("ran out of fuel"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

/// A call's deadline is cut to the invocation's remaining time: a rule or
/// transform whose own deadline is 10 s stops when the invocation's time
/// is up, and the order is a retryable failure, not a verdict.
#[tokio::test]
async fn a_plugin_call_is_cut_off_at_the_invocations_end_for_a_retry() {
    use orderflow_host::limits::{LimitOverrides, MAX_FUEL};
    use orderflow_pipeline::consumer::consume_all_until;
    use orderflow_pipeline::producer::produce_until;
    use std::time::{Duration, Instant};
    let slow = LimitOverrides {
        fuel: Some(MAX_FUEL),
        timeout_ms: Some(10_000),
        ..Default::default()
    };
    let rules = looping_rule(slow);
    let queue = MemoryQueue::default();
    let started = Instant::now();
    let until = Some(started + Duration::from_millis(50));
    let results = produce_until(&rules, &queue, parse_orders(&order_lines(1)), until).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    match &results[0].outcome {
        ProducerOutcome::Failed { reason } => assert!(
            reason.contains("invocation's remaining") && reason.contains("send the order again"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }

    let (_, transforms) = load(&Manifest {
        rules: vec![],
        transforms: vec![PluginSpec {
            limits: slow,
            ..spec("hostile-transform", json!({"behaviour": "loop"}))
        }],
        ..Default::default()
    });
    let (rules, _) = chains(("normalize", json!({})));
    let published = produce(&rules, &queue, parse_orders(&order_lines(1))).await;
    assert!(matches!(
        published[0].outcome,
        ProducerOutcome::Published { .. }
    ));
    let body = published[0].message.as_ref().unwrap().to_json();
    let message = IncomingMessage {
        message_id: "m1".into(),
        body,
    };
    let started = Instant::now();
    let until = Some(started + Duration::from_millis(50));
    let store = MemoryStore::default();
    let r = consume_all_until(&transforms, &store, &[message], until).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    match &r[0].outcome {
        ConsumerOutcome::Failed { reason, permanent } => {
            assert!(reason.contains("invocation's remaining"), "{reason}");
            assert!(!permanent, "retried, not dead-lettered");
        }
        other => panic!("{other:?}"),
    }
}

/// The producer decides its valid orders together, so a reused rule is
/// called once per 16 of them (an instance of 40 calls takes two batches,
/// 32 orders, and the rest start a fresh one); an invalid order among them
/// keeps its place in the answers.
#[tokio::test]
async fn the_producer_decides_its_orders_in_batches_and_answers_in_input_order() {
    use orderflow_host::limits::LimitOverrides;
    let counter = hostile_rule(
        "stateful",
        LimitOverrides {
            max_calls_per_instance: Some(40),
            ..Default::default()
        },
    );
    let mut lines: Vec<String> = order_lines(48).lines().map(String::from).collect();
    lines.insert(10, r#"{"order_id": "ord-bad"}"#.into());
    let results = produce(
        &counter,
        &MemoryQueue::default(),
        parse_orders(&lines.join("\n")),
    )
    .await;
    assert_eq!(results.len(), 49);
    assert!(matches!(
        results[10].outcome,
        ProducerOutcome::Rejected { .. }
    ));
    let mut expected = (1..=32).chain(1..=16);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.line, Some(i + 1));
        if i == 10 {
            continue;
        }
        assert_eq!(r.outcome, ProducerOutcome::NotHighValue, "{i}");
        let calls = &r.decision.as_ref().unwrap().attributes["calls"];
        assert_eq!(calls, &expected.next().unwrap().to_string(), "order {i}");
    }
}
