//! The producer's log lines, in the functions' JSON log format, are what
//! template.yaml's metric filters read: its summary line the `OrdersFailed`
//! filter, its shadow disagreement events the `ShadowDisagreements` one.
//! The filter pattern and metric value are taken from the template, the
//! lines from the real handler. (A test process of its own: it installs a
//! global logger.)

use orderflow_host::Manifest;
use orderflow_producer::Producer;
use orderflow_test_support::logs::Captured;
use orderflow_test_support::manifests::{self, dir_cache, spec};
use orderflow_test_support::orders::priced as order;
use orderflow_test_support::ports::MemoryPublisher;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn producer(dir: &Path, publisher: MemoryPublisher) -> Producer<MemoryPublisher> {
    Producer::new(Arc::new(dir_cache(dir, Duration::from_secs(60))), publisher)
}

/// A metric filter of template.yaml: its filter pattern's conditions and
/// its metric value's field, read from the template.
struct MetricFilter {
    /// (`$.field`, operator, operand) for each `&&`-joined condition.
    conditions: Vec<(String, String, String)>,
    value: String,
}

fn metric_filter(name: &str) -> MetricFilter {
    let path = orderflow_plugin_build::workspace_root().join("template.yaml");
    let template = std::fs::read_to_string(&path).unwrap();
    // From the MetricFilter resource holding the metric, on.
    let lines: Vec<&str> = template.lines().collect();
    let metric = lines
        .iter()
        .position(|l| l.trim() == format!("MetricName: {name}"))
        .unwrap_or_else(|| panic!("template.yaml has the {name} metric"));
    let start = (0..metric)
        .rev()
        .find(|&i| lines[i].trim() == "Type: AWS::Logs::MetricFilter")
        .unwrap_or_else(|| panic!("{name} comes from an AWS::Logs::MetricFilter"));
    let block = &lines[start..];
    let field = |key: &str| -> String {
        let line = block
            .iter()
            .find_map(|l| l.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("the {name} filter has {key}"));
        line.trim()
            .trim_matches(|c| c == '\'' || c == '"')
            .to_string()
    };
    let pattern = field("FilterPattern:");
    let inner = pattern
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or_else(|| panic!("a JSON filter pattern: {pattern}"));
    let conditions = inner
        .split("&&")
        .map(|c| {
            let parts: Vec<&str> = c.trim().splitn(3, ' ').collect();
            assert_eq!(parts.len(), 3, "`$.field op value`: {c}");
            (
                parts[0].to_string(),
                parts[1].to_string(),
                parts[2].trim().to_string(),
            )
        })
        .collect();
    MetricFilter {
        conditions,
        value: field("MetricValue:"),
    }
}

/// `$.a` of a flat JSON log line.
fn select<'a>(line: &'a Value, selector: &str) -> Option<&'a Value> {
    line.get(selector.strip_prefix("$.").expect("a $.field selector"))
}

/// Whether CloudWatch's filter matches the line: a string condition needs
/// a string field, a numeric one a number (CloudWatch does not coerce).
fn matches(filter: &MetricFilter, line: &Value) -> bool {
    filter.conditions.iter().all(|(selector, op, operand)| {
        let Some(v) = select(line, selector) else {
            return false;
        };
        if let Some(text) = operand.strip_prefix('"').and_then(|o| o.strip_suffix('"')) {
            return match op.as_str() {
                "=" => v.as_str() == Some(text),
                "!=" => v.as_str().is_some_and(|s| s != text),
                _ => panic!("operator {op} on a string"),
            };
        }
        let (Some(v), Ok(n)) = (v.as_f64(), operand.parse::<f64>()) else {
            return false;
        };
        match op.as_str() {
            ">" => v > n,
            ">=" => v >= n,
            "<" => v < n,
            "<=" => v <= n,
            "=" => v == n,
            "!=" => v != n,
            _ => panic!("operator {op}"),
        }
    })
}

/// The functions' own log format, for the whole of this test process (a
/// global subscriber: a thread-local one can miss events whose callsites
/// other threads registered first).
fn logs() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        tracing::subscriber::set_global_default(orderflow_aws::telemetry::json_subscriber(
            logs.clone(),
        ))
        .unwrap();
        logs
    })
    .clone()
}

