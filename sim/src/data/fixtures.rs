//! Recorded fixtures (real upstream bodies, see `sim/data/*/SOURCES.md`), compiled into
//! the binary with `include_bytes!` and indexed once per process.
//!
//! * `project/<name>.json` → the PyPI JSON project route, keyed by the normalised
//!   `info.name` (for octocheese only the 2026-02 recording is used).
//! * `release/<name>-<version>.json` → the release route, keyed by (name, version).
//! * `pypi-simple/{json,html}/<name>.*` → the Simple API page of that project.
//!
//! Bodies that were not recorded (a release of a fixture project without a release
//! fixture, the Simple page of a project without a Simple fixture) are **generated**
//! from the recorded project JSON by [`ProjectData`] and cached.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use bytes::Bytes;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};

use super::{Doc, canonical_json, normalise, version_cmp};

macro_rules! data {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/", $path)).as_slice()
    };
}

/// Recorded PyPI JSON project bodies (`GET /pypi/<name>/json`).
pub(crate) static PROJECT_FILES: &[(&str, &[u8])] = &[
    ("apeye.json", data!("pypi-json/project/apeye.json")),
    ("bar.json", data!("pypi-json/project/bar.json")),
    ("black.json", data!("pypi-json/project/black.json")),
    ("coverage.json", data!("pypi-json/project/coverage.json")),
    ("django.json", data!("pypi-json/project/django.json")),
    ("docutils.json", data!("pypi-json/project/docutils.json")),
    ("numpy.json", data!("pypi-json/project/numpy.json")),
    (
        "octocheese-2026-02.json",
        data!("pypi-json/project/octocheese-2026-02.json"),
    ),
    ("pymysql.json", data!("pypi-json/project/pymysql.json")),
    ("pytest.json", data!("pypi-json/project/pytest.json")),
    ("pytz.json", data!("pypi-json/project/pytz.json")),
    ("pyyaml.json", data!("pypi-json/project/pyyaml.json")),
    ("scipy.json", data!("pypi-json/project/scipy.json")),
    (
        "snowballstemmer.json",
        data!("pypi-json/project/snowballstemmer.json"),
    ),
    ("xo-gd.json", data!("pypi-json/project/xo-gd.json")),
];

/// Recorded PyPI JSON release bodies (`GET /pypi/<name>/<version>/json`, 2021, still
/// with a `releases` key).
pub(crate) static RELEASE_FILES: &[(&str, &[u8])] = &[
    (
        "domdf-python-tools-1.0.0.json",
        data!("pypi-json/release/domdf-python-tools-1.0.0.json"),
    ),
    (
        "mathematical-0.4.0.json",
        data!("pypi-json/release/mathematical-0.4.0.json"),
    ),
    (
        "microsoft-0.0.1.json",
        data!("pypi-json/release/microsoft-0.0.1.json"),
    ),
    (
        "numpy-1.20.3.json",
        data!("pypi-json/release/numpy-1.20.3.json"),
    ),
    (
        "shippinglabel-0.12.0.json",
        data!("pypi-json/release/shippinglabel-0.12.0.json"),
    ),
];

/// Recorded Simple API pages: (normalised name, PEP 691 JSON body, PEP 503 HTML body).
pub(crate) static SIMPLE_FILES: &[(&str, &[u8], &[u8])] = &[
    (
        "black",
        data!("pypi-simple/json/black.json"),
        data!("pypi-simple/html/black.html"),
    ),
    (
        "numpy",
        data!("pypi-simple/json/numpy.json"),
        data!("pypi-simple/html/numpy.html"),
    ),
    (
        "pytest",
        data!("pypi-simple/json/pytest.json"),
        data!("pypi-simple/html/pytest.html"),
    ),
    (
        "pytz",
        data!("pypi-simple/json/pytz.json"),
        data!("pypi-simple/html/pytz.html"),
    ),
    (
        "snowballstemmer",
        data!("pypi-simple/json/snowballstemmer.json"),
        data!("pypi-simple/html/snowballstemmer.html"),
    ),
    (
        "xo-gd",
        data!("pypi-simple/json/xo-gd.json"),
        data!("pypi-simple/html/xo-gd.html"),
    ),
];

/// The recorded 2021 PyPI 404 page for an unknown project (`text/html; charset=UTF-8`).
pub(crate) static NOT_FOUND_HTML: &[u8] =
    data!("pypi-json/errors/404-project-fizzbuzz-2021-01.html");

