//! The rule chain and how its verdicts combine.
//!
//! Semantics, in manifest order:
//! - every rule sees every order (no short-circuit), so the decision trace
//!   always says what each rule thought;
//! - the order is high-value if **any** rule says so;
//! - attributes from all rules are merged; when two rules set the same
//!   attribute to different values, the **earlier** rule in the manifest
//!   wins and the conflict is recorded in the decision;
//! - a failing rule (error, trap, limit) follows its `on_error`: `reject`
//!   stops the chain and rejects the order with the plugin's reason, `skip`
//!   records the failure and goes on as if the rule were absent.
//!
//! A batch of orders goes through the chain rule by rule: each rule is
//! called once per [`batch_size`](Plugin::batch_size) orders still open
//! (one, with a fresh instance per order), and every order's decision is
//! what it would have been alone. A call that fails whole (a trap, a
//! limit) is made again one order at a time, so the failure is the
//! failing order's only.

use crate::bindings::{
    self, BatchRef, LentOrders, rule::exports::orderflow::plugin::rule as wit,
};
use crate::error::{Failure, PluginError};
use crate::manifest::{Manifest, OnError, PluginSpec};
use crate::order::Order;
use crate::plugin::{Chain, Plugin};
use crate::runtime::Runtime;
use crate::sandbox::{Cost, World, bindings_glue};
use crate::store::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::{Linker, Resource};

/// A rule may attach at most this many attributes.
pub const MAX_ATTRIBUTES: usize = 32;
const MAX_ATTRIBUTE_NAME: usize = 128;

/// What one rule said about one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleTrace {
    pub plugin: String,
    pub version: String,
    pub outcome: Outcome,
    pub reason: String,
    pub attributes: Vec<(String, String)>,
    pub fuel: u64,
    pub micros: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    HighValue,
    NotHighValue,
    /// The rule failed; `skipped` says whether the order went on without it.
    Failed {
        error: String,
        limit: &'static str,
        skipped: bool,
    },
}

/// Two rules set one attribute to different values; `kept` is the earlier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub attribute: String,
    pub kept: (String, String),
    pub dropped: (String, String),
}

/// The rule chain's decision for one order, traceable to its rule set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub order_id: String,
    /// The manifest revision (`sha256:…`) of the rule set that decided.
    pub revision: String,
    pub high_value: bool,
    pub attributes: BTreeMap<String, String>,
    /// `plugin: reason`, one per rule that answered.
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// Set when a rule with `on_error: reject` failed: the order is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<PluginErrorReport>,
    pub trace: Vec<RuleTrace>,
}

/// A plugin failure, flattened for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PluginErrorReport {
    pub plugin: String,
    pub error: String,
    /// Trying again may succeed (see [`Failure::is_transient`]): the order
    /// is to be retried, not refused.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
}

impl From<&PluginError> for PluginErrorReport {
    fn from(e: &PluginError) -> Self {
        PluginErrorReport {
            plugin: e.plugin.clone(),
            error: e.to_string(),
            transient: e.failure.is_transient(),
        }
    }
}

/// One loaded rule plugin.
pub type RulePlugin = Plugin<bindings::rule::RulePlugin>;

/// A rule's verdict as the host keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub high_value: bool,
    pub reason: String,
    pub attributes: Vec<(String, String)>,
}

/// One rule's answer for one order of a batch, and its share of the call.
pub type RuleResult = Result<(Verdict, Cost), PluginError>;

impl RulePlugin {
    /// Evaluates one order in the sandbox and checks what came back.
    pub fn evaluate(&self, order: &Arc<Order>) -> RuleResult {
        self.evaluate_batch(std::slice::from_ref(order), None)
            .pop()
            .expect("one answer per order")
    }

