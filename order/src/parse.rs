//! Reading orders from an input document: JSON Lines or a JSON array,
//! every entry reported with its line.

use crate::{Order, OrderError};
use serde::Deserialize;

/// One entry of an input document: where it was, and what came of parsing it.
#[derive(Debug)]
pub struct Parsed {
    /// 1-based line of the input where the order starts.
    pub line: usize,
    /// The order's id, also for an order that failed validation when its
    /// JSON had one: a rejected order is easier to find by its id.
    pub order_id: Option<String>,
    pub order: Result<Order, OrderError>,
}

impl Parsed {
    pub fn new(line: usize, json: &str) -> Parsed {
        #[derive(Deserialize)]
        struct Id {
            order_id: String,
        }
        let order = Order::from_json(json);
        let order_id = match &order {
            Ok(o) => Some(o.order_id.clone()),
            Err(_) => serde_json::from_str::<Id>(json).ok().map(|i| i.order_id),
        };
        Parsed {
            line,
            order_id,
            order,
        }
    }

    /// As [`new`](Self::new), from an already parsed JSON value.
    pub fn from_value(line: usize, value: &serde_json::Value) -> Parsed {
        let order = Order::from_value(value);
        let order_id = match &order {
            Ok(o) => Some(o.order_id.clone()),
            Err(_) => value["order_id"].as_str().map(String::from),
        };
        Parsed {
            line,
            order_id,
            order,
        }
    }
}

/// Reads orders from JSON Lines or from one JSON array. Every entry is
/// reported with its line, good or bad, so one bad order never hides the
/// others.
pub fn parse_orders(input: &str) -> Vec<Parsed> {
    let first = input.trim_start();
    if first.starts_with('[') {
        let base = input.len() - first.len();
        let line_of = |offset: usize| input[..offset].bytes().filter(|&b| b == b'\n').count() + 1;
        match serde_json::from_str::<Vec<&serde_json::value::RawValue>>(first) {
            Ok(items) => items
                .into_iter()
                .map(|raw| {
                    let offset = raw.get().as_ptr() as usize - first.as_ptr() as usize + base;
                    Parsed::new(line_of(offset), raw.get())
                })
                .collect(),
            Err(e) => vec![Parsed {
                line: e.line() + line_of(base) - 1,
                order_id: None,
                order: Err(OrderError::Json(e.to_string())),
            }],
        }
    } else {
        input
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| Parsed::new(i + 1, l))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{SAMPLE, with};

    #[test]
    fn json_lines_report_each_line() {
        let input = format!(
            "{SAMPLE}\n\n{{\"order_id\": 1}}\n{}\n",
            with("order_id", "\"ord-2\"")
        );
        let parsed = parse_orders(&input);
        assert_eq!(
            parsed.iter().map(|p| p.line).collect::<Vec<_>>(),
            vec![1, 3, 4]
        );
        assert!(parsed[0].order.is_ok() && parsed[1].order.is_err() && parsed[2].order.is_ok());
    }

    #[test]
    fn json_arrays_report_the_line_each_order_starts_on() {
        let input = format!(
            "[\n  {SAMPLE},\n  {{\"order_id\": \"x\"}},\n  {}\n]",
            with("order_id", "\"ord-3\"")
        );
        let parsed = parse_orders(&input);
        assert_eq!(
            parsed.iter().map(|p| p.line).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert!(
            parsed[1]
                .order
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("missing field")
        );
        let broken = parse_orders("\n[1, 2");
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].line, 2);
    }
}
