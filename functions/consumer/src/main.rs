//! The consumer Lambda (`bootstrap`): configuration, clients and the plugin
//! runtime are built once per sandbox; each SQS batch goes to
//! [`orderflow_consumer::Consumer::handle`].

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use orderflow_aws::{ConsumerConfig, DynamoStore, PluginCache, S3Source, clients, telemetry};
use orderflow_consumer::Consumer;
use orderflow_host::{Runtime, RuntimeConfig};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config =
        ConsumerConfig::from_env().inspect_err(|e| tracing::error!("configuration: {e}"))?;
    let sdk = clients::sdk_config().await;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.cache_dir.clone()),
        ..Default::default()
    })
    .inspect_err(|e| tracing::error!("plugin runtime: {e}"))?;
    let source = S3Source::new(clients::s3(&sdk), config.plugins.clone());
    let plugins = Arc::new(PluginCache::new(source, runtime, config.refresh));
    // Load during init; a failure is logged and retried on the first batch.
    let _ = plugins.current().await;
    let consumer = Consumer::new(
        plugins,
        DynamoStore::new(clients::dynamodb(&sdk), config.table_name.clone()),
    );
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        consumer.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
