//! The whole pipeline in one process, for a laptop with no AWS account:
//! rules → an in-process topic and queue (with a receive limit and a
//! dead-letter queue, like SQS) → transforms → a store of JSON files on
//! disk keyed by (OrderId, Timestamp). [`stream`] runs it over inputs of
//! any length on every core.

use crate::consumer::{ConsumerOutcome, ConsumerResult, IncomingMessage, consume, consume_message};
use crate::ports::{ItemStore, OutgoingMessage, PublishOutcome, Publisher, StoreError};
use crate::producer::{ProducerOutcome, ProducerResult, produce};
use orderflow_host::order::Parsed;
use orderflow_host::{HighValueMessage, Item, RuleSet, TransformChain};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub mod stream;

/// Receives before a message moves to the dead-letter queue (SQS's
/// `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 3;

struct Queued {
    message: IncomingMessage,
    receives: u32,
}

/// A topic with one subscribed queue.
#[derive(Default)]
pub struct MemoryQueue {
    queue: Mutex<VecDeque<Queued>>,
    next_id: Mutex<u64>,
    /// Messages that failed for good or `MAX_RECEIVES` times, with their last reason.
    pub dead_letters: Mutex<Vec<(IncomingMessage, String)>>,
}

impl Publisher for MemoryQueue {
    async fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<(String, PublishOutcome)>, String> {
        let mut q = self.queue.lock().expect("queue lock");
        let mut next = self.next_id.lock().expect("id lock");
        Ok(batch
            .iter()
            .map(|m| {
                *next += 1;
                let message_id = format!("local-{:08}", *next);
                q.push_back(Queued {
                    message: IncomingMessage {
                        message_id: message_id.clone(),
                        body: m.body.clone(),
                    },
                    receives: 0,
                });
                (m.id.clone(), PublishOutcome::Published { message_id })
            })
            .collect())
    }
}

impl MemoryQueue {
    /// Takes up to `n` messages, as one SQS receive would.
    fn receive(&self, n: usize) -> Vec<Queued> {
        let mut q = self.queue.lock().expect("queue lock");
        let n = n.min(q.len());
        q.drain(..n)
            .map(|mut m| {
                m.receives += 1;
                m
            })
            .collect()
    }

    /// A failed message returns to the queue, or to the DLQ at once when it
    /// would fail the same way again (as the consumer function does), or
    /// past the receive limit.
    fn fail(&self, m: Queued, reason: String, permanent: bool) {
        if permanent || m.receives >= MAX_RECEIVES {
            tracing::error!(message_id = %m.message.message_id, receives = m.receives, "moved to the dead-letter queue: {reason}");
            self.dead_letters
                .lock()
                .expect("dlq lock")
                .push((m.message, reason));
        } else {
            self.queue.lock().expect("queue lock").push_back(m);
        }
    }
}

/// Items as JSON files: `<dir>/<OrderId>/<Timestamp>.json`. Order ids and
/// timestamps are validated to a file-name-safe alphabet before they get here.
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> FileStore {
        FileStore { dir: dir.into() }
    }

    pub fn path(&self, order_id: &str, timestamp: &str) -> PathBuf {
        self.dir.join(order_id).join(format!("{timestamp}.json"))
    }

    /// Every stored item, as JSON objects.
    pub fn items(&self) -> std::io::Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        if !self.dir.exists() {
            return Ok(out);
        }
        let mut files: Vec<PathBuf> = Vec::new();
        for d in std::fs::read_dir(&self.dir)? {
            let d = d?.path();
            if d.is_dir() {
                for f in std::fs::read_dir(&d)? {
                    files.push(f?.path());
                }
            }
        }
        files.sort();
        for f in files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
        {
            let text = std::fs::read_to_string(&f)?;
            out.push(
                serde_json::from_str(&text)
                    .map_err(|e| std::io::Error::other(format!("{}: {e}", f.display())))?,
            );
        }
        Ok(out)
    }
}

impl ItemStore for FileStore {
    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        let path = self.path(&item.order_id, &item.timestamp);
        let write = || -> std::io::Result<()> {
            let dir = path.parent().expect("item paths have a parent");
            std::fs::create_dir_all(dir)?;
            // Unique per write: two deliveries of one order may be written at once.
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = dir.join(format!(".{}.{n}.tmp", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec_pretty(&item.to_json())?)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| StoreError {
            message: format!("{}: {e}", path.display()),
            retryable: false,
        })
    }
}

