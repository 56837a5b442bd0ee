//! Fault injection: [`FaultSpec`] (what goes wrong, where, when), the route glob matcher,
//! the pure activity decision ([`FaultSpec::active_at`]) and the fault store that picks
//! the fault applying to one request.
//!
//! Faults are checked in insertion order; the first fault that matches the request path,
//! is active on its timeline, is not spent (`times`) and wins its `probability` roll
//! applies. Only an applied fault counts one use towards `times`.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// One injected fault. Every field except `route` is optional; a fault with no effect
/// field set matches requests and answers them normally (useful with `latency_ms`).
///
/// Effects are applied in this order: `latency_ms` (delay), then the first of `hang`,
/// `reset`, `redirect_loop`, `redirect_to`, `status`, `oversize_bytes` that is set (these replace the
/// answer); otherwise the normal answer is computed and then altered by `drift`,
/// `malformed_json`, `corrupt_bytes`, `truncate`, `content_type`, `cache_control` and
/// `no_etag`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSpec {
    /// Glob over the request path: `*` = one path segment (no `/`), `**` = any number
    /// of segments, e.g. `/api/packages/*/recent`, `/pypi/**`, `/simple/**`. A `*` inside
    /// a segment matches any run of characters within that segment. A trailing `/` is
    /// ignored on both the glob and the path.
    pub route: String,
    /// Answer with this status; the body is a short text like the real upstream's.
    pub status: Option<u16>,
    /// Seconds, sent as `Retry-After` (meant for 429/503).
    pub retry_after: Option<u64>,
    /// Answer `301` with `Location` = the request path, forever.
    pub redirect_loop: bool,
    /// Answer `301` with `Location` = this path (e.g. a CDN redirecting the normalised
    /// name to the display name, `/pypi/Django/json`, which then redirects back).
    pub redirect_to: Option<String>,
    /// Delay before answering (normally, or with the other effects of this fault).
    pub latency_ms: Option<u64>,
    /// Accept the request and never answer (until the client gives up or the simulator
    /// shuts down).
    pub hang: bool,
    /// Drop the connection without sending any HTTP response.
    pub reset: bool,
    /// Send the headers with the real `Content-Length`, then only half of the body, then
    /// close the connection.
    pub truncate: bool,
    /// Flip bits in a few bytes of an otherwise normal body, keeping its length and
    /// `Content-Length` (a CDN node serving a corrupted file: only a digest check sees
    /// it).
    pub corrupt_bytes: bool,
    /// Answer `200` with a streamed body of exactly this many bytes (a JSON-looking
    /// prefix then filler) and a matching `Content-Length`.
    pub oversize_bytes: Option<u64>,
    /// Answer `200 application/json` with a body that is not JSON (the real body cut in
    /// half followed by `{"info": {`).
    pub malformed_json: bool,
    /// Schema drift on the real JSON body: `missing_field`, `null_array`,
    /// `unknown_field`, `wrong_types` or (OSV batches) `endless_next_page`; on a
    /// metadata file (`/files/*/*.metadata`), `metadata_mismatch`: its
    /// `Requires-Dist` lines dropped, so its bytes no longer match the sha256 the
    /// Simple page gives (see the crate README); on OSV's export (`/PyPI/all.zip`),
    /// `zip_bomb` (an entry claiming 100 bytes that inflates to 1 GiB), `zip_lies`
    /// (every entry's offset past the entries' end) or `zip_bad_entry` (one entry
    /// that is not JSON).
    pub drift: Option<String>,
    /// Override the `Content-Type` of an otherwise normal answer.
    pub content_type: Option<String>,
    /// Override the `Cache-Control` of an otherwise normal answer (e.g. `max-age=30`,
    /// `no-store`, a hostile `max-age=999999999`, a malformed value).
    pub cache_control: Option<String>,
    /// Send an otherwise normal answer without its `ETag` (a proxy that strips it, as
    /// nginx's gzip filter did before 1.7.3); a `Last-Modified` stays, so a client can
    /// still revalidate with `If-Modified-Since`.
    pub no_etag: bool,
    /// Probability (0..=1) that the fault applies to a matching request.
    pub probability: Option<f64>,
    /// Apply only to the next N matching requests; then the fault is spent.
    pub times: Option<u64>,
    /// Scripted activity: phases in order, starting when the fault was added. After the
    /// last phase the fault is inactive unless `repeat` is set.
    pub timeline: Option<Vec<Phase>>,
    /// Loop the `timeline` forever.
    pub repeat: bool,
}

/// One phase of a fault's [`FaultSpec::timeline`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Length of the phase in seconds.
    pub secs: u64,
    /// Whether the fault is active during this phase.
    pub active: bool,
}

/// The drift kinds accepted in [`FaultSpec::drift`].
pub const DRIFT_KINDS: [&str; 9] = [
    "missing_field",
    "null_array",
    "unknown_field",
    "endless_next_page",
    "wrong_types",
    "metadata_mismatch",
    "zip_bomb",
    "zip_lies",
    "zip_bad_entry",
];

