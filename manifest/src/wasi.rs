//! Which WASI, if any, a plugin is given: a grant in its manifest entry
//! (`"wasi": "deterministic"`), never a default.

use serde::{Deserialize, Serialize};

/// What WASI a plugin's component may import.
///
/// Plugins written against the SDK import only the contract's interfaces;
/// a component built from another language (CPython through
/// componentize-py, say) also imports WASI p2 for its runtime's own needs
/// (stdio, clocks, random seeds). Such a plugin is given a WASI with no
/// capabilities and no nondeterminism, so its answer still depends on the
/// order and its configuration only, and only when its entry asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wasi {
    /// No WASI (the default): a component that imports any is refused at
    /// load time, naming what it imports.
    #[default]
    None,
    /// WASI p2 with nothing behind it: no files or preopens, no sockets, no
    /// environment or arguments, stdin closed; the clocks read a fixed time
    /// and never move (a sleep returns at once); randomness is a stream
    /// seeded from the component's hash; stdout and stderr go to the
    /// plugin's log under its caps.
    Deterministic,
}

impl Wasi {
    pub fn is_none(&self) -> bool {
        *self == Wasi::None
    }
}
