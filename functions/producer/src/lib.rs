//! The producer function's handler, apart from Lambda so it can be tested
//! without it.
//!
//! Accepted events:
//! - a direct invocation with one order (the order's JSON object), or with
//!   `{"orders": [ … ]}` (at most [`MAX_ORDERS`]);
//! - an API Gateway HTTP API (payload format 2.0) `POST /orders` whose body
//!   is either of the above.
//!
//! Every order gets one result, in input order: `published` (with the SNS
//! message id), `not_high_value`, `rejected` (invalid, or a rule with
//! `on_error: reject` failed in a way that would fail again; with the
//! reason) or `failed` (high-value but could not be published after
//! retries, or a rule hit its deadline or a full instance pool: the caller
//! should send it again; the consumer's writes are idempotent, so a repeat
//! is harmless). An order answered `failed` 3 times for the same cause is
//! `rejected` the 4th time, saying so (`orderflow_pipeline::failed_answers`),
//! so every order gets a final answer.
//!
//! A direct invocation answers the results as JSON, and fails the
//! invocation only for an event it cannot read or when no rule set can be
//! loaded. Over HTTP: 200 with the results when every order got a final
//! answer; 503 with the results when any order `failed`, or without them
//! when no rule set can be loaded; 400 for a body that is not one order or
//! `{"orders": [...]}`; 404 and 405 for another route or method; 413 for a
//! body over [`MAX_BODY_BYTES`]; 403, whatever it asks, for a request API
//! Gateway authorized no one for (see [`Caller`]). Each request is logged
//! with its request id and caller (the principal's ARN, never a key).
//!
//! When the live manifest names a shadow candidate, every decided order is
//! also decided by it once the live decisions are acted on, and each
//! disagreement is logged; nothing of the candidate's reaches the answer
//! (see [`shadow`]).

use orderflow_host::RuleSet;
use orderflow_host::order::Parsed;
use orderflow_pipeline::Publisher;
use orderflow_pipeline::decision_log::DecisionRecord;
use orderflow_pipeline::failed_answers::FailedAnswers;
use orderflow_pipeline::ports::{DecisionLog, NoDecisionLog};
use orderflow_pipeline::producer::{ProducerOutcome, ProducerResult, produce_until};
use orderflow_pipeline::reload::{PluginCache, RefreshError};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod shadow;

pub use orderflow_host::wire::Caller;
pub use orderflow_host::wire::request::{
    EventError, HttpError, HttpRequest, MAX_BODY_BYTES, MAX_ORDER_JSON_BYTES, MAX_ORDERS, Request,
    http_response, parse_event, parse_orders,
};

/// What became of one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderResult {
    /// 0-based position in the request.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(flatten)]
    pub outcome: ProducerOutcome,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub published: usize,
    pub not_high_value: usize,
    pub rejected: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    /// The rule set's revision (`sha256:` of its manifest).
    pub revision: String,
    pub summary: Summary,
    pub results: Vec<OrderResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("no rule set is available: {0}")]
    Plugins(#[from] RefreshError),
}

pub struct Producer<P, D = NoDecisionLog> {
    pub plugins: Arc<PluginCache<RuleSet>>,
    pub publisher: P,
    pub decision_log: D,
    /// The most time a shadow candidate may take per invocation (see
    /// [`shadow`]); [`shadow::DEFAULT_BUDGET`] unless set.
    pub shadow_budget: Duration,
    /// How often each order was answered `failed` for one cause: past the
    /// cap the answer is final.
    pub failed_answers: FailedAnswers,
}

impl<P: Publisher> Producer<P> {
    pub fn new(plugins: Arc<PluginCache<RuleSet>>, publisher: P) -> Producer<P> {
        Producer {
            plugins,
            publisher,
            decision_log: NoDecisionLog,
            shadow_budget: shadow::DEFAULT_BUDGET,
            failed_answers: FailedAnswers::default(),
        }
    }
}

impl<P: Publisher, D: DecisionLog> Producer<P, D> {
    /// Records every decided order in `log`, one object per invocation.
    pub fn with_decision_log<L: DecisionLog>(self, log: L) -> Producer<P, L> {
        Producer {
            plugins: self.plugins,
            publisher: self.publisher,
            decision_log: log,
            shadow_budget: self.shadow_budget,
            failed_answers: self.failed_answers,
        }
    }

