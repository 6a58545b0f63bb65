//! The producer Lambda (`bootstrap`): started once per sandbox by
//! [`orderflow_aws::function::start`]; each event goes to
//! [`orderflow_producer::Producer::handle`].

use lambda_runtime::{Error, LambdaEvent, service_fn};
use orderflow_aws::decision_log::S3DecisionLog;
use orderflow_aws::{ProducerConfig, SnsPublisher, clients, function};
use orderflow_host::RuleSet;
use orderflow_producer::Producer;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let f = function::start::<ProducerConfig, RuleSet>().await?;
    let topic = SnsPublisher::new(clients::sns(&f.sdk), f.config.topic_arn.clone());
    let log = (f.config.decision_log.clone()).map(|l| S3DecisionLog::new(clients::s3(&f.sdk), l));
    let producer = &Producer::new(f.plugins, topic).with_decision_log(log);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let until = function::plugins_until(event.context.deadline);
        (producer.handle_until(event.payload, Some(until)).await).map_err(Error::from)
    }))
    .await
}
