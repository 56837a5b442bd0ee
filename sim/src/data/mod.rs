//! The simulator's data: recorded fixtures ([`fixtures`]), generated download
//! statistics ([`pypistats`]), generated synthetic projects ([`synthetic`]) and the
//! per-simulator [`Catalog`] that knows every package.
//!
//! Shared helpers live here: PEP 503 normalisation, a numeric-aware version order, a
//! deterministic FNV hash, ETags and the canonical (compact, sorted keys, trailing
//! newline) JSON serialisation that PyPI and pypistats use.

pub(crate) mod fixtures;
pub(crate) mod graphs;
pub(crate) mod pypistats;
pub(crate) mod sdists;
pub(crate) mod suspects;
pub(crate) mod synthetic;
pub(crate) mod wheels;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use serde_json::{Map, Value};

use fixtures::{FIXTURES, ProjectData};

/// PEP 503 normalisation: lower-case, runs of `-`, `_`, `.` become one `-`.
pub(crate) fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

/// Whether `name` only uses characters a project name may contain (ASCII letters,
/// digits, `-`, `_`, `.`), so that it is worth normalising and redirecting.
pub(crate) fn plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part<'a> {
    /// A letter run such as `a`, `b`, `rc`, `dev` (pre-release markers): before the end.
    Pre(&'a str),
    End,
    Num(u64),
    /// A letter run that sorts after the end (`post`).
    Post(&'a str),
}

fn parts(v: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Part::Num(v[start..i].parse().unwrap_or(u64::MAX)));
        } else if b[i].is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word = &v[start..i];
            if word.eq_ignore_ascii_case("post") {
                out.push(Part::Post(word));
            } else {
                out.push(Part::Pre(word));
            }
        } else {
            i += 1;
        }
    }
    out.push(Part::End);
    out
}