#[tokio::test]
async fn the_shadow_disagreements_metric_filter_counts_each_disagreement_once() {
    let filter = metric_filter("ShadowDisagreements");
    assert_eq!(filter.value, "1", "one event is one disagreement");
    let dir = tempfile::tempdir().unwrap();
    let threshold = |eur: u64| Manifest {
        rules: vec![spec("threshold", json!({"minimum_minor": {"EUR": eur}}))],
        ..Default::default()
    };
    let (live, candidate) =
        manifests::lay_out_shadowed(dir.path(), &threshold(100_000), &threshold(50_000));
    let logs = logs();
    let p = producer(dir.path(), MemoryPublisher::default());
    let batch = json!({"orders": [
        order("shadow-1", 150_000), order("shadow-2", 60_000), order("shadow-3", 70_000), order("shadow-4", 10),
    ]});
    let response = p.handle(batch).await.unwrap();
    assert_eq!(
        response["summary"]["published"], 1,
        "only the live decision counts"
    );

    let lines = logs.json_lines();
    let counted: Vec<&Value> = lines.iter().filter(|l| matches(&filter, l)).collect();
    let ids: Vec<&str> = counted
        .iter()
        .map(|l| l["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["shadow-2", "shadow-3"], "{}", logs.text());
    for event in &counted {
        assert_eq!(event["live_revision"], live.as_str());
        assert_eq!(event["candidate_revision"], candidate.as_str());
        assert_eq!(
            (&event["live"], &event["candidate"]),
            (&json!("not_high_value"), &json!("high_value"))
        );
        assert_eq!(event["rules"], "threshold=not_high_value->high_value");
        let text = event.to_string();
        for pii in ["cust-42", "ana@example.com", "60000", "70000"] {
            assert!(!text.contains(pii), "no order values in the event: {text}");
        }
    }
    let summary = lines
        .iter()
        .find(|l| l["message"] == "orders processed" && l["shadow"] == candidate.as_str())
        .expect("the summary names the shadow");
    assert_eq!(summary["shadow_disagreements"], 2);
}

#[tokio::test]
async fn the_orders_failed_metric_filter_reads_the_summary_log_line() {
    let filter = metric_filter("OrdersFailed");
    assert!(
        filter
            .conditions
            .iter()
            .any(|(s, op, v)| s == "$.message" && op == "=" && v == "\"orders processed\""),
        "the filter picks the summary line by its message"
    );
    let dir = tempfile::tempdir().unwrap();
    let rules = vec![spec("threshold", json!({"minimum_minor": {"EUR": 100000}}))];
    manifests::lay_out(
        dir.path(),
        &Manifest {
            rules,
            transforms: vec![],
            ..Default::default()
        },
    );
    let logs = logs();

    // Two high-value orders fail to publish, one is not high-value; then a
    // batch with no failure.
    let failing = producer(dir.path(), MemoryPublisher::refusing());
    let batch =
        json!({"orders": [order("ord-1", 150_000), order("ord-2", 10), order("ord-3", 200_000)]});
    assert_eq!(failing.handle(batch).await.unwrap()["summary"]["failed"], 2);
    let fine = producer(dir.path(), MemoryPublisher::default());
    assert_eq!(
        fine.handle(order("ord-4", 150_000)).await.unwrap()["summary"]["failed"],
        0
    );

    let summaries: Vec<Value> = logs
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "orders processed" && l["shadow"].is_null())
        .collect();
    assert_eq!(summaries.len(), 2, "{}", logs.text());
    let (with_failures, without) = (&summaries[0], &summaries[1]);
    assert!(matches(&filter, with_failures), "{with_failures}");
    let counted = select(with_failures, &filter.value)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{} is a count: {with_failures}", filter.value));
    assert_eq!(counted, 2, "the metric counts the failed orders");
    assert!(!matches(&filter, without), "{without}");
    assert_eq!(select(without, &filter.value), Some(&json!(0)));
}
