//! The producer Lambda (`bootstrap`): configuration, clients and the plugin
//! runtime are built once per sandbox; each event goes to
//! [`orderflow_producer::Producer::handle`].

use lambda_runtime::{Error, LambdaEvent, service_fn};
use orderflow_aws::{PluginCache, ProducerConfig, SnsPublisher, clients, telemetry};
use orderflow_producer::Producer;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config =
        ProducerConfig::from_env().inspect_err(|e| tracing::error!("configuration: {e}"))?;
    let sdk = clients::sdk_config().await;
    let plugins = PluginCache::for_function(
        &sdk,
        config.plugins.clone(),
        config.cache_dir.clone(),
        config.refresh,
    )
    .await
    .inspect_err(|e| tracing::error!("plugin runtime: {e}"))?;
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
