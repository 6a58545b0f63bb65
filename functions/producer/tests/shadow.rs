//! Shadow evaluation in the producer: the candidate decides every order
//! too, and nothing of it reaches an order's answer, its message or its
//! time beyond the budget. (The disagreement events, in the functions' log
//! format, are checked against the template's metric filter in
//! metric_filter.rs.)

use orderflow_host::{Manifest, OnError, PluginSpec};
use orderflow_pipeline::producer::produce;
use orderflow_pipeline::reload::Candidate;
use orderflow_producer::Producer;
use orderflow_producer::shadow::{self, ShadowReport};
use orderflow_test_support::manifests::{self, dir_cache, lay_out, lay_out_shadowed, spec};
use orderflow_test_support::orders::priced as order;
use orderflow_test_support::ports::MemoryPublisher;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn rules(eur_minimum: u64, hostile: Option<&str>) -> Manifest {
    let mut rules = vec![spec(
        "threshold",
        json!({"minimum_minor": {"EUR": eur_minimum}}),
    )];
    if let Some(behaviour) = hostile {
        rules.push(PluginSpec {
            on_error: OnError::Reject,
            ..spec("hostile-rule", json!({ "behaviour": behaviour }))
        });
    }
    Manifest {
        rules,
        ..Default::default()
    }
}

fn producer(dir: &Path) -> Producer<MemoryPublisher> {
    Producer::new(
        Arc::new(dir_cache(dir, Duration::from_secs(60))),
        MemoryPublisher::default(),
    )
}

fn batch() -> Value {
    json!({"orders": [
        order("ord-1", 150_000), order("ord-2", 60_000), order("ord-3", 70_000), order("ord-4", 10),
        {"order_id": "ord-5"},
    ]})
}

/// What the caller and the topic see: the answer, and the messages' bodies.
async fn answered(p: &Producer<MemoryPublisher>) -> (Value, Vec<String>) {
    let response = p.handle(batch()).await.unwrap();
    let sent = p.publisher.sent.lock().unwrap();
    (response, sent.iter().map(|m| m.body.clone()).collect())
}

#[tokio::test]
async fn a_candidate_that_disagrees_fails_or_spins_never_changes_the_live_answer() {
    let alone = tempfile::tempdir().unwrap();
    lay_out(alone.path(), &rules(100_000, None));
    let expected = answered(&producer(alone.path())).await;
    assert_eq!(expected.0["summary"]["published"], 1, "{}", expected.0);

    for hostile in [None, Some("trap"), Some("loop"), Some("fail")] {
        let dir = tempfile::tempdir().unwrap();
        let (live, _) =
            lay_out_shadowed(dir.path(), &rules(100_000, None), &rules(50_000, hostile));
        let p = producer(dir.path());
        assert!(
            p.plugins
                .current()
                .await
                .unwrap()
                .shadow
                .candidate()
                .is_some(),
            "{hostile:?} loads"
        );
        let got = answered(&p).await;
        assert_eq!(got, expected, "candidate {hostile:?}");
        assert_eq!(got.0["revision"], live);
    }
}

#[tokio::test]
async fn the_candidate_compares_every_decided_order_within_its_budget() {
    let (live, _) = manifests::load(&rules(100_000, None));
    let (candidate, _) = manifests::load(&rules(50_000, None));
    let candidate = Candidate {
        revision: candidate.revision.clone(),
        set: candidate,
    };
    let orders = orderflow_producer::parse_orders(&batch()).unwrap();
    let produced = produce(&live, &MemoryPublisher::default(), orders).await;
    let report = shadow::evaluate(
        &candidate,
        &live.revision,
        &produced,
        Duration::from_secs(60),
    );
    assert_eq!(
        (report.compared, report.disagreements, report.skipped),
        (4, 2, 0),
        "the invalid order is not compared; ord-2 and ord-3 flip"
    );
    let spent = shadow::evaluate(&candidate, &live.revision, &produced, Duration::ZERO);
    assert_eq!(
        spent,
        ShadowReport {
            skipped: 4,
            micros: spent.micros,
            ..Default::default()
        },
        "nothing is compared past the budget"
    );
}