/// A simple numeric-aware version order ("good enough", not full PEP 440): digit runs
/// compare as numbers, letter runs (`a`, `b`, `rc`, `dev`) sort before the release,
/// `post` after it; ties fall back to string order.
pub(crate) fn version_cmp(a: &str, b: &str) -> Ordering {
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

/// 64-bit FNV-1a over several byte strings (separated so `("ab","c") != ("a","bc")`).
pub(crate) fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Uniform float in `[0, 1)` from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A strong, quoted ETag: `"` + 22 characters of unpadded base64 of a 128-bit FNV-1a
/// hash of the body + `"`. Same shape as PyPI's (which uses MD5); treat it as opaque.
pub(crate) fn etag_of(body: &[u8]) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for &b in body {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let bytes = h.to_be_bytes();
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(24);
    out.push('"');
    let mut bits: u32 = 0;
    let mut n = 0;
    for &b in &bytes {
        bits = (bits << 8) | u32::from(b);
        n += 8;
        while n >= 6 {
            n -= 6;
            out.push(ALPHABET[((bits >> n) & 63) as usize] as char);
        }
    }
    if n > 0 {
        out.push(ALPHABET[((bits << (6 - n)) & 63) as usize] as char);
    }
    out.push('"');
    out
}

/// Rebuilds `v` with every object's keys in sorted order (whatever map type serde_json
/// was built with).
pub(crate) fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k, sorted(v));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Canonical upstream serialisation: compact, keys sorted at every level, raw UTF-8,
/// followed by one `\n`.
pub(crate) fn canonical_json(v: Value) -> Bytes {
    let mut out = serde_json::to_vec(&sorted(v)).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// A response body with its (lazily computed) ETag and, for PyPI bodies, the serial.
#[derive(Debug)]
pub(crate) struct Doc {
    /// The bytes on the wire.
    pub(crate) body: Bytes,
    /// `last_serial` / `_last-serial` of the body, when it has one.
    pub(crate) serial: Option<u64>,
    etag: OnceLock<String>,
}

impl Doc {
    pub(crate) fn new(body: Bytes, serial: Option<u64>) -> Self {
        Doc {
            body,
            serial,
            etag: OnceLock::new(),
        }
    }

    pub(crate) fn etag(&self) -> &str {
        self.etag.get_or_init(|| etag_of(&self.body))
    }
}

/// Every package one simulator knows: the recorded fixture projects plus `synthetic`
/// generated ones (`synth-0000`, ...), with per-simulator caches of generated bodies.
#[derive(Debug)]
pub(crate) struct Catalog {
    seed: u64,
    synthetic: usize,
    names: Vec<String>,
    synth_cache: Mutex<HashMap<usize, Arc<ProjectData>>>,
    /// The synthetic typo-squats ([`suspects`]).
    suspects: BTreeMap<String, Arc<ProjectData>>,
    top: OnceLock<Arc<Doc>>,
}

impl Catalog {
    pub(crate) fn new(seed: u64, synthetic: usize) -> Self {
        let mut names: Vec<String> = FIXTURES.projects.keys().cloned().collect();
        names.extend((0..synthetic).map(synthetic::name));
        let suspects: BTreeMap<String, Arc<ProjectData>> = suspects::SUSPECTS
            .iter()
            .map(|n| (n.to_string(), Arc::new(suspects::project(n))))
            .collect();
        names.extend(suspects.keys().cloned());
        names.sort();
        Catalog {
            seed,
            synthetic,
            names,
            synth_cache: Mutex::new(HashMap::new()),
            suspects,
            top: OnceLock::new(),
        }
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// All known (normalised) package names, sorted.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a normalised name is a known package.
    pub(crate) fn contains(&self, name: &str) -> bool {
        FIXTURES.projects.contains_key(name)
            || self.suspects.contains_key(name)
            || self.synth_index(name).is_some()
            || graphs::GRAPHS.contains_key(name)
    }

    fn synth_index(&self, name: &str) -> Option<usize> {
        let i = synthetic::index_of(name)?;
        (i < self.synthetic).then_some(i)
    }

    /// The project behind a normalised name.
    pub(crate) fn project(&self, name: &str) -> Option<Arc<ProjectData>> {
        if let Some(p) = FIXTURES.projects.get(name) {
            return Some(p.clone());
        }
        if let Some(p) = self.suspects.get(name) {
            return Some(p.clone());
        }
        if let Some(p) = graphs::project_data(name) {
            return Some(p);
        }
        let i = self.synth_index(name)?;
        let mut cache = self.synth_cache.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            cache
                .entry(i)
                .or_insert_with(|| Arc::new(synthetic::project(i, self.seed)))
                .clone(),
        )
    }

    /// The versions of a known project (natural order), for pepy.
    pub(crate) fn versions(&self, name: &str) -> Vec<String> {
        self.project(name)
            .map(|p| p.versions.clone())
            .unwrap_or_default()
    }

    /// The top-packages body, generated once per simulator, against the `today` of
    /// its first request.
    pub(crate) fn top(&self, today: crate::date::SimDay) -> Arc<Doc> {
        self.top
            .get_or_init(|| {
                // The synthetic typo-squats are not popular: like their real kind,
                // they are not in the dataset.
                let mut rows: Vec<(u64, &str)> = self
                    .names
                    .iter()
                    .filter(|n| !self.suspects.contains_key(n.as_str()))
                    .map(|n| {
                        (
                            pypistats::Series::generate(n, self.seed, today, 0).last_month(),
                            n.as_str(),
                        )
                    })
                    .collect();
                rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
                let rows: Vec<Value> = rows
                    .into_iter()
                    .map(|(n, p)| serde_json::json!({"download_count": n, "project": p}))
                    .collect();
                let mut top = BTreeMap::new();
                top.insert("last_update", Value::from(format!("{today} 00:00:00")));
                top.insert("rows", Value::Array(rows));
                let body =
                    serde_json::to_vec(&sorted(serde_json::to_value(top).unwrap_or_default()))
                        .unwrap_or_default();
                Arc::new(Doc::new(Bytes::from(body), None))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalise("Django"), "django");
        assert_eq!(normalise("zope.interface"), "zope-interface");
        assert_eq!(normalise("A__b-.-C"), "a-b-c");
        assert!(plausible_name("PyYAML"));
        assert!(!plausible_name("a b"));
        assert!(!plausible_name(""));
    }

    #[test]
    fn version_order() {
        let mut v = vec!["1.10", "1.2", "1.0rc1", "1.0", "1.0.post1", "2004d", "0.9"];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            v,
            ["0.9", "1.0rc1", "1.0", "1.0.post1", "1.2", "1.10", "2004d"]
        );
    }

    #[test]
    fn etag_shape() {
        let e = etag_of(b"hello");
        assert_eq!(e.len(), 24);
        assert!(e.starts_with('"') && e.ends_with('"'));
        assert_eq!(e, etag_of(b"hello"));
        assert_ne!(e, etag_of(b"hello!"));
    }

    #[test]
    fn canonical_sorts_keys() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": null}});
        assert_eq!(
            &canonical_json(v)[..],
            b"{\"a\":{\"c\":null,\"d\":[1,{\"y\":1,\"z\":0}]},\"b\":1}\n"
        );
    }
}
