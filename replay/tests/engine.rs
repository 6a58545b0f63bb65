//! The replay engine over small histories with known differences: flips
//! each way, a rule that fails in one set only, invalid lines, decision-log
//! records and gzip, and the same report whatever the thread count.

use orderflow_host::{Manifest, OnError, RuleSet};
use orderflow_pipeline::decision_log::DecisionRecord;
use orderflow_replay::{Input, Options, Summary, replay};
use orderflow_test_support::manifests::{self, spec};
use orderflow_test_support::orders::{order_with, parsed};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// The threshold rule with these minimums, then the hostile rule doing
/// `behaviour` (skipped when it fails).
fn rules(minimums: Value, behaviour: &str) -> RuleSet {
    let mut hostile = spec("hostile-rule", json!({ "behaviour": behaviour }));
    hostile.on_error = OnError::Skip;
    let manifest = Manifest {
        rules: vec![
            spec("threshold", json!({ "minimum_minor": minimums })),
            hostile,
        ],
        transforms: Vec::new(),
        ..Default::default()
    };
    manifests::load(&manifest).0
}

fn order(id: &str, currency: &str, total: u64) -> Value {
    order_with(json!({
        "order_id": id, "currency": currency, "total_minor": total,
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": total}],
    }))
}

/// 20 EUR orders of 900.00 to 1,400.00 and 10 USD orders of 400.00 to
/// 1,300.00, so raising EUR's minimum from 1,000 to 1,200 flips the EUR
/// orders from 1,000 to 1,199.99 down, and lowering USD's from 1,200 to 500
/// flips the USD orders from 500 to 1,199.99 up.
fn history() -> Vec<Value> {
    let eur = (0..20).map(|i| order(&format!("eur-{i}"), "EUR", 90_000 + i * 2_500));
    let usd = (0..10).map(|i| order(&format!("usd-{i}"), "USD", 40_000 + i * 10_000));
    eur.chain(usd).collect()
}

