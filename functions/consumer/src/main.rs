//! The consumer Lambda (`bootstrap`): started once per sandbox by
//! [`orderflow_aws::function::start`]; each SQS batch goes to
//! [`orderflow_consumer::Consumer::handle`].

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use orderflow_aws::{ConsumerConfig, DynamoStore, SqsDeadLetters, clients, function};
use orderflow_consumer::Consumer;
use orderflow_host::TransformChain;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let f = function::start::<ConsumerConfig, TransformChain>().await?;
    let table = DynamoStore::new(clients::dynamodb(&f.sdk), f.config.table_name.clone());
    let dead_letters =
        (f.config.dlq_url.clone()).map(|url| SqsDeadLetters::new(clients::sqs(&f.sdk), url));
    let consumer = &Consumer::new(f.plugins, table).with_dead_letters(dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let until = function::plugins_until(event.context.deadline);
        (consumer.handle_until(event.payload, until).await).map_err(Error::from)
    }))
    .await
}
