//! Shadow evaluation: the candidate rule set the live manifest names
//! decides every order again, and each order on which it disagrees with the
//! live set is logged as one `shadow disagreement` event, which the
//! template's `ShadowDisagreements` metric filter counts.
//!
//! Why after the live decision rather than beside it: by the time the
//! candidate runs, the live decisions are made, published and written to
//! the decision log, so a candidate that traps, runs out of fuel or is slow
//! cannot change a decision, delay a publish or fail an order; and nothing
//! of the candidate's reaches the response. Its time is bounded twice: each
//! of its plugins by its own limits (fuel, deadline), as on the live path,
//! and the whole invocation by a [budget](crate::Producer::shadow_budget); orders
//! left when the budget is spent are not compared, and counted as skipped.
//!
//! The event names the order, both revisions, both decisions' verdicts, the
//! rules whose verdicts differ and the keys of the attributes that differ:
//! never an attribute's value or a reason (either may quote the order).

use orderflow_host::{Decision, RuleSet};
use orderflow_pipeline::producer::ProducerResult;
use orderflow_pipeline::reload::Candidate;
use orderflow_replay::Difference;
use serde::Serialize;
use std::time::{Duration, Instant};

/// A shadow's time per invocation, over every order of it: what the
/// candidate may add to an invocation's duration (the answer waits for it,
/// though nothing of it is in the answer). A 100-order batch through the
/// example chain takes about 9 ms in release (BENCHMARKS.md's fresh-instance
/// figure), so this leaves a candidate ten times that before it is cut off.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(100);

/// What one invocation's shadow evaluation did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShadowReport {
    pub compared: usize,
    pub disagreements: usize,
    /// Orders not compared because the budget was spent.
    pub skipped: usize,
    pub micros: u64,
}

/// A decision's verdict, as the event reports it.
pub fn verdict(d: &Decision) -> &'static str {
    match &d.rejected {
        Some(r) if r.transient => "failed",
        Some(_) => "rejected",
        None if d.high_value => "high_value",
        None => "not_high_value",
    }
}

/// Decides every decided order of `produced` with the candidate too, within
/// `budget`, and logs each disagreement.
pub fn evaluate(
    candidate: &Candidate<RuleSet>,
    live_revision: &str,
    produced: &[ProducerResult],
    budget: Duration,
) -> ShadowReport {
    let started = Instant::now();
    let mut report = ShadowReport::default();
    for r in produced {
        let (Some(order), Some(live)) = (&r.order, &r.decision) else {
            continue;
        };
        if started.elapsed() >= budget {
            report.skipped += 1;
            continue;
        }
        let shadow = candidate.set.evaluate(order);
        report.compared += 1;
        let difference = Difference::between(live, &shadow);
        if difference.is_empty() && verdict(live) == verdict(&shadow) {
            continue;
        }
        report.disagreements += 1;
        let rules: Vec<String> = difference
            .rules
            .iter()
            .map(|c| {
                format!(
                    "{}={}->{}",
                    c.rule,
                    c.baseline.as_str(),
                    c.candidate.as_str()
                )
            })
            .collect();
        let attributes: Vec<&str> = difference
            .attributes
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        tracing::info!(
            event = "shadow_disagreement", order_id = %order.order_id,
            live_revision, candidate_revision = %candidate.revision,
            live = verdict(live), candidate = verdict(&shadow),
            rules = %rules.join(","), attributes = %attributes.join(","),
            "shadow disagreement"
        );
    }
    report.micros = started.elapsed().as_micros() as u64;
    if report.skipped > 0 {
        tracing::warn!(
            candidate_revision = %candidate.revision, compared = report.compared, skipped = report.skipped,
            budget_ms = budget.as_millis() as u64, "shadow budget spent: the rest of the orders were not compared"
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_host::rules::PluginErrorReport;

    fn decision(high_value: bool, rejected: Option<bool>) -> Decision {
        Decision {
            order_id: "o".into(),
            revision: "sha256:a".into(),
            high_value,
            attributes: Default::default(),
            reasons: vec![],
            conflicts: vec![],
            rejected: rejected.map(|transient| PluginErrorReport {
                plugin: "p".into(),
                error: "e".into(),
                transient,
            }),
            trace: vec![],
        }
    }

    #[test]
    fn verdicts_tell_a_refusal_from_a_retry() {
        assert_eq!(verdict(&decision(true, None)), "high_value");
        assert_eq!(verdict(&decision(false, None)), "not_high_value");
        assert_eq!(verdict(&decision(false, Some(false))), "rejected");
        assert_eq!(verdict(&decision(false, Some(true))), "failed");
    }
}
