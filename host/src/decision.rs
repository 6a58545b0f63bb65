//! A rule set's decision for one order, as reports, the decision log and
//! the published message see it, and how one rule's answer is folded into
//! it (see `rules` for the chain's semantics).

use crate::error::PluginError;
use crate::manifest::OnError;
use crate::order::Order;
use crate::rules::{RulePlugin, RuleResult};
use serde::Serialize;
use std::collections::BTreeMap;

/// What one rule said about one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleTrace {
    pub plugin: String,
    pub version: String,
    pub outcome: Outcome,
    pub reason: String,
    pub attributes: Vec<(String, String)>,
    /// What the call cost; an order decided in a batch has an even share
    /// of its call's.
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

/// A decision while the chain runs, with which rule set each attribute.
pub(crate) struct Undecided {
    pub(crate) decision: Decision,
    owner: BTreeMap<String, String>,
}

impl Undecided {
    pub(crate) fn new(order: &Order, revision: &str, rules: usize) -> Self {
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
    pub(crate) fn absorb(&mut self, rule: &RulePlugin, answer: RuleResult) -> bool {
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