/// Where one order ended up. Serialised in snake_case: the CLI's `--json`
/// `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// High-value, transformed and written to the store.
    Stored,
    /// No rule found it high-value: nothing to store.
    NotHighValue,
    /// Would fail again: fix the order or the plugin.
    Rejected,
    /// Transient (a plugin past its deadline on a loaded machine, a store
    /// that asked to be retried): run the order again.
    Failed,
}

/// What happened to one input order, end to end.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OrderReport {
    pub line: Option<usize>,
    pub order_id: Option<String>,
    pub high_value: bool,
    pub attributes: std::collections::BTreeMap<String, String>,
    pub reasons: Vec<String>,
    pub status: OrderStatus,
    pub error: Option<String>,
    #[serde(skip)]
    pub producer: ProducerResult,
}

/// Runs orders through the whole pipeline and reports each one.
pub async fn run(
    rules: &RuleSet,
    transforms: &TransformChain,
    store_dir: &Path,
    orders: Vec<Parsed>,
) -> Vec<OrderReport> {
    let queue = MemoryQueue::default();
    let store = FileStore::new(store_dir);
    let produced = produce(rules, &queue, orders).await;
    // The queue carries the wire form, as SNS and SQS would; the consumer
    // stage takes the typed message the producer stage published, so no
    // order is parsed and validated twice in one process.
    let typed: std::collections::HashMap<&str, &HighValueMessage> = produced
        .iter()
        .filter_map(|p| match (&p.outcome, &p.message) {
            (ProducerOutcome::Published { message_id }, Some(m)) => {
                Some((message_id.as_str(), &**m))
            }
            _ => None,
        })
        .collect();

    let mut consumed: std::collections::HashMap<String, ConsumerResult> =
        std::collections::HashMap::new();
    loop {
        let batch = queue.receive(10);
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let r = match typed.get(m.message.message_id.as_str()) {
                Some(msg) => consume_message(transforms, &store, &m.message.message_id, msg).await,
                // Not published by this run: only its wire form is known.
                None => consume(transforms, &store, &m.message).await,
            };
            match &r.outcome {
                ConsumerOutcome::Stored { .. } => {}
                ConsumerOutcome::Failed { reason, permanent } => {
                    queue.fail(m, reason.clone(), *permanent)
                }
            }
            consumed.insert(r.message_id.clone(), r);
        }
    }

    produced
        .into_iter()
        .map(|p| {
            let (high_value, attributes, reasons) = match &p.decision {
                Some(d) => (d.high_value, d.attributes.clone(), d.reasons.clone()),
                None => (false, Default::default(), Vec::new()),
            };
            let consumer = match &p.outcome {
                ProducerOutcome::Published { message_id } => consumed.remove(message_id),
                _ => None,
            };
            let (status, error) = match (&p.outcome, &consumer) {
                (ProducerOutcome::NotHighValue, _) => (OrderStatus::NotHighValue, None),
                (ProducerOutcome::Rejected { reason }, _) => {
                    (OrderStatus::Rejected, Some(reason.clone()))
                }
                (ProducerOutcome::Failed { reason }, _) => {
                    (OrderStatus::Failed, Some(reason.clone()))
                }
                (ProducerOutcome::Published { .. }, Some(c)) => match &c.outcome {
                    ConsumerOutcome::Stored { .. } => (OrderStatus::Stored, None),
                    ConsumerOutcome::Failed { reason, permanent } => (
                        if *permanent {
                            OrderStatus::Rejected
                        } else {
                            OrderStatus::Failed
                        },
                        Some(format!("{reason} (in the dead-letter queue)")),
                    ),
                },
                (ProducerOutcome::Published { message_id }, None) => (
                    OrderStatus::Rejected,
                    Some(format!("message {message_id} was never consumed")),
                ),
            };
            OrderReport {
                line: p.line,
                order_id: p.order_id.clone(),
                high_value,
                attributes,
                reasons,
                status,
                error,
                producer: p,
            }
        })
        .collect()
}