impl FaultSpec {
    /// A fault on `route` with no effect set (build the rest with struct update syntax).
    pub fn on(route: &str) -> Self {
        FaultSpec {
            route: route.to_owned(),
            ..Default::default()
        }
    }

    /// Checks the spec: non-empty route starting with `/`, probability in 0..=1, a known
    /// drift kind, a valid status code.
    pub fn validate(&self) -> Result<(), String> {
        if self.route.trim().is_empty() {
            return Err("route must not be empty (e.g. \"/pypi/**\")".into());
        }
        if !self.route.starts_with('/') {
            return Err(format!(
                "route must start with '/', got {:?} (e.g. \"/pypi/**\")",
                self.route
            ));
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("probability must be within 0..=1, got {p}"));
        }
        if let Some(d) = &self.drift
            && !DRIFT_KINDS.contains(&d.as_str())
        {
            return Err(format!(
                "drift must be one of {}, got {d:?}",
                DRIFT_KINDS.join(", ")
            ));
        }
        if let Some(to) = &self.redirect_to
            && !to.starts_with('/')
        {
            return Err(format!(
                "redirect_to must be a path starting with '/', got {to:?}"
            ));
        }
        if let Some(s) = self.status
            && !(100..=999).contains(&s)
        {
            return Err(format!("status must be within 100..=999, got {s}"));
        }
        Ok(())
    }

    /// Whether the request path matches this fault's route glob.
    pub fn matches(&self, path: &str) -> bool {
        glob_match(&self.route, path)
    }

    /// Whether the fault is active `elapsed` after it was added, according to its
    /// timeline alone (no timeline = always active). Pure: no clock is read.
    pub fn active_at(&self, elapsed: Duration) -> bool {
        let Some(phases) = &self.timeline else {
            return true;
        };
        let total: u64 = phases.iter().map(|p| p.secs).sum();
        if total == 0 {
            return false;
        }
        let total = Duration::from_secs(total);
        let mut t = elapsed;
        if t >= total {
            if !self.repeat {
                return false;
            }
            t = Duration::from_nanos((t.as_nanos() % total.as_nanos()) as u64);
        }
        let mut start = Duration::ZERO;
        for p in phases {
            let end = start + Duration::from_secs(p.secs);
            if t >= start && t < end {
                return p.active;
            }
            start = end;
        }
        false
    }
}

/// Glob match of a request path (`*` = one segment or a run of characters within one
/// segment, `**` = any number of whole segments). A trailing `/` is ignored on both
/// sides; the query string must not be part of `path`.
pub fn glob_match(glob: &str, path: &str) -> bool {
    let g: Vec<&str> = trim_slash(glob).split('/').collect();
    let p: Vec<&str> = trim_slash(path).split('/').collect();
    match_segments(&g, &p)
}

fn trim_slash(s: &str) -> &str {
    if s.len() > 1 {
        s.strip_suffix('/').unwrap_or(s)
    } else {
        s
    }
}

fn match_segments(g: &[&str], p: &[&str]) -> bool {
    match g.split_first() {
        None => p.is_empty(),
        Some((&"**", rest)) => (0..=p.len()).any(|i| match_segments(rest, &p[i..])),
        Some((seg, rest)) => match p.split_first() {
            Some((ps, prest)) => {
                match_within(seg.as_bytes(), ps.as_bytes()) && match_segments(rest, prest)
            }
            None => false,
        },
    }
}

/// `*` wildcard match inside one segment.
fn match_within(g: &[u8], s: &[u8]) -> bool {
    match g.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| match_within(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && match_within(rest, &s[1..]),
    }
}

#[derive(Debug)]
struct Entry {
    id: u64,
    spec: FaultSpec,
    added: Instant,
    used: u64,
}

/// The ordered set of active faults of one simulator.
#[derive(Debug)]
pub(crate) struct FaultStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    next_id: u64,
    entries: Vec<Entry>,
    rng: StdRng,
}

