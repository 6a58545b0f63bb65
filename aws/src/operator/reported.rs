//! Which revision the functions last reported, where that can be known.
//!
//! The producer stamps every decision log record with the revision that
//! decided it, so with the decision log on, its newest object tells which
//! revision the producer was serving when it last decided orders. Without
//! the log there is no record an operator's credentials can read (the
//! functions log the revision they activate, "plugin set loaded", to
//! CloudWatch Logs), so the answer is honestly "unknown".

use super::{OperatorError, S3Failure};
use crate::config::DecisionLogLocation;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::DateTimeFormat;
use flate2::read::GzDecoder;
use orderflow_pipeline::decision_log::DecisionRecord;
use serde::Serialize;
use std::io::{BufRead, BufReader};

/// What the functions last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Reported {
    Unknown {
        why: String,
    },
    /// The producer's newest decision log object.
    DecisionLog {
        revision: String,
        /// When the object was written (RFC 3339).
        at: Option<String>,
        object: String,
    },
}

impl Reported {
    pub fn unknown(why: &str) -> Reported {
        Reported::Unknown { why: why.into() }
    }
}

/// The revision of the newest record in the decision log at `log`.
pub async fn reported(s3: &Client, log: &DecisionLogLocation) -> Result<Reported, OperatorError> {
    let fail = |action: &'static str, key: &str, message: String, detail: String| {
        OperatorError::S3(Box::new(S3Failure {
            action,
            bucket: log.bucket.clone(),
            key: key.to_string(),
            message,
            hint: "check --decision-log and your credentials",
            detail,
        }))
    };
    let Some(key) = newest(s3, log).await.map_err(|(key, e)| {
        let (message, _) = crate::sdk_error::summary(&e);
        fail(
            "ListObjectsV2",
            &key,
            message,
            DisplayErrorContext(&e).to_string(),
        )
    })?
    else {
        return Ok(Reported::unknown(
            "the decision log holds no decisions yet (is DecisionLog=Enabled?)",
        ));
    };
    let object = s3
        .get_object()
        .bucket(&log.bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| {
            let (message, _) = crate::sdk_error::summary(&e);
            fail(
                "GetObject",
                &key,
                message,
                DisplayErrorContext(&e).to_string(),
            )
        })?;
    let at = object
        .last_modified()
        .and_then(|d| d.fmt(DateTimeFormat::DateTime).ok());
    let bytes = object.body.collect().await.map_err(|e| {
        fail(
            "GetObject",
            &key,
            format!("the download broke off: {e}"),
            e.to_string(),
        )
    })?;
    let bytes = bytes.into_bytes();
    let corrupt = |message: String| OperatorError::Corrupt {
        key: format!("s3://{}/{key}", log.bucket),
        message,
    };
    let mut first = String::new();
    BufReader::new(GzDecoder::new(&bytes[..]))
        .read_line(&mut first)
        .map_err(|e| corrupt(format!("not gzip JSON Lines: {e}")))?;
    let record: DecisionRecord =
        serde_json::from_str(&first).map_err(|e| corrupt(format!("not a decision record: {e}")))?;
    Ok(Reported::DecisionLog {
        revision: record.revision,
        at,
        object: format!("s3://{}/{key}", log.bucket),
    })
}

type ListError = aws_sdk_s3::error::SdkError<
    aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error,
    aws_sdk_s3::config::http::HttpResponse,
>;

/// The greatest key under the log's prefix, going down the `dt=…/hour=…/`
/// partitions (greatest first, as they sort by time) so that only the
/// newest hour is listed in full.
async fn newest(
    s3: &Client,
    log: &DecisionLogLocation,
) -> Result<Option<String>, (String, ListError)> {
    let mut at = log.prefix.clone();
    loop {
        let (mut partitions, mut keys) = (Vec::new(), Vec::new());
        let mut pages = s3
            .list_objects_v2()
            .bucket(&log.bucket)
            .prefix(&at)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| (at.clone(), e))?;
            partitions.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(String::from)),
            );
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
        }
        match partitions.into_iter().max() {
            Some(p) if keys.is_empty() => at = p,
            _ => return Ok(keys.into_iter().max()),
        }
    }
}
