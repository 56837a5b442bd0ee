//! Where a question's answer applies: the Python, operating system, machine, marker
//! values, extras and pre-release policy of an install. One type for every question
//! that has a target; its doc comments are the MCP argument descriptions. A question
//! takes the fields it needs ([`TargetOnly`] keeps its schema to them and
//! [`Target::only`] refuses the rest); the engine turns it into a marker environment
//! (`views::deps::TargetEnv::of`), where the values are checked.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InputError;

/// The target environment of a question. Every field is optional; the defaults are
/// CPython 3.12 on x86_64 Linux, no extras, no pre-releases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    /// Target Python, `major.minor` (e.g. `3.12`) or `major.minor.patch`. Default 3.12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    /// Target operating system: `linux`, `macos` or `windows`. Default linux. Or a
    /// wheel platform tag, as pip's `--platform` takes (`manylinux_2_28_aarch64`,
    /// `musllinux_1_2_x86_64`, `macosx_12_0_x86_64`, `win_amd64`): the system it
    /// means (libc and its version, macOS version, machine) decides which wheels a
    /// download takes. (`win32` names Windows, as `sys_platform` does; 32-bit Windows
    /// is `windows` with machine `x86`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Target machine (`platform_machine`), e.g. `aarch64` or `arm64`. Default per
    /// platform: x86_64 on Linux, arm64 on macOS, AMD64 on Windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// Marker values you know, instead of the platform's assumed defaults (the answer
    /// says what was assumed), e.g. `{"platform_machine": "aarch64"}`. Keys:
    /// implementation_name, implementation_version, os_name, platform_machine,
    /// platform_python_implementation, platform_release, platform_system,
    /// platform_version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markers: Option<BTreeMap<String, String>>,
    /// Extras to install, e.g. `["socks"]`: their dependencies are included, those of
    /// other extras are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras: Option<Vec<String>>,
    /// Whether pre-releases are candidates. Default false (a pre-release is then taken
    /// only when pinned with `==`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prereleases: Option<bool>,
}

/// A field of [`Target`], named as the argument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetField {
    /// `python_version`.
    Python,
    /// `platform`.
    Platform,
    /// `machine`.
    Machine,
    /// `markers`.
    Markers,
    /// `extras`.
    Extras,
    /// `prereleases`.
    Prereleases,
}

impl TargetField {
    /// Every field, in the order of the struct.
    pub const ALL: [TargetField; 6] = [
        TargetField::Python,
        TargetField::Platform,
        TargetField::Machine,
        TargetField::Markers,
        TargetField::Extras,
        TargetField::Prereleases,
    ];

    /// The argument's name.
    pub fn name(self) -> &'static str {
        match self {
            TargetField::Python => "python_version",
            TargetField::Platform => "platform",
            TargetField::Machine => "machine",
            TargetField::Markers => "markers",
            TargetField::Extras => "extras",
            TargetField::Prereleases => "prereleases",
        }
    }
}

/// The fields a resolution takes (resolve, why, audit).
pub const RESOLVE_TARGET: &[TargetField] = &[
    TargetField::Python,
    TargetField::Platform,
    TargetField::Markers,
    TargetField::Prereleases,
];

/// The fields an evaluation of one release's dependencies takes (deps, docs with
/// context).
pub const DEPS_TARGET: &[TargetField] = &[
    TargetField::Python,
    TargetField::Platform,
    TargetField::Extras,
    TargetField::Markers,
];

/// The fields the choice of a file takes (download).
pub const FILE_TARGET: &[TargetField] = &[
    TargetField::Python,
    TargetField::Platform,
    TargetField::Machine,
];

impl Target {
    /// Whether `field` was given (an empty list or map counts as not given).
    pub fn has(&self, field: TargetField) -> bool {
        match field {
            TargetField::Python => self.python_version.is_some(),
            TargetField::Platform => self.platform.is_some(),
            TargetField::Machine => self.machine.is_some(),
            TargetField::Markers => self.markers.as_ref().is_some_and(|m| !m.is_empty()),
            TargetField::Extras => self.extras.as_ref().is_some_and(|e| !e.is_empty()),
            TargetField::Prereleases => self.prereleases.is_some(),
        }
    }

    /// Whether nothing about the target was given.
    pub fn is_empty(&self) -> bool {
        !TargetField::ALL.iter().any(|f| self.has(*f))
    }

    /// Refuses a field given that the question does not take (`takes`).
    pub fn only(&self, takes: &[TargetField]) -> Result<(), InputError> {
        match TargetField::ALL
            .into_iter()
            .find(|f| self.has(*f) && !takes.contains(f))
        {
            None => Ok(()),
            Some(f) => Err(InputError {
                param: f.name(),
                value: "(given)".into(),
                rule: format!(
                    "is not taken by this question; its target fields are {}",
                    takes
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// Whether pre-releases are candidates (default no).
    pub fn prereleases(&self) -> bool {
        self.prereleases.unwrap_or(false)
    }
}

/// Keeps a question's schema to the target fields it takes: a schema transform for
/// `#[schemars(transform = TargetOnly(..))]` on a type that flattens [`Target`].
pub struct TargetOnly(pub &'static [TargetField]);

impl schemars::transform::Transform for TargetOnly {
    fn transform(&mut self, schema: &mut schemars::Schema) {
        let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) else {
            return;
        };
        for f in TargetField::ALL {
            if !self.0.contains(&f) {
                props.remove(f.name());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_field_the_question_does_not_take_is_refused_by_name() {
        let t = Target {
            prereleases: Some(true),
            ..Target::default()
        };
        let e = t.only(DEPS_TARGET).unwrap_err();
        assert_eq!(e.param, "prereleases");
        assert!(e.rule.contains("python_version, platform, extras, markers"));
        assert!(t.only(RESOLVE_TARGET).is_ok());
    }

    #[test]
    fn an_empty_extras_list_or_markers_map_counts_as_not_given() {
        let t = Target {
            extras: Some(vec![]),
            markers: Some(BTreeMap::new()),
            ..Target::default()
        };
        assert!(t.is_empty());
        assert!(t.only(FILE_TARGET).is_ok());
    }

    #[derive(JsonSchema)]
    #[schemars(transform = TargetOnly(FILE_TARGET))]
    #[allow(dead_code)]
    struct Question {
        package: String,
        #[serde(flatten)]
        target: Target,
    }

    #[test]
    fn a_flattened_target_shows_only_the_fields_the_question_takes() {
        let s = serde_json::to_value(schemars::schema_for!(Question)).unwrap();
        let mut names: Vec<&str> = s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["machine", "package", "platform", "python_version"]);
    }
}