#[derive(Deserialize)]
struct Light {
    info: LightInfo,
    last_serial: u64,
    #[serde(default)]
    releases: BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct LightInfo {
    name: String,
    version: String,
}

/// One project (recorded or synthetic) with its JSON body and lazily generated views.
#[derive(Debug)]
pub(crate) struct ProjectData {
    /// Normalised name.
    pub(crate) name: String,
    /// Display name (`info.name`).
    pub(crate) display: String,
    /// Every version key of `releases`, in natural (numeric-aware) order.
    pub(crate) versions: Vec<String>,
    /// The project route body.
    pub(crate) json: Doc,
    value: OnceLock<Value>,
    simple_json: OnceLock<Arc<Doc>>,
    simple_html: OnceLock<Arc<Doc>>,
    releases: Mutex<HashMap<String, Arc<Doc>>>,
    /// Set for a synthetic dependency-graph project: its releases, metadata files and
    /// Simple page come from the graph, not from the project body.
    pub(crate) graph: Option<Arc<super::graphs::GraphProject>>,
}

impl ProjectData {
    /// Indexes a project body (parsing only the few keys needed up front).
    pub(crate) fn new(body: Bytes) -> Result<Self, serde_json::Error> {
        let light: Light = serde_json::from_slice(&body)?;
        let mut versions: Vec<String> = light.releases.into_keys().collect();
        versions.sort_by(|a, b| version_cmp(a, b));
        Ok(ProjectData {
            name: normalise(&light.info.name),
            display: light.info.name,
            versions,
            json: Doc::new(body, Some(light.last_serial)),
            value: OnceLock::new(),
            simple_json: OnceLock::new(),
            simple_html: OnceLock::new(),
            releases: Mutex::new(HashMap::new()),
            graph: None,
        })
    }

    /// Marks the project as a synthetic dependency-graph project.
    pub(crate) fn with_graph(mut self, g: Arc<super::graphs::GraphProject>) -> Self {
        self.graph = Some(g);
        self
    }

    fn value(&self) -> &Value {
        self.value
            .get_or_init(|| serde_json::from_slice(&self.json.body).unwrap_or(Value::Null))
    }

    /// The stored version key matching `v`: exact, else case-insensitive.
    pub(crate) fn find_version(&self, v: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|k| *k == v)
            .or_else(|| self.versions.iter().find(|k| k.eq_ignore_ascii_case(v)))
            .map(String::as_str)
    }

    /// The release route body for a stored version key: the recorded release fixture
    /// if there is one, else generated from the project body (same `info` with
    /// `version`, `release_url`, `yanked` set for that release, `urls` = its files, no
    /// `releases` key, `vulnerabilities` empty for non-latest versions).
    pub(crate) fn release(&self, version: &str) -> Arc<Doc> {
        if let Some(d) = FIXTURES
            .releases
            .get(&(self.name.clone(), version.to_owned()))
        {
            return d.clone();
        }
        let mut cache = self.releases.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(version.to_owned())
            .or_insert_with(|| Arc::new(self.generate_release(version)))
            .clone()
    }

