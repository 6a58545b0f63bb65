//! The producer's decision log in S3: one gzip-compressed JSON Lines object
//! per invocation, under `<prefix>dt=YYYY-MM-DD/hour=HH/`, so a day or an
//! hour of history is one prefix to hand to `orderflow replay`, and a
//! lifecycle rule expires whole days.
//!
//! One object per invocation, not per order: a PUT costs the same for 1
//! order or 100, and the producer already holds a whole batch.

use crate::config::DecisionLogLocation;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use flate2::Compression;
use flate2::write::GzEncoder;
use orderflow_pipeline::decision_log::DecisionRecord;
use orderflow_pipeline::ports::DecisionLog;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct S3DecisionLog {
    s3: Client,
    location: DecisionLogLocation,
    /// Tells apart two objects one sandbox writes in the same nanosecond.
    written: AtomicU64,
}

impl S3DecisionLog {
    pub fn new(s3: Client, location: DecisionLogLocation) -> S3DecisionLog {
        S3DecisionLog {
            s3,
            location,
            written: AtomicU64::new(0),
        }
    }

    fn key(&self, now: std::time::SystemTime) -> String {
        let stamp = DateTime::from(now)
            .fmt(DateTimeFormat::DateTime)
            .unwrap_or_default();
        let (day, hour) = (
            &stamp[..10.min(stamp.len())],
            &stamp[11..13.min(stamp.len())],
        );
        let nanos = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}dt={day}/hour={hour}/{nanos}-{}-{n}.jsonl.gz",
            self.location.prefix,
            std::process::id()
        )
    }
}

/// The records as gzip-compressed JSON Lines.
pub fn encode(records: &[DecisionRecord]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    for r in records {
        // Writing to a Vec cannot fail.
        let _ = writeln!(gz, "{}", r.to_json_line());
    }
    gz.finish().unwrap_or_default()
}

impl DecisionLog for S3DecisionLog {
    async fn write(&self, records: &[DecisionRecord]) -> Result<String, String> {
        if records.is_empty() {
            return Ok(String::new());
        }
        let key = self.key(std::time::SystemTime::now());
        self.s3
            .put_object()
            .bucket(&self.location.bucket)
            .key(&key)
            .content_type("application/gzip")
            .body(ByteStream::from(encode(records)))
            .send()
            .await
            .map_err(|e| {
                let (message, hint) = crate::sdk_error::summary(&e);
                let bucket = &self.location.bucket;
                format!("S3 PutObject s3://{bucket}/{key}: {message} ({hint})")
            })?;
        Ok(format!("s3://{}/{key}", self.location.bucket))
    }
}

/// Downloads every object under `s3://bucket/prefix` into `dir`, in key
/// order (so by day and hour), for `orderflow replay`; the files keep their
/// content (gzip stays gzip). Answers the files, with the keys they hold.
pub async fn download(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    dir: &std::path::Path,
) -> Result<Vec<(String, std::path::PathBuf)>, String> {
    let fail = |what: &str, key: &str, e: String| format!("S3 {what} s3://{bucket}/{key}: {e}");
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let (message, hint) = crate::sdk_error::summary(&e);
            fail("ListObjectsV2", prefix, format!("{message} ({hint})"))
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    keys.sort();
    let mut files = Vec::new();
    for (n, key) in keys.into_iter().enumerate() {
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                let (message, hint) = crate::sdk_error::summary(&e);
                fail("GetObject", &key, format!("{message} ({hint})"))
            })?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| fail("GetObject", &key, e.to_string()))?;
        let path = dir.join(format!("{n:06}.jsonl"));
        std::fs::write(&path, bytes.into_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        files.push((key, path));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn keys_are_partitioned_by_day_and_hour_and_unique() {
        let log = S3DecisionLog::new(
            Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version_latest()
                    .build(),
            ),
            DecisionLogLocation {
                bucket: "b".into(),
                prefix: "decisions/".into(),
            },
        );
        // 2026-12-01T13:14:15Z
        let at = UNIX_EPOCH + Duration::from_secs(1_796_130_855);
        let (a, b) = (log.key(at), log.key(at));
        assert!(a.starts_with("decisions/dt=2026-12-01/hour=13/"), "{a}");
        assert!(a.ends_with(".jsonl.gz") && a != b, "{a} {b}");
    }
}
