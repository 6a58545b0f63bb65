//! SDK configuration and clients, built once per process.
//!
//! `aws_config::defaults` already honours `AWS_ENDPOINT_URL` (and the
//! per-service `AWS_ENDPOINT_URL_S3` …), the region and the credential chain
//! of the environment. S3 additionally needs path-style addressing when its
//! endpoint is overridden: a local server has no `<bucket>.localhost` DNS.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// The SDK configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Whether S3 requests go to an overridden endpoint.
fn s3_endpoint_overridden(config: &SdkConfig) -> bool {
    config.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty())
}

/// S3's time limits. Without them a stalled connection holds a refresh
/// (and the invocation waiting on it) until the function times out; with
/// them the last good plugin set keeps serving and the next refresh tries
/// again. An attempt has room for the largest plugin a manifest may allow
/// (32 MiB of code) on a Lambda's network; the operation, for the SDK's
/// retries of it, stays well under the functions' 30 s timeout.
pub fn s3_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(8))
        .operation_timeout(Duration::from_secs(20))
        .build()
}

pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    s3_with(config, s3_timeouts())
}

/// [`s3`] with other time limits (tests shorten them).
pub fn s3_with(config: &SdkConfig, timeouts: TimeoutConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config).timeout_config(timeouts);
    if s3_endpoint_overridden(config) {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

pub fn sns(config: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(config)
}

pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::Region;
    use aws_sdk_s3::config::Credentials;
    use std::time::Instant;

    #[test]
    fn the_s3_client_has_operation_timeouts() {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let timeouts = s3(&config).config().timeout_config().cloned().unwrap();
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(20)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(8))
        );
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(3)));
    }

    /// A server that accepts connections and never answers: the real SDK
    /// client gives up at its operation timeout with a timeout error.
    #[tokio::test]
    async fn a_silent_server_is_given_up_on_at_the_operation_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                Credentials::for_tests(),
            ))
            .endpoint_url(endpoint)
            .build();
        let short = TimeoutConfig::builder()
            .operation_attempt_timeout(Duration::from_millis(200))
            .operation_timeout(Duration::from_millis(700))
            .build();
        let started = Instant::now();
        let e = s3_with(&config, short)
            .get_object()
            .bucket("b")
            .key("plugins/manifest.json")
            .send()
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(e, aws_sdk_s3::error::SdkError::TimeoutError(_)),
            "{e:?}"
        );
        assert!(
            took >= Duration::from_millis(600) && took < Duration::from_secs(3),
            "{took:?}"
        );
        held.abort();
    }
}
