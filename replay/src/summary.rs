//! The replay's findings, counted as orders are compared and merged across
//! workers. Every part is bounded (counters keyed by rule, attribute,
//! currency or band; the first few examples), and every part merges the
//! same way whatever order the workers finished in: examples and listed
//! invalid lines are the first N by input position.

use crate::compare::{AttributeChange, Difference, Flip};
use orderflow_host::{Decision, Order};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a line came from: the input's index and its 1-based line number.
pub type Position = (usize, u64);

/// How many invalid lines are listed one by one (all are counted).
pub const LISTED_INVALID: usize = 100;

/// The order-total bands: decades of the order's **major** currency unit
/// (`total_minor` over 10^exponent of its ISO-4217 currency), so a band
/// holds orders of one order of magnitude in their own currency. Bands are
/// not exchange-rate normalised: 100k JPY and 100k EUR share a band.
pub const BANDS: [&str; 8] = [
    "< 1",
    "1 – 10",
    "10 – 100",
    "100 – 1k",
    "1k – 10k",
    "10k – 100k",
    "100k – 1M",
    "≥ 1M",
];

/// The band of an order's total (see [`BANDS`]).
pub fn band(currency: &str, total_minor: u64) -> usize {
    let exponent = iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .unwrap_or(2);
    let major = total_minor / 10u64.pow(exponent.into());
    match major {
        0 => 0,
        m => (1 + m.ilog10() as usize).min(BANDS.len() - 1),
    }
}

/// Orders and flips in one slice of the history (a currency, a band).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Flips {
    pub orders: u64,
    pub to_high_value: u64,
    pub to_not_high_value: u64,
}

impl Flips {
    fn add(&mut self, flip: Option<Flip>) {
        self.orders += 1;
        match flip {
            Some(Flip::ToHighValue) => self.to_high_value += 1,
            Some(Flip::ToNotHighValue) => self.to_not_high_value += 1,
            None => {}
        }
    }

    fn merge(&mut self, other: &Flips) {
        self.orders += other.orders;
        self.to_high_value += other.to_high_value;
        self.to_not_high_value += other.to_not_high_value;
    }

    pub fn flipped(&self) -> u64 {
        self.to_high_value + self.to_not_high_value
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BandFlips {
    pub band: &'static str,
    #[serde(flatten)]
    pub flips: Flips,
}

/// How often one attribute of the decision changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AttributeCounts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

/// How often one rule's verdict changed, and from what to what
/// (`"not_high_value -> high_value"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuleCounts {
    pub changed: u64,
    pub transitions: BTreeMap<String, u64>,
}

/// One side's decision of an example order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side {
    pub high_value: bool,
    pub attributes: BTreeMap<String, String>,
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

impl From<&Decision> for Side {
    fn from(d: &Decision) -> Side {
        Side {
            high_value: d.high_value,
            attributes: d.attributes.clone(),
            reasons: d.reasons.clone(),
            rejected: d.rejected.as_ref().map(|r| r.error.clone()),
        }
    }
}

/// An order the two sets decided differently, with both decisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Example {
    #[serde(skip)]
    pub position: Position,
    pub source: String,
    pub line: u64,
    pub order_id: String,
    pub currency: String,
    pub total_minor: u64,
    pub baseline: Side,
    pub candidate: Side,
    #[serde(flatten)]
    pub difference: Difference,
}

/// The first examples of each kind of difference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Examples {
    pub to_high_value: Vec<Example>,
    pub to_not_high_value: Vec<Example>,
    /// Same high-value decision, but a rule's verdict or an attribute differs.
    pub changed_without_flip: Vec<Example>,
}

/// A line that held neither an order nor a decision record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvalidLine {
    #[serde(skip)]
    pub position: Position,
    pub source: String,
    pub line: u64,
    pub error: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub count: u64,
    pub by_source: BTreeMap<String, u64>,
    /// The first [`LISTED_INVALID`] by input position.
    pub lines: Vec<InvalidLine>,
}

