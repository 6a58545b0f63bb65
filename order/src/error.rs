//! Why an order was refused. The message names the field and what it
//! expects, never the value given: a caller who typed an e-mail address
//! into `currency` gets told which field is wrong, and the address does not
//! reach the producer's log.

use crate::redact::{is_plain_name, serde_message};

/// Why an order was refused, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("invalid order JSON: {0}")]
    Json(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> OrderError {
    OrderError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl OrderError {
    /// A deserialisation error, with its path, made fit to repeat: the
    /// path's keys only when they are plain names, serde's message without
    /// the value it quotes.
    pub fn from_path_error(e: serde_path_to_error::Error<serde_json::Error>) -> OrderError {
        let path = safe_path(e.path());
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            // serde_json's syntax errors say what was expected where, and
            // never quote the input.
            OrderError::Json(inner.to_string())
        } else if path == "." {
            invalid("order", serde_message(&inner.to_string()))
        } else {
            invalid(path, serde_message(&inner.to_string()))
        }
    }
}

/// The path as `serde_path_to_error` spells it, with a key that is not a
/// plain name (it may be anything a caller typed) shown as `<key>`.
fn safe_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if is_plain_name(key) { key } else { "<key>" });
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    if out.is_empty() { ".".into() } else { out }
}
