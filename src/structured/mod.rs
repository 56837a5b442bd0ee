//! The structured content of every tool's answer, as Rust types. The tools serialise
//! these, and their output schemas are derived from the same types
//! ([`schema`]), so what a client validates against is what the server writes.
//! Below the questions and the MCP server, as `crate::terminal` is for the CLI;
//! `text.rs` holds the words every answer's short text shares.

pub(crate) mod text;

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use crate::engine::views::deps::TargetEnv;
use crate::engine::views::docs::{DependencyDocs, DocsWithContext, PackageDocs};
use crate::engine::{DataAsOf, Datum, ItemFailure, Provenance, SourceLabel, Upstream};

/// The output schema of `T` (derived, serialise contract).
pub(crate) fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_output::<T>()
}

/// Shrinks every tool's output schema without changing what it accepts: `tools/list`
/// carries each schema whole (MCP has no definitions shared between tools), so the
/// provenance types that most answers share were written out 13 to 23 times (187 KB
/// of schemas). A description found in more than one tool's schema is dropped (the
/// server's instructions state what `source`, `provenance`, `age_secs` and
/// `data_as_of` mean, once); integer `format`s (schemars' `uint64`, which validators
/// ignore) go; an `oneOf` of bare constants becomes an `enum`; a `type` beside a
/// `const` goes (the constant decides it); alternatives that are all objects say
/// `"type": "object"` once, on their parent. Each rewrite accepts exactly what the
/// derived schema accepts.
pub(crate) fn compact_output_schemas<'a>(
    schemas: impl IntoIterator<Item = &'a mut Arc<JsonObject>>,
) {
    let mut schemas: Vec<&mut Arc<JsonObject>> = schemas.into_iter().collect();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for s in &schemas {
        let mut mine = std::collections::HashSet::new();
        descriptions(&Value::Object(s.as_ref().clone()), &mut mine);
        for d in mine {
            *seen.entry(d).or_default() += 1;
        }
    }
    for s in &mut schemas {
        let mut v = Value::Object(s.as_ref().clone());
        compact(&mut v, &|d| seen.get(d).is_some_and(|n| *n > 1));
        if let Value::Object(o) = v {
            **s = Arc::new(o);
        }
    }
}

fn descriptions(v: &Value, out: &mut std::collections::HashSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match x {
                    Value::String(d) if k == "description" => {
                        out.insert(d.clone());
                    }
                    _ => descriptions(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| descriptions(x, out)),
        _ => {}
    }
}

fn compact(v: &mut Value, shared: &dyn Fn(&str) -> bool) {
    match v {
        Value::Object(o) => {
            // Keywords only: a property named `description` or `format` is an object.
            o.retain(|k, x| match x {
                Value::String(d) if k == "description" => !shared(d),
                Value::String(f) if k == "format" => {
                    !f.starts_with("int") && !f.starts_with("uint")
                }
                _ => true,
            });
            o.values_mut().for_each(|x| compact(x, shared));
            if o.contains_key("const") && matches!(o.get("type"), Some(Value::String(_))) {
                o.remove("type");
            }
            hoist_object_type(o);
            for key in ["oneOf", "anyOf"] {
                let Some(Value::Array(alts)) = o.get(key) else {
                    continue;
                };
                let consts: Option<Vec<Value>> = alts
                    .iter()
                    .map(|a| {
                        let a = a.as_object()?;
                        let bare = a.keys().all(|k| k == "const" || k == "type");
                        bare.then(|| a.get("const").cloned()).flatten()
                    })
                    .collect();
                if let Some(consts) = consts.filter(|c| !c.is_empty()) {
                    o.remove(key);
                    o.insert("enum".into(), Value::Array(consts));
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| compact(x, shared)),
        _ => {}
    }
}

/// `{"oneOf": [{"type": "object", ..}, ..]}` becomes `{"type": "object", "oneOf":
/// [{..}, ..]}`: an instance that is not an object fails both ways.
fn hoist_object_type(o: &mut serde_json::Map<String, Value>) {
    if o.contains_key("type") {
        return;
    }
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(alts)) = o.get_mut(key) else {
            continue;
        };
        let object = json!("object");
        if alts.is_empty() || !alts.iter().all(|a| a.get("type") == Some(&object)) {
            continue;
        }
        for a in alts.iter_mut() {
            if let Value::Object(a) = a {
                a.remove("type");
            }
        }
        o.insert("type".into(), object);
        return;
    }
}

/// One datum: the value's fields at the top level, then where it came from.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DatumOut<T> {
    #[serde(flatten)]
    value: T,
    /// The overall source: live, cached, stale (served because the upstream failed),
    /// estimated, mixed or unavailable.
    source: SourceLabel,
    /// Where the datum came from: kind = live | revalidated | cached | stale (with
    /// reason) | estimated (with basis, confidence) | unavailable (with reason,
    /// suggestion).
    provenance: Provenance,
    /// The upstream the datum came from.
    upstream: Upstream,
    /// Age of the datum in seconds.
    age_secs: u64,
    /// When the upstream answered (Unix seconds).
    observed_at_unix: u64,
    /// Download figures: the newest day in the upstream's data (not when it was
    /// fetched), its age in days, and whether the upstream is lagging (more than 2
    /// days old).
    #[serde(skip_serializing_if = "Option::is_none")]
    data_as_of: Option<DataAsOf>,
}

