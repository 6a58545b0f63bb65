//! Sandbox limits for one plugin call: every limit has a default sane for a
//! business rule and a per-plugin override in the manifest.

use serde::{Deserialize, Serialize};

/// The limits in force for one plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wasm fuel per call: a deterministic CPU budget (about one unit per
    /// instruction). The threshold rule uses about 2,000.
    pub fuel: u64,
    /// Wall-clock deadline per call, enforced by epoch interruption; the
    /// backstop for time spent outside fuel accounting (host calls).
    pub timeout_ms: u64,
    /// Linear memory cap per instance.
    pub memory_bytes: u64,
    /// Cap on the size of what one call returns (reason, attributes,
    /// fields): the bytes of its strings plus [`ELEMENT_BYTES`] for each
    /// attribute, field, list item and map entry, so a million empty strings
    /// count too.
    pub max_output_bytes: u64,
    /// How many calls one instance serves before it is thrown away; 1 gives
    /// every order a fresh instance. A rule's call of a batch of orders
    /// counts one per order (see [`MAX_BATCH`]). A call that traps or breaks a limit
    /// inside the plugin (fuel, deadline, memory) also discards it; an
    /// answer the host refuses afterwards (an error, too large, invalid)
    /// does not, as the instance itself is sound.
    pub max_calls_per_instance: u32,
    /// The most functions (over every core module of the component) the
    /// host compiles for this plugin: checked before compiling, since a
    /// compile cannot be interrupted (see the host's `precheck`).
    pub max_functions: u64,
    /// The most bytes of function bodies the host compiles for this plugin.
    pub max_code_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000,
            timeout_ms: 100,
            memory_bytes: 16 << 20,
            max_output_bytes: 64 << 10,
            max_calls_per_instance: 1,
            max_functions: DEFAULT_MAX_FUNCTIONS,
            max_code_bytes: DEFAULT_MAX_CODE_BYTES,
        }
    }
}

/// The code a plugin may have unless its manifest entry says otherwise: far
/// above any plugin written against the SDK (the examples are about
/// 100 KiB), and a compile of about a second on a 2-core machine.
pub const DEFAULT_MAX_FUNCTIONS: u64 = 10_000;
/// See [`DEFAULT_MAX_FUNCTIONS`]; one huge function costs as much to
/// compile as many small ones.
pub const DEFAULT_MAX_CODE_BYTES: u64 = 4 << 20;
/// The most code a manifest may allow one plugin: room for an embedded
/// interpreter (a CPython component from componentize-py has about 13,400
/// functions and 6.3 MiB of code, so several times that), while still
/// bounding the one step of loading no fuel or deadline covers.
pub const MAX_FUNCTIONS: u64 = 100_000;
/// See [`MAX_FUNCTIONS`].
pub const MAX_CODE_BYTES: u64 = 32 << 20;

/// What each element of a result counts towards `max_output_bytes` besides
/// its strings' bytes.
pub const ELEMENT_BYTES: u64 = 8;

/// The largest memory cap a manifest may ask for; the pooling allocator
/// reserves slots of this size. What a call returns is lifted into host
/// memory before it can be checked, at up to ~3x the guest's bytes (a list
/// of empty strings), so this also bounds what one plugin can make the host
/// allocate: under 200 MiB on a 1024 MB Lambda.
pub const MAX_MEMORY_BYTES: u64 = 64 << 20;
/// The longest deadline a manifest may ask for: a Lambda evaluating a batch
/// cannot wait longer for one plugin call anyway.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Fuel one millisecond of a plugin's code burns at normal speed: about
/// 12 million was measured for a tight loop on the 2-core build machine
/// under load (`hostile-rule` `burn:N`, fuel over wall time), so 10 million
/// is what any machine the functions run on does at least when not
/// overloaded.
pub const FUEL_PER_MS: u64 = 10_000_000;
/// The most fuel a manifest may give one call: what [`MAX_TIMEOUT_MS`]
/// burns at normal speed. More could never be spent before the longest
/// deadline, and only hides a plugin that loops.
pub const MAX_FUEL: u64 = FUEL_PER_MS * MAX_TIMEOUT_MS;
/// The most calls one instance may serve. Reuse carries an instance's
/// memory from one order to the next, so one customer's data may reach
/// the next order's rule; the cap bounds how far, and how long a plugin
/// that leaks keeps its memory.
pub const MAX_CALLS_PER_INSTANCE: u32 = 1_000;
/// The most orders a reused instance is lent in one `evaluate` call, and
/// so what each order counts towards [`MAX_CALLS_PER_INSTANCE`]: one call
/// of a chain's rule per batch amortises the cost of crossing into the
/// plugin. A batch runs on the per-order fuel and deadline times its size,
/// so an order that loops holds up its batch for up to this many deadlines
/// before the host, trying the orders one at a time, names it.
pub const MAX_BATCH: u32 = 16;

/// The largest result a manifest may allow. A rule's answer travels in an
/// SNS message (256 KiB with the order), a transform's in a DynamoDB item
/// (400 KB); an answer past those is refused by the producer or the
/// consumer with its size.
pub const MAX_OUTPUT_BYTES: u64 = 256 << 10;

