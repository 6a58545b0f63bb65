//! Realistic orders from a fixed seed: the workload the benchmarks and the
//! replay figures are measured on, and what `orderflow gen` writes.
//!
//! The mix is meant to look like a shop's day, not a best case: 1 to 8
//! lines, five currencies with their own minor units (JPY has none), about
//! a fifth of the orders high-value under the example rule set
//! (`plugins/manifest.json`: per-currency thresholds, three VIP customers, a
//! bulk line of 10 or more), and attributes with e-mail addresses and phone
//! numbers, so redaction has work to do.
//!
//! The random numbers come from SplitMix64, written out here rather than
//! taken from a crate, because a benchmark's input must stay the same
//! across dependency upgrades: `--seed 7` is the same orders forever.

use std::io::{self, Write};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and fully specified.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A currency, how often it occurs (percent), and what one euro cent is in
/// its minor unit, in hundredths (so JPY, with no minor unit, is 160/100).
const CURRENCIES: &[(&str, u64, u64)] = &[
    ("EUR", 40, 100),
    ("USD", 30, 108),
    ("GBP", 15, 85),
    ("CHF", 10, 95),
    ("JPY", 5, 160),
];

/// SKUs with their prices in euro cents: mostly cheap, a few expensive.
const CATALOG: &[(&str, u64)] = &[
    ("CBL-USBC", 1_490),
    ("MOUSE-WL", 3_990),
    ("KBD-MECH", 12_900),
    ("HDST-BT", 17_900),
    ("DOCK-TB4", 24_900),
    ("MON-27-4K", 48_900),
    ("CHAIR-ERG", 64_900),
    ("DESK-OAK", 89_900),
    ("LAPTOP-14", 149_900),
    ("SRV-1U", 549_900),
];
/// Cheap enough to be bought by the dozen.
const BULK_SKUS: &[&str] = &["CBL-USBC", "MOUSE-WL"];
/// The example manifest's VIP customers.
const VIPS: &[&str] = &["cust-7", "cust-13", "cust-88"];
const COUNTRIES: &[&str] = &["DE", "FR", "NL", "GB", "US", "CH", "JP", "ES", "IT"];
const CHANNELS: &[&str] = &["web", "store", "app", "phone"];
const NAMES: &[&str] = &[
    "ana", "ben", "chloe", "dev", "emil", "fatima", "goran", "hana",
];

/// 2026-11-01T00:00:00Z; orders fall within the 30 days after it.
const EPOCH: i64 = 1_793_491_200;

