//! In-memory and fault-injecting implementations of the pipeline's ports.
//! The fault injectors wrap a real port (an in-memory one, or the SNS and
//! DynamoDB adapters on moto) and fail at the boundary the way the service
//! would.

use orderflow_host::Item;
use orderflow_pipeline::{
    DeadLetter, DeadLetters, ItemStore, OutgoingMessage, PublishOutcome, Publisher, StoreError,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Publishes into memory; message ids are `msg-1`, `msg-2`, … in order.
/// [`refusing`](Self::refusing) fails every entry for good.
#[derive(Default)]
pub struct MemoryPublisher {
    pub sent: Mutex<Vec<OutgoingMessage>>,
    refuse: bool,
}

impl MemoryPublisher {
    /// Every entry fails with a non-retryable `AuthorizationError`.
    pub fn refusing() -> MemoryPublisher {
        MemoryPublisher {
            refuse: true,
            ..Default::default()
        }
    }
}

impl Publisher for MemoryPublisher {
    async fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<(String, PublishOutcome)>, String> {
        let mut sent = self.sent.lock().unwrap();
        Ok(batch
            .iter()
            .map(|m| {
                if self.refuse {
                    return (
                        m.id.clone(),
                        PublishOutcome::Failed {
                            reason: "AuthorizationError".into(),
                            retryable: false,
                        },
                    );
                }
                sent.push(m.clone());
                let message_id = format!("msg-{}", sent.len());
                (m.id.clone(), PublishOutcome::Published { message_id })
            })
            .collect())
    }
}

/// Which entries' first attempt a [`FlakyPublisher`] fails: given the
/// entry's position in its batch and the entry.
pub type FirstAttemptFails = fn(usize, &OutgoingMessage) -> bool;

/// Wraps a publisher and fails at the client boundary: the first attempt
/// of the entries `first_attempt_fails` picks (retryably unless
/// [`permanently`](Self::permanently)), every attempt of an entry whose
/// body holds the [`poison`](Self::poison) (a sender fault), and, if
/// asked, the whole first call. Never more than 10 entries a batch.
pub struct FlakyPublisher<P> {
    pub inner: P,
    first_attempt_fails: FirstAttemptFails,
    retryable: bool,
    poison: Option<String>,
    fail_first_call: bool,
    /// Calls of `publish_batch`, the failed ones included.
    pub calls: AtomicUsize,
    /// Attempts per entry id.
    pub attempts: Mutex<HashMap<String, u32>>,
}

impl<P: Publisher> FlakyPublisher<P> {
    pub fn new(inner: P, first_attempt_fails: FirstAttemptFails) -> FlakyPublisher<P> {
        FlakyPublisher {
            inner,
            first_attempt_fails,
            retryable: true,
            poison: None,
            fail_first_call: false,
            calls: AtomicUsize::new(0),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// The first-attempt failures say trying again cannot help.
    pub fn permanently(mut self) -> Self {
        self.retryable = false;
        self
    }

    /// Entries whose body contains `marker` fail for good, every time.
    pub fn poison(mut self, marker: &str) -> Self {
        self.poison = Some(marker.into());
        self
    }

    /// The first call fails as a whole (a connection reset).
    pub fn fail_first_call(mut self) -> Self {
        self.fail_first_call = true;
        self
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl<P: Publisher> Publisher for FlakyPublisher<P> {
    async fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<(String, PublishOutcome)>, String> {
        assert!(batch.len() <= 10, "never more than 10 entries a batch");
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 && self.fail_first_call {
            return Err("connection reset by peer (injected)".into());
        }
        let failed = |reason: &str, retryable| PublishOutcome::Failed {
            reason: format!("{reason} (injected)"),
            retryable,
        };
        let mut pass = Vec::new();
        let mut answers = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            let attempt = {
                let mut attempts = self.attempts.lock().unwrap();
                let n = attempts.entry(m.id.clone()).or_insert(0);
                *n += 1;
                *n
            };
            if self.poison.as_ref().is_some_and(|p| m.body.contains(p)) {
                answers.push((m.id.clone(), failed("InvalidParameter", false)));
            } else if attempt == 1 && (self.first_attempt_fails)(i, m) {
                answers.push((m.id.clone(), failed("Throttled", self.retryable)));
            } else {
                pass.push(m.clone());
            }
        }
        if !pass.is_empty() {
            answers.extend(self.inner.publish_batch(&pass).await?);
        }
        Ok(answers)
    }
}

/// Items by (order id, timestamp), as the table keys them.
#[derive(Default)]
pub struct MemoryStore {
    pub items: Mutex<BTreeMap<(String, String), Item>>,
}

impl ItemStore for MemoryStore {
    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        self.items.lock().unwrap().insert(
            (item.order_id.clone(), item.timestamp.clone()),
            item.clone(),
        );
        Ok(())
    }
}

/// Which writes a [`ThrottledStore`] refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Throttle {
    /// No write: the inner store as it is.
    Never,
    /// Every write.
    Always,
    /// The first write of each order, as DynamoDB does under a burst.
    FirstWrite,
    /// Every write of this order.
    Order(String),
}

/// Wraps a store and refuses writes retryably, as a throttled table does.
pub struct ThrottledStore<S> {
    pub inner: S,
    throttle: Throttle,
    /// Writes attempted per order id.
    pub writes: Mutex<BTreeMap<String, u32>>,
}

impl<S: ItemStore> ThrottledStore<S> {
    pub fn new(inner: S, throttle: Throttle) -> ThrottledStore<S> {
        ThrottledStore {
            inner,
            throttle,
            writes: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<S: ItemStore> ItemStore for ThrottledStore<S> {
    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        let n = {
            let mut writes = self.writes.lock().unwrap();
            let n = writes.entry(item.order_id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let refused = match &self.throttle {
            Throttle::Never => false,
            Throttle::Always => true,
            Throttle::FirstWrite => n == 1,
            Throttle::Order(id) => *id == item.order_id,
        };
        if refused {
            return Err(StoreError {
                message: "ProvisionedThroughputExceededException (injected)".into(),
                retryable: true,
            });
        }
        self.inner.put(item).await
    }
}

/// A dead-letter queue in memory; [`refusing`](Self::refusing) fails every send.
#[derive(Default)]
pub struct MemoryDeadLetters {
    pub letters: Mutex<Vec<DeadLetter>>,
    refuse: bool,
}

impl MemoryDeadLetters {
    pub fn refusing() -> MemoryDeadLetters {
        MemoryDeadLetters {
            refuse: true,
            ..Default::default()
        }
    }
}

impl DeadLetters for MemoryDeadLetters {
    async fn send_all(&self, letters: &[DeadLetter]) -> Vec<Result<(), String>> {
        if self.refuse {
            return letters
                .iter()
                .map(|_| Err("AccessDenied (injected)".into()))
                .collect();
        }
        self.letters.lock().unwrap().extend(letters.iter().cloned());
        letters.iter().map(|_| Ok(())).collect()
    }
}
