//! One moto server and stack per test, the example plugins, and helpers.

use orderflow_aws::decision_log::S3DecisionLog;
use orderflow_aws::{DynamoStore, SnsPublisher, SqsDeadLetters};
use orderflow_consumer::Consumer;
use orderflow_host::order::parse_orders;
use orderflow_host::{Manifest, Runtime};
use orderflow_local_stack::{Drain, Stack, StackSettings, build_plugins, unique_stage};
use orderflow_pipeline::ports::DecisionLog;
use orderflow_pipeline::{ItemStore, Publisher};
use orderflow_producer::Producer;
use orderflow_test_support::manifests;
use orderflow_test_support::moto::MotoServer;
use orderflow_test_support::orders::priced;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const DRAIN: Duration = Duration::from_secs(90);

pub fn root() -> PathBuf {
    orderflow_plugin_build::workspace_root()
}

/// The example manifest (plugins/manifest.json), its plugins built once.
pub fn example() -> &'static (Manifest, PathBuf) {
    static EXAMPLE: OnceLock<(Manifest, PathBuf)> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        let m: Manifest =
            serde_json::from_slice(&std::fs::read(root().join("plugins/manifest.json")).unwrap())
                .unwrap();
        let dir = build_plugins(&m).unwrap();
        (m, dir)
    })
}

/// The example manifest with the threshold rule's EUR minimum changed.
pub fn with_eur_minimum(minimum: u64) -> Manifest {
    let mut m = example().0.clone();
    m.rules[0].config["minimum_minor"]["EUR"] = json!(minimum);
    m
}

pub fn sample_orders() -> Vec<Value> {
    std::fs::read_to_string(root().join("samples/orders.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The sample order, from a customer no VIP rule names.
pub fn order(id: &str, currency: &str, total: u64) -> Value {
    let mut o = priced(id, total);
    o["currency"] = json!(currency);
    o["customer_id"] = json!("cust-500");
    o
}

pub fn runtime() -> Arc<Runtime> {
    manifests::runtime(32)
}

pub struct Env {
    pub moto: MotoServer,
    pub stack: Stack,
    pub runtime: Arc<Runtime>,
}

pub async fn env(settings: impl FnOnce(&mut StackSettings)) -> Env {
    let moto = MotoServer::start().unwrap();
    let mut s = StackSettings::new(unique_stage("e2e"));
    settings(&mut s);
    let stack = Stack::create(&moto.sdk_config().await, s).await.unwrap();
    Env {
        moto,
        stack,
        runtime: runtime(),
    }
}

impl Env {
    pub async fn publish(&self, source: &Manifest) -> String {
        self.stack
            .plugin_store()
            .publish(source, &example().1, Some(&self.runtime))
            .await
            .unwrap()
            .revision
    }

    pub fn producer(&self) -> Producer<SnsPublisher, Option<S3DecisionLog>> {
        self.stack.producer(self.runtime.clone())
    }

    pub fn consumer(&self) -> Consumer<DynamoStore, SqsDeadLetters> {
        self.stack.consumer(self.runtime.clone())
    }

    /// Runs the event source mapping until the queue is empty.
    pub async fn drain(
        &self,
        consumer: &Consumer<impl ItemStore, impl orderflow_pipeline::DeadLetters>,
    ) -> Drain {
        self.stack
            .event_source()
            .drain(consumer, DRAIN)
            .await
            .unwrap()
    }
}

/// A direct invocation, answered as Lambda would return it.
pub async fn invoke(producer: &Producer<impl Publisher, impl DecisionLog>, event: Value) -> Value {
    producer.handle(event).await.unwrap()
}

pub fn published(r: &Value) -> Vec<String> {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] == "published")
        .map(|x| x["order_id"].as_str().unwrap().to_string())
        .collect()
}

pub fn count(r: &Value, status: &str) -> u64 {
    r["summary"][status].as_u64().unwrap()
}

pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["OrderId"].as_str().unwrap().to_string())
        .collect()
}

/// What the embedded (in-process) pipeline stores for the same orders and
/// manifest: the AWS pipeline must store the same items.
pub async fn embedded_items(source: &Manifest, orders: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = manifests::lay_out(dir.path(), source);
    let loaded = orderflow_host::read_manifest(&path).unwrap();
    let rt = runtime();
    let wasm = orderflow_host::wasm_from_dir(dir.path());
    let rules = orderflow_host::RuleSet::load(&rt, &loaded, &wasm).unwrap();
    let transforms = orderflow_host::TransformChain::load(&rt, &loaded, &wasm).unwrap();
    let text: String = orders.iter().map(|o| o.to_string() + "\n").collect();
    let store = dir.path().join("items");
    orderflow_pipeline::embedded::run(&rules, &transforms, &store, parse_orders(&text)).await;
    let mut items = orderflow_pipeline::embedded::FileStore::new(&store)
        .items()
        .unwrap();
    items.sort_by_key(|i| i["OrderId"].as_str().unwrap().to_string());
    items
}

pub fn without_revision(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .map(|i| {
            let mut i = i.clone();
            i.as_object_mut().unwrap().remove("RuleSetRevision");
            i
        })
        .collect()
}

/// The live manifest, as the operator left it.
pub async fn status_manifest(env: &Env) -> Manifest {
    let key = env.stack.manifest_key.clone();
    let out = env
        .stack
        .s3
        .get_object()
        .bucket(&env.stack.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    serde_json::from_slice(&out.body.collect().await.unwrap().to_vec()).unwrap()
}