    /// Evaluates `orders`, [`batch_size`](Plugin::batch_size) per call:
    /// one answer per order, in order. Each order's cost is an even share
    /// of its call's. A call that fails whole is made again one order at a
    /// time, unless it failed for want of time or of an instance slot,
    /// which one order at a time would only make worse: then every order of
    /// the call shares its failure.
    pub fn evaluate_batch(
        &self,
        orders: &[Arc<Order>],
        until: Option<std::time::Instant>,
    ) -> Vec<RuleResult> {
        let mut answers = Vec::with_capacity(orders.len());
        for batch in orders.chunks(self.batch_size()) {
            match self.call(batch, until) {
                Ok((verdicts, cost)) => {
                    let each = cost.share(batch.len());
                    answers.extend(verdicts.into_iter().map(|v| match v {
                        Ok(v) => Ok((v, each)),
                        Err(failure) => Err(self.error(failure, each)),
                    }));
                }
                Err(e) if batch.len() > 1 && !out_of_time_or_slots(&e.failure) => answers.extend(
                    batch
                        .iter()
                        .map(|order| self.evaluate_batch(std::slice::from_ref(order), until)
                            .pop()
                            .expect("one answer per order")),
                ),
                Err(e) => {
                    let each = e.cost.share(batch.len());
                    answers.extend(batch.iter().map(|_| Err(self.error(e.failure.clone(), each))));
                }
            }
        }
        answers
    }
}

/// A failure that one order at a time would only repeat, slower.
fn out_of_time_or_slots(failure: &Failure) -> bool {
    matches!(
        failure,
        Failure::InvocationDeadline { .. } | Failure::Capacity { .. }
    )
}

impl World for bindings::rule::RulePlugin {
    bindings_glue!(bindings::rule::RulePluginPre<State>, orderflow_plugin_rule);
    const NAME: &'static str = "orderflow:plugin/rule-plugin@0.2.0";
    type Input = [Arc<Order>];
    type Answer = Vec<Result<wit::Verdict, String>>;
    /// Each order's verdict, or why it was refused.
    type Output = Vec<Result<Verdict, Failure>>;
    fn linker(runtime: &Runtime) -> &Linker<State> {
        &runtime.rule_linker
    }
    fn specs(manifest: &Manifest) -> &[PluginSpec] {
        &manifest.rules
    }
    fn lent(orders: &[Arc<Order>]) -> LentOrders {
        orders.to_vec()
    }
    fn weight(orders: &[Arc<Order>]) -> u32 {
        orders.len() as u32
    }
    fn call(
        &self,
        store: &mut Store<State>,
        _orders: &[Arc<Order>],
    ) -> wasmtime::Result<Self::Answer> {
        // The orders themselves are in the store (see `lent`), lent as
        // one handle.
        self.orderflow_plugin_rule()
            .call_evaluate(store, Resource::<BatchRef>::new_borrow(0))
    }
    fn accept(
        answers: Self::Answer,
        orders: &[Arc<Order>],
        max_output_bytes: u64,
    ) -> Result<Self::Output, Failure> {
        if answers.len() != orders.len() {
            return Err(Failure::Invalid {
                message: format!(
                    "{} answers for the {} orders lent (one per order, in order)",
                    answers.len(),
                    orders.len()
                ),
            });
        }
        Ok(answers
            .into_iter()
            .map(|answer| {
                let v = answer.map_err(|message| Failure::refused(&message))?;
                check_verdict(&v, max_output_bytes)?;
                Ok(Verdict {
                    high_value: v.high_value,
                    reason: v.reason,
                    attributes: v.attributes,
                })
            })
            .collect())
    }
}

/// A plugin's answer is untrusted: bound its size and shape.
fn check_verdict(v: &wit::Verdict, limit: u64) -> Result<(), Failure> {
    let size = v.reason.len() as u64
        + v.attributes
            .iter()
            .map(|(k, v)| crate::limits::ELEMENT_BYTES + (k.len() + v.len()) as u64)
            .sum::<u64>();
    if size > limit {
        return Err(Failure::OutputTooLarge { size, limit });
    }
    if v.attributes.len() > MAX_ATTRIBUTES {
        return Err(Failure::Invalid {
            message: format!(
                "{} attributes, more than the {MAX_ATTRIBUTES} a rule may attach",
                v.attributes.len()
            ),
        });
    }
    for (k, _) in &v.attributes {
        if k.is_empty() || k.len() > MAX_ATTRIBUTE_NAME || k.chars().any(char::is_control) {
            return Err(Failure::Invalid {
                message: format!(
                    "attribute name {:?} is empty, too long or has control characters",
                    crate::error::plugin_text(k, 64)
                ),
            });
        }
    }
    Ok(())
}

/// The rule chain of one manifest revision.
pub type RuleSet = Chain<bindings::rule::RulePlugin>;

impl RuleSet {
    pub fn evaluate(&self, order: &Arc<Order>) -> Decision {
        self.evaluate_until(order, None)
    }