/// What a replay found. [`flip_rate`](Summary::flip_rate) is what a
/// rollout gate compares with its limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The revisions of the two rule sets.
    pub baseline: String,
    pub candidate: String,
    /// Orders both sets decided.
    pub orders: u64,
    pub to_high_value: u64,
    pub to_not_high_value: u64,
    /// `(to_high_value + to_not_high_value) / orders`, 0 without orders.
    pub flip_rate: f64,
    /// Orders with the same high-value decision but a different rule
    /// verdict or attribute.
    pub changed_without_flip: u64,
    pub attributes: BTreeMap<String, AttributeCounts>,
    pub rules: BTreeMap<String, RuleCounts>,
    pub by_currency: BTreeMap<String, Flips>,
    pub by_band: Vec<BandFlips>,
    pub examples: Examples,
    pub invalid: Invalid,
    /// Decision-log records read, and how many of them record a
    /// high-value decision the baseline does not reproduce (the baseline
    /// is not the rule set that decided them).
    pub log_records: u64,
    pub log_disagrees_with_baseline: u64,
    /// Orders left out because a rule hit a transient limit (its deadline,
    /// on a loaded machine) on every try: not a difference of the sets.
    pub unsettled: u64,
    #[serde(skip)]
    pub(crate) examples_per_kind: usize,
}

/// Keeps `list` the first `n` items by position.
fn keep_first<T>(list: &mut Vec<T>, item: T, n: usize, position: impl Fn(&T) -> Position) {
    let at = list.partition_point(|x| position(x) < position(&item));
    if at < n {
        list.insert(at, item);
        list.truncate(n);
    }
}

fn would_keep<T>(list: &[T], n: usize, pos: Position, position: impl Fn(&T) -> Position) -> bool {
    list.len() < n || list.last().is_some_and(|last| pos < position(last))
}

impl Summary {
    pub(crate) fn new(baseline: &str, candidate: &str, examples_per_kind: usize) -> Summary {
        Summary {
            baseline: baseline.into(),
            candidate: candidate.into(),
            by_band: BANDS
                .iter()
                .map(|&band| BandFlips {
                    band,
                    flips: Flips::default(),
                })
                .collect(),
            examples_per_kind,
            ..Default::default()
        }
    }

    /// Counts one order both sets decided.
    pub(crate) fn record(
        &mut self,
        position: Position,
        source: &str,
        order: &Order,
        baseline: &Decision,
        candidate: &Decision,
    ) {
        let d = Difference::between(baseline, candidate);
        let currency = order.currency.to_ascii_uppercase();
        self.orders += 1;
        self.by_currency
            .entry(currency.clone())
            .or_default()
            .add(d.flip);
        self.by_band[band(&currency, order.total_minor)]
            .flips
            .add(d.flip);
        if d.is_empty() {
            return;
        }
        match d.flip {
            Some(Flip::ToHighValue) => self.to_high_value += 1,
            Some(Flip::ToNotHighValue) => self.to_not_high_value += 1,
            None => self.changed_without_flip += 1,
        }
        for (name, change) in &d.attributes {
            let c = self.attributes.entry(name.clone()).or_default();
            match change {
                AttributeChange::Added => c.added += 1,
                AttributeChange::Removed => c.removed += 1,
                AttributeChange::Changed => c.changed += 1,
            }
        }
        for r in &d.rules {
            let c = self.rules.entry(r.rule.clone()).or_default();
            c.changed += 1;
            let transition = format!("{} -> {}", r.baseline.as_str(), r.candidate.as_str());
            *c.transitions.entry(transition).or_default() += 1;
        }
        let n = self.examples_per_kind;
        let list = match d.flip {
            Some(Flip::ToHighValue) => &mut self.examples.to_high_value,
            Some(Flip::ToNotHighValue) => &mut self.examples.to_not_high_value,
            None => &mut self.examples.changed_without_flip,
        };
        if would_keep(list, n, position, |e| e.position) {
            let example = Example {
                position,
                source: source.into(),
                line: position.1,
                order_id: order.order_id.clone(),
                currency,
                total_minor: order.total_minor,
                baseline: baseline.into(),
                candidate: candidate.into(),
                difference: d,
            };
            keep_first(list, example, n, |e| e.position);
        }
    }

