//! Errors at the host's boundary: loading a plugin, and one plugin call.

use std::path::PathBuf;

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

/// A failed plugin call, naming the plugin; the host goes on serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin}: {failure}")]
pub struct PluginError {
    pub plugin: String,
    pub failure: Failure,
}

/// What went wrong inside one call. The limits name themselves so an
/// operator knows which override to raise (or which plugin to fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("ran out of fuel (limit {limit})")]
    Fuel { limit: u64 },
    #[error("exceeded its deadline of {limit_ms} ms")]
    Timeout { limit_ms: u64 },
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
}

impl Failure {
    /// A plugin's own error message, cut to 512 bytes: it is untrusted text
    /// that ends up in reports and logs.
    pub fn refused(message: &str) -> Failure {
        let message = if message.len() <= 512 {
            message.to_string()
        } else {
            let mut end = 512;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}… ({} bytes)", &message[..end], message.len())
        };
        Failure::Refused { message }
    }

    /// A short stable tag for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Fuel { .. } => "fuel",
            Failure::Timeout { .. } => "timeout",
            Failure::Memory { .. } => "memory",
            Failure::OutputTooLarge { .. } => "output_size",
            Failure::Trap { .. } => "trap",
            Failure::Invalid { .. } => "invalid_result",
            Failure::Refused { .. } => "refused",
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
}
