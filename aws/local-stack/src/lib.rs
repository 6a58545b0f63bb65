//! The AWS pipeline on a local endpoint (a moto server): the resources of
//! template.yaml, created from the template itself by
//! `deploy/local_stack.py`, the real producer and consumer handlers with the
//! real SDK clients, and an emulated SQS event source mapping between them.
//!
//! Used by the `local-stack` command and by the end-to-end tests.

use anyhow::{Context, Result, bail};
use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
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
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the stack is created from template.yaml, and how the local event
/// source mapping drives it.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// CloudFormation stack name (moto derives the plugin bucket's name from it).
    pub stack_name: String,
    /// Template parameter overrides (`StageName` names the topic, queues,
    /// table and functions).
    pub parameters: Vec<(String, String)>,
    /// Seconds a message received by the local event source mapping stays
    /// invisible: the template's queue VisibilityTimeout (190 s, sized for
    /// Lambda) scaled down, so failed records come back within a test. Given
    /// on each ReceiveMessage; the queue itself keeps the template's value.
    pub visibility_timeout: i32,
}

impl StackSettings {
    /// Stack `orderflow-<stage>` with `StageName=<stage>` (lowercase letters,
    /// digits and `-`, at most 20 characters: see [`unique_stage`]).
    pub fn new(stage: impl Into<String>) -> StackSettings {
        let stage = stage.into();
        StackSettings {
            stack_name: format!("orderflow-{stage}"),
            parameters: vec![("StageName".into(), stage)],
            visibility_timeout: 1,
        }
    }

    /// Overrides a template parameter (replacing an earlier override).
    pub fn parameter(&mut self, key: &str, value: impl Into<String>) -> &mut StackSettings {
        self.parameters.retain(|(k, _)| k != key);
        self.parameters.push((key.into(), value.into()));
        self
    }
}

/// What `deploy/local_stack.py` prints: the stack's Outputs and the
/// functions' environment.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TemplateOutputs {
    pub topic_arn: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub table_name: String,
    pub bucket: String,
    pub manifest_key: String,
    pub refresh_seconds: u64,
    pub producer_function: String,
    pub consumer_function: String,
}

/// The Python packages `deploy/local_stack.py` imports: (module, package).
const PYTHON_MODULES: [(&str, &str); 3] = [
    ("boto3", "boto3"),
    ("samtranslator", "aws-sam-translator"),
    ("yaml", "PyYAML"),
];
const PIP_INSTALL: &str = "pip install boto3 aws-sam-translator PyYAML";

