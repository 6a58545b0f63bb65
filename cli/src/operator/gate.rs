//! The rollout gate: a replay of the live rule set against the one a
//! publish or a rollback would make live, and whether its flip rate is
//! within the limit.

use super::PluginStore;
use anyhow::Result;
use orderflow_host::Runtime;
use serde::Serialize;

/// The rollout gate's verdict: the replay of the live set against the new
/// one, and whether its flip rate is within the limit.
#[derive(Serialize)]
pub(super) struct Gate {
    max_flip_rate: f64,
    pub(super) passed: bool,
    /// `None` when nothing is live yet (there is nothing to flip from).
    replay: Option<orderflow_replay::Summary>,
}

impl Gate {
    pub(super) fn text(&self) -> String {
        let Some(s) = &self.replay else {
            return "gate: nothing is live yet, so nothing can flip: passed\n".into();
        };
        format!(
            "{}gate: {} of {} orders flipped ({:.2}%), the limit is {:.2}%: {}\n",
            orderflow_replay::text::render(s),
            s.flipped(),
            s.orders,
            s.flip_rate * 100.0,
            self.max_flip_rate * 100.0,
            if self.passed { "passed" } else { "REFUSED" }
        )
    }
}

/// Replays `orders` through the live rule set and `candidate` (what a
/// publish or a rollback would make live).
pub(super) async fn gate(
    store: &PluginStore,
    candidate: orderflow_host::RuleSet,
    runtime: &Runtime,
    orders: &[String],
    max_flip_rate: f64,
) -> Result<Gate> {
    if !(0.0..=1.0).contains(&max_flip_rate) {
        anyhow::bail!(
            "--max-flip-rate {max_flip_rate} is not a share between 0 and 1 (0.01 is 1%)"
        );
    }
    let Some(baseline) = store.live_rules(runtime).await? else {
        return Ok(Gate {
            max_flip_rate,
            passed: true,
            replay: None,
        });
    };
    let inputs = crate::inputs::resolve(orders).await?;
    let summary =
        orderflow_replay::replay(&baseline, &candidate, &inputs.inputs, &Default::default())?;
    if summary.orders == 0 {
        anyhow::bail!(
            "the gate's orders ({}) hold no valid order to replay",
            orders.join(", ")
        );
    }
    Ok(Gate {
        max_flip_rate,
        passed: summary.flip_rate <= max_flip_rate,
        replay: Some(summary),
    })
}