/// One order as wire JSON (the shape `orderflow run` and the producer read).
pub fn order(rng: &mut Rng, index: u64) -> serde_json::Value {
    let currency = {
        let mut roll = rng.below(100);
        let mut chosen = CURRENCIES[0];
        for c in CURRENCIES {
            if roll < c.1 {
                chosen = *c;
                break;
            }
            roll -= c.1;
        }
        chosen
    };
    let (code, _, rate) = currency;
    let price = |euro_cents: u64| -> u64 {
        let minor = euro_cents * rate / 100;
        if code == "JPY" {
            minor / 100 * 100
        } else {
            minor
        }
    };

    let line_count = 1 + match rng.below(100) {
        0..=44 => 0,
        45..=69 => 1,
        70..=84 => 2,
        _ => 3 + rng.below(5),
    };
    let mut lines = Vec::with_capacity(line_count as usize);
    let mut total: u64 = 0;
    let bulk = rng.chance(4);
    for i in 0..line_count {
        let (sku, euro_cents) = if bulk && i == 0 {
            let sku = *rng.pick(BULK_SKUS);
            let cents = CATALOG
                .iter()
                .find(|(s, _)| *s == sku)
                .expect("in the catalog")
                .1;
            (sku, cents)
        } else {
            // Skewed to the cheap end: the least of three rolls.
            let n = CATALOG.len() as u64;
            let roll = rng.below(n).min(rng.below(n)).min(rng.below(n));
            CATALOG[roll as usize]
        };
        let quantity = if bulk && i == 0 {
            10 + rng.below(41)
        } else {
            1 + rng.below(3) * u64::from(rng.chance(30))
        };
        let unit = price(euro_cents);
        total += unit * quantity;
        lines.push(serde_json::json!({"sku": sku, "quantity": quantity, "unit_price_minor": unit}));
    }

    let customer = if rng.chance(3) {
        rng.pick(VIPS).to_string()
    } else {
        format!("cust-{}", 100 + rng.below(900))
    };
    let mut attributes = serde_json::Map::new();
    attributes.insert("channel".into(), (*rng.pick(CHANNELS)).into());
    attributes.insert("country".into(), (*rng.pick(COUNTRIES)).into());
    if rng.chance(60) {
        let email = format!("{}.{}@example.com", rng.pick(NAMES), rng.below(1000));
        attributes.insert("email".into(), email.into());
    }
    if rng.chance(50) {
        let phone = format!(
            "+{} {:03} {:07}",
            30 + rng.below(20),
            rng.below(1000),
            rng.below(10_000_000)
        );
        attributes.insert("phone".into(), phone.into());
    }
    let created = time::OffsetDateTime::from_unix_timestamp(EPOCH + rng.below(30 * 86_400) as i64)
        .expect("in range")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats");
    serde_json::json!({
        "order_id": format!("gen-{index:08}"),
        "customer_id": customer,
        "created_at": created,
        "currency": code,
        "total_minor": total,
        "lines": lines,
        "attributes": attributes,
    })
}

/// Writes `count` orders from `seed` as JSON Lines.
pub fn write_orders(out: &mut impl Write, count: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    for i in 0..count {
        serde_json::to_writer(&mut *out, &order(&mut rng, i))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(count: u64, seed: u64) -> String {
        let mut out = Vec::new();
        write_orders(&mut out, count, seed).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_orders_and_another_seed_others() {
        assert_eq!(generate(200, 7), generate(200, 7));
        assert_ne!(generate(200, 7), generate(200, 8));
    }

    #[test]
    fn splitmix64_matches_its_reference_output() {
        // SplitMix64 from state 0: its well-known first output, then the next two.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 7960286522194355700);
        assert_eq!(rng.next_u64(), 487617019471545679);
    }

    #[test]
    fn every_generated_order_is_valid_and_the_mix_is_as_documented() {
        let text = generate(5_000, 42);
        let orders: Vec<_> = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                orderflow_host::Order::from_json(line)
                    .unwrap_or_else(|e| panic!("line {}: {e}: {line}", i + 1))
            })
            .collect();
        assert_eq!(orders.len(), 5_000);
        let share = |f: &dyn Fn(&orderflow_host::Order) -> bool| {
            orders.iter().filter(|o| f(o)).count() * 100 / orders.len()
        };
        assert!((1..=8).contains(&orders.iter().map(|o| o.lines.len()).max().unwrap()));
        assert!(orders.iter().all(|o| (1..=8).contains(&o.lines.len())));
        let currencies: std::collections::BTreeSet<_> =
            orders.iter().map(|o| o.currency.as_str()).collect();
        assert_eq!(currencies.len(), 5, "{currencies:?}");
        let bulk = share(&|o| o.max_line_quantity() >= 10);
        assert!((2..=7).contains(&bulk), "bulk {bulk}%");
        let vip = share(&|o| VIPS.contains(&o.customer_id.as_str()));
        assert!((1..=6).contains(&vip), "vip {vip}%");
        let email = share(&|o| o.attributes.contains_key("email"));
        assert!((50..=70).contains(&email), "email {email}%");
        let phone = share(&|o| o.attributes.contains_key("phone"));
        assert!((40..=60).contains(&phone), "phone {phone}%");
    }
}
