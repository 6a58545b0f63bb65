//! What differs between the baseline's and the candidate's decision of one
//! order: whether it flipped, which attributes changed, which rules'
//! verdicts changed. Reasons are not compared: they quote configuration (a
//! changed threshold changes every reason), so only verdicts count.

use orderflow_host::Decision;
use orderflow_host::rules::{Outcome, RuleTrace};
use serde::Serialize;

/// A change of the high-value decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flip {
    ToHighValue,
    ToNotHighValue,
}

/// What one rule said about one order, for comparing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleVerdict {
    HighValue,
    NotHighValue,
    /// The rule failed (an error, a trap, a limit), whatever its `on_error`.
    Failed,
    /// No verdict: the rule is not in this rule set, or an earlier rule
    /// refused the order and the chain stopped before it.
    NotRun,
}

impl RuleVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleVerdict::HighValue => "high_value",
            RuleVerdict::NotHighValue => "not_high_value",
            RuleVerdict::Failed => "failed",
            RuleVerdict::NotRun => "not_run",
        }
    }

    fn of(trace: Option<&RuleTrace>) -> RuleVerdict {
        match trace.map(|t| &t.outcome) {
            None => RuleVerdict::NotRun,
            Some(Outcome::HighValue) => RuleVerdict::HighValue,
            Some(Outcome::NotHighValue) => RuleVerdict::NotHighValue,
            Some(Outcome::Failed { .. }) => RuleVerdict::Failed,
        }
    }
}

/// One rule whose verdict differs between the two sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleChange {
    pub rule: String,
    pub baseline: RuleVerdict,
    pub candidate: RuleVerdict,
}

/// How an attribute of the decision changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeChange {
    /// Only the candidate sets it.
    Added,
    /// Only the baseline sets it.
    Removed,
    /// Both set it, to different values.
    Changed,
}

/// Everything that differs between two decisions of one order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub flip: Option<Flip>,
    pub attributes: Vec<(String, AttributeChange)>,
    pub rules: Vec<RuleChange>,
}

impl Difference {
    pub fn between(baseline: &Decision, candidate: &Decision) -> Difference {
        let flip = match (baseline.high_value, candidate.high_value) {
            (false, true) => Some(Flip::ToHighValue),
            (true, false) => Some(Flip::ToNotHighValue),
            _ => None,
        };
        let mut attributes = Vec::new();
        for (k, v) in &baseline.attributes {
            match candidate.attributes.get(k) {
                None => attributes.push((k.clone(), AttributeChange::Removed)),
                Some(c) if c != v => attributes.push((k.clone(), AttributeChange::Changed)),
                Some(_) => {}
            }
        }
        for k in candidate.attributes.keys() {
            if !baseline.attributes.contains_key(k) {
                attributes.push((k.clone(), AttributeChange::Added));
            }
        }
        attributes.sort();
        // Rule sets are a handful of rules: a linear search beats a map.
        let find = |trace: &'_ [RuleTrace], name: &str| -> Option<usize> {
            trace.iter().position(|t| t.plugin == name)
        };
        let names = baseline.trace.iter().map(|t| t.plugin.as_str()).chain(
            candidate
                .trace
                .iter()
                .map(|t| t.plugin.as_str())
                .filter(|n| find(&baseline.trace, n).is_none()),
        );
        let rules = names
            .filter_map(|name| {
                let b = RuleVerdict::of(find(&baseline.trace, name).map(|i| &baseline.trace[i]));
                let c = RuleVerdict::of(find(&candidate.trace, name).map(|i| &candidate.trace[i]));
                (b != c).then(|| RuleChange {
                    rule: name.to_string(),
                    baseline: b,
                    candidate: c,
                })
            })
            .collect();
        Difference {
            flip,
            attributes,
            rules,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.flip.is_none() && self.attributes.is_empty() && self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn trace(plugin: &str, outcome: Outcome) -> RuleTrace {
        RuleTrace {
            plugin: plugin.into(),
            version: "1.0.0".into(),
            outcome,
            reason: "because".into(),
            attributes: Vec::new(),
            fuel: 0,
            micros: 0,
        }
    }

    fn decision(high_value: bool, attributes: &[(&str, &str)], trace: Vec<RuleTrace>) -> Decision {
        Decision {
            order_id: "ord-1".into(),
            revision: "sha256:x".into(),
            high_value,
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            reasons: Vec::new(),
            conflicts: Vec::new(),
            rejected: None,
            trace,
        }
    }

    fn failed() -> Outcome {
        Outcome::Failed {
            error: "boom".into(),
            limit: "refused",
            skipped: true,
        }
    }

    #[test]
    fn the_same_decision_differs_in_nothing() {
        let d = decision(
            true,
            &[("tier", "gold")],
            vec![trace("t", Outcome::HighValue)],
        );
        assert!(Difference::between(&d, &d.clone()).is_empty());
    }

    #[test]
    fn flips_attributes_and_verdicts_are_each_named() {
        let b = decision(
            true,
            &[("tier", "gold"), ("bulk", "true")],
            vec![
                trace("threshold", Outcome::HighValue),
                trace("vip", Outcome::NotHighValue),
            ],
        );
        let c = decision(
            false,
            &[("tier", "platinum"), ("new", "1")],
            vec![
                trace("threshold", Outcome::NotHighValue),
                trace("vip", failed()),
                trace("extra", Outcome::NotHighValue),
            ],
        );
        let d = Difference::between(&b, &c);
        assert_eq!(d.flip, Some(Flip::ToNotHighValue));
        assert_eq!(
            d.attributes,
            [
                ("bulk".to_string(), AttributeChange::Removed),
                ("new".to_string(), AttributeChange::Added),
                ("tier".to_string(), AttributeChange::Changed),
            ]
        );
        let rules: Vec<_> = d
            .rules
            .iter()
            .map(|r| (r.rule.as_str(), r.baseline, r.candidate))
            .collect();
        assert_eq!(
            rules,
            [
                (
                    "threshold",
                    RuleVerdict::HighValue,
                    RuleVerdict::NotHighValue
                ),
                ("vip", RuleVerdict::NotHighValue, RuleVerdict::Failed),
                ("extra", RuleVerdict::NotRun, RuleVerdict::NotHighValue),
            ]
        );
        assert_eq!(
            Difference::between(&c, &b).flip,
            Some(Flip::ToHighValue),
            "the other way round"
        );
    }
}
