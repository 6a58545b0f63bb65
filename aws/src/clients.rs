//! SDK configuration and clients, built once per process.
//!
//! `aws_config::defaults` already honours `AWS_ENDPOINT_URL` (and the
//! per-service `AWS_ENDPOINT_URL_S3` …), the region and the credential chain
//! of the environment. S3 additionally needs path-style addressing when its
//! endpoint is overridden: a local server has no `<bucket>.localhost` DNS.

use aws_config::{BehaviorVersion, SdkConfig};

/// The SDK configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Whether S3 requests go to an overridden endpoint.
fn s3_endpoint_overridden(config: &SdkConfig) -> bool {
    config.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty())
}

pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if s3_endpoint_overridden(config) {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

pub fn sns(config: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(config)
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}