    /// Runs the current rule set over `orders` and publishes the high-value ones.
    pub async fn process(&self, orders: Vec<Parsed>) -> Result<Response, RefreshError> {
        self.process_until(orders, None).await
    }

    /// As [`process`](Self::process), every rule call cut off at `until`.
    pub async fn process_until(
        &self,
        orders: Vec<Parsed>,
        until: Option<Instant>,
    ) -> Result<Response, RefreshError> {
        let started = Instant::now();
        let rules = self.plugins.current().await?;
        let produced = produce_until(&rules.set, &self.publisher, orders, until).await;
        self.log_decisions(&produced).await;
        // Only once every live decision is made and acted on.
        let shadow = rules.shadow.candidate().map(|candidate| {
            shadow::evaluate(candidate, &rules.revision, &produced, self.shadow_budget)
        });
        let mut summary = Summary::default();
        let results: Vec<OrderResult> = produced
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                let outcome = match &r.order_id {
                    Some(id) => self.failed_answers.settle(id, r.outcome),
                    None => r.outcome,
                };
                match &outcome {
                    ProducerOutcome::Published { .. } => summary.published += 1,
                    ProducerOutcome::NotHighValue => summary.not_high_value += 1,
                    ProducerOutcome::Rejected { .. } => summary.rejected += 1,
                    ProducerOutcome::Failed { .. } => summary.failed += 1,
                }
                OrderResult {
                    index,
                    order_id: r.order_id,
                    outcome,
                }
            })
            .collect();
        tracing::info!(
            revision = %rules.revision, orders = results.len(), published = summary.published,
            not_high_value = summary.not_high_value, rejected = summary.rejected, failed = summary.failed,
            shadow = rules.shadow.revision(), shadow_disagreements = shadow.as_ref().map(|s| s.disagreements),
            shadow_micros = shadow.as_ref().map(|s| s.micros),
            micros = started.elapsed().as_micros() as u64, "orders processed"
        );
        Ok(Response {
            revision: rules.revision.clone(),
            summary,
            results,
        })
    }

    /// Writes the decided orders to the decision log. Never fails an
    /// order: a failed write is logged (the `DecisionLogFailures` metric
    /// filter counts it) and the orders are answered as decided.
    async fn log_decisions(&self, produced: &[ProducerResult]) {
        let records: Vec<DecisionRecord> = produced
            .iter()
            .filter_map(|r| Some(DecisionRecord::new(r.order.as_ref()?, r.decision.as_ref()?)))
            .collect();
        match self.decision_log.write(&records).await {
            Ok(object) if !object.is_empty() => {
                tracing::debug!(records = records.len(), %object, "decisions logged")
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(records = records.len(), %error, "decision log write failed")
            }
        }
    }

    /// One Lambda event → its answer.
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        self.handle_until(event, None).await
    }

    /// As [`handle`](Self::handle), every rule call cut off at `until` (the
    /// invocation's end less what answering takes).
    pub async fn handle_until(
        &self,
        event: Value,
        until: Option<Instant>,
    ) -> Result<Value, HandlerError> {
        match parse_event(&event) {
            Err(e) => {
                tracing::error!(error = %e, "unreadable event");
                Err(e.into())
            }
            Ok(Request::Direct(orders)) => {
                let response = self.process_until(orders, until).await?;
                Ok(serde_json::to_value(response).expect("responses serialise"))
            }
            Ok(Request::Http(request)) => Ok(self.handle_http(request, until).await),
        }
    }

    async fn handle_http(&self, request: HttpRequest, until: Option<Instant>) -> Value {
        let request_id = request.request_id.as_deref().unwrap_or("-");
        let caller = request.caller.as_ref().map(Caller::to_string);
        let caller = caller.as_deref().unwrap_or("(none)");
        let orders = match request.orders {
            Err(e) => {
                tracing::warn!(
                    status = e.status,
                    request_id,
                    caller,
                    "HTTP request refused: {}",
                    e.message
                );
                return http_response(e.status, &serde_json::json!({ "error": e.message }));
            }
            Ok(orders) => orders,
        };
        tracing::info!(request_id, caller, orders = orders.len(), "HTTP request");
        match self.process_until(orders, until).await {
            Ok(r) => http_response(if r.summary.failed > 0 { 503 } else { 200 }, &r),
            Err(e) => http_response(
                503,
                &serde_json::json!({ "error": format!("no rule set is available: {e}") }),
            ),
        }
    }
}