/// Per-plugin overrides, as written in the manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls_per_instance: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_functions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_code_bytes: Option<u64>,
}

impl LimitOverrides {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("fuel", self.fuel),
            ("timeout_ms", self.timeout_ms),
            ("memory_bytes", self.memory_bytes),
            ("max_output_bytes", self.max_output_bytes),
            (
                "max_calls_per_instance",
                self.max_calls_per_instance.map(u64::from),
            ),
            ("max_functions", self.max_functions),
            ("max_code_bytes", self.max_code_bytes),
        ];
        for (name, value) in positive {
            if value == Some(0) {
                return Err(format!("{name} must be positive"));
            }
        }
        let capped = [
            ("fuel", self.fuel, MAX_FUEL),
            (
                "max_calls_per_instance",
                self.max_calls_per_instance.map(u64::from),
                u64::from(MAX_CALLS_PER_INSTANCE),
            ),
            ("memory_bytes", self.memory_bytes, MAX_MEMORY_BYTES),
            ("timeout_ms", self.timeout_ms, MAX_TIMEOUT_MS),
            ("max_output_bytes", self.max_output_bytes, MAX_OUTPUT_BYTES),
            ("max_functions", self.max_functions, MAX_FUNCTIONS),
            ("max_code_bytes", self.max_code_bytes, MAX_CODE_BYTES),
        ];
        for (name, value, max) in capped {
            if let Some(v) = value
                && v > max
            {
                return Err(format!("{name} {v} is above the host's maximum {max}"));
            }
        }
        Ok(())
    }

    pub fn apply(&self, base: Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            memory_bytes: self.memory_bytes.unwrap_or(base.memory_bytes),
            max_output_bytes: self.max_output_bytes.unwrap_or(base.max_output_bytes),
            max_calls_per_instance: self
                .max_calls_per_instance
                .unwrap_or(base.max_calls_per_instance),
            max_functions: self.max_functions.unwrap_or(base.max_functions),
            max_code_bytes: self.max_code_bytes.unwrap_or(base.max_code_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_positive_and_capped() {
        let ok = LimitOverrides {
            memory_bytes: Some(MAX_MEMORY_BYTES),
            timeout_ms: Some(MAX_TIMEOUT_MS),
            max_output_bytes: Some(MAX_OUTPUT_BYTES),
            max_functions: Some(MAX_FUNCTIONS),
            max_code_bytes: Some(MAX_CODE_BYTES),
            ..Default::default()
        };
        assert_eq!(ok.check(), Ok(()));
        let over = |o: LimitOverrides| o.check().unwrap_err();
        assert_eq!(
            over(LimitOverrides {
                timeout_ms: Some(u64::MAX),
                ..Default::default()
            }),
            format!("timeout_ms {} is above the host's maximum 60000", u64::MAX)
        );
        assert!(
            over(LimitOverrides {
                memory_bytes: Some(MAX_MEMORY_BYTES + 1),
                ..Default::default()
            })
            .starts_with("memory_bytes 67108865 is above")
        );
        assert!(
            over(LimitOverrides {
                max_output_bytes: Some(MAX_OUTPUT_BYTES + 1),
                ..Default::default()
            })
            .starts_with("max_output_bytes")
        );
        assert_eq!(
            over(LimitOverrides {
                fuel: Some(0),
                ..Default::default()
            }),
            "fuel must be positive"
        );
        assert_eq!(
            over(LimitOverrides {
                max_functions: Some(MAX_FUNCTIONS + 1),
                ..Default::default()
            }),
            "max_functions 100001 is above the host's maximum 100000"
        );
        assert!(
            over(LimitOverrides {
                max_code_bytes: Some(MAX_CODE_BYTES + 1),
                ..Default::default()
            })
            .starts_with("max_code_bytes 33554433 is above")
        );
    }

    #[test]
    fn fuel_and_instance_reuse_are_capped() {
        let ok = LimitOverrides {
            fuel: Some(MAX_FUEL),
            max_calls_per_instance: Some(MAX_CALLS_PER_INSTANCE),
            ..Default::default()
        };
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(MAX_FUEL, 600_000_000_000);
        assert_eq!(
            LimitOverrides {
                fuel: Some(u64::MAX / 2),
                ..Default::default()
            }
            .check()
            .unwrap_err(),
            format!(
                "fuel {} is above the host's maximum 600000000000",
                u64::MAX / 2
            )
        );
        assert_eq!(
            LimitOverrides {
                max_calls_per_instance: Some(u32::MAX),
                ..Default::default()
            }
            .check()
            .unwrap_err(),
            "max_calls_per_instance 4294967295 is above the host's maximum 1000"
        );
    }

    #[test]
    fn code_caps_default_to_a_plugin_written_against_the_sdk() {
        let defaults = Limits::default();
        assert_eq!(defaults.max_functions, 10_000);
        assert_eq!(defaults.max_code_bytes, 4 << 20);
        let interpreter = LimitOverrides {
            max_functions: Some(20_000),
            max_code_bytes: Some(8 << 20),
            ..Default::default()
        }
        .apply(defaults);
        assert_eq!(
            (interpreter.max_functions, interpreter.max_code_bytes),
            (20_000, 8 << 20)
        );
        assert_eq!(interpreter.fuel, defaults.fuel);
    }
}