    pub(crate) fn record_invalid(&mut self, position: Position, source: &str, error: String) {
        self.invalid.count += 1;
        *self.invalid.by_source.entry(source.into()).or_default() += 1;
        if would_keep(&self.invalid.lines, LISTED_INVALID, position, |l| {
            l.position
        }) {
            let line = InvalidLine {
                position,
                source: source.into(),
                line: position.1,
                error,
            };
            keep_first(&mut self.invalid.lines, line, LISTED_INVALID, |l| {
                l.position
            });
        }
    }

    /// Adds what another worker counted.
    pub(crate) fn merge(&mut self, other: Summary) {
        self.orders += other.orders;
        self.to_high_value += other.to_high_value;
        self.to_not_high_value += other.to_not_high_value;
        self.changed_without_flip += other.changed_without_flip;
        self.log_records += other.log_records;
        self.log_disagrees_with_baseline += other.log_disagrees_with_baseline;
        self.unsettled += other.unsettled;
        for (k, v) in other.attributes {
            let c = self.attributes.entry(k).or_default();
            c.added += v.added;
            c.removed += v.removed;
            c.changed += v.changed;
        }
        for (k, v) in other.rules {
            let c = self.rules.entry(k).or_default();
            c.changed += v.changed;
            for (t, n) in v.transitions {
                *c.transitions.entry(t).or_default() += n;
            }
        }
        for (k, v) in &other.by_currency {
            self.by_currency.entry(k.clone()).or_default().merge(v);
        }
        for (mine, theirs) in self.by_band.iter_mut().zip(&other.by_band) {
            mine.flips.merge(&theirs.flips);
        }
        let n = self.examples_per_kind;
        let e = other.examples;
        for (mine, theirs) in [
            (&mut self.examples.to_high_value, e.to_high_value),
            (&mut self.examples.to_not_high_value, e.to_not_high_value),
            (
                &mut self.examples.changed_without_flip,
                e.changed_without_flip,
            ),
        ] {
            for x in theirs {
                keep_first(mine, x, n, |e| e.position);
            }
        }
        self.invalid.count += other.invalid.count;
        for (k, v) in other.invalid.by_source {
            *self.invalid.by_source.entry(k).or_default() += v;
        }
        for l in other.invalid.lines {
            keep_first(&mut self.invalid.lines, l, LISTED_INVALID, |l| l.position);
        }
        self.flip_rate = self.compute_flip_rate();
    }

    fn compute_flip_rate(&self) -> f64 {
        match self.orders {
            0 => 0.0,
            n => self.flipped() as f64 / n as f64,
        }
    }

    pub(crate) fn finish(mut self) -> Summary {
        self.flip_rate = self.compute_flip_rate();
        self
    }

    /// Orders whose high-value decision changed, either way.
    pub fn flipped(&self) -> u64 {
        self.to_high_value + self.to_not_high_value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_decades_of_the_major_unit() {
        assert_eq!(BANDS[band("EUR", 99)], "< 1");
        assert_eq!(BANDS[band("EUR", 100)], "1 – 10");
        assert_eq!(BANDS[band("EUR", 99_999)], "100 – 1k");
        assert_eq!(BANDS[band("EUR", 100_000)], "1k – 10k");
        // JPY has no minor unit: 100000 yen is 100k of the major unit.
        assert_eq!(BANDS[band("JPY", 100_000)], "100k – 1M");
        assert_eq!(BANDS[band("EUR", u64::MAX)], "≥ 1M");
    }

    #[test]
    fn the_first_items_by_position_are_kept_in_any_arrival_order() {
        let mut a = Vec::new();
        for p in [5u64, 1, 9, 3, 7, 2] {
            keep_first(&mut a, p, 3, |&p| (0, p));
        }
        assert_eq!(a, [1, 2, 3]);
    }
}
