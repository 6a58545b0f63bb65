//! orderflow on AWS: the adapters the Lambdas plug into the pipeline's
//! ports, the S3 source of their plugin sets, each function's
//! configuration and start-up, and the operator's publish / rollback /
//! status.
//!
//! - [`sns::SnsPublisher`]: the producer's `Publisher` (SNS `PublishBatch`);
//! - [`dynamo::DynamoStore`]: the consumer's `ItemStore` (DynamoDB `BatchWriteItem`, 25 a call);
//! - [`s3_source::S3Source`]: the manifest and plugins in a bucket, for the
//!   pipeline's hot-reloading `PluginCache` (`orderflow_pipeline::reload`);
//! - [`operator::PluginStore`]: content-addressed plugin objects, kept
//!   manifest revisions, publish / rollback / status;
//! - [`dlq::DeadLetterQueue`]: the operator's look at the dead-letter
//!   queue, and its redrive after a fix;
//! - [`decision_log::S3DecisionLog`]: the producer's `DecisionLog` (one
//!   gzip JSON Lines object per invocation);
//! - [`config`]: `ProducerConfig` / `ConsumerConfig` from the environment;
//! - [`function`]: what both Lambda mains do before their first event;
//! - [`telemetry`]: the functions' JSON logs;
//! - [`clients`]: SDK clients (endpoint overrides honoured).

pub mod clients;
pub mod config;
pub mod decision_log;
pub mod dlq;
pub mod dynamo;
pub mod function;
pub mod operator;
pub mod s3_source;
pub mod sdk_error;
pub mod sns;
pub mod sqs;
pub mod telemetry;

pub use config::{ConfigError, ConsumerConfig, PluginLocation, ProducerConfig};
pub use dynamo::DynamoStore;
pub use operator::{OperatorError, PluginStore};
pub use s3_source::S3Source;
pub use sns::SnsPublisher;
pub use sqs::SqsDeadLetters;
