//! Faults at the AWS boundary, below the SDK clients: a seeded fault
//! injector in the place of the clients' HTTP connector, so every fault
//! goes through the SDK's own response parsing, error classification and
//! retry (standard mode: bounded attempts, exponential backoff with jitter,
//! the retry quota), exactly as a real throttle would.
//!
//! Why the connector and not an interceptor: an interceptor sees the
//! request but cannot keep it from the server, so a "throttled"
//! `PublishBatch` would really have been published and its retry would
//! publish it twice. In the connector a refused call never reaches the
//! server, and a partial failure takes the failed entries out of the request
//! before it is sent, as the service does.
//!
//! Where moto differs from AWS (and why this exists): moto never throttles,
//! never answers an entry `Failed` for capacity, never leaves
//! `UnprocessedItems`, and never checks a request's signature, which is
//! what lets the injector rewrite a signed request's body (AWS would
//! refuse it). Decisions are drawn from one seeded generator in call order;
//! with calls in flight concurrently the order, and so the exact faults,
//! may vary between runs, but their rates and kinds do not.

mod rewrite;
mod wire;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::retry::RetryConfig;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the injector does to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The whole call refused with the service's throttling error (SNS
    /// `Throttling`, DynamoDB `ProvisionedThroughputExceededException`,
    /// S3 `SlowDown`), before it reaches the server.
    Throttled,
    /// The whole call answered 503 `ServiceUnavailable`.
    Unavailable,
    /// An SNS `PublishBatch` entry answered `Failed`, not the sender's fault
    /// (retryable); it is not published.
    EntryFailed,
    /// An SNS entry answered `Failed` as the sender's fault (final).
    EntryRefused,
    /// A DynamoDB `BatchWriteItem` item left in `UnprocessedItems`, unwritten.
    Unprocessed,
    /// The call held for [`Faults::slow_for`] before it is sent.
    Slow,
    /// An S3 `GetObject` answered with one byte of the object changed (and
    /// no checksum header, as if the object itself had been replaced).
    Tampered,
    /// The call never answers: its caller dies waiting (see [`Faults::hang_after`]).
    Hung,
}

/// Which client a connector serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Sns,
    DynamoDb,
    S3,
    Sqs,
}

/// One call, as the injector sees it.
#[derive(Clone, Debug)]
pub struct Call {
    pub service: Service,
    /// `PublishBatch`, `BatchWriteItem`, `GetObject`, `PutObject`, … (S3's
    /// other calls are their HTTP method).
    pub action: String,
    /// The URI's path (S3: `/bucket/key`).
    pub path: String,
}

type Scope = Box<dyn Fn(&Call) -> bool + Send + Sync>;

/// A seeded fault plan and what it injected. Build it, [`shared`](Self::shared),
/// then give the clients to test its [`sns`](Self::sns), [`dynamodb`](Self::dynamodb),
/// [`s3`](Self::s3) or [`http_client`](Self::http_client).
pub struct Faults {
    rates: BTreeMap<Fault, f64>,
    slow_for: Duration,
    scope: Scope,
    hang_after: Option<(String, usize)>,
    enabled: AtomicBool,
    state: Mutex<State>,
}

struct State {
    rng: u64,
    injected: BTreeMap<Fault, u64>,
    calls: BTreeMap<String, usize>,
}

impl Faults {
    /// No faults yet; every draw comes from `seed`.
    pub fn seeded(seed: u64) -> Faults {
        Faults {
            rates: BTreeMap::new(),
            slow_for: Duration::from_millis(500),
            scope: Box::new(|_| true),
            hang_after: None,
            enabled: AtomicBool::new(true),
            state: Mutex::new(State {
                rng: seed,
                injected: BTreeMap::new(),
                calls: BTreeMap::new(),
            }),
        }
    }

    /// Injects `fault` with probability `rate`, per call (per entry or item
    /// for [`Fault::EntryFailed`], [`Fault::EntryRefused`], [`Fault::Unprocessed`]).
    pub fn rate(mut self, fault: Fault, rate: f64) -> Faults {
        self.rates.insert(fault, rate);
        self
    }

    /// How long a [`Fault::Slow`] call is held.
    pub fn slow_for(mut self, delay: Duration) -> Faults {
        self.slow_for = delay;
        self
    }

    /// Only calls for which `scope` holds get faults (default: all).
    pub fn only(mut self, scope: impl Fn(&Call) -> bool + Send + Sync + 'static) -> Faults {
        self.scope = Box::new(scope);
        self
    }

    /// The `n`-th and later `action` calls never answer.
    pub fn hang_after(mut self, action: &str, n: usize) -> Faults {
        self.hang_after = Some((action.to_string(), n));
        self
    }

