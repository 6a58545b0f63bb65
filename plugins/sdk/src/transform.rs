/// The value of one stored field; the host maps these to DynamoDB types
/// (S, N, BOOL, SS-like lists as L, string maps as M).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Integer(i64),
    Boolean(bool),
    TextList(Vec<String>),
    TextMap(Vec<(String, String)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: Value,
}

impl Field {
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

/// Reshapes the item about to be stored. The item's key (order id and
/// timestamp) is read-only: it is what makes a redelivered message overwrite
/// instead of duplicate.
pub trait Transform: Sized + 'static {
    fn configure(config: &str) -> Result<Self, String>;
    fn apply(
        &self,
        order_id: &str,
        timestamp: &str,
        fields: Vec<Field>,
    ) -> Result<Vec<Field>, String>;
}

/// Exports a [`Transform`] implementation as the plugin's `transform` interface.
#[macro_export]
macro_rules! export_transform {
    ($transform:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::transform::exports::orderflow::plugin::transform as wit;

            ::std::thread_local! {
                static TRANSFORM: ::std::cell::RefCell<Option<$transform>> = const { ::std::cell::RefCell::new(None) };
            }

            fn from_wit(v: wit::Value) -> $crate::Value {
                match v {
                    wit::Value::Text(s) => $crate::Value::Text(s),
                    wit::Value::Integer(i) => $crate::Value::Integer(i),
                    wit::Value::Boolean(b) => $crate::Value::Boolean(b),
                    wit::Value::TextList(l) => $crate::Value::TextList(l),
                    wit::Value::TextMap(m) => $crate::Value::TextMap(m),
                }
            }
            fn to_wit(v: $crate::Value) -> wit::Value {
                match v {
                    $crate::Value::Text(s) => wit::Value::Text(s),
                    $crate::Value::Integer(i) => wit::Value::Integer(i),
                    $crate::Value::Boolean(b) => wit::Value::Boolean(b),
                    $crate::Value::TextList(l) => wit::Value::TextList(l),
                    $crate::Value::TextMap(m) => wit::Value::TextMap(m),
                }
            }

            struct Export;
            impl wit::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    let t = <$transform as $crate::Transform>::configure(&config)?;
                    TRANSFORM.with(|cell| *cell.borrow_mut() = Some(t));
                    Ok(())
                }
                fn apply(order_id: String, timestamp: String, fields: Vec<wit::Field>) -> Result<Vec<wit::Field>, String> {
                    TRANSFORM.with(|cell| {
                        let cell = cell.borrow();
                        let t = cell.as_ref().ok_or_else(|| "apply called before configure".to_string())?;
                        let fields = fields.into_iter().map(|f| $crate::Field { name: f.name, value: from_wit(f.value) }).collect();
                        let out = $crate::Transform::apply(t, &order_id, &timestamp, fields)?;
                        Ok(out.into_iter().map(|f| wit::Field { name: f.name, value: to_wit(f.value) }).collect())
                    })
                }
            }
            $crate::bindings::transform::__export_transform_world!(Export with_types_in $crate::bindings::transform);
        };
    };
}