    /// As [`evaluate`](Self::evaluate), with every call's deadline cut to
    /// what is left before `until` (the invocation's end, less the time
    /// its caller needs to answer).
    pub fn evaluate_until(
        &self,
        order: &Arc<Order>,
        until: Option<std::time::Instant>,
    ) -> Decision {
        self.evaluate_batch(std::slice::from_ref(order), until)
            .pop()
            .expect("one decision per order")
    }

    /// Decides `orders`, one decision each, in order, each what it would
    /// have been alone: rule by rule, every order still open (not rejected)
    /// goes to the rule in batches (see [`RulePlugin::evaluate_batch`]).
    pub fn evaluate_batch(
        &self,
        orders: &[Arc<Order>],
        until: Option<std::time::Instant>,
    ) -> Vec<Decision> {
        let mut decisions: Vec<Undecided> = orders
            .iter()
            .map(|order| Undecided::new(order, &self.revision, self.plugins.len()))
            .collect();
        let mut open: Vec<usize> = (0..orders.len()).collect();
        for rule in &self.plugins {
            if open.is_empty() {
                break;
            }
            let lent: Vec<Arc<Order>> = open.iter().map(|&i| orders[i].clone()).collect();
            let answers = rule.evaluate_batch(&lent, until);
            let mut still_open = Vec::with_capacity(open.len());
            for (i, answer) in open.into_iter().zip(answers) {
                if decisions[i].absorb(rule, answer) {
                    still_open.push(i);
                }
            }
            open = still_open;
        }
        decisions.into_iter().map(|d| d.decision).collect()
    }
}

/// A decision while the chain runs, with which rule set each attribute.
struct Undecided {
    decision: Decision,
    owner: BTreeMap<String, String>,
}

impl Undecided {
    fn new(order: &Order, revision: &str, rules: usize) -> Self {
        Undecided {
            decision: Decision {
                order_id: order.order_id.clone(),
                revision: revision.to_string(),
                high_value: false,
                attributes: BTreeMap::new(),
                reasons: Vec::new(),
                conflicts: Vec::new(),
                rejected: None,
                trace: Vec::with_capacity(rules),
            },
            owner: BTreeMap::new(),
        }
    }

    /// Takes one rule's answer into the decision; false when it rejects
    /// the order, which ends the chain for it.
    fn absorb(&mut self, rule: &RulePlugin, answer: RuleResult) -> bool {
        let d = &mut self.decision;
        match answer {
            Ok((v, cost)) => {
                d.high_value |= v.high_value;
                d.reasons.push(format!("{}: {}", rule.name, v.reason));
                for (k, val) in &v.attributes {
                    match d.attributes.get(k) {
                        None => {
                            d.attributes.insert(k.clone(), val.clone());
                            self.owner.insert(k.clone(), rule.name.clone());
                        }
                        Some(kept) if kept != val => d.conflicts.push(Conflict {
                            attribute: k.clone(),
                            kept: (self.owner[k].clone(), kept.clone()),
                            dropped: (rule.name.clone(), val.clone()),
                        }),
                        Some(_) => {}
                    }
                }
                d.trace.push(RuleTrace {
                    plugin: rule.name.clone(),
                    version: rule.version.clone(),
                    outcome: if v.high_value {
                        Outcome::HighValue
                    } else {
                        Outcome::NotHighValue
                    },
                    reason: v.reason,
                    attributes: v.attributes,
                    fuel: cost.fuel,
                    micros: cost.micros,
                });
                true
            }
            Err(e) => {
                let skipped = rule.on_error == OnError::Skip;
                tracing::warn!(
                    order_id = %d.order_id, plugin = %e.plugin, limit = e.failure.kind(),
                    skipped, revision = %d.revision, "rule failed: {}", e.failure
                );
                d.trace.push(RuleTrace {
                    plugin: rule.name.clone(),
                    version: rule.version.clone(),
                    outcome: Outcome::Failed {
                        error: e.to_string(),
                        limit: e.failure.kind(),
                        skipped,
                    },
                    reason: String::new(),
                    attributes: Vec::new(),
                    fuel: e.cost.fuel,
                    micros: e.cost.micros,
                });
                if !skipped {
                    d.rejected = Some((&e).into());
                    d.high_value = false;
                }
                skipped
            }
        }
    }
}
