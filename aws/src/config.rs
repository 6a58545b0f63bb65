//! Each function's configuration, from its environment (see template.yaml).
//!
//! Every error names the variable at fault and what it should hold, so a
//! misconfigured function says so in its first log line instead of failing
//! on its first event.

use orderflow_pipeline::reload::ManifestKey;
use std::path::PathBuf;
use std::time::Duration;

pub const TOPIC_ARN: &str = "ORDERFLOW_TOPIC_ARN";
pub const TABLE_NAME: &str = "ORDERFLOW_TABLE_NAME";
pub const PLUGIN_BUCKET: &str = "ORDERFLOW_PLUGIN_BUCKET";
pub const MANIFEST_KEY: &str = "ORDERFLOW_MANIFEST_KEY";
pub const REFRESH_SECONDS: &str = "ORDERFLOW_REFRESH_SECONDS";
pub const CACHE_DIR: &str = "ORDERFLOW_CACHE_DIR";
pub const DECISION_LOG_BUCKET: &str = "ORDERFLOW_DECISION_LOG_BUCKET";
pub const DECISION_LOG_PREFIX: &str = "ORDERFLOW_DECISION_LOG_PREFIX";
pub const DLQ_URL: &str = "ORDERFLOW_DLQ_URL";
/// The ed25519 public key (64 hex digits) manifests must be signed by; unset or empty, none is checked.
pub const MANIFEST_PUBLIC_KEY: &str = "ORDERFLOW_MANIFEST_PUBLIC_KEY";
pub const DEFAULT_DECISION_LOG_PREFIX: &str = "decisions/";

pub const DEFAULT_MANIFEST_KEY: &str = "plugins/manifest.json";
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);
/// Lambda's only writable directory is /tmp; it survives warm starts.
pub const DEFAULT_CACHE_DIR: &str = "/tmp/orderflow-cache";
const MAX_REFRESH_SECONDS: u64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set: {what}")]
    Missing {
        var: &'static str,
        what: &'static str,
    },
    #[error("{var}={value:?} is malformed: {message}")]
    Malformed {
        var: &'static str,
        value: String,
        message: String,
    },
}

/// Where the plugin manifest lives. The manifest's plugins are keys
/// relative to its "directory": `plugins/manifest.json` names
/// `threshold-0123abcd.wasm`, stored at `plugins/threshold-0123abcd.wasm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLocation {
    pub bucket: String,
    pub manifest_key: String,
}

impl PluginLocation {
    pub fn new(bucket: impl Into<String>, manifest_key: impl Into<String>) -> PluginLocation {
        PluginLocation {
            bucket: bucket.into(),
            manifest_key: manifest_key.into(),
        }
    }

    /// The manifest's directory, with its trailing `/` (empty at the bucket root).
    pub fn prefix(&self) -> &str {
        match self.manifest_key.rfind('/') {
            Some(i) => &self.manifest_key[..=i],
            None => "",
        }
    }

    /// The key of a plugin (or any file) named relative to the manifest.
    pub fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.prefix())
    }

    pub fn manifest_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.manifest_key)
    }
}

/// Where the producer's decision log goes (see [`crate::decision_log`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionLogLocation {
    pub bucket: String,
    /// Ends with `/` unless empty.
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    pub topic_arn: String,
    pub plugins: PluginLocation,
    /// How often a warm function re-checks the manifest; zero checks on every event.
    pub refresh: Duration,
    /// Compiled plugins are kept here between cold starts of one sandbox.
    pub cache_dir: PathBuf,
    /// Set when the decision log is on (its bucket variable is set).
    pub decision_log: Option<DecisionLogLocation>,
    /// With a key, only manifests it signed go live.
    pub public_key: Option<ManifestKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    pub table_name: String,
    /// Where a permanent failure goes at once, with its reason; unset, it
    /// goes back to the queue and reaches the DLQ through redrive.
    pub dlq_url: Option<String>,
    pub plugins: PluginLocation,
    pub refresh: Duration,
    pub cache_dir: PathBuf,
    pub public_key: Option<ManifestKey>,
}

