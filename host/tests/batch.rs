//! Batched evaluation (contract 0.2.0): a reused rule instance is lent up
//! to 16 orders per call, and every order's decision is still what it would
//! have been alone. A failure inside a batch belongs to its order; a call
//! that fails whole is made again order by order, so it names its order.

mod support;

use orderflow_host::limits::LimitOverrides;
use orderflow_host::rules::Outcome;
use orderflow_host::{Decision, OnError, Order, PluginSpec, RuleSet};
use serde_json::json;
use std::sync::Arc;
use support::*;

/// `spec` with instances reused for `max_calls` orders.
fn reused(mut s: PluginSpec, max_calls: u32) -> PluginSpec {
    s.limits = LimitOverrides {
        max_calls_per_instance: Some(max_calls),
        ..Default::default()
    };
    s
}

fn hostile(name: &str, behaviour: &str, max_calls: u32, on_error: OnError) -> PluginSpec {
    let mut s = reused(
        spec(name, "hostile-rule", json!({"behaviour": behaviour})),
        max_calls,
    );
    s.on_error = on_error;
    // What a batch does is under test, not the clock: a shared machine may
    // stall a call past the default 100 ms.
    s.limits.timeout_ms = Some(5_000);
    s
}

/// Orders `o-1` … `o-n`.
fn numbered(n: usize) -> Vec<Arc<Order>> {
    (1..=n)
        .map(|i| order_with(json!({"order_id": format!("o-{i}")})))
        .collect()
}

/// What a decision says, without what it cost (a batch shares its cost
/// evenly between its orders).
fn verdict_of(d: &Decision) -> (bool, Vec<String>, Option<String>, Vec<Outcome>) {
    (
        d.high_value,
        d.reasons.clone(),
        d.rejected.as_ref().map(|r| r.error.clone()),
        d.trace.iter().map(|t| t.outcome.clone()).collect(),
    )
}

fn outcome_kinds(decisions: &[Decision], rule: usize) -> Vec<String> {
    decisions
        .iter()
        .map(|d| match &d.trace.get(rule).map(|t| &t.outcome) {
            None => "-".into(),
            Some(Outcome::HighValue) => "high".into(),
            Some(Outcome::NotHighValue) => "not".into(),
            Some(Outcome::Failed { limit, .. }) => (*limit).into(),
        })
        .collect()
}

#[test]
fn a_batch_decides_every_order_as_it_would_alone() {
    let examples = |max_calls: u32| {
        vec![
            reused(
                spec(
                    "threshold",
                    "threshold",
                    json!({"minimum_minor": {"EUR": 100000, "USD": 120000}}),
                ),
                max_calls,
            ),
            reused(
                spec(
                    "vip-customer",
                    "vip-customer",
                    json!({"customers": {"cust-2003": "gold", "cust-2011": "silver"}}),
                ),
                max_calls,
            ),
            reused(
                spec("bulk-quantity", "bulk-quantity", json!({"min_quantity": 5})),
                max_calls,
            ),
        ]
    };
    let batched: RuleSet = load_rules(examples(1000)).unwrap();
    let alone: RuleSet = load_rules(examples(1)).unwrap();
    let mut text = Vec::new();
    orderflow_workload::write_orders(&mut text, 90, 7).unwrap();
    let orders: Vec<Arc<Order>> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(order)
        .collect();
    let decisions = batched.evaluate_batch(&orders, None);
    assert_eq!(decisions.len(), orders.len());
    let mut high = 0;
    for (order, d) in orders.iter().zip(&decisions) {
        assert_eq!(d.order_id, order.order_id);
        assert_eq!(verdict_of(d), verdict_of(&alone.evaluate(order)));
        high += usize::from(d.high_value);
    }
    // The workload has both kinds, so the comparison above compared something.
    assert!(
        high > 0 && high < orders.len(),
        "{high} of {}",
        orders.len()
    );
}