impl FaultStore {
    pub(crate) fn new(seed: u64) -> Self {
        FaultStore {
            inner: Mutex::new(StoreInner {
                next_id: 1,
                entries: Vec::new(),
                rng: StdRng::seed_from_u64(seed ^ 0x5eed_fa17),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, spec: FaultSpec) -> u64 {
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.entries.push(Entry {
            id,
            spec,
            added: Instant::now(),
            used: 0,
        });
        id
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut g = self.lock();
        let before = g.entries.len();
        g.entries.retain(|e| e.id != id);
        g.entries.len() != before
    }

    pub(crate) fn list(&self) -> Vec<(u64, FaultSpec)> {
        self.lock()
            .entries
            .iter()
            .map(|e| (e.id, e.spec.clone()))
            .collect()
    }

    pub(crate) fn clear(&self) {
        self.lock().entries.clear();
    }

    /// Replaces every fault with `specs` (used by scenarios).
    pub(crate) fn replace(&self, specs: Vec<FaultSpec>) {
        self.clear();
        for s in specs {
            self.add(s);
        }
    }

    /// The fault applying to one request on `path` at `now`, if any; counts one use.
    pub(crate) fn decide(&self, path: &str, now: Instant) -> Option<FaultSpec> {
        let mut g = self.lock();
        let StoreInner { entries, rng, .. } = &mut *g;
        for e in entries.iter_mut() {
            if !e.spec.matches(path) {
                continue;
            }
            if e.spec.times.is_some_and(|n| e.used >= n) {
                continue;
            }
            if !e.spec.active_at(now.saturating_duration_since(e.added)) {
                continue;
            }
            let applies = match e.spec.probability {
                None => true,
                Some(p) if p >= 1.0 => true,
                Some(p) if p <= 0.0 => false,
                Some(p) => rng.random_bool(p),
            };
            if applies {
                e.used += 1;
                return Some(e.spec.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_segments() {
        assert!(glob_match("/pypi/**", "/pypi/numpy/json"));
        assert!(glob_match("/pypi/**", "/pypi/numpy/1.0/json"));
        assert!(glob_match("/**", "/anything/at/all"));
        assert!(glob_match("/**", "/"));
        assert!(glob_match(
            "/api/packages/*/recent",
            "/api/packages/numpy/recent"
        ));
        assert!(!glob_match(
            "/api/packages/*/recent",
            "/api/packages/numpy/overall"
        ));
        assert!(!glob_match(
            "/api/packages/*/recent",
            "/api/packages/a/b/recent"
        ));
        assert!(glob_match("/simple/**", "/simple/numpy/"));
        assert!(glob_match("/simple/*/", "/simple/numpy/"));
        assert!(glob_match("/simple/*", "/simple/numpy/"));
        assert!(glob_match("/pypi/*/json", "/pypi/numpy/json"));
        assert!(!glob_match("/pypi/*/json", "/pypi/numpy/1.0/json"));
        assert!(glob_match("/pypi/num*/json", "/pypi/numpy/json"));
        assert!(glob_match("/api/**/recent", "/api/packages/numpy/recent"));
        assert!(!glob_match("/pypi/**", "/simple/numpy/"));
        assert!(glob_match(
            "/top-pypi-packages.min.json",
            "/top-pypi-packages.min.json"
        ));
    }

    #[test]
    fn timeline_is_pure() {
        let f = FaultSpec {
            timeline: Some(vec![
                Phase {
                    secs: 10,
                    active: false,
                },
                Phase {
                    secs: 30,
                    active: true,
                },
            ]),
            ..FaultSpec::on("/**")
        };
        assert!(!f.active_at(Duration::ZERO));
        assert!(!f.active_at(Duration::from_millis(9_999)));
        assert!(f.active_at(Duration::from_secs(10)));
        assert!(f.active_at(Duration::from_secs(25)));
        assert!(f.active_at(Duration::from_secs(39)));
        assert!(!f.active_at(Duration::from_secs(40)));
        assert!(
            !f.active_at(Duration::from_secs(1000)),
            "inactive after the last phase"
        );
        let r = FaultSpec { repeat: true, ..f };
        assert!(r.active_at(Duration::from_secs(55)));
        assert!(!r.active_at(Duration::from_secs(45)));
        assert!(FaultSpec::on("/**").active_at(Duration::from_secs(1_000_000)));
    }

    #[test]
    fn validation() {
        assert!(FaultSpec::on("").validate().is_err());
        assert!(FaultSpec::on("pypi").validate().is_err());
        let p = FaultSpec {
            probability: Some(1.5),
            ..FaultSpec::on("/**")
        };
        assert!(p.validate().unwrap_err().contains("probability"));
        let d = FaultSpec {
            drift: Some("bogus".into()),
            ..FaultSpec::on("/**")
        };
        assert!(d.validate().is_err());
        assert!(FaultSpec::on("/**").validate().is_ok());
    }

    #[test]
    fn store_order_and_times() {
        let s = FaultStore::new(1);
        let a = s.add(FaultSpec {
            status: Some(502),
            times: Some(2),
            ..FaultSpec::on("/pypi/**")
        });
        let b = s.add(FaultSpec {
            status: Some(503),
            ..FaultSpec::on("/**")
        });
        let now = Instant::now();
        assert_eq!(s.decide("/pypi/x/json", now).unwrap().status, Some(502));
        assert_eq!(s.decide("/pypi/x/json", now).unwrap().status, Some(502));
        assert_eq!(s.decide("/pypi/x/json", now).unwrap().status, Some(503));
        assert!(s.remove(b));
        assert!(!s.remove(b));
        assert!(s.decide("/pypi/x/json", now).is_none());
        assert_eq!(s.list().len(), 1);
        assert_eq!(s.list()[0].0, a);
    }
}
