//! The guest side of the orderflow contract (`wit/orderflow.wit`, of which
//! the SDK carries its own copy in `plugins/sdk/wit/`, checked by a test).
//!
//! A plugin author implements [`Rule`] or [`Transform`] on a plain Rust type
//! and names it in [`export_rule!`] or [`export_transform!`]. The SDK hides
//! the generated bindings, parses the manifest's JSON configuration once per
//! instance, and lets the same logic run natively in `cargo test` through
//! [`testing::TestOrder`], so a rule is tested like any other Rust code.

mod order;
mod rule;
pub mod testing;
mod transform;

pub use order::{Line, OrderView};
pub use rule::{Rule, Verdict};
pub use transform::{Field, Fields, Transform, Value, set_field, wrong_type};

/// Parse a plugin's JSON configuration, naming the field that is wrong.
pub fn parse_config<T: serde::de::DeserializeOwned>(config: &str) -> Result<T, String> {
    serde_json::from_str(config).map_err(|e| format!("invalid configuration: {e}"))
}

/// Writes a line to the host's structured log, tagged with this plugin.
/// Natively (in tests) it goes to stderr.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use bindings::rule::orderflow::plugin::log as l;
        let level = match level {
            LogLevel::Debug => l::Level::Debug,
            LogLevel::Info => l::Level::Info,
            LogLevel::Warn => l::Level::Warn,
            LogLevel::Error => l::Level::Error,
        };
        l::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Generated bindings, one module per world. Public only for the export
/// macros; plugin code never names them.
#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod bindings {
    pub mod rule {
        wit_bindgen::generate!({
            path: "wit",
            world: "rule-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_rule_world",
            default_bindings_module: "orderflow_plugin_sdk::bindings::rule",
        });
    }
    pub mod transform {
        wit_bindgen::generate!({
            path: "wit",
            world: "transform-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_transform_world",
            default_bindings_module: "orderflow_plugin_sdk::bindings::transform",
        });
    }
}

#[cfg(test)]
mod tests {
    /// The SDK builds from its own copy of the contract, so it works
    /// wherever it is vendored or published; the copy must be the contract.
    #[test]
    fn the_sdks_wit_is_the_contract() {
        assert_eq!(
            include_str!("../wit/orderflow.wit"),
            include_str!("../../../wit/orderflow.wit"),
            "plugins/sdk/wit/orderflow.wit differs from wit/orderflow.wit: copy it over"
        );
    }
}