#[test]
fn a_reused_instance_counts_every_order_of_a_batch_towards_its_calls() {
    let set = load_rules(vec![hostile("counter", "stateful", 4, OnError::Reject)]).unwrap();
    let calls: Vec<String> = set
        .evaluate_batch(&numbered(10), None)
        .iter()
        .map(|d| d.attributes["calls"].clone())
        .collect();
    assert_eq!(calls, ["1", "2", "3", "4", "1", "2", "3", "4", "1", "2"]);

    // At most 16 orders per call, and a batch never runs past an
    // instance's calls: 16 + 16 leaves 8 of 40, too few for the next 16.
    let set = load_rules(vec![hostile("counter", "stateful", 40, OnError::Reject)]).unwrap();
    let calls: Vec<u32> = set
        .evaluate_batch(&numbered(48), None)
        .iter()
        .map(|d| d.attributes["calls"].parse().unwrap())
        .collect();
    let expected: Vec<u32> = (1..=32).chain(1..=16).collect();
    assert_eq!(calls, expected);
}

#[test]
fn a_trap_in_a_batch_fails_only_its_order() {
    let set = load_rules(vec![
        hostile("trapper", "trap-on:o-3", 16, OnError::Reject),
        hostile("counter", "stateful", 16, OnError::Reject),
    ])
    .unwrap();
    let decisions = set.evaluate_batch(&numbered(5), None);
    assert_eq!(
        outcome_kinds(&decisions, 0),
        ["high", "high", "trap", "high", "high"]
    );
    let rejected = decisions[2].rejected.as_ref().expect("o-3 is rejected");
    assert!(
        rejected
            .error
            .starts_with("plugin trapper@1.0.0: trapped: unreachable"),
        "{}",
        rejected.error
    );
    // The rejected order leaves the chain; the next rule gets the other
    // four in one batch of its own.
    assert_eq!(
        outcome_kinds(&decisions, 1),
        ["not", "not", "-", "not", "not"]
    );
    let calls: Vec<&str> = [0, 1, 3, 4]
        .iter()
        .map(|&i| decisions[i].attributes["calls"].as_str())
        .collect();
    assert_eq!(calls, ["1", "2", "3", "4"]);
    assert!(
        decisions
            .iter()
            .enumerate()
            .all(|(i, d)| (i == 2) == d.rejected.is_some())
    );
}

#[test]
fn an_error_in_a_batch_answers_for_its_order_only() {
    let set = load_rules(vec![
        hostile("picky", "fail-on:o-2", 16, OnError::Skip),
        hostile("counter", "stateful", 16, OnError::Reject),
    ])
    .unwrap();
    let decisions = set.evaluate_batch(&numbered(4), None);
    assert_eq!(
        outcome_kinds(&decisions, 0),
        ["high", "refused", "high", "high"]
    );
    let Outcome::Failed { error, skipped, .. } = &decisions[1].trace[0].outcome else {
        unreachable!()
    };
    assert!(*skipped);
    assert_eq!(
        error,
        "plugin picky@1.0.0: refused: refused order o-2 on purpose"
    );
    // Skipped: the order goes on to the next rule, in the same batch.
    assert!(decisions.iter().all(|d| d.rejected.is_none()));
    assert_eq!(outcome_kinds(&decisions, 1), ["not"; 4]);
    assert!(!decisions[1].high_value && decisions[0].high_value);
}

#[test]
fn orders_that_loop_in_a_batch_are_each_named_with_their_own_limit() {
    let mut looper = hostile("looper", "loop", 16, OnError::Reject);
    looper.limits.fuel = Some(5_000_000);
    let set = load_rules(vec![looper]).unwrap();
    // The batch runs out of its fuel (4 orders' worth), and each order
    // alone then runs out of its own: the failure a report shows is the
    // order's, with the per-order limit an operator would raise.
    let decisions = set.evaluate_batch(&numbered(4), None);
    assert_eq!(outcome_kinds(&decisions, 0), ["fuel"; 4]);
    for d in &decisions {
        let rejected = d.rejected.as_ref().unwrap();
        assert_eq!(
            rejected.error,
            "plugin looper@1.0.0: ran out of fuel (limit 5000000)"
        );
        // Nothing burnt goes unreported: its share of the batch that ran
        // out (20,000,000 over 4 orders) and its own try alone.
        assert_eq!(d.trace[0].fuel, 5_000_000 + 5_000_000);
    }
}
