//! What a shadow costs per order, measured with the example rule chain
//! (threshold, vip-customer, bulk-quantity) as the live set and as the
//! candidate: the live path (rules and an in-memory publish) against the
//! shadow's evaluation, with no disagreement and with every order
//! disagreeing (each then logs its event, in the functions' JSON format,
//! to a sink). Run it on its own, in the test profile (wasmtime and
//! cranelift are optimised even there; see Cargo.toml):
//!
//! `cargo test -p orderflow-producer --test shadow_cost -- --ignored --nocapture`

use orderflow_host::{Manifest, RuleSet};
use orderflow_pipeline::producer::produce;
use orderflow_pipeline::reload::Candidate;
use orderflow_producer::shadow;
use orderflow_test_support::manifests::{self, spec};
use orderflow_test_support::orders::priced;
use orderflow_test_support::ports::MemoryPublisher;
use serde_json::json;
use std::time::{Duration, Instant};

const BATCH: usize = 100;
const ROUNDS: usize = 30;

fn example(eur_minimum: u64) -> RuleSet {
    let manifest = Manifest {
        rules: vec![
            spec("threshold", json!({"minimum_minor": {"EUR": eur_minimum}})),
            spec("vip-customer", json!({"customers": {"cust-7": "gold"}})),
            spec("bulk-quantity", json!({"min_quantity": 10})),
        ],
        ..Default::default()
    };
    manifests::load(&manifest).0
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "a measurement: run it on its own with --ignored --nocapture"]
async fn the_shadow_costs_about_one_more_rule_chain_per_order() {
    tracing::subscriber::set_global_default(orderflow_aws::telemetry::json_subscriber(
        std::io::sink,
    ))
    .unwrap();
    let live = example(100_000);
    let candidate = |set: RuleSet| Candidate {
        revision: set.revision.clone(),
        set,
    };
    let candidates = [candidate(example(100_001)), candidate(example(1))];
    let batch = json!({"orders": (0..BATCH)
        .map(|i| priced(&format!("ord-{i}"), 1_000 + 2_000 * i as u64))
        .collect::<Vec<_>>()});

    let mut live_time = Duration::ZERO;
    let mut shadow_time = [Duration::ZERO; 2];
    let mut disagreements = [0; 2];
    for _ in 0..ROUNDS {
        let orders = orderflow_producer::parse_orders(&batch).unwrap();
        let started = Instant::now();
        let produced = produce(&live, &MemoryPublisher::default(), orders).await;
        live_time += started.elapsed();
        for (i, candidate) in candidates.iter().enumerate() {
            let started = Instant::now();
            let report = shadow::evaluate(
                candidate,
                &live.revision,
                &produced,
                Duration::from_secs(60),
            );
            shadow_time[i] += started.elapsed();
            assert_eq!((report.compared, report.skipped), (BATCH, 0));
            disagreements[i] += report.disagreements;
        }
    }
    assert_eq!(
        disagreements[0], 0,
        "EUR 1,000.01 decides these orders alike"
    );
    assert_eq!(
        disagreements[1],
        ROUNDS * 50,
        "the 50 orders under 1,000.00 flip"
    );
    let per_order = |d: Duration| d.as_secs_f64() * 1e6 / (ROUNDS * BATCH) as f64;
    println!("| path | µs per order |");
    println!("| --- | --- |");
    println!(
        "| live: rules + publish (in memory) | {:.1} |",
        per_order(live_time)
    );
    println!(
        "| shadow, no disagreement | {:.1} |",
        per_order(shadow_time[0])
    );
    println!(
        "| shadow, {} of {BATCH} orders disagreeing (one event each) | {:.1} |",
        disagreements[1] / ROUNDS,
        per_order(shadow_time[1])
    );
}
