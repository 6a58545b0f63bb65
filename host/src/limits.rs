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
    /// fields), counted in bytes of strings.
    pub max_output_bytes: u64,
    /// How many calls one instance serves before it is thrown away; 1 gives
    /// every order a fresh instance. Any failure also discards the instance.
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

/// The largest memory cap a manifest may ask for; the pooling allocator
/// reserves slots of this size.
pub const MAX_MEMORY_BYTES: u64 = 256 << 20;

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
        if let Some(m) = self.memory_bytes
            && m > MAX_MEMORY_BYTES
        {
            return Err(format!(
                "memory_bytes {m} is above the host's maximum {MAX_MEMORY_BYTES}"
            ));
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