impl ProducerConfig {
    pub fn from_env() -> Result<ProducerConfig, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var` (tests pass a map instead of
    /// mutating the process environment).
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<ProducerConfig, ConfigError> {
        let topic_arn = required(&var, TOPIC_ARN, "the ARN of the high-value SNS topic")?;
        check_topic_arn(&topic_arn)?;
        Ok(ProducerConfig {
            topic_arn,
            plugins: plugin_location(&var)?,
            refresh: refresh(&var)?,
            cache_dir: cache_dir(&var)?,
            decision_log: decision_log(&var)?,
            public_key: public_key(&var)?,
        })
    }
}

fn decision_log(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<DecisionLogLocation>, ConfigError> {
    let Some(bucket) = optional(var, DECISION_LOG_BUCKET) else {
        return Ok(None);
    };
    check_bucket_named(DECISION_LOG_BUCKET, &bucket)?;
    let prefix = optional(var, DECISION_LOG_PREFIX)
        .unwrap_or_else(|| DEFAULT_DECISION_LOG_PREFIX.to_string());
    if prefix.starts_with('/')
        || !(prefix.is_empty() || prefix.ends_with('/'))
        || prefix.split('/').any(|s| s == "..")
    {
        return Err(malformed(
            DECISION_LOG_PREFIX,
            &prefix,
            "must be a key prefix such as decisions/ (ending in '/', no leading '/', no '..')",
        ));
    }
    Ok(Some(DecisionLogLocation { bucket, prefix }))
}

impl ConsumerConfig {
    pub fn from_env() -> Result<ConsumerConfig, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<ConsumerConfig, ConfigError> {
        let table_name = required(&var, TABLE_NAME, "the name of the DynamoDB orders table")?;
        check_table_name(&table_name)?;
        let dlq_url = optional(&var, DLQ_URL);
        if let Some(url) = &dlq_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(malformed(
                DLQ_URL,
                url,
                "must be the SQS queue URL of the dead-letter queue",
            ));
        }
        Ok(ConsumerConfig {
            table_name,
            dlq_url,
            plugins: plugin_location(&var)?,
            refresh: refresh(&var)?,
            cache_dir: cache_dir(&var)?,
            public_key: public_key(&var)?,
        })
    }
}

fn malformed(var: &'static str, value: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Malformed {
        var,
        value: value.to_string(),
        message: message.into(),
    }
}

/// A variable that is set to an empty string counts as unset: that is what
/// an empty CloudFormation parameter produces.
fn optional(var: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    var(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn required(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    what: &'static str,
) -> Result<String, ConfigError> {
    optional(var, name).ok_or(ConfigError::Missing { var: name, what })
}

fn plugin_location(var: &impl Fn(&str) -> Option<String>) -> Result<PluginLocation, ConfigError> {
    let bucket = required(
        var,
        PLUGIN_BUCKET,
        "the name of the S3 bucket holding the plugins",
    )?;
    check_bucket(&bucket)?;
    let manifest_key =
        optional(var, MANIFEST_KEY).unwrap_or_else(|| DEFAULT_MANIFEST_KEY.to_string());
    if manifest_key.starts_with('/')
        || manifest_key.ends_with('/')
        || manifest_key.split('/').any(|s| s == "..")
    {
        return Err(malformed(
            MANIFEST_KEY,
            &manifest_key,
            "must be an object key such as plugins/manifest.json (no leading or trailing '/', no '..')",
        ));
    }
    if manifest_key.len() > 1024 {
        return Err(malformed(
            MANIFEST_KEY,
            &manifest_key,
            "is longer than S3's 1024-byte key limit",
        ));
    }
    Ok(PluginLocation {
        bucket,
        manifest_key,
    })
}

fn refresh(var: &impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    match optional(var, REFRESH_SECONDS) {
        None => Ok(DEFAULT_REFRESH),
        Some(v) => match v.parse::<u64>() {
            Ok(s) if s <= MAX_REFRESH_SECONDS => Ok(Duration::from_secs(s)),
            _ => Err(malformed(
                REFRESH_SECONDS,
                &v,
                format!(
                    "must be a whole number of seconds from 0 (check on every event) to {MAX_REFRESH_SECONDS}"
                ),
            )),
        },
    }
}

fn public_key(var: &impl Fn(&str) -> Option<String>) -> Result<Option<ManifestKey>, ConfigError> {
    match optional(var, MANIFEST_PUBLIC_KEY) {
        None => Ok(None),
        Some(v) => ManifestKey::from_hex(&v).map(Some).map_err(|_| {
            malformed(
                MANIFEST_PUBLIC_KEY,
                &v,
                "must be an ed25519 public key, 64 hex digits (`orderflow plugins keygen` prints it)",
            )
        }),
    }
}

fn cache_dir(var: &impl Fn(&str) -> Option<String>) -> Result<PathBuf, ConfigError> {
    let dir = optional(var, CACHE_DIR).unwrap_or_else(|| DEFAULT_CACHE_DIR.to_string());
    if !dir.starts_with('/') {
        return Err(malformed(CACHE_DIR, &dir, "must be an absolute path"));
    }
    Ok(PathBuf::from(dir))
}

/// `arn:<partition>:sns:<region>:<account>:<topic>`.
fn check_topic_arn(arn: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && !parts[4].is_empty()
        && !parts[5].is_empty()
        && parts[5].len() <= 256;
    if ok {
        Ok(())
    } else {
        Err(malformed(
            TOPIC_ARN,
            arn,
            "expected an SNS topic ARN, arn:<partition>:sns:<region>:<account>:<topic>",
        ))
    }
}

fn check_table_name(name: &str) -> Result<(), ConfigError> {
    let ok = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(malformed(
            TABLE_NAME,
            name,
            "a DynamoDB table name is 3-255 characters of letters, digits, '_', '-' or '.'",
        ))
    }
}

fn check_bucket(name: &str) -> Result<(), ConfigError> {
    check_bucket_named(PLUGIN_BUCKET, name)
}

fn check_bucket_named(var: &'static str, name: &str) -> Result<(), ConfigError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(malformed(
            var,
            name,
            "an S3 bucket name is 3-63 characters of lower-case letters, digits, '-' or '.'",
        ))
    }
}

#[cfg(test)]
mod tests;
