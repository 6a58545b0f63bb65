//! The resources of template.yaml on a local endpoint: created through
//! [`run_template_script`](crate::template::run_template_script), clients
//! connected to them, the functions built as Lambda builds them, and what
//! the tests read back (items, dead letters) or inject (raw messages, a raw
//! manifest).

use crate::event_source::EventSourceMapping;
use crate::template::{StackSettings, python, run_template_script};
use anyhow::{Context, Result, bail};
use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use orderflow_aws::config::{DEFAULT_DECISION_LOG_PREFIX, DecisionLogLocation};
use orderflow_aws::decision_log::S3DecisionLog;
use orderflow_aws::{
    DynamoStore, PluginLocation, PluginStore, S3Source, SnsPublisher, SqsDeadLetters, clients,
};
use orderflow_consumer::Consumer;
use orderflow_host::Runtime;
use orderflow_pipeline::reload::{PluginCache, PluginSet};
use orderflow_producer::Producer;
use std::sync::Arc;
use std::time::Duration;

/// The template's event source mapping `BatchSize` (checked against it by
/// deploy/test_template_policies.py).
pub const CONSUMER_BATCH_SIZE: i32 = 100;

/// The resources of template.yaml, created on a local endpoint.
pub struct Stack {
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub topic_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub table: String,
    pub bucket: String,
    /// `ORDERFLOW_MANIFEST_KEY` of the functions.
    pub manifest_key: String,
    /// `ORDERFLOW_REFRESH_SECONDS` of the functions.
    pub refresh: Duration,
    /// Deliveries before SQS moves a message to the DLQ: the queue's RedrivePolicy.
    pub max_receive_count: u32,
    pub producer_function: String,
    pub consumer_function: String,
    /// The producer's decision log bucket, when `DecisionLog=Enabled`.
    pub decision_log_bucket: Option<String>,
    pub settings: StackSettings,
    /// What `deploy/local_stack.py` reported while creating the stack.
    pub log: String,
}

/// The queue's ARN and its RedrivePolicy's (deadLetterTargetArn, maxReceiveCount).
async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<(String, Option<(String, u32)>)> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .with_context(|| format!("GetQueueAttributes {url}"))?;
    let attrs = out.attributes();
    let arn = attrs
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .context("the queue has no QueueArn")?;
    let Some(policy) = attrs.and_then(|a| a.get(&QueueAttributeName::RedrivePolicy)) else {
        return Ok((arn, None));
    };
    let policy: serde_json::Value = serde_json::from_str(policy)
        .with_context(|| format!("RedrivePolicy of {url} is not JSON: {policy}"))?;
    let target = policy["deadLetterTargetArn"]
        .as_str()
        .with_context(|| format!("RedrivePolicy of {url} has no deadLetterTargetArn: {policy}"))?;
    // A number, or a number in a string (as CloudFormation passes it on).
    let count = match &policy["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .and_then(|n| u32::try_from(n).ok())
    .with_context(|| format!("RedrivePolicy of {url} has no maxReceiveCount: {policy}"))?;
    Ok((arn, Some((target.to_string(), count))))
}

impl Stack {
    /// Creates the template's resources on the endpoint of `sdk` by running
    /// `deploy/local_stack.py` (see [`run_template_script`]), and connects
    /// clients to what it created.
    pub async fn create(sdk: &SdkConfig, settings: StackSettings) -> Result<Stack> {
        let endpoint = sdk
            .endpoint_url()
            .context("the SDK configuration has no endpoint URL (a local stack needs one)")?
            .to_string();
        let region = sdk.region().map_or_else(
            || orderflow_test_support::moto::REGION.to_string(),
            |r| r.to_string(),
        );
        let script_settings = settings.clone();
        let (out, log) = tokio::task::spawn_blocking(move || {
            run_template_script(&python(), &endpoint, &region, &script_settings)
        })
        .await
        .context("deploy/local_stack.py panicked")?
        .context("creating the stack from template.yaml (deploy/local_stack.py)")?;

        let sqs = aws_sdk_sqs::Client::new(sdk);
        let (queue_arn, redrive) = queue_attributes(&sqs, &out.queue_url).await?;
        let (dlq_arn, _) = queue_attributes(&sqs, &out.dlq_url).await?;
        let Some((target, max_receive_count)) = redrive else {
            bail!("the queue {} has no RedrivePolicy", out.queue_url);
        };
        if target != dlq_arn {
            bail!("the queue's RedrivePolicy targets {target}, not the stack's DLQ {dlq_arn}");
        }
        Ok(Stack {
            sdk: sdk.clone(),
            s3: clients::s3(sdk),
            sns: clients::sns(sdk),
            sqs,
            dynamodb: clients::dynamodb(sdk),
            topic_arn: out.topic_arn,
            queue_url: out.queue_url,
            queue_arn,
            dlq_url: out.dlq_url,
            table: out.table_name,
            bucket: out.bucket,
            manifest_key: out.manifest_key,
            refresh: Duration::from_secs(out.refresh_seconds),
            max_receive_count,
            producer_function: out.producer_function,
            consumer_function: out.consumer_function,
            decision_log_bucket: out.decision_log_bucket,
            settings,
            log,
        })
    }

