//! SDK errors in one line. The SDK's own rendering (`DisplayErrorContext`)
//! runs to kilobytes: fine under `-v`, not in a log line or an operator's
//! terminal.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// One line for an SDK error, and the likely fix. The SDK's own rendering
/// (kept for `-v`) runs to kilobytes: a missing bucket buries its
/// `NoSuchBucket` in a request dump, missing credentials list every
/// provider of the chain.
pub fn summary<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> (String, &'static str) {
    let chain = DisplayErrorContext(e).to_string();
    if let SdkError::ServiceError(se) = e {
        let status = se.raw().status().as_u16();
        let code = se.err().code().unwrap_or("");
        let message = match (code, se.err().message()) {
            ("", _) => format!("HTTP {status}"),
            (code, Some(m)) if !m.is_empty() => format!("{code}: {m}"),
            (code, _) => code.to_string(),
        };
        let hint = match (code, status) {
            ("NoSuchBucket", _) => {
                "check the bucket name (--bucket, or the function's bucket variable) and the region"
            }
            ("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken", _) => {
                "check the AWS credentials (profile, keys, session token)"
            }
            ("AccessDenied", _) | (_, 403) => {
                "these credentials may not do this: only the stack's plugin publisher may change rules"
            }
            _ => "see -v for the full error",
        };
        return (message, hint);
    }
    if chain.contains("credentials") {
        return (
            "no AWS credentials were found".into(),
            "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        );
    }
    match e {
        SdkError::TimeoutError(_) => ("timed out".into(), "check the network and the region"),
        SdkError::DispatchFailure(_) => (
            "could not reach S3".into(),
            "check the network, the region and AWS_ENDPOINT_URL",
        ),
        _ => (
            chain.lines().next().unwrap_or("failed").to_string(),
            "see -v for the full error",
        ),
    }
}
