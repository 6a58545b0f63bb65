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

impl Value {
    /// The WIT name of this value's case, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Text(_) => "text",
            Value::Integer(_) => "integer",
            Value::Boolean(_) => "boolean",
            Value::TextList(_) => "text-list",
            Value::TextMap(_) => "text-map",
        }
    }
}

/// The error for field `name` holding the wrong type. It names the field
/// and both types, never the value, which may be personal data.
pub fn wrong_type(name: &str, expected: &str, got: &Value) -> String {
    format!("field {name} must be {expected}, got {}", got.type_name())
}

/// Reading the item's fields by name, with errors that name the field
/// (never its value, which may be personal data).
///
/// Two fields of one name would make "the" value ambiguous, so a repeated
/// name is an error, like a missing one where the field is required.
pub trait Fields {
    /// The field's value, `None` when the item has no such field.
    fn find(&self, name: &str) -> Result<Option<&Value>, String>;

    /// The value of a required field.
    fn value(&self, name: &str) -> Result<&Value, String> {
        self.find(name)?
            .ok_or_else(|| format!("field {name} is missing"))
    }

    fn text(&self, name: &str) -> Result<&str, String> {
        match self.value(name)? {
            Value::Text(s) => Ok(s),
            other => Err(wrong_type(name, "text", other)),
        }
    }

    fn integer(&self, name: &str) -> Result<i64, String> {
        match self.value(name)? {
            Value::Integer(n) => Ok(*n),
            other => Err(wrong_type(name, "integer", other)),
        }
    }

    fn text_map(&self, name: &str) -> Result<&[(String, String)], String> {
        match self.value(name)? {
            Value::TextMap(entries) => Ok(entries),
            other => Err(wrong_type(name, "a text-map", other)),
        }
    }
}

impl Fields for [Field] {
    fn find(&self, name: &str) -> Result<Option<&Value>, String> {
        let mut found = self.iter().filter(|f| f.name == name);
        match (found.next(), found.next()) {
            (Some(f), None) => Ok(Some(&f.value)),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(format!("field {name} appears more than once")),
        }
    }
}

/// Drops every field called `name`.
pub fn remove_field(fields: &mut Vec<Field>, name: &str) {
    fields.retain(|f| f.name != name);
}

/// Sets field `name` to `value`: in its place when it is there (every copy
/// of it dropped but the first), at the end otherwise.
pub fn set_field(fields: &mut Vec<Field>, name: &str, value: Value) {
    match fields.iter().position(|f| f.name == name) {
        Some(i) => {
            fields[i].value = value;
            let mut seen = false;
            fields.retain(|f| {
                let keep = f.name != name || !seen;
                seen |= f.name == name;
                keep
            });
        }
        None => fields.push(Field::new(name, value)),
    }
}

/// Reshapes the item about to be stored. The item's key (order id and
/// timestamp) is read-only: it is what makes a redelivered message overwrite
/// instead of duplicate.
///
/// As for a [`Rule`](crate::Rule), the transform is its configuration, and
/// `configure` reads it by default.
pub trait Transform: serde::de::DeserializeOwned + 'static {
    fn configure(config: &str) -> Result<Self, String> {
        crate::parse_config(config)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<Field> {
        vec![
            Field::new("Currency", Value::Text("EUR".into())),
            Field::new("TotalMinor", Value::Integer(125000)),
        ]
    }

    #[test]
    fn fields_are_read_by_name_with_errors_naming_the_field_not_the_value() {
        let f = fields();
        assert_eq!(f.text("Currency"), Ok("EUR"));
        assert_eq!(f.integer("TotalMinor"), Ok(125000));
        assert_eq!(
            f.integer("Currency").unwrap_err(),
            "field Currency must be integer, got text"
        );
        assert_eq!(f.text("Lines").unwrap_err(), "field Lines is missing");
        assert_eq!(f.find("Lines"), Ok(None));
        assert_eq!(
            f.text_map("Currency").unwrap_err(),
            "field Currency must be a text-map, got text"
        );
        let mut twice = fields();
        twice.push(Field::new(
            "Currency",
            Value::Text("ana@example.com".into()),
        ));
        let e = twice.text("Currency").unwrap_err();
        assert_eq!(e, "field Currency appears more than once");
    }

    #[test]
    fn set_field_replaces_in_place_or_appends() {
        let mut f = fields();
        f.push(Field::new("Currency", Value::Text("eur".into())));
        set_field(&mut f, "Currency", Value::Text("USD".into()));
        assert_eq!(f[0], Field::new("Currency", Value::Text("USD".into())));
        assert_eq!(f.len(), 2, "the repeated field is dropped");
        set_field(&mut f, "ItemCount", Value::Integer(3));
        assert_eq!(f[2], Field::new("ItemCount", Value::Integer(3)));
        remove_field(&mut f, "Currency");
        assert_eq!(f.len(), 2);
        assert!(f.find("Currency").unwrap().is_none());
    }
}