    pub fn plugin_location(&self) -> PluginLocation {
        PluginLocation::new(&self.bucket, &self.manifest_key)
    }

    /// The operator's store, publishing with precompiled artifacts as
    /// `orderflow plugins publish` does.
    pub fn plugin_store(&self) -> PluginStore {
        PluginStore::new(self.s3.clone(), self.plugin_location())
            .precompiling(crate::plugins::precompiler())
    }

    /// A function's rule set or transform chain from the bucket,
    /// re-checked every `ORDERFLOW_REFRESH_SECONDS`.
    pub fn plugin_cache<T: PluginSet>(&self, runtime: Arc<Runtime>) -> Arc<PluginCache<T>> {
        Arc::new(PluginCache::new(
            S3Source::new(self.s3.clone(), self.plugin_location()),
            runtime,
            self.refresh,
        ))
    }

    /// The producer function as Lambda would build it (with the decision
    /// log when the stack turns it on).
    pub fn producer(&self, runtime: Arc<Runtime>) -> Producer<SnsPublisher, Option<S3DecisionLog>> {
        let log = self.decision_log_bucket.as_ref().map(|bucket| {
            let location = DecisionLogLocation {
                bucket: bucket.clone(),
                prefix: DEFAULT_DECISION_LOG_PREFIX.into(),
            };
            S3DecisionLog::new(self.s3.clone(), location)
        });
        Producer::new(self.plugin_cache(runtime), self.publisher()).with_decision_log(log)
    }

    pub fn publisher(&self) -> SnsPublisher {
        SnsPublisher::new(self.sns.clone(), &self.topic_arn)
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), &self.table)
    }

    /// The consumer function as Lambda would build it (the template gives
    /// it the DLQ's URL).
    pub fn consumer(&self, runtime: Arc<Runtime>) -> Consumer<DynamoStore, SqsDeadLetters> {
        Consumer::new(self.plugin_cache(runtime), self.store())
            .with_dead_letters(SqsDeadLetters::new(self.sqs.clone(), &self.dlq_url))
    }

    /// The event source mapping between the queue and a consumer.
    pub fn event_source(&self) -> EventSourceMapping {
        EventSourceMapping {
            sqs: self.sqs.clone(),
            queue_url: self.queue_url.clone(),
            queue_arn: self.queue_arn.clone(),
            batch_size: CONSUMER_BATCH_SIZE,
            visibility_timeout: Some(self.settings.visibility_timeout),
        }
    }

    /// Every item in the table, as JSON, ordered by key.
    pub async fn items(&self) -> Result<Vec<serde_json::Value>> {
        let mut items = Vec::new();
        let mut pages = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for item in page.context("Scan")?.items() {
                items.push(orderflow_aws::dynamo::to_json(item));
            }
        }
        items.sort_by_key(|i| {
            (
                i["OrderId"].as_str().unwrap_or_default().to_string(),
                i["Timestamp"].as_str().unwrap_or_default().to_string(),
            )
        });
        Ok(items)
    }

    /// Bodies of the messages in the dead-letter queue (received and left
    /// there, invisible for a while).
    pub async fn dead_letters(&self) -> Result<Vec<String>> {
        Ok(self
            .dead_letters_with_reasons()
            .await?
            .into_iter()
            .map(|(body, _)| body)
            .collect())
    }

    /// As [`dead_letters`](Self::dead_letters), each with the reason the
    /// consumer gave it (its `reason` message attribute; none for a
    /// message the queue's redrive moved).
    pub async fn dead_letters_with_reasons(&self) -> Result<Vec<(String, Option<String>)>> {
        let mut bodies = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .visibility_timeout(30)
                .send()
                .await
                .context("ReceiveMessage (DLQ)")?;
            let messages = out.messages();
            if messages.is_empty() {
                return Ok(bodies);
            }
            bodies.extend(messages.iter().map(|m| {
                let reason = m
                    .message_attributes()
                    .and_then(|a| a.get(orderflow_aws::sqs::REASON_ATTRIBUTE))
                    .and_then(|v| v.string_value())
                    .map(String::from);
                (m.body().unwrap_or_default().to_string(), reason)
            }));
        }
    }

    /// Sends a raw body straight to the queue, as a misbehaving publisher would.
    pub async fn send_raw(&self, body: &str) -> Result<String> {
        let out = self
            .sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .context("SendMessage")?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }

    /// Uploads bytes as the live manifest directly, bypassing every check
    /// `publish` makes (a bad manifest for tests).
    pub async fn put_manifest_raw(&self, bytes: Vec<u8>) -> Result<()> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&self.manifest_key)
            .body(bytes.into())
            .send()
            .await
            .context("PutObject (manifest)")?;
        Ok(())
    }
}