/// The Python that runs `deploy/local_stack.py`: `ORDERFLOW_PYTHON` or `python3`.
pub fn python() -> String {
    std::env::var("ORDERFLOW_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// `deploy/local_stack.py` in this workspace.
pub fn template_script() -> PathBuf {
    orderflow_plugin_build::workspace_root().join("deploy/local_stack.py")
}

/// The packages of [`PYTHON_MODULES`] that `python` cannot import.
fn missing_python_packages(python: &str) -> Result<Vec<&'static str>> {
    let modules: Vec<&str> = PYTHON_MODULES.iter().map(|(m, _)| *m).collect();
    let out = Command::new(python)
        .arg("-c")
        .arg(
            "import importlib.util, sys\n\
             print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))",
        )
        .args(&modules)
        .output()
        .with_context(|| format!("running {python}"))?;
    if !out.status.success() {
        bail!(
            "{python} could not check its packages ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let missing = String::from_utf8_lossy(&out.stdout).to_string();
    Ok(PYTHON_MODULES
        .iter()
        .filter(|(m, _)| missing.split_whitespace().any(|x| x == *m))
        .map(|(_, p)| *p)
        .collect())
}

/// Runs `deploy/local_stack.py` with `python` against `endpoint`: creates
/// the stack from template.yaml and answers its outputs and the script's
/// progress (its stderr).
pub fn run_template_script(
    python: &str,
    endpoint: &str,
    region: &str,
    settings: &StackSettings,
) -> Result<(TemplateOutputs, String)> {
    let script = template_script();
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args(["--endpoint", endpoint, "--region", region])
        .args(["--stack-name", &settings.stack_name]);
    for (k, v) in &settings.parameters {
        cmd.arg("-p").arg(format!("{k}={v}"));
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "cannot run {python} ({e}): deploy/local_stack.py needs Python 3 with boto3, \
             aws-sam-translator and PyYAML (`{PIP_INSTALL}`); set ORDERFLOW_PYTHON to use another interpreter"
        ),
        Err(e) => return Err(e).with_context(|| format!("running {python}")),
    };
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        if let Ok(missing) = missing_python_packages(python)
            && !missing.is_empty()
        {
            bail!(
                "{python} lacks the Python package(s) {} that {} needs: `{PIP_INSTALL}` \
                 (or set ORDERFLOW_PYTHON to a Python that has them)",
                missing.join(", "),
                script.display()
            );
        }
        bail!(
            "{python} {} failed ({}):\n{}",
            script.display(),
            out.status,
            log.trim_end()
        );
    }
    let outputs = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed no stack outputs: {}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout).trim(),
            log.trim_end()
        )
    })?;
    Ok((outputs, log))
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
    /// `ORDERFLOW_MANIFEST_KEY` of the functions.
    pub manifest_key: String,
    /// `ORDERFLOW_REFRESH_SECONDS` of the functions.
    pub refresh: Duration,
    /// Deliveries before SQS moves a message to the DLQ: the queue's RedrivePolicy.
    pub max_receive_count: u32,
    pub producer_function: String,
    pub consumer_function: String,
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
            settings,
            log,
        })
    }

    pub fn plugin_location(&self) -> PluginLocation {
        PluginLocation::new(&self.bucket, &self.manifest_key)
    }

    pub fn plugin_store(&self) -> PluginStore {
        PluginStore::new(self.s3.clone(), self.plugin_location())
    }

    /// The producer's rule set, re-checked every `ORDERFLOW_REFRESH_SECONDS`.
    pub fn rule_cache(&self, runtime: Arc<Runtime>) -> Arc<PluginCache<RuleSet>> {
        Arc::new(PluginCache::new(
            S3Source::new(self.s3.clone(), self.plugin_location()),
            runtime,
            self.refresh,
        ))
    }

    /// The consumer's transform chain, re-checked every `ORDERFLOW_REFRESH_SECONDS`.
    pub fn transform_cache(&self, runtime: Arc<Runtime>) -> Arc<PluginCache<TransformChain>> {
        Arc::new(PluginCache::new(
            S3Source::new(self.s3.clone(), self.plugin_location()),
            runtime,
            self.refresh,
        ))
    }

    /// The producer function as Lambda would build it.
    pub fn producer(&self, runtime: Arc<Runtime>) -> Producer<SnsPublisher> {
        Producer::new(self.rule_cache(runtime), self.publisher())
    }

    pub fn publisher(&self) -> SnsPublisher {
        SnsPublisher::new(self.sns.clone(), &self.topic_arn)
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), &self.table)
    }

    /// The consumer function as Lambda would build it.
    pub fn consumer(&self, runtime: Arc<Runtime>) -> Consumer<DynamoStore> {
        Consumer::new(self.transform_cache(runtime), self.store())
    }

    /// The event source mapping between the queue and a consumer.
    pub fn event_source(&self) -> EventSourceMapping {
        EventSourceMapping {
            sqs: self.sqs.clone(),
            queue_url: self.queue_url.clone(),
            queue_arn: self.queue_arn.clone(),
            batch_size: 10,
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
            .key(&self.manifest_key)
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
    /// Visibility timeout given on each receive; `None`: the queue's own.
    pub visibility_timeout: Option<i32>,
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
            .set_visibility_timeout(self.visibility_timeout)
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

/// A stage name no other stack on the same endpoint has: `<base>-<8 hex>`
/// (a local endpoint may outlive one run, and tests run concurrently).
/// `base` must fit the template's StageName pattern with 9 characters to spare.
pub fn unique_stage(base: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mixed = nanos ^ std::process::id().rotate_left(16) ^ n.wrapping_mul(0x9e37_79b9);
    let stage = format!("{base}-{mixed:08x}");
    assert!(
        stage.len() <= 20
            && stage.starts_with(|c: char| c.is_ascii_lowercase())
            && stage
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{stage:?} is not a StageName (^[a-z][a-z0-9-]{{0,19}}$)"
    );
    stage
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_without_the_packages_is_named_with_the_fix() {
        // python3 without site-packages (-S): none of the three importable.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("python-bare");
        std::fs::write(&fake, format!("#!/bin/sh\nexec {} -S \"$@\"\n", python())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = run_template_script(
            fake.to_str().unwrap(),
            "http://127.0.0.1:9",
            "us-east-1",
            &StackSettings::new("t"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("boto3, aws-sam-translator, PyYAML"), "{err}");
        assert!(
            err.contains("pip install boto3 aws-sam-translator PyYAML"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_interpreter_is_named_with_the_fix() {
        let err = run_template_script(
            "/nonexistent/python3",
            "http://127.0.0.1:9",
            "us-east-1",
            &StackSettings::new("t"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/python3"), "{err}");
        assert!(err.contains("ORDERFLOW_PYTHON"), "{err}");
        assert!(
            err.contains("pip install boto3 aws-sam-translator PyYAML"),
            "{err}"
        );
    }

    #[test]
    fn unique_stages_fit_the_template_and_differ() {
        let a = unique_stage("e2e");
        let b = unique_stage("e2e");
        assert_ne!(a, b);
        assert_eq!(a.len(), 12);
        let mut s = StackSettings::new(&a);
        s.parameter("RefreshSeconds", "0")
            .parameter("RefreshSeconds", "5");
        assert_eq!(s.stack_name, format!("orderflow-{a}"));
        assert_eq!(
            s.parameters,
            [
                ("StageName".into(), a),
                ("RefreshSeconds".into(), "5".into())
            ]
        );
    }
}
