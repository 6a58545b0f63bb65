//! The AWS pipeline on a local endpoint (a moto server): the template's
//! resources, the real producer and consumer handlers with the real SDK
//! clients, and an emulated SQS event source mapping between them.
//!
//! Used by the `local-stack` command and by the end-to-end tests.

use anyhow::{Context, Result, bail};
use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use orderflow_aws::{
    DynamoStore, PluginCache, PluginLocation, PluginStore, S3Source, SnsPublisher, clients,
};
use orderflow_consumer::Consumer;
use orderflow_host::{Manifest, RuleSet, Runtime, TransformChain};
use orderflow_pipeline::ItemStore;
use orderflow_pipeline::consumer::ConsumerResult;
use orderflow_producer::Producer;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The settings the template gives the queue, scaled down for a local run.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// Prefix of every resource name.
    pub name: String,
    /// Deliveries before SQS moves a message to the DLQ (template: MaxReceiveCount).
    pub max_receive_count: u32,
    /// Seconds a received message stays invisible (template: 190).
    pub visibility_timeout: u32,
    pub manifest_key: String,
}

impl StackSettings {
    pub fn new(name: impl Into<String>) -> StackSettings {
        StackSettings {
            name: name.into(),
            max_receive_count: 3,
            visibility_timeout: 1,
            manifest_key: "plugins/manifest.json".into(),
        }
    }
}

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
    pub settings: StackSettings,
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .context("the queue has no QueueArn")
}

impl Stack {
    /// Creates the bucket (versioned), table, queue with its DLQ and redrive
    /// policy, topic, and the raw-delivery subscription.
    pub async fn create(sdk: &SdkConfig, settings: StackSettings) -> Result<Stack> {
        let s3 = clients::s3(sdk);
        let sns = clients::sns(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let dynamodb = clients::dynamodb(sdk);
        let name = &settings.name;

        let bucket = format!("{name}-plugins");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .context("CreateBucket")?;
        s3.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .context("PutBucketVersioning")?;

        let table = format!("{name}-orders");
        let key = |n: &str, t| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
        };
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        dynamodb
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("OrderId", KeyType::Hash)?)
            .key_schema(key("Timestamp", KeyType::Range)?)
            .attribute_definitions(attr("OrderId")?)
            .attribute_definitions(attr("Timestamp")?)
            .send()
            .await
            .context("CreateTable")?;

        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{name}-high-value-dlq"))
            .send()
            .await
            .context("CreateQueue (DLQ)")?;
        let dlq_url = dlq_url.queue_url().context("no DLQ url")?.to_string();
        let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
        let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}).to_string();
        let queue = sqs
            .create_queue()
            .queue_name(format!("{name}-high-value"))
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                settings.visibility_timeout.to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .context("CreateQueue")?;
        let queue_url = queue.queue_url().context("no queue url")?.to_string();
        let queue_arn = queue_arn(&sqs, &queue_url).await?;

        let topic = sns
            .create_topic()
            .name(format!("{name}-high-value-orders"))
            .send()
            .await
            .context("CreateTopic")?;
        let topic_arn = topic.topic_arn().context("no topic ARN")?.to_string();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .context("Subscribe")?;

        Ok(Stack {
            sdk: sdk.clone(),
            s3,
            sns,
            sqs,
            dynamodb,
            topic_arn,
            queue_url,
            queue_arn,
            dlq_url,
            table,
            bucket,
            settings,
        })
    }

    pub fn plugin_location(&self) -> PluginLocation {
        PluginLocation::new(&self.bucket, &self.settings.manifest_key)
    }

    pub fn plugin_store(&self) -> PluginStore {
        PluginStore::new(self.s3.clone(), self.plugin_location())
    }

    pub fn rule_cache(
        &self,
        runtime: Arc<Runtime>,
        refresh: Duration,
    ) -> Arc<PluginCache<RuleSet>> {
        Arc::new(PluginCache::new(
            S3Source::new(self.s3.clone(), self.plugin_location()),
            runtime,
            refresh,
        ))
    }

    pub fn transform_cache(
        &self,
        runtime: Arc<Runtime>,
        refresh: Duration,
    ) -> Arc<PluginCache<TransformChain>> {
        Arc::new(PluginCache::new(
            S3Source::new(self.s3.clone(), self.plugin_location()),
            runtime,
            refresh,
        ))
    }

    /// The producer function as Lambda would build it.
    pub fn producer(&self, runtime: Arc<Runtime>, refresh: Duration) -> Producer<SnsPublisher> {
        Producer::new(self.rule_cache(runtime, refresh), self.publisher())
    }

    pub fn publisher(&self) -> SnsPublisher {
        SnsPublisher::new(self.sns.clone(), &self.topic_arn)
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), &self.table)
    }

    /// The consumer function as Lambda would build it.
    pub fn consumer(&self, runtime: Arc<Runtime>, refresh: Duration) -> Consumer<DynamoStore> {
        Consumer::new(self.transform_cache(runtime, refresh), self.store())
    }

    /// The event source mapping between the queue and a consumer.
    pub fn event_source(&self) -> EventSourceMapping {
        EventSourceMapping {
            sqs: self.sqs.clone(),
            queue_url: self.queue_url.clone(),
            queue_arn: self.queue_arn.clone(),
            batch_size: 10,
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
        let mut bodies = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .send()
                .await
                .context("ReceiveMessage (DLQ)")?;
            let messages = out.messages();
            if messages.is_empty() {
                return Ok(bodies);
            }
            bodies.extend(
                messages
                    .iter()
                    .map(|m| m.body().unwrap_or_default().to_string()),
            );
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
            .key(&self.settings.manifest_key)
            .body(bytes.into())
            .send()
            .await
            .context("PutObject (manifest)")?;
        Ok(())
    }
}

