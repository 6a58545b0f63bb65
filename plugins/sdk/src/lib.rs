//! The guest side of the orderflow contract (`wit/orderflow.wit`, of which
//! the SDK carries its own copy in `plugins/sdk/wit/`, checked by a test).
//!
//! A plugin author implements [`Rule`] or [`Transform`] on a plain Rust type
//! and names it in [`export_rule!`] or [`export_transform!`]. The SDK hides
//! the generated bindings, reads the manifest's JSON configuration into that
//! type once per instance, and lets the same logic run natively in
//! `cargo test` through [`testing::TestOrder`] (the pipeline's wire JSON,
//! validated by the host's own code), so a rule is tested like any other
//! Rust code.
//!
//! # A rule
//!
//! High-value from a configured total, tagging the order's size:
//!
//! ```
//! use orderflow_plugin_sdk::{OrderView, Rule, Verdict, export_rule, log, LogLevel};
//!
//! /// Configuration: `{"minimum_minor": 100000}`.
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct BigOrder {
//!     minimum_minor: u64,
//! }
//!
//! impl Rule for BigOrder {
//!     fn evaluate(&self, order: &dyn OrderView) -> Result<Verdict, String> {
//!         let total = order.total_minor();
//!         log(LogLevel::Debug, &format!("total {total}"));
//!         Ok(if total >= self.minimum_minor {
//!             Verdict::high_value(format!("total {total} >= {}", self.minimum_minor))
//!                 .with_attribute("size", "big")
//!         } else {
//!             Verdict::not_high_value(format!("total {total} < {}", self.minimum_minor))
//!         })
//!     }
//! }
//!
//! export_rule!(BigOrder);
//!
//! // Natively, on the pipeline's wire JSON:
//! use orderflow_plugin_sdk::testing::TestOrder;
//! let rule = BigOrder::configure(r#"{"minimum_minor": 100000}"#).unwrap();
//! let order = TestOrder::from_json(r#"{"order_id": "ord-1", "customer_id": "cust-1",
//!     "created_at": "2026-11-24T10:15:00Z", "currency": "EUR", "total_minor": 125000,
//!     "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": 125000}]}"#);
//! let verdict = rule.evaluate(&order).unwrap();
//! assert!(verdict.high_value);
//! assert_eq!(verdict.attributes, [("size".to_string(), "big".to_string())]);
//! ```
//!
//! # A transform
//!
//! Adds `Region` from the order's `country` attribute:
//!
//! ```
//! use orderflow_plugin_sdk::{Field, Fields, Transform, Value, export_transform, set_field};
//!
//! /// Configuration: `{}`: nothing to configure.
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Region {}
//!
//! impl Transform for Region {
//!     fn apply(&self, _order_id: &str, _timestamp: &str, mut fields: Vec<Field>)
//!         -> Result<Vec<Field>, String>
//!     {
//!         let country = fields
//!             .text_map("Attributes")?
//!             .iter()
//!             .find(|(k, _)| k == "country")
//!             .map(|(_, v)| v.clone());
//!         let region = match country.as_deref() {
//!             Some("DE" | "FR" | "IT") => "eu",
//!             Some(_) => "world",
//!             None => "unknown",
//!         };
//!         set_field(&mut fields, "Region", Value::Text(region.into()));
//!         Ok(fields)
//!     }
//! }
//!
//! export_transform!(Region);
//!
//! let region = Region::configure("{}").unwrap();
//! let fields = vec![Field::new(
//!     "Attributes",
//!     Value::TextMap(vec![("country".into(), "DE".into())]),
//! )];
//! let out = region.apply("ord-1", "2026-11-24T10:15:00Z", fields).unwrap();
//! assert_eq!(out.text("Region"), Ok("eu"));
//! ```

mod order;
mod rule;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod transform;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use order::Lent;
pub use order::{Line, OrderView};
pub use rule::{Rule, Verdict};
pub use transform::{Field, Fields, Transform, Value, remove_field, set_field, wrong_type};

/// Parse a plugin's JSON configuration, naming the field that is wrong.
pub fn parse_config<T: serde::de::DeserializeOwned>(config: &str) -> Result<T, String> {
    serde_json::from_str(config).map_err(|e| format!("invalid configuration: {e}"))
}

/// Writes a line to the host's structured log, tagged with this plugin.
/// Natively (in tests) it goes to stderr.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use bindings::log as l;
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
///
/// Both worlds import the one `log` interface: the transform bindings reuse
/// the rule bindings' module for it (as the host does), so [`log`] is one
/// function whichever world the plugin exports. In the core module it is the
/// same import either way, and wit-component gives the component only the
/// imports the module uses: a transform never imports `orders`.
#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod bindings {
    pub use rule::orderflow::plugin::log;

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
            with: { "orderflow:plugin/log@0.2.0": crate::bindings::rule::orderflow::plugin::log },
            pub_export_macro: true,
            export_macro_name: "__export_transform_world",
            default_bindings_module: "orderflow_plugin_sdk::bindings::transform",
        });
    }
}
