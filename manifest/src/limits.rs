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
    /// every order a fresh instance. A call that traps or breaks a limit
    /// inside the plugin (fuel, deadline, memory) also discards it; an
    /// answer the host refuses afterwards (an error, too large, invalid)
    /// does not, as the instance itself is sound.
    pub max_calls_per_instance: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000,
            timeout_ms: 100,
            memory_bytes: 16 << 20,
            max_output_bytes: 64 << 10,
            max_calls_per_instance: 1,
        }
    }
}

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
        ];
        for (name, value) in positive {
            if value == Some(0) {
                return Err(format!("{name} must be positive"));
            }
        }
        let capped = [
            ("memory_bytes", self.memory_bytes, MAX_MEMORY_BYTES),
            ("timeout_ms", self.timeout_ms, MAX_TIMEOUT_MS),
            ("max_output_bytes", self.max_output_bytes, MAX_OUTPUT_BYTES),
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
    }
}
