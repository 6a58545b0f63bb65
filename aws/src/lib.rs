//! orderflow on AWS: the adapters the Lambdas plug into the pipeline's
//! ports, plugin sets from S3 with hot reload, each function's
//! configuration, and the operator's publish / rollback / status.
//!
//! - [`sns::SnsPublisher`]: the producer's `Publisher` (SNS `PublishBatch`);
//! - [`dynamo::DynamoStore`]: the consumer's `ItemStore` (DynamoDB `PutItem`);
//! - [`plugins::PluginCache`]: the current `RuleSet` / `TransformChain`,
//!   re-checked with a conditional GET and swapped atomically, the last good
//!   set kept on any failure;
//! - [`operator::PluginStore`]: content-addressed plugin objects, kept
//!   manifest revisions, publish / rollback / status;
//! - [`config`]: `ProducerConfig` / `ConsumerConfig` from the environment;
//! - [`clients`]: SDK clients (endpoint overrides honoured).

pub mod clients;
pub mod config;
pub mod dynamo;
pub mod operator;
pub mod plugins;
pub mod sns;
pub mod telemetry;

pub use config::{ConfigError, ConsumerConfig, PluginLocation, ProducerConfig};
pub use dynamo::DynamoStore;
pub use operator::{OperatorError, PluginStore};
pub use plugins::{
    DirSource, Loaded, PluginCache, PluginSet, PluginSource, RefreshError, S3Source,
};
pub use sns::SnsPublisher;
