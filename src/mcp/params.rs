//! Tool parameters. Each struct derives [`JsonSchema`]; its doc comments become the
//! descriptions an assistant reads, so they say what to pass and what the rules are.
//!
//! Numbers are taken as signed integers and checked by the tool (not by serde), so an
//! out-of-range value is answered with an `invalid_params` error that names the
//! parameter and the rule rather than with a generic deserialisation failure.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use rmcp::ErrorData as McpError;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::secret::truncate_echo;

/// A tool's arguments, deserialised by us rather than by rmcp's `Parameters`: every
/// argument error (a missing required argument, a wrong type) is an `invalid_params`
/// protocol error with `{param, value, rule}`, never an `isError` tool result, and the
/// value echoed is truncated. The name matters: rmcp's `#[tool]` macro takes the input
/// schema from an argument whose type is called `Parameters`.
#[derive(Debug, Clone)]
pub struct Parameters<T>(pub T);

impl<T: JsonSchema> JsonSchema for Parameters<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<S, T: DeserializeOwned + JsonSchema + 'static> FromContextPart<ToolCallContext<'_, S>>
    for Parameters<T>
{
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, McpError> {
        let args = Value::Object(context.arguments.take().unwrap_or_default());
        refuse_unknown::<T>(&args)?;
        parse_arguments(&args).map(Parameters)
    }
}

/// The argument names of `T` when its schema refuses any other
/// (`additionalProperties: false`), worked out once per type.
fn closed_names<T: JsonSchema + 'static>() -> Option<Arc<Vec<String>>> {
    type Names = HashMap<TypeId, Option<Arc<Vec<String>>>>;
    static NAMES: OnceLock<RwLock<Names>> = OnceLock::new();
    let names = NAMES.get_or_init(RwLock::default);
    let id = TypeId::of::<T>();
    if let Some(n) = names.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return n.clone();
    }
    let schema = schemars::schema_for!(T);
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    let n = closed.then(|| {
        let props = schema.get("properties").and_then(Value::as_object);
        Arc::new(
            props
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
        )
    });
    names
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, n.clone());
    n
}

/// Refuses an argument a closed schema does not name: serde's `deny_unknown_fields`
/// does not work beside a flattened target, so the schema says it instead.
fn refuse_unknown<T: JsonSchema + 'static>(args: &Value) -> Result<(), McpError> {
    let (Some(names), Some(given)) = (closed_names::<T>(), args.as_object()) else {
        return Ok(());
    };
    match given.keys().find(|k| !names.contains(k)) {
        None => Ok(()),
        // A hostile client's name may be megabytes long: named cut.
        Some(k) => Err(argument_error(
            &truncate_echo(k),
            &given[k].to_string(),
            &format!(
                "is not a parameter of this tool; it takes {}",
                names.join(", ")
            ),
        )),
    }
}

/// Deserialises `args` into `T`; an error names the parameter, the value given
/// (truncated) and the rule, in words that never echo the value whole.
pub fn parse_arguments<T: DeserializeOwned>(args: &Value) -> Result<T, McpError> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        // A flattened target's fields are read from a buffer that hides their path:
        // reading the target alone names the field.
        let e = match serde_path_to_error::deserialize::<_, crate::engine::Target>(args) {
            Err(inner) if e.path().to_string() == "." => inner,
            _ => e,
        };
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // serde words: "missing field `x`", "invalid type: <what>, expected <rule>",
        // "invalid value: ..., expected ...", "unknown variant ..., expected ...".
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            let param = if path == "." || path.is_empty() {
                field.to_string()
            } else {
                format!("{path}.{field}")
            };
            return argument_error(&param, "(missing)", "is required");
        }
        let expected = message
            .rsplit_once(", expected ")
            .map(|(_, exp)| expected_words(exp))
            .unwrap_or_else(|| "has the wrong type (see the tool's input schema)".to_string());
        let param = if path == "." || path.is_empty() {
            "arguments".to_string()
        } else {
            path
        };
        let given = value_at(args, &param)
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        argument_error(&param, &given, &expected)
    })
}

/// serde's "expected ..." words as a rule: `i64` -> "must be an integer".
fn expected_words(exp: &str) -> String {
    let exp = exp.trim();
    let what = match exp {
        "i64" | "u64" | "i32" | "u32" | "usize" | "isize" => "an integer",
        "a sequence" => "an array",
        "a map" => "an object",
        e if e.starts_with("struct ") => "an object",
        e => e,
    };
    format!("must be {what}")
}

/// The value at a serde_path_to_error path such as `packages[1]` or `limit`.
fn value_at<'a>(args: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = args;
    for seg in path.split('.') {
        let (name, indexes) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        for idx in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            cur = cur.get(idx.parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

/// An `invalid_params` error naming the parameter, the value (truncated) and the rule.
pub(crate) fn argument_error(param: &str, value: &str, rule: &str) -> McpError {
    let value = truncate_echo(value);
    McpError::invalid_params(
        format!("invalid {param} {value:?}: {rule}"),
        Some(serde_json::json!({ "param": param, "value": value, "rule": rule })),
    )
}

/// The package a prompt is about.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PackageReportParams {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
}
