//! How often one order has been answered `failed` for one cause. A caller
//! sends a failed order again; when the cause does not go away (a plugin
//! that is slow on every machine, a topic that refuses it), the order
//! would never get a final answer. Past [`MAX_FAILED_ANSWERS`] for the same
//! cause the answer becomes `rejected`, saying why.
//!
//! Counted per process (a Lambda sandbox keeps it between invocations):
//! a caller whose retries land on other sandboxes gets a final answer
//! later, but still gets one.

use crate::producer::ProducerOutcome;
use std::collections::HashMap;
use std::sync::Mutex;

/// `failed` answers one order may get for the same cause; the next is final.
pub const MAX_FAILED_ANSWERS: u32 = 3;
/// Orders remembered at once; past it the oldest counts are forgotten
/// (all at once: a crude bound that only ever delays a final answer).
const REMEMBERED: usize = 100_000;

#[derive(Default)]
pub struct FailedAnswers {
    counts: Mutex<HashMap<(String, String), u32>>,
}

/// The cause of a failure: its reason, numbers aside (the time left, an
/// attempt count), so the same cause is counted as one.
fn cause(reason: &str) -> String {
    reason.chars().filter(|c| !c.is_ascii_digit()).collect()
}

impl FailedAnswers {
    /// The answer for `order_id`: `outcome` itself, or, for the
    /// `MAX_FAILED_ANSWERS + 1`-th `failed` for the same cause, `rejected`.
    /// Any other answer forgets the order's counts.
    pub fn settle(&self, order_id: &str, outcome: ProducerOutcome) -> ProducerOutcome {
        let mut counts = self.counts.lock().expect("failed-answers lock");
        let ProducerOutcome::Failed { reason } = outcome else {
            counts.retain(|(id, _), _| id != order_id);
            return outcome;
        };
        if counts.len() >= REMEMBERED {
            counts.clear();
        }
        let n = counts
            .entry((order_id.to_string(), cause(&reason)))
            .or_insert(0);
        *n += 1;
        if *n > MAX_FAILED_ANSWERS {
            return ProducerOutcome::Rejected {
                reason: format!(
                    "{reason}; answered `failed` {MAX_FAILED_ANSWERS} times already for this cause, \
                     so this answer is final"
                ),
            };
        }
        ProducerOutcome::Failed { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(reason: &str) -> ProducerOutcome {
        ProducerOutcome::Failed {
            reason: reason.into(),
        }
    }

    #[test]
    fn the_fourth_failed_answer_for_one_cause_is_final() {
        let answers = FailedAnswers::default();
        for left in [900, 450, 12] {
            let reason = format!("stopped when the invocation's remaining {left} ms ran out");
            assert_eq!(answers.settle("ord-1", failed(&reason)), failed(&reason));
        }
        // Another order, and another cause of the same order, count apart.
        assert_eq!(answers.settle("ord-2", failed("x")), failed("x"));
        assert_eq!(
            answers.settle("ord-1", failed("throttled")),
            failed("throttled")
        );
        let ProducerOutcome::Rejected { reason } = answers.settle(
            "ord-1",
            failed("stopped when the invocation's remaining 3 ms ran out"),
        ) else {
            panic!("the fourth is final")
        };
        assert!(reason.ends_with("so this answer is final"), "{reason}");
        // A final answer of another kind forgets the order.
        assert_eq!(
            answers.settle("ord-1", ProducerOutcome::NotHighValue),
            ProducerOutcome::NotHighValue
        );
        assert_eq!(
            answers.settle("ord-1", failed("throttled")),
            failed("throttled")
        );
    }
}
