//! The consumer Lambda (`bootstrap`): configuration, clients and the plugin
//! runtime are built once per sandbox; each SQS batch goes to
//! [`orderflow_consumer::Consumer::handle`].

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use orderflow_aws::{ConsumerConfig, DynamoStore, PluginCache, clients, telemetry};
use orderflow_consumer::Consumer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config =
        ConsumerConfig::from_env().inspect_err(|e| tracing::error!("configuration: {e}"))?;
    let sdk = clients::sdk_config().await;
    let plugins = PluginCache::for_function(
        &sdk,
        config.plugins.clone(),
        config.cache_dir.clone(),
        config.refresh,
    )
    .await
    .inspect_err(|e| tracing::error!("plugin runtime: {e}"))?;
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
