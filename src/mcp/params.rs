//! Tool parameters. Each struct derives [`JsonSchema`]; its doc comments become the
//! descriptions an assistant reads, so they say what to pass and what the rules are.
//!
//! Numbers are taken as signed integers and checked by the tool (not by serde), so an
//! out-of-range value is answered with an `invalid_params` error that names the
//! parameter and the rule rather than with a generic deserialisation failure.

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

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, McpError> {
        let args = Value::Object(context.arguments.take().unwrap_or_default());
        parse_arguments(&args).map(Parameters)
    }
}

/// Deserialises `args` into `T`; an error names the parameter, the value given
/// (truncated) and the rule, in words that never echo the value whole.
pub fn parse_arguments<T: DeserializeOwned>(args: &Value) -> Result<T, McpError> {
    serde_path_to_error::deserialize(args).map_err(|e| {
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

/// What to drop from the cache.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct RefreshParams {
    /// Drop only what is cached about this package; omit it to drop everything.
    #[serde(default)]
    pub package: Option<String>,
}

/// The package a prompt is about.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PackageReportParams {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
}
