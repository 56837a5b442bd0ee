//! The upstream services: a leaf of the model that errors and queries both name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The upstream services.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Upstream {
    /// PyPI's JSON API (`/pypi/{name}/json`).
    PypiJson,
    /// PyPI's Simple API, PEP 691 JSON (`/simple/{name}/`).
    PypiSimple,
    /// pypistats.org (`/api/packages/{name}/...`).
    Pypistats,
    /// pepy.tech API v2 (needs an API key).
    Pepy,
    /// The top-pypi-packages dataset.
    TopPackages,
    /// The hosts distribution files are downloaded from (`download_package`). Serves
    /// no document, only streamed transfers, with their own concurrency cap, rate
    /// limit, retry budget and breaker like every upstream.
    Files,
    /// The OSV vulnerability database API (`/v1/querybatch`, `/v1/vulns/{id}`).
    Osv,
    /// A private index configured beside PyPI, as pip's `--extra-index-url`: its
    /// Simple API pages only, asked to see names that exist on both (dependency
    /// confusion).
    ExtraIndex,
}

impl Upstream {
    /// How many upstreams there are (the length of per-upstream arrays).
    pub const COUNT: usize = 8;

    /// Every upstream, in a stable order.
    pub const ALL: [Upstream; Upstream::COUNT] = [
        Upstream::PypiJson,
        Upstream::PypiSimple,
        Upstream::Pypistats,
        Upstream::Pepy,
        Upstream::TopPackages,
        Upstream::Files,
        Upstream::Osv,
        Upstream::ExtraIndex,
    ];

    /// The stable name used in config keys, metrics and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Upstream::PypiJson => "pypi-json",
            Upstream::PypiSimple => "pypi-simple",
            Upstream::Pypistats => "pypistats",
            Upstream::Pepy => "pepy",
            Upstream::TopPackages => "top-packages",
            Upstream::Files => "files",
            Upstream::Osv => "osv",
            Upstream::ExtraIndex => "extra-index",
        }
    }

    /// Index into per-upstream arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