/// What one poll of the event source mapping did.
#[derive(Debug, Default, Clone)]
pub struct Poll {
    pub received: usize,
    pub deleted: usize,
    /// Records the consumer reported in `batchItemFailures`.
    pub failed: usize,
    /// The invocation itself failed (every record returns to the queue).
    pub invocation_error: Option<String>,
    pub results: Vec<ConsumerResult>,
}

/// What a drain did in total.
#[derive(Debug, Default, Clone)]
pub struct Drain {
    pub invocations: usize,
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
    pub invocation_errors: Vec<String>,
    pub results: Vec<ConsumerResult>,
}

/// Emulates Lambda's SQS event source mapping: receive up to 10 messages,
/// invoke the consumer with an `SqsEvent` built from them, delete the ones
/// not reported in `batchItemFailures`, and leave the rest to reappear after
/// the visibility timeout (SQS moves them to the DLQ past `maxReceiveCount`).
pub struct EventSourceMapping {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
}

impl EventSourceMapping {
    /// Receives one batch; `None` if the queue had nothing visible.
    pub async fn receive(&self, wait_seconds: i32) -> Result<Option<SqsEvent>> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .context("ReceiveMessage")?;
        if out.messages().is_empty() {
            return Ok(None);
        }
        let region = self
            .queue_arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_string();
        let mut event = SqsEvent::default();
        for m in out.messages() {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id().map(str::to_string);
            r.receipt_handle = m.receipt_handle().map(str::to_string);
            r.body = m.body().map(str::to_string);
            r.md5_of_body = m.md5_of_body().map(str::to_string);
            r.md5_of_message_attributes = m.md5_of_message_attributes().map(str::to_string);
            r.attributes = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            r.message_attributes = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            let mut attr = SqsMessageAttribute::default();
                            attr.string_value = v.string_value().map(str::to_string);
                            attr.string_list_values = v.string_list_values().to_vec();
                            attr.data_type = Some(v.data_type().to_string());
                            (k.clone(), attr)
                        })
                        .collect()
                })
                .unwrap_or_default();
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(self.queue_arn.clone());
            r.aws_region = Some(region.clone());
            event.records.push(r);
        }
        Ok(Some(event))
    }

    /// Deletes the records of `event` whose message ids are not in `failed`.
    pub async fn delete_succeeded(&self, event: &SqsEvent, failed: &[String]) -> Result<usize> {
        let mut deleted = 0;
        for r in &event.records {
            if r.message_id.as_ref().is_some_and(|id| failed.contains(id)) {
                continue;
            }
            let Some(handle) = &r.receipt_handle else {
                continue;
            };
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .context("DeleteMessage")?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// One receive → invoke → delete cycle.
    pub async fn poll<S: ItemStore>(
        &self,
        consumer: &Consumer<S>,
        wait_seconds: i32,
    ) -> Result<Poll> {
        let Some(event) = self.receive(wait_seconds).await? else {
            return Ok(Poll::default());
        };
        let mut poll = Poll {
            received: event.records.len(),
            ..Poll::default()
        };
        match consumer.handle_with_results(event.clone()).await {
            Ok((response, results)) => {
                let failed: Vec<String> = response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect();
                poll.failed = failed.len();
                poll.deleted = self.delete_succeeded(&event, &failed).await?;
                poll.results = results;
            }
            Err(e) => poll.invocation_error = Some(e.to_string()),
        }
        Ok(poll)
    }

    /// (visible, in flight) messages.
    pub async fn depth(&self) -> Result<(u64, u64)> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .context("GetQueueAttributes")?;
        let get = |n: QueueAttributeName| -> u64 {
            out.attributes()
                .and_then(|a| a.get(&n))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    /// Polls until the queue is empty (nothing visible or in flight), or
    /// fails after `timeout`.
    pub async fn drain<S: ItemStore>(
        &self,
        consumer: &Consumer<S>,
        timeout: Duration,
    ) -> Result<Drain> {
        let started = Instant::now();
        let mut drain = Drain::default();
        loop {
            let poll = self.poll(consumer, 0).await?;
            if poll.received > 0 {
                drain.invocations += 1;
                drain.received += poll.received;
                drain.deleted += poll.deleted;
                drain.failed += poll.failed;
                drain.invocation_errors.extend(poll.invocation_error);
                drain.results.extend(poll.results);
                continue;
            }
            if self.depth().await? == (0, 0) {
                return Ok(drain);
            }
            if started.elapsed() > timeout {
                bail!(
                    "the queue did not drain within {timeout:?}: {:?} messages (visible, in flight) left",
                    self.depth().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The example manifest the local stack publishes when the workspace has
/// no `plugins/manifest.json`: plugin paths are the built files' names.
pub fn example_manifest() -> Manifest {
    let json = serde_json::json!({
        "rules": [
            {"name": "threshold", "version": "1.0.0", "wasm": "threshold.wasm",
             "config": {"minimum_minor": {"EUR": 100000, "USD": 120000, "GBP": 90000, "JPY": 15000000}}},
            {"name": "vip-customer", "version": "1.0.0", "wasm": "vip-customer.wasm",
             "config": {"customers": {"cust-42": "gold", "cust-7": "platinum"}}},
            {"name": "bulk-quantity", "version": "1.0.0", "wasm": "bulk-quantity.wasm", "config": {"min_quantity": 10}}
        ],
        "transforms": [
            {"name": "normalize", "version": "1.0.0", "wasm": "normalize.wasm"},
            {"name": "redact-pii", "version": "1.0.0", "wasm": "redact-pii.wasm", "config": {"keys": ["email", "phone"]}}
        ]
    });
    serde_json::from_value(json).expect("the example manifest is valid")
}

/// The plugin packages a source manifest names (`threshold.wasm` → `threshold`).
pub fn packages(manifest: &Manifest) -> Vec<String> {
    let mut out: Vec<String> = manifest
        .rules
        .iter()
        .chain(&manifest.transforms)
        .map(|s| {
            let file = s.wasm.rsplit('/').next().unwrap_or(&s.wasm);
            file.strip_suffix(".wasm").unwrap_or(file).to_string()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Builds the plugins a source manifest names; returns their directory.
pub fn build_plugins(manifest: &Manifest) -> Result<std::path::PathBuf> {
    let names = packages(manifest);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    orderflow_plugin_build::build(&refs).context("building the plugins")?;
    Ok(orderflow_plugin_build::output_dir())
}

/// Per-run resource prefix: a local endpoint may outlive one run.
pub fn unique_name(base: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{base}-{:x}",
        (nanos as u64) ^ (std::process::id() as u64) << 32
    )
}

/// Counts of producer results by status.
pub fn count_by_status(
    results: &[orderflow_producer::OrderResult],
) -> HashMap<&'static str, usize> {
    use orderflow_pipeline::producer::ProducerOutcome::*;
    let mut m = HashMap::new();
    for r in results {
        let k = match r.outcome {
            Published { .. } => "published",
            NotHighValue => "not_high_value",
            Rejected { .. } => "rejected",
            Failed { .. } => "failed",
        };
        *m.entry(k).or_insert(0) += 1;
    }
    m
}
