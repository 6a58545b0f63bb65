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

use crate::bindings::{self, rule::exports::orderflow::plugin::rule as wit};
use crate::decision::Undecided;
use crate::error::{Failure, PluginError};
use crate::manifest::{Manifest, PluginSpec};
use crate::order::Order;
use crate::plugin::{Chain, Plugin};
use crate::runtime::Runtime;
use crate::sandbox::{Cost, World, bindings_glue};
use crate::store::State;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::Linker;

pub use crate::decision::{Conflict, Decision, Outcome, PluginErrorReport, RuleTrace};

/// A rule may attach at most this many attributes.
pub const MAX_ATTRIBUTES: usize = 32;
const MAX_ATTRIBUTE_NAME: usize = 128;

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
        self.evaluate_one(order, None)
    }

    fn evaluate_one(&self, order: &Arc<Order>, until: Option<std::time::Instant>) -> RuleResult {
        self.evaluate_batch(std::slice::from_ref(order), until)
            .pop()
            .expect("one answer per order")
    }

    /// Evaluates `orders`, [`batch_size`](Plugin::batch_size) per call:
    /// one answer per order, in order. Each order's cost is an even share
    /// of its call's. A call that fails whole is made again one order at a
    /// time (each order's cost then adds its share of the failed call),
    /// unless it failed for want of time or of an instance slot, which one
    /// order at a time would only make worse: then every order of the call
    /// shares its failure.
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
                Err(e) if batch.len() > 1 && !out_of_time_or_slots(&e.failure) => {
                    // Each order's trace carries its share of the failed
                    // call too: a loop in a batch burnt that fuel.
                    let failed = e.cost.share(batch.len());
                    answers.extend(batch.iter().map(
                        |order| match self.evaluate_one(order, until) {
                            Ok((v, cost)) => Ok((v, cost.plus(failed))),
                            Err(mut e) => {
                                e.cost = e.cost.plus(failed);
                                Err(e)
                            }
                        },
                    ))
                }
                Err(e) => {
                    let each = e.cost.share(batch.len());
                    answers.extend(
                        batch
                            .iter()
                            .map(|_| Err(self.error(e.failure.clone(), each))),
                    );
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
    fn lent(orders: &[Arc<Order>]) -> &[Arc<Order>] {
        orders
    }
    fn call(
        &self,
        store: &mut Store<State>,
        orders: &[Arc<Order>],
    ) -> wasmtime::Result<Self::Answer> {
        // The orders themselves are in the store (see `lent`), read by
        // their index.
        self.orderflow_plugin_rule()
            .call_evaluate(store, orders.len() as u32)
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
            let answers = if open.len() == orders.len() {
                rule.evaluate_batch(orders, until)
            } else {
                let lent: Vec<Arc<Order>> = open.iter().map(|&i| orders[i].clone()).collect();
                rule.evaluate_batch(&lent, until)
            };
            let mut answers = answers.into_iter();
            open.retain(|&i| {
                let answer = answers.next().expect("one answer per order");
                decisions[i].absorb(rule, answer)
            });
        }
        decisions.into_iter().map(|d| d.decision).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Arc<Order> {
        Arc::new(Order::from_json(include_str!("../../samples/order.json")).unwrap())
    }

    fn verdict(reason: &str) -> Result<wit::Verdict, String> {
        Ok(wit::Verdict {
            high_value: true,
            reason: reason.into(),
            attributes: Vec::new(),
        })
    }

    /// A plugin that answers for more or fewer orders than it was lent is
    /// lying about the contract: the whole call is invalid, since no answer
    /// can be matched to its order.
    #[test]
    fn a_batch_answered_with_the_wrong_number_of_answers_is_invalid() {
        let lent = [order(), order()];
        let accept = <bindings::rule::RulePlugin as World>::accept;
        let e = accept(vec![verdict("one")], &lent, 1024).unwrap_err();
        assert_eq!(
            e.to_string(),
            "returned an invalid result: 1 answers for the 2 orders lent (one per order, in order)"
        );
        let e = accept(vec![verdict("a"); 3], &lent, 1024).unwrap_err();
        assert!(e.to_string().contains("3 answers for the 2 orders"), "{e}");
    }

    /// Each answer is checked on its own: one order's error or oversized
    /// verdict does not touch the other's.
    #[test]
    fn each_answer_of_a_batch_is_checked_on_its_own() {
        let lent = [order(), order(), order()];
        let accept = <bindings::rule::RulePlugin as World>::accept;
        let answers = accept(
            vec![
                verdict("fine"),
                Err("no".into()),
                verdict(&"x".repeat(2000)),
            ],
            &lent,
            1024,
        )
        .unwrap();
        assert_eq!(answers[0].as_ref().unwrap().reason, "fine");
        assert_eq!(
            answers[1],
            Err(Failure::Refused {
                message: "no".into()
            })
        );
        assert_eq!(
            answers[2],
            Err(Failure::OutputTooLarge {
                size: 2000,
                limit: 1024
            })
        );
    }
}
