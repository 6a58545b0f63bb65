//! The producer Lambda (`bootstrap`): configuration, clients and the plugin
//! runtime are built once per sandbox; each event goes to
//! [`orderflow_producer::Producer::handle`].

use lambda_runtime::{Error, LambdaEvent, service_fn};
use orderflow_aws::{PluginCache, ProducerConfig, S3Source, SnsPublisher, clients, telemetry};
use orderflow_host::{Runtime, RuntimeConfig};
use orderflow_producer::Producer;
use serde_json::Value;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config =
        ProducerConfig::from_env().inspect_err(|e| tracing::error!("configuration: {e}"))?;
    let sdk = clients::sdk_config().await;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.cache_dir.clone()),
        ..Default::default()
    })
    .inspect_err(|e| tracing::error!("plugin runtime: {e}"))?;
    let source = S3Source::new(clients::s3(&sdk), config.plugins.clone());
    let plugins = Arc::new(PluginCache::new(source, runtime, config.refresh));
    // Load during init, which has its own (longer) time budget; a failure
    // here is logged and retried on the first event.
    let _ = plugins.current().await;
    let producer = Producer::new(
        plugins,
        SnsPublisher::new(clients::sns(&sdk), config.topic_arn.clone()),
    );
    let producer = &producer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        producer.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
