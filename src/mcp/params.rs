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
use sentinel_actors::InputError;
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

/// The one check of a Python version, for every tool and command that takes one:
/// `major.minor` or `major.minor.patch` (checked as given) with major 2 or 3. Python 4
/// does not exist, and an answer about it would be invented.
pub fn check_python_version(raw: &str) -> Result<String, InputError> {
    let rule =
        "must be a Python version 2.x or 3.x: major.minor (3.12) or major.minor.patch (3.9.0)";
    let err = || InputError {
        param: "python_version",
        value: truncate_echo(raw),
        rule: rule.into(),
    };
    let py = sentinel_actors::views::python::parse_python_version(raw).map_err(|_| err())?;
    if !(2..=3).contains(&py.major) {
        return Err(err());
    }
    Ok(py.to_string())
}

/// A package and optionally one of its releases.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PackageVersionParams {
    /// The PyPI project name, e.g. `requests` or `PyYAML` (case, `_` and `.` are
    /// normalised as PEP 503 says).
    pub package: String,
    /// A release, e.g. `2.31.0` (PEP 440). Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
}

/// Which versions of a package to list.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct VersionsParams {
    /// The PyPI project name, e.g. `django`.
    pub package: String,
    /// Include pre-releases and development releases (`2.0rc1`, `1.0.dev3`).
    /// Default `true`.
    #[serde(default)]
    pub include_prereleases: Option<bool>,
    /// Include releases whose every file is yanked. Default `true`.
    #[serde(default)]
    pub include_yanked: Option<bool>,
    /// Return only the newest N versions (after filtering), 1 to 10000. Omit it for all.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<i64>,
}

/// A release's dependencies, optionally evaluated for a target environment.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DependenciesParams {
    /// The PyPI project name, e.g. `black`.
    pub package: String,
    /// A release, e.g. `24.3.0`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
    /// Evaluate environment markers for this Python, `major.minor` (e.g. `3.12`).
    /// When none of `python_version`, `platform` and `extras` is given, markers are not
    /// evaluated and every dependency is listed with its marker.
    #[serde(default)]
    pub python_version: Option<String>,
    /// Evaluate markers for this operating system: `linux`, `macos` or `windows`.
    #[serde(default)]
    pub platform: Option<String>,
    /// Extras to install, e.g. `["socks"]`; dependencies of other extras do not apply.
    #[serde(default)]
    pub extras: Option<Vec<String>>,
    /// Marker values you know, instead of the platform's assumed defaults (the answer's
    /// notes list what was assumed), e.g. `{"platform_machine": "aarch64"}`. Keys:
    /// implementation_name, implementation_version, os_name, platform_machine,
    /// platform_python_implementation, platform_release, platform_system,
    /// platform_version.
    #[serde(default)]
    pub markers: Option<std::collections::BTreeMap<String, String>>,
}

/// Whether a release supports a Python version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PythonCompatParams {
    /// The PyPI project name, e.g. `numpy`.
    pub package: String,
    /// A release, e.g. `1.26.4`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
    /// The Python version to check, `major.minor` (e.g. `3.13`).
    pub python_version: String,
}

/// Recent download totals of a package.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DownloadStatsParams {
    /// The PyPI project name, e.g. `numpy`.
    pub package: String,
    /// `day`, `week`, `month` (the last 1, 7 or 30 days) or `all` (the three).
    /// Default `all`.
    #[serde(default)]
    pub period: Option<String>,
}

/// The daily download series of a package.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DownloadTrendParams {
    /// The PyPI project name, e.g. `pytest`.
    pub package: String,
    /// How many of the most recent days, 1 to 180 (pypistats keeps 180). Default 30.
    #[serde(default)]
    #[schemars(range(min = 1, max = 180))]
    pub days: Option<i64>,
}

/// Downloads split by Python version or operating system.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DownloadBreakdownParams {
    /// The PyPI project name, e.g. `django`.
    pub package: String,
    /// `python_major` (2 vs 3), `python_minor` (3.11, 3.12, ...) or `system` (Linux,
    /// Windows, Darwin).
    pub by: String,
    /// Sum over the last N days, 1 to 180. Default 30.
    #[serde(default)]
    #[schemars(range(min = 1, max = 180))]
    pub days: Option<i64>,
}

/// How many of the most downloaded packages to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TopPackagesParams {
    /// Number of packages, 1 to 1000. Default 10.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
}

/// Several packages at once.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct OverviewParams {
    /// 1 to 100 PyPI project names, e.g. `["numpy", "pandas"]`. Each is answered
    /// independently: one that fails is listed under `failures` with the reason.
    pub packages: Vec<String>,
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