fn expected_flips(orders: &[Value]) -> (u64, u64) {
    let (mut up, mut down) = (0, 0);
    for o in orders {
        let total = o["total_minor"].as_u64().unwrap();
        match o["currency"].as_str().unwrap() {
            "EUR" if (100_000..120_000).contains(&total) => down += 1,
            "USD" if (50_000..120_000).contains(&total) => up += 1,
            _ => {}
        }
    }
    (up, down)
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn run(baseline: &RuleSet, candidate: &RuleSet, inputs: &[Input], threads: usize) -> Summary {
    let options = Options {
        threads,
        examples: 3,
        progress: None,
    };
    replay(baseline, candidate, inputs, &options).expect("the replay runs")
}

#[test]
fn known_flips_each_way_a_rule_failing_in_one_set_and_invalid_lines() {
    let baseline = rules(json!({"EUR": 100_000, "USD": 120_000}), "stateful");
    let candidate = rules(json!({"EUR": 120_000, "USD": 50_000}), "fail");
    let orders = history();
    let (up, down) = expected_flips(&orders);
    assert!(up > 0 && down > 0);
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = orders.iter().map(Value::to_string).collect();
    // Line 4 is not JSON, line 8 an order whose total is wrong.
    lines.insert(3, "{not json".into());
    lines.insert(
        7,
        order("bad", "EUR", 5)
            .to_string()
            .replace("\"total_minor\":5", "\"total_minor\":6"),
    );
    let file = dir.path().join("history.jsonl");
    write_lines(&file, &lines);

    let s = run(&baseline, &candidate, &[Input::File(file.clone())], 2);
    assert_eq!(s.orders, orders.len() as u64);
    assert_eq!((s.to_high_value, s.to_not_high_value), (up, down));
    assert!((s.flip_rate - (up + down) as f64 / orders.len() as f64).abs() < 1e-12);
    assert_eq!(s.baseline, baseline.revision);
    assert_eq!(s.candidate, candidate.revision);

    // The threshold's verdict changed exactly on the flipped orders.
    let threshold = &s.rules["threshold"];
    assert_eq!(threshold.changed, up + down);
    assert_eq!(threshold.transitions["not_high_value -> high_value"], up);
    assert_eq!(threshold.transitions["high_value -> not_high_value"], down);
    // The hostile rule answers in the baseline and fails in the candidate,
    // on every order, and its `calls` attribute goes with it.
    let hostile = &s.rules["hostile-rule"];
    assert_eq!(hostile.changed, orders.len() as u64);
    assert_eq!(
        hostile.transitions["not_high_value -> failed"],
        orders.len() as u64
    );
    assert_eq!(s.attributes["calls"].removed, orders.len() as u64);
    assert_eq!(s.changed_without_flip, orders.len() as u64 - up - down);

    assert_eq!(s.by_currency["EUR"].to_not_high_value, down);
    assert_eq!(s.by_currency["EUR"].to_high_value, 0);
    assert_eq!(s.by_currency["USD"].to_high_value, up);
    assert_eq!(s.by_currency["USD"].orders, 10);
    let band = |name: &str| &s.by_band.iter().find(|b| b.band == name).unwrap().flips;
    assert_eq!(
        band("1k – 10k").to_not_high_value,
        down,
        "EUR 1,000-1,199.99"
    );
    assert_eq!(
        band("100 – 1k").to_high_value + band("1k – 10k").to_high_value,
        up
    );

    // The first examples by input position, with both decisions' reasons.
    let ids: Vec<&str> = s
        .examples
        .to_not_high_value
        .iter()
        .map(|e| e.order_id.as_str())
        .collect();
    assert_eq!(ids, ["eur-4", "eur-5", "eur-6"]);
    let e = &s.examples.to_not_high_value[0];
    assert_eq!((e.total_minor, e.currency.as_str()), (100_000, "EUR"));
    assert!(e.baseline.high_value && !e.candidate.high_value);
    assert!(
        e.baseline.reasons[0].contains(">= minimum 100000")
            && e.candidate.reasons[0].contains("< minimum 120000"),
        "{e:?}"
    );
    assert_eq!(s.examples.to_high_value[0].order_id, "usd-1");

    assert_eq!(s.invalid.count, 2);
    let name = file.display().to_string();
    assert_eq!(s.invalid.by_source[&name], 2);
    let at: Vec<(u64, &str)> = s
        .invalid
        .lines
        .iter()
        .map(|l| (l.line, l.source.as_str()))
        .collect();
    assert_eq!(at, [(4, name.as_str()), (8, name.as_str())]);
    assert!(s.invalid.lines[0].error.contains("invalid order JSON"));
    assert!(
        s.invalid.lines[1].error.starts_with("total_minor:"),
        "{:?}",
        s.invalid.lines[1]
    );

    // The same report from one thread.
    assert_eq!(run(&baseline, &candidate, &[Input::File(file)], 1), s);
}

#[test]
fn a_gzip_decision_log_is_replayed_and_checked_against_the_baseline() {
    let baseline = rules(json!({"EUR": 100_000, "USD": 120_000}), "stateful");
    let candidate = rules(json!({"EUR": 120_000, "USD": 120_000}), "stateful");
    let orders = history();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for (i, o) in orders.iter().enumerate() {
        let order = parsed(o);
        let mut decision = baseline.evaluate(&order);
        // Two records claim the opposite of what the baseline decides.
        if i < 2 {
            decision.high_value = !decision.high_value;
        }
        writeln!(
            gz,
            "{}",
            DecisionRecord::new(&order, &decision).to_json_line()
        )
        .unwrap();
    }
    std::fs::write(&path, gz.finish().unwrap()).unwrap();

    let s = run(&baseline, &candidate, &[Input::File(path)], 0);
    let (_, down) = expected_flips(&orders);
    assert_eq!(s.orders, orders.len() as u64);
    assert_eq!((s.to_high_value, s.to_not_high_value), (0, down));
    assert_eq!(s.log_records, orders.len() as u64);
    assert_eq!(s.log_disagrees_with_baseline, 2);
    assert_eq!(s.changed_without_flip, 0);
    assert!(s.attributes.is_empty(), "{:?}", s.attributes);
}

#[test]
fn the_same_rule_set_changes_nothing() {
    let set = rules(json!({"EUR": 100_000}), "stateful");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.jsonl");
    write_lines(
        &file,
        &history().iter().map(Value::to_string).collect::<Vec<_>>(),
    );
    let s = run(&set, &set, &[Input::File(file)], 2);
    assert_eq!(s.orders, 30);
    assert_eq!(s.flipped() + s.changed_without_flip, 0);
    assert!(s.rules.is_empty() && s.examples.to_high_value.is_empty());
    let text = orderflow_replay::text::render(&s);
    assert!(
        text.contains("30 orders decided: 0 flipped (0.00%)"),
        "{text}"
    );
}

#[test]
fn an_input_that_cannot_be_opened_is_an_error() {
    let set = rules(json!({"EUR": 100_000}), "stateful");
    let missing = Input::File("/nonexistent/orders.jsonl".into());
    let e = replay(&set, &set, &[missing], &Options::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/orders.jsonl: cannot open it"),
        "{e}"
    );
}
