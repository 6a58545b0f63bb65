//! Where replayed orders come from, and what one line of them holds.
//!
//! An input is a file or stdin, plain or gzip-compressed (told by its
//! first bytes, not its name, so a compressed stdin works too), read as
//! JSON Lines. A line is a wire order or a decision-log record
//! ([`DecisionRecord`]); a record's own decision is kept, to check the
//! baseline against it.

use crate::ReplayError;
use flate2::bufread::MultiGzDecoder;
use orderflow_host::Order;
use orderflow_pipeline::decision_log::DecisionRecord;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

/// One source of orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// `-` is stdin; anything else a file.
    pub fn from_arg(arg: &str) -> Input {
        match arg {
            "-" => Input::Stdin,
            path => Input::File(path.into()),
        }
    }

    /// The name reports give the input.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "stdin".into(),
            Input::File(p) => p.display().to_string(),
        }
    }

    /// Opens the input for reading lines, decompressing gzip.
    pub(crate) fn open(&self) -> Result<Box<dyn BufRead + Send>, ReplayError> {
        let failed = |source| ReplayError::Open {
            input: self.name(),
            source,
        };
        let raw: Box<dyn Read + Send> = match self {
            Input::Stdin => Box::new(std::io::stdin()),
            Input::File(path) => Box::new(std::fs::File::open(path).map_err(failed)?),
        };
        let mut reader = BufReader::with_capacity(1 << 16, raw);
        let gzip = reader
            .fill_buf()
            .map_err(failed)?
            .starts_with(&[0x1f, 0x8b]);
        Ok(if gzip {
            Box::new(BufReader::with_capacity(
                1 << 16,
                MultiGzDecoder::new(reader),
            ))
        } else {
            Box::new(reader)
        })
    }
}

/// What a line held: a validated order, and the recorded decision when it
/// was a decision-log record.
pub(crate) struct Entry {
    pub order: Order,
    pub recorded_high_value: Option<bool>,
}

/// Parses one line: a decision record or a wire order, validated as the
/// producer validates orders. The error says why, naming the field.
pub(crate) fn parse_line(line: &str) -> Result<Entry, String> {
    if DecisionRecord::is_record(line) {
        let record: DecisionRecord =
            serde_json::from_str(line).map_err(|e| format!("invalid decision record: {e}"))?;
        let order = Order::from_json(record.order.get()).map_err(|e| format!("order: {e}"))?;
        Ok(Entry {
            order,
            recorded_high_value: Some(record.high_value),
        })
    } else {
        let order = Order::from_json(line).map_err(|e| e.to_string())?;
        Ok(Entry {
            order,
            recorded_high_value: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const ORDER: &str = include_str!("../../samples/order.json");

    #[test]
    fn an_order_and_a_record_both_parse() {
        let order = parse_line(ORDER.trim()).unwrap();
        assert_eq!(order.order.order_id, "ord-1001");
        assert_eq!(order.recorded_high_value, None);
        let record = format!(
            r#"{{"order": {}, "revision": "sha256:x", "high_value": true}}"#,
            ORDER.trim()
        );
        let entry = parse_line(&record).unwrap();
        assert_eq!(entry.order.order_id, "ord-1001");
        assert_eq!(entry.recorded_high_value, Some(true));
    }

    #[test]
    fn bad_lines_say_why() {
        let e = parse_line(r#"{"order": {"order_id": "x"}, "revision": "r", "high_value": true}"#)
            .err()
            .unwrap();
        assert!(e.starts_with("order: "), "{e}");
        let e = parse_line("{not json").err().unwrap();
        assert!(e.contains("invalid order JSON"), "{e}");
    }

    #[test]
    fn gzip_is_told_by_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.log");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"line one\nline two\n").unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let lines: Vec<String> = Input::File(path)
            .open()
            .unwrap()
            .lines()
            .map(Result::unwrap)
            .collect();
        assert_eq!(lines, ["line one", "line two"]);
    }
}