    fn generate_release(&self, version: &str) -> Doc {
        if let Some(v) = self.graph.as_ref().and_then(|g| g.release_value(version)) {
            return Doc::new(canonical_json(v), self.json.serial);
        }
        let v = self.value();
        let files = v
            .get("releases")
            .and_then(|r| r.get(version))
            .cloned()
            .unwrap_or_else(|| Value::Array(Vec::new()));
        let mut out = Map::new();
        if let Some(obj) = v.as_object() {
            for (k, val) in obj {
                if k != "releases" && k != "urls" {
                    out.insert(k.clone(), val.clone());
                }
            }
        }
        let latest = v
            .pointer("/info/version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(info) = out.get_mut("info").and_then(Value::as_object_mut) {
            info.insert("version".into(), Value::from(version));
            info.insert(
                "release_url".into(),
                Value::from(format!(
                    "https://pypi.org/project/{}/{version}/",
                    self.display
                )),
            );
            let list = files.as_array().map(Vec::as_slice).unwrap_or_default();
            let yanked = !list.is_empty()
                && list
                    .iter()
                    .all(|f| f.get("yanked").and_then(Value::as_bool) == Some(true));
            info.insert("yanked".into(), Value::Bool(yanked));
            let reason = if yanked {
                list.first()
                    .and_then(|f| f.get("yanked_reason"))
                    .cloned()
                    .unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            info.insert("yanked_reason".into(), reason);
        }
        if version != latest && out.contains_key("vulnerabilities") {
            out.insert("vulnerabilities".into(), Value::Array(Vec::new()));
        }
        out.insert("urls".into(), files);
        Doc::new(canonical_json(Value::Object(out)), self.json.serial)
    }

    /// The PEP 691 JSON Simple page (recorded, or generated from the project body).
    pub(crate) fn simple_json(&self) -> Arc<Doc> {
        self.simple_json
            .get_or_init(|| Arc::new(self.generate_simple_json()))
            .clone()
    }

    /// The PEP 503 HTML Simple page (recorded, or generated from the project body).
    pub(crate) fn simple_html(&self) -> Arc<Doc> {
        self.simple_html
            .get_or_init(|| Arc::new(self.generate_simple_html()))
            .clone()
    }

    /// (version, file object) for every file, sorted by (version, filename).
    fn files(&self) -> Vec<(&str, &Map<String, Value>)> {
        let mut out = Vec::new();
        if let Some(rel) = self.value().get("releases").and_then(Value::as_object) {
            for (ver, files) in rel {
                for f in files.as_array().into_iter().flatten() {
                    if let Some(f) = f.as_object() {
                        out.push((ver.as_str(), f));
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            version_cmp(a.0, b.0).then_with(|| fstr(a.1, "filename").cmp(fstr(b.1, "filename")))
        });
        out
    }

    fn generate_simple_json(&self) -> Doc {
        if let Some(g) = &self.graph {
            let serial = self.json.serial.unwrap_or(0);
            return Doc::new(canonical_json(g.simple_value(serial)), Some(serial));
        }
        let files = self.files();
        let mut versions: Vec<&str> = files.iter().map(|(v, _)| *v).collect();
        versions.dedup();
        let entries: Vec<Value> = files
            .iter()
            .map(|(_, f)| {
                let mut hashes = Map::new();
                if let Some(h) = f.get("digests").and_then(|d| d.get("sha256")) {
                    hashes.insert("sha256".into(), h.clone());
                }
                let requires_python = match f.get("requires_python") {
                    Some(Value::String(s)) if !s.is_empty() => Value::from(s.clone()),
                    _ => Value::Null,
                };
                json!({
                    "core-metadata": false,
                    "data-dist-info-metadata": false,
                    "filename": fstr(f, "filename"),
                    "hashes": hashes,
                    "requires-python": requires_python,
                    "size": f.get("size").cloned().unwrap_or(Value::from(0)),
                    "upload-time": upload_time(f),
                    "url": fstr(f, "url"),
                    "yanked": yanked_value(f),
                })
            })
            .collect();
        let serial = self.json.serial.unwrap_or(0);
        let body = json!({
            "files": entries,
            "meta": {"_last-serial": serial, "api-version": "1.1"},
            "name": self.name,
            "versions": versions,
        });
        Doc::new(canonical_json(body), Some(serial))
    }

    fn generate_simple_html(&self) -> Doc {
        let serial = self.json.serial.unwrap_or(0);
        let mut s = String::new();
        s.push_str("<!DOCTYPE html>\n<html>\n  <head>\n");
        s.push_str("    <meta name=\"pypi:repository-version\" content=\"1.1\">\n");
        let _ = writeln!(s, "    <title>Links for {}</title>", escape(&self.name));
        s.push_str("  </head>\n  <body>\n");
        let _ = writeln!(s, "    <h1>Links for {}</h1>", escape(&self.name));
        for (_, f) in self.files() {
            let mut href = fstr(f, "url").to_owned();
            if let Some(h) = f
                .get("digests")
                .and_then(|d| d.get("sha256"))
                .and_then(Value::as_str)
            {
                href.push_str("#sha256=");
                href.push_str(h);
            }
            let mut attrs = String::new();
            if let Some(rp) = f.get("requires_python").and_then(Value::as_str)
                && !rp.is_empty()
            {
                let _ = write!(attrs, " data-requires-python=\"{}\"", escape(rp));
            }
            match yanked_value(f) {
                Value::String(r) => {
                    let _ = write!(attrs, " data-yanked=\"{}\"", escape(&r));
                }
                Value::Bool(true) => attrs.push_str(" data-yanked=\"\""),
                _ => {}
            }
            let _ = writeln!(
                s,
                "    <a href=\"{}\"{attrs} >{}</a><br />",
                escape(&href),
                escape(fstr(f, "filename"))
            );
        }
        s.push_str("    </body>\n</html>\n");
        let _ = writeln!(s, "<!--SERIAL {serial}-->");
        Doc::new(Bytes::from(s), Some(serial))
    }
}

fn fstr<'a>(f: &'a Map<String, Value>, key: &str) -> &'a str {
    f.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn upload_time(f: &Map<String, Value>) -> Value {
    match f.get("upload_time_iso_8601").and_then(Value::as_str) {
        Some(t) => Value::from(t),
        None => match f.get("upload_time").and_then(Value::as_str) {
            Some(t) => Value::from(format!("{t}Z")),
            None => Value::Null,
        },
    }
}

fn yanked_value(f: &Map<String, Value>) -> Value {
    if f.get("yanked").and_then(Value::as_bool) != Some(true) {
        return Value::Bool(false);
    }
    match f.get("yanked_reason").and_then(Value::as_str) {
        Some(r) if !r.is_empty() => Value::from(r),
        _ => Value::Bool(true),
    }
}

/// Minimal HTML escaping for text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Finds the number after `marker` in `body`.
fn number_after(body: &[u8], marker: &[u8]) -> Option<u64> {
    let pos = body.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let digits: Vec<u8> = body[pos..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// The process-wide index of every recorded fixture.
#[derive(Debug)]
pub(crate) struct FixtureSet {
    /// Project fixtures by normalised name.
    pub(crate) projects: BTreeMap<String, Arc<ProjectData>>,
    /// Release fixtures by (normalised name, version).
    pub(crate) releases: HashMap<(String, String), Arc<Doc>>,
}

/// Built on first use (parses the fixtures' `info.name`, `last_serial` and version
/// keys; a few tens of milliseconds).
pub(crate) static FIXTURES: LazyLock<FixtureSet> = LazyLock::new(|| {
    let mut projects = BTreeMap::new();
    for (file, bytes) in PROJECT_FILES {
        let p = ProjectData::new(Bytes::from_static(bytes))
            .unwrap_or_else(|e| panic!("fixture project/{file} is valid JSON: {e}"));
        projects.insert(p.name.clone(), Arc::new(p));
    }
    for (name, json_body, html_body) in SIMPLE_FILES {
        if let Some(p) = projects.get(*name) {
            let js = Doc::new(
                Bytes::from_static(json_body),
                number_after(json_body, b"\"_last-serial\":"),
            );
            let html = Doc::new(
                Bytes::from_static(html_body),
                number_after(html_body, b"<!--SERIAL"),
            );
            let _ = p.simple_json.set(Arc::new(js));
            let _ = p.simple_html.set(Arc::new(html));
        }
    }
    let mut releases = HashMap::new();
    for (file, bytes) in RELEASE_FILES {
        let light: Light = serde_json::from_slice(bytes)
            .unwrap_or_else(|e| panic!("fixture release/{file} is valid JSON: {e}"));
        releases.insert(
            (normalise(&light.info.name), light.info.version),
            Arc::new(Doc::new(Bytes::from_static(bytes), Some(light.last_serial))),
        );
    }
    FixtureSet { projects, releases }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_fixtures() {
        let f = &*FIXTURES;
        assert_eq!(f.projects.len(), PROJECT_FILES.len());
        assert!(f.projects.contains_key("django"));
        assert!(f.projects.contains_key("pyyaml"));
        assert!(f.projects.contains_key("octocheese"));
        assert_eq!(f.releases.len(), RELEASE_FILES.len());
        assert!(f.releases.contains_key(&("numpy".into(), "1.20.3".into())));
        let numpy = &f.projects["numpy"];
        assert_eq!(numpy.simple_json().serial, Some(18816205));
        assert_eq!(numpy.simple_html().serial, Some(18816205));
    }

    #[test]
    fn generated_release_has_no_releases_key() {
        let django = &FIXTURES.projects["django"];
        let v = django.find_version("1.10").unwrap();
        let doc = django.release(v);
        assert!(doc.body.ends_with(b"\n"));
        let parsed: Value = serde_json::from_slice(&doc.body).unwrap();
        assert_eq!(parsed["info"]["version"], "1.10");
        assert!(parsed.get("releases").is_none());
        assert!(parsed["urls"].is_array());
        // Canonical: re-serialising gives the same bytes.
        assert_eq!(canonical_json(parsed), doc.body);
    }

    #[test]
    fn generated_simple_pages() {
        let django = &FIXTURES.projects["django"];
        let js: Value = serde_json::from_slice(&django.simple_json().body).unwrap();
        assert_eq!(js["name"], "django");
        assert_eq!(js["meta"]["api-version"], "1.1");
        let versions: Vec<&str> = js["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let pos = |x: &str| versions.iter().position(|v| *v == x).unwrap();
        assert!(pos("1.9") < pos("1.10"));
        let html = String::from_utf8(django.simple_html().body.to_vec()).unwrap();
        assert!(html.contains("<!--SERIAL"));
        assert!(html.contains("#sha256="));
    }
}