    pub fn shared(self) -> Arc<Faults> {
        Arc::new(self)
    }

    /// Turns injection off (calls pass through) or back on.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::SeqCst);
    }

    /// How many of each fault were injected.
    pub fn injected(&self) -> BTreeMap<Fault, u64> {
        self.state.lock().unwrap().injected.clone()
    }

    pub fn count(&self, fault: Fault) -> u64 {
        self.injected().get(&fault).copied().unwrap_or(0)
    }

    /// How many `action` calls the clients made (faulted or not).
    pub fn calls(&self, action: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.calls.get(action).copied().unwrap_or(0)
    }

    /// An HTTP client for `service` that injects these faults in front of
    /// a plain HTTP client (a local server needs no TLS).
    pub fn http_client(self: &Arc<Self>, service: Service) -> SharedHttpClient {
        SharedHttpClient::new(FaultClient {
            faults: self.clone(),
            service,
            inner: aws_smithy_http_client::Builder::new().build_http(),
        })
    }

    pub fn sns(self: &Arc<Self>, c: &aws_sdk_sns::Client) -> aws_sdk_sns::Client {
        let config = c
            .config()
            .to_builder()
            .http_client(self.http_client(Service::Sns));
        aws_sdk_sns::Client::from_conf(config.build())
    }

    pub fn dynamodb(self: &Arc<Self>, c: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        let config = c.config().to_builder();
        let config = config.http_client(self.http_client(Service::DynamoDb));
        aws_sdk_dynamodb::Client::from_conf(config.build())
    }

    pub fn s3(self: &Arc<Self>, c: &aws_sdk_s3::Client) -> aws_sdk_s3::Client {
        let config = c
            .config()
            .to_builder()
            .http_client(self.http_client(Service::S3));
        aws_sdk_s3::Client::from_conf(config.build())
    }

    /// Draws one decision: is `fault` injected now?
    fn roll(&self, fault: Fault) -> bool {
        let rate = self.rates.get(&fault).copied().unwrap_or(0.0);
        if rate <= 0.0 {
            return false;
        }
        let mut state = self.state.lock().unwrap();
        // splitmix64: small, seedable, good enough to spread faults.
        state.rng = state.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let hit = ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 <= rate;
        if hit {
            *state.injected.entry(fault).or_default() += 1;
        }
        hit
    }

    fn note(&self, fault: Fault) {
        *self
            .state
            .lock()
            .unwrap()
            .injected
            .entry(fault)
            .or_default() += 1;
    }

    async fn handle(
        &self,
        call: Call,
        request: HttpRequest,
        inner: SharedHttpConnector,
    ) -> Result<HttpResponse, ConnectorError> {
        let n = {
            let mut state = self.state.lock().unwrap();
            let n = state.calls.entry(call.action.clone()).or_default();
            *n += 1;
            *n
        };
        if !self.enabled.load(Ordering::SeqCst) || !(self.scope)(&call) {
            return inner.call(request).await;
        }
        if let Some((action, after)) = &self.hang_after
            && *action == call.action
            && n >= *after
        {
            self.note(Fault::Hung);
            return std::future::pending().await;
        }
        if self.roll(Fault::Slow) {
            tokio::time::sleep(self.slow_for).await;
        }
        if self.roll(Fault::Throttled) {
            return Ok(wire::throttled(call.service));
        }
        if self.roll(Fault::Unavailable) {
            return Ok(wire::unavailable(call.service));
        }
        match (call.service, call.action.as_str()) {
            (Service::Sns, "PublishBatch") => self.publish_batch(request, inner).await,
            (Service::DynamoDb, "BatchWriteItem") => self.batch_write(request, inner).await,
            (Service::S3, "GetObject") => self.get_object(request, inner).await,
            _ => inner.call(request).await,
        }
    }
}

/// The SDK's standard retry mode with its first backoff shortened for
/// test time: the same jittered exponential backoff, attempt budget and
/// retry quota the functions get by default (which start at 1 s).
pub fn quick_standard_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(500))
}

#[derive(Clone)]
struct FaultClient {
    faults: Arc<Faults>,
    service: Service,
    inner: SharedHttpClient,
}

impl std::fmt::Debug for FaultClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultClient({:?})", self.service)
    }
}

impl HttpClient for FaultClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultConnector {
            client: self.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct FaultConnector {
    client: FaultClient,
    inner: SharedHttpConnector,
}

impl HttpConnector for FaultConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let call = wire::call_of(self.client.service, &request);
        let (faults, inner) = (self.client.faults.clone(), self.inner.clone());
        HttpConnectorFuture::new(async move { faults.handle(call, request, inner).await })
    }
}
