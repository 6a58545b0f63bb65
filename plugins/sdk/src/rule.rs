use crate::OrderView;

/// A rule's answer for one order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub high_value: bool,
    pub reason: String,
    pub attributes: Vec<(String, String)>,
}

impl Verdict {
    pub fn high_value(reason: impl Into<String>) -> Self {
        Self {
            high_value: true,
            reason: reason.into(),
            attributes: Vec::new(),
        }
    }

    pub fn not_high_value(reason: impl Into<String>) -> Self {
        Self {
            high_value: false,
            reason: reason.into(),
            attributes: Vec::new(),
        }
    }

    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }
}

/// A business rule: decides whether an order is high-value and which
/// attributes to attach.
///
/// The rule is its configuration: `configure` runs once per plugin instance
/// with the manifest's JSON configuration, so one compiled plugin serves any
/// threshold, and by default it reads that JSON into the rule's own fields
/// (a rule without configuration is a `struct MyRule {}`). Override it to
/// refuse a configuration serde accepts but the rule cannot use: a refusal
/// stops the plugin at load time, not on the first order.
///
/// A whole rule, without configuration:
///
/// ```
/// use orderflow_plugin_sdk::{OrderView, Rule, Verdict, export_rule};
///
/// #[derive(serde::Deserialize)]
/// struct Weekend {}
///
/// impl Rule for Weekend {
///     fn evaluate(&self, order: &dyn OrderView) -> Result<Verdict, String> {
///         // 1970-01-01 was a Thursday; 0 is a Sunday.
///         Ok(match (order.created_at().div_euclid(86_400) + 4) % 7 {
///             0 | 6 => Verdict::high_value("placed at the weekend"),
///             _ => Verdict::not_high_value("placed on a weekday"),
///         })
///     }
/// }
/// export_rule!(Weekend);
/// # use orderflow_plugin_sdk::testing::TestOrder;
/// # let order = |at: &str| TestOrder::from_json(&format!(r#"{{"order_id": "o", "customer_id": "c",
/// #     "created_at": "{at}", "currency": "EUR", "total_minor": 1,
/// #     "lines": [{{"sku": "S", "quantity": 1, "unit_price_minor": 1}}]}}"#));
/// # let rule = Weekend::configure("{}").unwrap();
/// # assert!(!rule.evaluate(&order("2026-11-24T10:15:00Z")).unwrap().high_value);
/// # assert!(rule.evaluate(&order("2026-11-28T10:15:00Z")).unwrap().high_value);
/// ```
pub trait Rule: serde::de::DeserializeOwned + 'static {
    fn configure(config: &str) -> Result<Self, String> {
        crate::parse_config(config)
    }
    fn evaluate(&self, order: &dyn OrderView) -> Result<Verdict, String>;
}

/// Exports a [`Rule`] implementation as the plugin's `rule` interface: the
/// host lends orders in batches, and the export calls
/// [`Rule::evaluate`] once per order.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::rule::exports::orderflow::plugin::rule as wit;

            ::std::thread_local! {
                static RULE: ::std::cell::RefCell<Option<$rule>> = const { ::std::cell::RefCell::new(None) };
            }

            struct Export;
            impl wit::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    let rule = <$rule as $crate::Rule>::configure(&config)?;
                    RULE.with(|r| *r.borrow_mut() = Some(rule));
                    Ok(())
                }
                // The host lends a batch of orders (contract 0.2.0): each
                // gets its own answer, and an error answers for its order only.
                fn evaluate(count: u32) -> Vec<Result<wit::Verdict, String>> {
                    RULE.with(|r| {
                        let r = r.borrow();
                        (0..count)
                            .map(|index| {
                                let rule = r.as_ref().ok_or_else(|| "evaluate called before configure".to_string())?;
                                let order = $crate::Lent(index);
                                let v = $crate::Rule::evaluate(rule, &order)?;
                                Ok(wit::Verdict { high_value: v.high_value, reason: v.reason, attributes: v.attributes })
                            })
                            .collect()
                    })
                }
            }
            $crate::bindings::rule::__export_rule_world!(Export with_types_in $crate::bindings::rule);
        };
    };
}
