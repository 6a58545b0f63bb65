//! `orderflow replay` as a library: what a candidate rule set would decide
//! differently from a baseline, over a history of orders.
//!
//! Sound because a rule's answer depends only on the order and the rule
//! set (no clocks, no randomness, a fresh instance per order), so running
//! a history through both sets is the same as having had each live.
//!
//! - [`replay`] streams [`Input`]s (JSON Lines of wire orders or decision-log
//!   records, plain or gzip) through both sets on every core and returns a
//!   [`Summary`]: flips each way, with [`Summary::flip_rate`] for a rollout
//!   gate, changed attributes and rule verdicts, flips by currency and by
//!   total band, examples, invalid lines;
//! - [`text`] and [`html`] render a summary for people (the HTML is one
//!   self-contained file with inline SVG charts); it serialises to JSON.

pub mod compare;
mod engine;
pub mod html;
mod input;
pub mod summary;
pub mod text;

pub use compare::{Difference, Flip, RuleVerdict};
pub use engine::{Options, replay};
pub use input::Input;
pub use summary::Summary;

use orderflow_host::{LoadError, RuleSet, Runtime, read_manifest, wasm_from_dir};
use std::path::Path;

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{input}: cannot open it: {source}")]
    Open {
        input: String,
        source: std::io::Error,
    },
    #[error("{input}:{line}: cannot read it: {source}")]
    Read {
        input: String,
        line: u64,
        source: std::io::Error,
    },
}

/// Loads a manifest file's rule set as `orderflow run` does: its plugins'
/// wasm from the manifest's directory, hashes checked, configurations tried.
pub fn load_rule_set(runtime: &Runtime, manifest: &Path) -> Result<RuleSet, LoadError> {
    let loaded = read_manifest(manifest)?;
    let dir = manifest.parent().unwrap_or(Path::new("."));
    RuleSet::load(runtime, &loaded, &wasm_from_dir(dir))
}
