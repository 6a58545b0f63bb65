//! The producer stage: rules decide, high-value orders are published.
//!
//! SNS rules enforced here rather than trusted to the service (a local
//! server enforces few of them): at most 10 entries per `PublishBatch`, at
//! most 256 KiB per message and per batch in total, at most 10 message
//! attributes (raw delivery to SQS fails past 10), attribute names of
//! `[A-Za-z0-9_.-]` up to 256 bytes that do not start with `AWS.`/`Amazon.`.
//! Attributes past those limits are not lost: the whole decision always
//! travels in the message body; message attributes are a filtering aid.

use crate::ports::{OutgoingMessage, PublishOutcome, Publisher};
use orderflow_host::order::redact::redact;
use orderflow_host::order::{Parsed, is_valid_id};
use orderflow_host::{Decision, HighValueMessage, Order, PublishedDecision, RuleSet};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const MAX_BATCH_ENTRIES: usize = 10;
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// Attempts per message before it is reported failed.
pub const PUBLISH_ATTEMPTS: u32 = 3;

/// What became of one input order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ProducerOutcome {
    Published {
        message_id: String,
    },
    NotHighValue,
    /// Invalid order, or a rule with `on_error: reject` failed in a way
    /// that would fail again (fuel, memory, a trap, the plugin's refusal).
    Rejected {
        reason: String,
    },
    /// Could not be published, or a rule failed in a way that may pass
    /// next time (its deadline, a full instance pool); the caller must not
    /// drop it but send it again.
    Failed {
        reason: String,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct ProducerResult {
    /// 1-based line in the input, when the orders came from a document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub order_id: Option<String>,
    #[serde(flatten)]
    pub outcome: ProducerOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The order as decided (for the decision log); none for an invalid one.
    #[serde(skip)]
    pub order: Option<Arc<Order>>,
    /// The message a high-value order was published as, typed: a stage in
    /// the same process (the embedded pipeline) takes it from here instead
    /// of parsing and validating the wire form again.
    #[serde(skip)]
    pub message: Option<Arc<HighValueMessage>>,
}

/// The message attributes for a decision, within SNS's limits.
pub fn message_attributes(d: &Decision) -> Vec<(String, String)> {
    let mut attrs = vec![("revision".to_string(), d.revision.clone())];
    for (k, v) in &d.attributes {
        if attrs.len() == MAX_MESSAGE_ATTRIBUTES {
            break;
        }
        if valid_attribute_name(k) && valid_attribute_value(v) {
            attrs.push((k.clone(), v.clone()));
        }
    }
    attrs
}

/// SNS refuses a String attribute that is empty or holds a character
/// outside XML's (a control character, U+FFFE, U+FFFF): such an attribute
/// is left out rather than failing the publish, since the message body
/// carries the whole decision anyway.
fn valid_attribute_value(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        })
}

fn valid_attribute_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

/// Splits messages into batches of at most 10 entries and 256 KiB.
/// A message over 256 KiB on its own cannot be published at all.
pub fn batches(
    messages: Vec<OutgoingMessage>,
) -> (Vec<Vec<OutgoingMessage>>, Vec<(OutgoingMessage, String)>) {
    let mut out: Vec<Vec<OutgoingMessage>> = Vec::new();
    let mut too_big = Vec::new();
    let mut size = 0;
    for m in messages {
        let s = m.size();
        if s > MAX_PAYLOAD_BYTES {
            let reason = format!("message is {s} bytes, over SNS's limit of {MAX_PAYLOAD_BYTES}");
            too_big.push((m, reason));
            continue;
        }
        match out.last_mut() {
            Some(b) if b.len() < MAX_BATCH_ENTRIES && size + s <= MAX_PAYLOAD_BYTES => {
                size += s;
                b.push(m);
            }
            _ => {
                size = s;
                out.push(vec![m]);
            }
        }
    }
    (out, too_big)
}

/// Runs the rules over `orders` and publishes the high-value ones. Every
/// input gets exactly one result, in input order.
pub async fn produce<P: Publisher>(
    rules: &RuleSet,
    publisher: &P,
    orders: Vec<Parsed>,
) -> Vec<ProducerResult> {
    produce_until(rules, publisher, orders, None).await
}

