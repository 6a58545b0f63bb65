use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:orderflow-dev-high-value-orders";

#[test]
fn producer_defaults_apply() {
    let c = ProducerConfig::from_lookup(env(&[
        (TOPIC_ARN, TOPIC),
        (PLUGIN_BUCKET, "orderflow-plugins"),
    ]))
    .unwrap();
    assert_eq!(c.topic_arn, TOPIC);
    assert_eq!(c.plugins.manifest_key, "plugins/manifest.json");
    assert_eq!(c.plugins.prefix(), "plugins/");
    assert_eq!(
        c.plugins.key("threshold-0123abcd.wasm"),
        "plugins/threshold-0123abcd.wasm"
    );
    assert_eq!(c.refresh, Duration::from_secs(60));
    assert_eq!(c.cache_dir, PathBuf::from("/tmp/orderflow-cache"));
    assert_eq!(c.decision_log, None);
}

#[test]
fn the_decision_log_is_on_when_its_bucket_is_named() {
    let base = [(TOPIC_ARN, TOPIC), (PLUGIN_BUCKET, "b-1")];
    let with = |extra: &[(&str, &str)]| {
        ProducerConfig::from_lookup(env(&[&base[..], extra].concat())).map(|c| c.decision_log)
    };
    assert_eq!(
        with(&[(DECISION_LOG_BUCKET, "orderflow-decisions")]).unwrap(),
        Some(DecisionLogLocation {
            bucket: "orderflow-decisions".into(),
            prefix: "decisions/".into()
        })
    );
    let e = with(&[(DECISION_LOG_BUCKET, "Bad_Bucket")]).unwrap_err();
    assert!(e.to_string().starts_with(DECISION_LOG_BUCKET), "{e}");
    let e = with(&[
        (DECISION_LOG_BUCKET, "b-2"),
        (DECISION_LOG_PREFIX, "no-slash"),
    ])
    .unwrap_err();
    assert!(e.to_string().starts_with(DECISION_LOG_PREFIX), "{e}");
}

#[test]
fn consumer_reads_every_variable() {
    let c = ConsumerConfig::from_lookup(env(&[
        (TABLE_NAME, "orderflow-dev-orders"),
        (PLUGIN_BUCKET, "b-1"),
        (MANIFEST_KEY, "plugins/prod/manifest.json"),
        (REFRESH_SECONDS, "0"),
        (CACHE_DIR, "/var/cache/x"),
        (
            DLQ_URL,
            "https://sqs.us-east-1.amazonaws.com/123456789012/orderflow-dev-high-value-dlq",
        ),
    ]))
    .unwrap();
    assert_eq!(c.table_name, "orderflow-dev-orders");
    assert!(
        c.dlq_url
            .unwrap()
            .ends_with("/orderflow-dev-high-value-dlq")
    );
    let without = env(&[(TABLE_NAME, "orders"), (PLUGIN_BUCKET, "b-1")]);
    assert_eq!(ConsumerConfig::from_lookup(without).unwrap().dlq_url, None);
    let e = ConsumerConfig::from_lookup(env(&[
        (TABLE_NAME, "orders"),
        (PLUGIN_BUCKET, "b-1"),
        (DLQ_URL, "dlq"),
    ]))
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ORDERFLOW_DLQ_URL=\"dlq\" is malformed"),
        "{e}"
    );
    assert_eq!(c.plugins.prefix(), "plugins/prod/");
    assert_eq!(c.refresh, Duration::ZERO);
    assert_eq!(c.cache_dir, PathBuf::from("/var/cache/x"));
}

#[test]
fn missing_variables_are_named() {
    let e = ProducerConfig::from_lookup(env(&[(PLUGIN_BUCKET, "b-1")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ORDERFLOW_TOPIC_ARN is not set: the ARN of the high-value SNS topic"
    );
    let e = ConsumerConfig::from_lookup(env(&[(TABLE_NAME, "orders"), (PLUGIN_BUCKET, "  ")]))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ORDERFLOW_PLUGIN_BUCKET is not set"),
        "{e}"
    );
}

#[test]
fn malformed_variables_are_named_with_their_value() {
    let base = [(TOPIC_ARN, TOPIC), (PLUGIN_BUCKET, "b-1")];
    let with = |k: &'static str, v: &'static str| {
        let mut pairs = base.to_vec();
        pairs.push((k, v));
        ProducerConfig::from_lookup(env(&pairs))
            .unwrap_err()
            .to_string()
    };
    let e = with(REFRESH_SECONDS, "1m");
    assert!(
        e.starts_with("ORDERFLOW_REFRESH_SECONDS=\"1m\" is malformed: must be a whole number"),
        "{e}"
    );
    assert!(with(REFRESH_SECONDS, "-1").contains("ORDERFLOW_REFRESH_SECONDS"));
    assert!(with(REFRESH_SECONDS, "999999").contains("ORDERFLOW_REFRESH_SECONDS"));
    assert!(
        with(MANIFEST_KEY, "/plugins/manifest.json")
            .starts_with("ORDERFLOW_MANIFEST_KEY=\"/plugins")
    );
    assert!(with(MANIFEST_KEY, "plugins/../x.json").contains("no '..'"));
    assert!(with(CACHE_DIR, "relative/dir").contains("ORDERFLOW_CACHE_DIR"));
    let e = ProducerConfig::from_lookup(env(&[
        (TOPIC_ARN, "orderflow-topic"),
        (PLUGIN_BUCKET, "b-1"),
    ]))
    .unwrap_err();
    assert!(e.to_string().contains("expected an SNS topic ARN"), "{e}");
    let e = ProducerConfig::from_lookup(env(&[(TOPIC_ARN, TOPIC), (PLUGIN_BUCKET, "My_Bucket")]))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ORDERFLOW_PLUGIN_BUCKET=\"My_Bucket\" is malformed"),
        "{e}"
    );
    let e = ConsumerConfig::from_lookup(env(&[(TABLE_NAME, "a b"), (PLUGIN_BUCKET, "b-1")]))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ORDERFLOW_TABLE_NAME=\"a b\" is malformed"),
        "{e}"
    );
}

#[test]
fn a_manifest_at_the_bucket_root_has_an_empty_prefix() {
    let l = PluginLocation::new("b-1", "manifest.json");
    assert_eq!(l.prefix(), "");
    assert_eq!(l.key("t.wasm"), "t.wasm");
    assert_eq!(l.manifest_uri(), "s3://b-1/manifest.json");
}
