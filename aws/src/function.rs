//! What both Lambda mains do once per sandbox, before their first event:
//! JSON logs, the configuration from the environment, SDK clients, the
//! wasm runtime with its compiled-artifact cache, and a first load of the
//! plugin set from the bucket. The mains keep only what differs: their
//! port (SNS or DynamoDB) and their handler.

use crate::config::{ConfigError, ConsumerConfig, PluginLocation, ProducerConfig};
use crate::s3_source::S3Source;
use crate::{clients, telemetry};
use aws_config::SdkConfig;
use orderflow_pipeline::reload::{ManifestKey, PluginCache, PluginSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a function's configuration says about its plugins.
pub trait FunctionConfig: Sized {
    fn from_env() -> Result<Self, ConfigError>;
    fn plugins(&self) -> &PluginLocation;
    fn refresh(&self) -> Duration;
    fn cache_dir(&self) -> &PathBuf;
    fn public_key(&self) -> Option<&ManifestKey>;
}

/// Both configurations hold their plugin settings in the same fields.
macro_rules! function_config {
    ($($config:ty),*) => {$(
        impl FunctionConfig for $config {
            fn from_env() -> Result<Self, ConfigError> {
                <$config>::from_env()
            }
            fn plugins(&self) -> &PluginLocation {
                &self.plugins
            }
            fn refresh(&self) -> Duration {
                self.refresh
            }
            fn cache_dir(&self) -> &PathBuf {
                &self.cache_dir
            }
            fn public_key(&self) -> Option<&ManifestKey> {
                self.public_key.as_ref()
            }
        }
    )*};
}

function_config!(ProducerConfig, ConsumerConfig);

/// Why a function could not start. Logged before it is returned, so the
/// function's first log line says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("plugin runtime: {0}")]
    Runtime(String),
}

/// A started function: its configuration, SDK configuration and plugin set.
pub struct Function<C, T> {
    pub config: C,
    pub sdk: SdkConfig,
    pub plugins: Arc<PluginCache<T>>,
}

/// Starts a function: see the module doc.
pub async fn start<C: FunctionConfig, T: PluginSet>() -> Result<Function<C, T>, StartError> {
    telemetry::init_json();
    let started = async {
        let config = C::from_env()?;
        let sdk = clients::sdk_config().await;
        let plugins = plugin_cache(
            &sdk,
            config.plugins().clone(),
            config.cache_dir().clone(),
            config.refresh(),
            config.public_key().cloned(),
        )
        .await
        .map_err(StartError::Runtime)?;
        Ok(Function {
            config,
            sdk,
            plugins,
        })
    };
    started.await.inspect_err(|e| tracing::error!("{e}"))
}

/// The functions' engine: its explicit target is the one the publisher
/// precompiles for, so the published artifacts load (see
/// `orderflow_host::artifact`), and `cache_dir` keeps what it compiles.
/// Pre-initialised: every fresh instance starts configured, from the
/// snapshot artifact the publisher made (or, without one, a snapshot made
/// at load).
pub fn runtime_config(cache_dir: PathBuf) -> orderflow_host::RuntimeConfig {
    orderflow_host::RuntimeConfig {
        cache_dir: Some(cache_dir),
        target: orderflow_host::Target::Portable,
        preinit: true,
        ..Default::default()
    }
}

/// A function's plugin set, as it is built once per sandbox: the wasm
/// runtime with its compiled-artifact cache, the bucket, and a first load
/// during init, which has its own (longer) time budget. A failed first
/// load is logged and retried on the first event.
pub async fn plugin_cache<T: PluginSet>(
    sdk: &SdkConfig,
    location: PluginLocation,
    cache_dir: PathBuf,
    refresh: Duration,
    public_key: Option<ManifestKey>,
) -> Result<Arc<PluginCache<T>>, String> {
    let runtime = orderflow_host::Runtime::new(runtime_config(cache_dir))?;
    let source = S3Source::new(clients::s3(sdk), location);
    let plugins = Arc::new(PluginCache::new(source, runtime, refresh).verifying(public_key));
    let _ = plugins.current().await;
    Ok(plugins)
}

/// What a function keeps of its invocation for itself after its plugins:
/// publishing or writing what they decided, with the SDK's retries, and
/// answering.
pub const ANSWER_RESERVE: Duration = Duration::from_secs(3);

/// When plugin calls must be over for an invocation that ends at
/// `deadline_ms` (milliseconds since the Unix epoch, Lambda's context
/// deadline): [`ANSWER_RESERVE`] before it, and never before now.
pub fn plugins_until(deadline_ms: u64) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    std::time::Instant::now() + left.saturating_sub(ANSWER_RESERVE)
}

#[cfg(test)]
mod deadline_tests {
    use super::*;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    #[test]
    fn plugins_end_the_reserve_before_the_invocation() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let until = plugins_until(now_ms + 10_000);
        let left = until.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_secs(7) && left > Duration::from_secs(6),
            "{left:?}"
        );
        // An invocation already nearly over leaves no time at all.
        assert!(plugins_until(now_ms + 1_000) <= Instant::now());
        assert!(plugins_until(0) <= Instant::now());
    }
}