/// As [`produce`], with every rule call's deadline cut to what is left
/// before `until`: a Lambda's end, less the time it needs to publish and
/// answer. An order whose rule is cut off is `failed`, to send again.
pub async fn produce_until<P: Publisher>(
    rules: &RuleSet,
    publisher: &P,
    orders: Vec<Parsed>,
    until: Option<std::time::Instant>,
) -> Vec<ProducerResult> {
    let mut results = Vec::with_capacity(orders.len());
    let mut pending: Vec<(usize, OutgoingMessage)> = Vec::new();
    // The valid orders are decided together, so that a reused rule
    // instance is called once per batch rather than once per order.
    let orders: Vec<(usize, Result<Arc<Order>, _>)> = orders
        .into_iter()
        .map(|p| (p.line, p.order.map(Arc::new).map_err(|e| (e, p.order_id))))
        .collect();
    let valid: Vec<Arc<Order>> = orders
        .iter()
        .filter_map(|(_, o)| o.as_ref().ok().cloned())
        .collect();
    let mut decisions = rules.evaluate_batch(&valid, until).into_iter();
    for (line, parsed) in orders {
        let index = results.len();
        let order = match parsed {
            Ok(o) => o,
            Err((e, order_id)) => {
                // An invalid order's id may be anything: log it only if well formed.
                let logged_id = order_id.as_deref().filter(|id| is_valid_id(id));
                tracing::warn!(line, order_id = logged_id, stage = "validate", error = %e, "order rejected: invalid");
                results.push(ProducerResult {
                    line: Some(line),
                    order_id,
                    outcome: ProducerOutcome::Rejected {
                        reason: e.to_string(),
                    },
                    decision: None,
                    order: None,
                    message: None,
                });
                continue;
            }
        };
        let decision = decisions.next().expect("one decision per valid order");
        log_decision(&order, &decision);
        let mut message = None;
        let outcome = if let Some(r) = &decision.rejected {
            if r.transient {
                // A deadline under load is not a verdict on the order: the
                // caller sends it again rather than dropping a possibly
                // high-value order.
                ProducerOutcome::Failed {
                    reason: format!("{} (transient: send the order again)", r.error),
                }
            } else {
                ProducerOutcome::Rejected {
                    reason: r.error.clone(),
                }
            }
        } else if decision.high_value {
            let typed = Arc::new(HighValueMessage {
                order: Order::clone(&order),
                decision: PublishedDecision::from(&decision),
            });
            pending.push((index, message_for(&typed, &decision, index)));
            message = Some(typed);
            ProducerOutcome::Failed {
                reason: "not yet published".into(),
            }
        } else {
            ProducerOutcome::NotHighValue
        };
        results.push(ProducerResult {
            line: Some(line),
            order_id: Some(order.order_id.clone()),
            outcome,
            decision: Some(decision),
            order: Some(order),
            message,
        });
    }
    for (index, outcome) in publish_all(publisher, pending).await {
        if let ProducerOutcome::Published { message_id } = &outcome {
            tracing::info!(
                order_id = results[index].order_id.as_deref().unwrap_or_default(),
                message_id = %message_id, stage = "publish", "order published"
            );
        }
        results[index].outcome = outcome;
    }
    results
}

/// The wire form of a message: SNS's body and attributes.
fn message_for(message: &HighValueMessage, decision: &Decision, index: usize) -> OutgoingMessage {
    OutgoingMessage {
        id: format!("m{index}"),
        body: message.to_json(),
        attributes: message_attributes(decision),
    }
}

fn log_decision(order: &Order, d: &Decision) {
    let plugins: Vec<String> = d
        .trace
        .iter()
        .map(|t| format!("{}@{}", t.plugin, t.version))
        .collect();
    let micros: u64 = d.trace.iter().map(|t| t.micros).sum();
    // By key only: a rule may copy anything from the order into a value.
    let attributes: Vec<String> = d.attributes.keys().map(|k| redact(k)).collect();
    tracing::info!(
        order_id = %order.order_id, stage = "rules", revision = %d.revision, plugins = ?plugins,
        high_value = d.high_value, rejected = d.rejected.is_some(), attributes = ?attributes,
        micros, "order decided"
    );
}

/// Publishes in batches, retrying the entries that failed retryably.
async fn publish_all<P: Publisher>(
    publisher: &P,
    pending: Vec<(usize, OutgoingMessage)>,
) -> Vec<(usize, ProducerOutcome)> {
    let index_of: HashMap<String, usize> =
        pending.iter().map(|(i, m)| (m.id.clone(), *i)).collect();
    let mut done = Vec::with_capacity(pending.len());
    let mut todo: Vec<OutgoingMessage> = pending.into_iter().map(|(_, m)| m).collect();
    for attempt in 1..=PUBLISH_ATTEMPTS {
        let (batches, too_big) = batches(std::mem::take(&mut todo));
        // The same order and rule set make the same message: sending the
        // order again cannot help, so this is a rejection, not a failure.
        for (m, reason) in too_big {
            done.push((index_of[&m.id], ProducerOutcome::Rejected { reason }));
        }
        for batch in batches {
            let answers = match publisher.publish_batch(&batch).await {
                Ok(a) => a.into_iter().collect::<HashMap<_, _>>(),
                Err(e) => batch
                    .iter()
                    .map(|m| {
                        (
                            m.id.clone(),
                            PublishOutcome::Failed {
                                reason: e.clone(),
                                retryable: true,
                            },
                        )
                    })
                    .collect(),
            };
            for m in batch {
                match answers.get(&m.id) {
                    Some(PublishOutcome::Published { message_id }) => done.push((
                        index_of[&m.id],
                        ProducerOutcome::Published {
                            message_id: message_id.clone(),
                        },
                    )),
                    Some(PublishOutcome::Failed {
                        retryable: true, ..
                    }) if attempt < PUBLISH_ATTEMPTS => todo.push(m),
                    Some(PublishOutcome::Failed { reason, .. }) => {
                        // SNS's own message may quote what it was sent.
                        let reason = redact(reason);
                        tracing::error!(entry = %m.id, attempt, "publish failed: {reason}");
                        done.push((
                            index_of[&m.id],
                            ProducerOutcome::Failed {
                                reason: format!(
                                    "publish failed after {attempt} attempt(s): {reason}"
                                ),
                            },
                        ))
                    }
                    None if attempt < PUBLISH_ATTEMPTS => todo.push(m),
                    None => done.push((
                        index_of[&m.id],
                        ProducerOutcome::Failed {
                            reason: "the publisher gave no answer for this message".into(),
                        },
                    )),
                }
            }
        }
        if todo.is_empty() {
            break;
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
    done
}

/// Full jitter below a doubling cap (40 ms, then 80 ms), as the SDK's own
/// backoff does, so producers throttled together do not retry together.
/// These retries come on top of the SDK's, which retries a throttled call
/// but not the failed entries of a successful `PublishBatch`.
fn backoff(attempt: u32) -> Duration {
    let cap = 20u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(nanos % (cap + 1))
}

#[cfg(test)]
mod tests;