impl<'a, T> DatumOut<&'a T> {
    /// The structured form of `d`.
    pub(crate) fn of(d: &'a Datum<T>) -> Self {
        DatumOut {
            value: &d.value,
            source: d.label(),
            provenance: d.provenance.clone(),
            upstream: d.upstream,
            age_secs: d.age_secs,
            observed_at_unix: d.observed_at_unix,
            data_as_of: d.data_as_of.clone(),
        }
    }
}

/// `get_package_versions`: the list after filtering, and how many there were before.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct VersionsOut<T> {
    #[serde(flatten)]
    pub(crate) datum: T,
    /// Versions before filtering.
    pub(crate) total_versions: usize,
    /// Versions returned.
    pub(crate) returned: usize,
}

/// The dependencies part of `get_package_docs_with_context`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DepDocsOut<D> {
    /// Each dependency's short docs, its share of the budget, and its provenance.
    pub(crate) items: Vec<D>,
    /// Each dependency that failed, with its reason and a suggestion.
    pub(crate) failures: Vec<ItemFailure>,
    /// The overall source of the dependencies' docs.
    pub(crate) source: SourceLabel,
}

/// `get_package_docs_with_context`: the package's docs and its dependencies' short
/// docs under one budget.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DocsContextOut<P, D> {
    /// The package's own docs, with provenance.
    pub(crate) docs: P,
    /// Its runtime dependencies for the target.
    pub(crate) dependencies: DepDocsOut<D>,
    /// The environment the dependencies were evaluated for.
    pub(crate) evaluated_for: TargetEnv,
    /// What was chosen or assumed, in words.
    pub(crate) notes: Vec<String>,
    /// Tokens of the package's Markdown plus every dependency's text.
    pub(crate) tokens: usize,
    /// The total budget asked for.
    pub(crate) max_tokens: usize,
    /// The part of the budget the dependencies could take.
    pub(crate) dependency_budget: usize,
    /// The tokenizer's encoding.
    pub(crate) encoding: String,
    /// The overall source: the package's docs and every dependency's.
    pub(crate) source: SourceLabel,
}

impl<'a> DocsContextOut<DatumOut<&'a PackageDocs>, DatumOut<&'a DependencyDocs>> {
    pub(crate) fn of(r: &'a DocsWithContext) -> Self {
        DocsContextOut {
            docs: DatumOut::of(&r.docs),
            dependencies: DepDocsOut {
                items: r.dependencies.items.iter().map(DatumOut::of).collect(),
                failures: r.dependencies.failures.clone(),
                source: r.dependencies.source,
            },
            evaluated_for: r.evaluated_for.clone(),
            notes: r.notes.clone(),
            tokens: r.tokens,
            max_tokens: r.max_tokens,
            dependency_budget: r.dependency_budget,
            encoding: r.encoding.clone(),
            source: SourceLabel::merge(
                std::iter::once(r.docs.label()).chain(
                    (!r.dependencies.items.is_empty() || !r.dependencies.failures.is_empty())
                        .then_some(r.dependencies.source),
                ),
            ),
        }
    }
}

/// Serialises an answer; a failure (which would be a bug in a type above) still gives
/// an object that says so.
pub(crate) fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(
        |e| serde_json::json!({"serialization_error": e.to_string(), "source": "unavailable"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compacted(v: Value) -> Value {
        let mut s = Arc::new(v.as_object().unwrap().clone());
        compact_output_schemas([&mut s]);
        Value::Object(s.as_ref().clone())
    }

    #[test]
    fn a_tagged_union_of_objects_says_object_once_and_its_tags_lose_their_type() {
        let v = compacted(json!({
            "type": "object",
            "properties": {"p": {"oneOf": [
                {"type": "object", "properties": {"kind": {"const": "live", "type": "string"}}},
                {"type": "object", "properties": {"kind": {"const": "stale", "type": "string"},
                                                  "reason": {"type": "string"}}}
            ]}}
        }));
        assert_eq!(
            v["properties"]["p"],
            json!({"type": "object", "oneOf": [
                {"properties": {"kind": {"const": "live"}}},
                {"properties": {"kind": {"const": "stale"}, "reason": {"type": "string"}}}
            ]})
        );
    }

    #[test]
    fn properties_named_like_keywords_are_left_alone() {
        let schema = json!({
            "type": "object",
            "properties": {
                "const": {"type": "string"},
                "type": {"type": "string"},
                "mixed": {"anyOf": [{"type": "object"}, {"type": "null"}]}
            }
        });
        assert_eq!(compacted(schema.clone()), schema);
    }
}
