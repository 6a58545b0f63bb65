//! Errors at the host's boundary: loading a plugin, and one plugin call.

use std::path::PathBuf;

/// How much of a plugin's own message (an error, an invalid name) a report
/// or log line repeats.
pub(crate) const PLUGIN_MESSAGE_MAX: usize = 512;

/// Text that came out of a plugin, made fit for reports and logs: it is
/// untrusted and may carry personal data, so e-mail addresses, phone and
/// card numbers are blanked ([`redact`](crate::order::redact::redact)) and
/// the whole is cut to `max` bytes.
pub(crate) fn plugin_text(message: &str, max: usize) -> String {
    let redacted = crate::order::redact::redact(message);
    if redacted.len() <= max {
        return redacted;
    }
    let mut end = max;
    while !redacted.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &redacted[..end], redacted.len())
}

/// Why a plugin could not be loaded. Every variant names the plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {plugin}: cannot read {path}: {source}")]
    Read {
        plugin: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "plugin {plugin}: sha256 mismatch: the manifest says {expected}, the wasm is {actual}; refusing to load it"
    )]
    HashMismatch {
        plugin: String,
        expected: String,
        actual: String,
    },
    /// Over a cap of [`precheck`](crate::precheck): refused before compiling.
    #[error(
        "plugin {plugin}: the component has {count} {what}, more than the {limit} a plugin may have; refusing to compile it"
    )]
    TooMuchCode {
        plugin: String,
        what: &'static str,
        count: u64,
        limit: u64,
    },
    #[error("plugin {plugin}: not a valid WebAssembly component: {message}")]
    Compile { plugin: String, message: String },
    #[error("plugin {plugin}: does not implement the world {world}: {message}")]
    WrongWorld {
        plugin: String,
        world: &'static str,
        message: String,
    },
    #[error("plugin {plugin}: configuration refused: {message}")]
    Config { plugin: String, message: String },
    #[error("plugin {plugin}: failed while starting: {failure}")]
    Start { plugin: String, failure: Failure },
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
}

impl LoadError {
    /// Whether loading again may succeed: the plugin's first instance hit
    /// its deadline or found the instance pool full. Everything else
    /// follows from the bytes and the manifest.
    pub fn is_transient(&self) -> bool {
        matches!(self, LoadError::Start { failure, .. } if failure.is_transient())
    }
}

/// A failed plugin call, naming the plugin; the host goes on serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin}: {failure}")]
pub struct PluginError {
    pub plugin: String,
    pub failure: Failure,
    /// What the call cost before it failed: a rule that ran out of fuel
    /// spent its whole budget, and the trace says so.
    pub cost: crate::sandbox::Cost,
}

/// What went wrong inside one call. The limits name themselves so an
/// operator knows which override to raise (or which plugin to fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("ran out of fuel (limit {limit})")]
    Fuel { limit: u64 },
    /// The deadline came although the fuel would have stopped the call
    /// first at normal speed: the machine was slow, so worth another try.
    #[error("exceeded its deadline of {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    /// The deadline came, and the fuel outlasts it at normal speed
    /// ([`FUEL_PER_MS`](crate::limits::FUEL_PER_MS)): the same call would
    /// miss it on every try, so it is final.
    #[error(
        "exceeded its deadline of {limit_ms} ms, which its fuel of {fuel} outlasts at normal speed, \
         so every try would: lower fuel to {} or raise timeout_ms",
        limit_ms.saturating_mul(crate::limits::FUEL_PER_MS)
    )]
    DeadlineAtNormalSpeed { limit_ms: u64, fuel: u64 },
    /// The invocation had less time left than the plugin's deadline, and
    /// that ran out: not the plugin's doing, so worth another try.
    #[error("stopped when the invocation's remaining {left_ms} ms ran out")]
    InvocationDeadline { left_ms: u64 },
    #[error("exceeded its memory cap of {limit} bytes")]
    Memory { limit: u64 },
    #[error("returned {size} bytes, over its cap of {limit} (max_output_bytes)")]
    OutputTooLarge { size: u64, limit: u64 },
    #[error("trapped: {message}")]
    Trap { message: String },
    #[error("returned an invalid result: {message}")]
    Invalid { message: String },
    #[error("refused: {message}")]
    Refused { message: String },
    /// No free instance slot in the pooling allocator: every slot is busy.
    #[error("no free instance slot: {message}")]
    Capacity { message: String },
}

impl Failure {
    /// A plugin's own error message: untrusted text that ends up in reports
    /// and logs, so it goes through [`plugin_text`].
    pub fn refused(message: &str) -> Failure {
        Failure::Refused {
            message: plugin_text(message, PLUGIN_MESSAGE_MAX),
        }
    }

    /// Whether trying again may succeed: a deadline the fuel would have
    /// beaten at normal speed depends on how loaded the machine is (one it
    /// would not, does not), the invocation's end and pool slots free up.
    /// Fuel, memory, a trap or a plugin's own refusal give the same answer
    /// every time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Failure::Timeout { .. } | Failure::InvocationDeadline { .. } | Failure::Capacity { .. }
        )
    }

    /// A short stable tag for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Fuel { .. } => "fuel",
            Failure::Timeout { .. } | Failure::DeadlineAtNormalSpeed { .. } => "timeout",
            Failure::InvocationDeadline { .. } => "invocation_deadline",
            Failure::Memory { .. } => "memory",
            Failure::OutputTooLarge { .. } => "output_size",
            Failure::Trap { .. } => "trap",
            Failure::Invalid { .. } => "invalid_result",
            Failure::Refused { .. } => "refused",
            Failure::Capacity { .. } => "capacity",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugins_error_message_is_cut_to_512_bytes() {
        assert_eq!(
            Failure::refused("no"),
            Failure::Refused {
                message: "no".into()
            }
        );
        let Failure::Refused { message } = Failure::refused(&"é".repeat(1000)) else {
            unreachable!()
        };
        assert!(
            message.starts_with("éé") && message.ends_with("… (2000 bytes)"),
            "{message}"
        );
        assert!(message.len() < 530);
    }

    #[test]
    fn plugin_text_redacts_e_mail_like_words() {
        assert_eq!(
            plugin_text("customer ana@example.com is blocked", 512),
            "customer [redacted] is blocked"
        );
        assert_eq!(
            plugin_text("call +49 151 1234567, card 4111 1111 1111 1111", 512),
            "call [redacted], card [redacted]"
        );
        let Failure::Refused { message } = Failure::refused("bad <bo@b.io>") else {
            unreachable!()
        };
        assert_eq!(message, "bad [redacted]");
        assert_eq!(plugin_text("abcdef", 3), "abc… (6 bytes)");
    }
}
