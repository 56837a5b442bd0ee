//! The OSV API (<https://google.github.io/osv.dev/api/>): which advisories are about a
//! PyPI release (`POST /v1/querybatch`, ids only, paged by `next_page_token`), and each
//! advisory (`GET /v1/vulns/{id}`), read into the [`Vulnerability`] shape PyPI's
//! per-release JSON lists, so one view serves both sources.
//!
//! Pure and bounded: an id is checked before it goes into a URL, a page holds at most
//! [`MAX_OSV_IDS`] ids, a token at most [`MAX_TOKEN_BYTES`]; the fields kept are the
//! ones the view needs (an advisory's `details` can be pages of prose).

use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use super::ParseError;
use super::pypi::Vulnerability;
use crate::model::limits::MAX_OSV_IDS;
use crate::model::{PackageName, PackageVersion, clip_echo};

/// The longest advisory id taken (OSV's are under 40 characters).
pub const MAX_ID_BYTES: usize = 100;
/// The longest `next_page_token` sent back.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// The longest summary kept.
const MAX_SUMMARY_CHARS: usize = 500;
/// Most aliases, fixed versions and affected packages kept per advisory.
const MAX_LIST: usize = 200;

/// The ids of the advisories about one release: every page of `querybatch` joined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvIds {
    /// Advisory ids, in the order given, without repeats.
    pub ids: Vec<String>,
    /// The token of the next page, while pages are being joined (`None` in the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// One advisory, the parts the view needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvAdvisory {
    /// Its id.
    pub id: String,
    /// Other ids of the same advisory (`PYSEC-…` ↔ `GHSA-…`, `CVE-…`).
    pub aliases: Vec<String>,
    /// One line, when given.
    pub summary: Option<String>,
    /// When it was last changed (RFC 3339), as OSV says.
    pub modified: Option<String>,
    /// When it was withdrawn, if it was.
    pub withdrawn: Option<String>,
    /// The PyPI packages it is about (normalised names) and each one's fixed versions.
    pub affected: Vec<(String, Vec<String>)>,
}

impl OsvAdvisory {
    /// Approximate heap size, for the cache's weigher.
    pub fn approx_bytes(&self) -> usize {
        let list = |v: &[String]| v.iter().map(|s| s.len() + 24).sum::<usize>();
        64 + self.id.len()
            + list(&self.aliases)
            + self.summary.as_ref().map_or(0, String::len)
            + self
                .affected
                .iter()
                .map(|(n, f)| n.len() + 48 + list(f))
                .sum::<usize>()
    }

    /// As PyPI's JSON would list it for `package`: the fixed versions of that package.
    pub fn for_package(&self, package: &PackageName) -> Vulnerability {
        let fixed_in = self
            .affected
            .iter()
            .filter(|(n, _)| n == package.as_str())
            .flat_map(|(_, f)| f.iter().cloned())
            .collect();
        Vulnerability {
            id: self.id.clone(),
            aliases: self.aliases.clone(),
            summary: self.summary.clone(),
            link: Some(format!("https://osv.dev/vulnerability/{}", self.id)),
            source: Some("osv".into()),
            fixed_in,
            withdrawn: self.withdrawn.clone(),
            data_date: None,
        }
    }
}

/// Whether `id` may be asked for: OSV ids are letters, digits and `-._:` (e.g.
/// `PYSEC-2021-66`, `GHSA-xxxx-xxxx-xxxx`), nothing that changes a URL's path.
pub fn check_id(id: &str) -> Result<(), ParseError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ParseError::Invalid(format!(
            "{:?} is not an OSV advisory id",
            clip_echo(id)
        )))
    }
}

/// The `querybatch` body asking about one PyPI release, from `page_token` on.
pub fn batch_request(
    name: &PackageName,
    version: &PackageVersion,
    page_token: Option<&str>,
) -> Vec<u8> {
    let mut q = serde_json::json!({
        "package": {"name": name.as_str(), "ecosystem": "PyPI"},
        "version": version.as_str(),
    });
    if let Some(t) = page_token {
        q["page_token"] = serde_json::Value::from(t);
    }
    serde_json::json!({ "queries": [q] })
        .to_string()
        .into_bytes()
}

#[derive(Deserialize)]
struct BatchWire {
    results: Vec<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    #[serde(default)]
    vulns: Option<Vec<IdWire>>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct IdWire {
    id: String,
}

/// One page of a `querybatch` answer to a single query: its ids and the next token.
pub fn parse_batch(body: &[u8]) -> Result<OsvIds, ParseError> {
    let w: BatchWire = serde_json::from_slice(body)?;
    let [r] = <[BatchResult; 1]>::try_from(w.results).map_err(|v| {
        ParseError::Invalid(format!("{} results where one query was sent", v.len()))
    })?;
    let list = r.vulns.unwrap_or_default();
    if list.len() > MAX_OSV_IDS {
        return Err(ParseError::Invalid(format!(
            "{} advisory ids on one page, more than the {MAX_OSV_IDS} taken",
            list.len()
        )));
    }
    let mut ids = Vec::with_capacity(list.len());
    for v in list {
        check_id(&v.id)?;
        if !ids.contains(&v.id) {
            ids.push(v.id);
        }
    }
    let next_page_token = r.next_page_token.filter(|t| !t.is_empty());
    if let Some(t) = &next_page_token
        && (t.len() > MAX_TOKEN_BYTES || t.chars().any(char::is_control))
    {
        return Err(ParseError::Invalid(format!(
            "a next_page_token of {} bytes (at most {MAX_TOKEN_BYTES}, printable)",
            t.len()
        )));
    }
    Ok(OsvIds {
        ids,
        next_page_token,
    })
}

impl OsvIds {
    /// Adds a later page's ids (without repeats), refusing more than [`MAX_OSV_IDS`].
    pub fn join(&mut self, page: OsvIds) -> Result<(), ParseError> {
        for id in page.ids {
            if !self.ids.contains(&id) {
                self.ids.push(id);
            }
        }
        if self.ids.len() > MAX_OSV_IDS {
            return Err(ParseError::Invalid(format!(
                "more than {MAX_OSV_IDS} advisory ids for one release"
            )));
        }
        self.next_page_token = page.next_page_token;
        Ok(())
    }
}

#[derive(Deserialize)]
struct VulnWire {
    id: String,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    affected: Option<Vec<AffectedWire>>,
}

#[derive(Deserialize)]
struct AffectedWire {
    #[serde(default)]
    package: Option<PackageWire>,
    #[serde(default)]
    ranges: Option<Vec<RangeWire>>,
    /// The versions it affects, listed (OSV lists them for PyPI).
    #[serde(default)]
    versions: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct PackageWire {
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RangeWire {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    events: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
}

/// `GET /v1/vulns/{id}`: the advisory asked for (or one that names `asked` among its
/// aliases: OSV answers an alias with the record it belongs to).
pub fn parse_vuln(asked: &str, body: &[u8]) -> Result<OsvAdvisory, ParseError> {
    parse_record(asked, body).map(|(a, _)| a)
}

/// One advisory record (an API answer or an entry of OSV's export), with what decides
/// which releases of each PyPI package it affects (for the export, which is matched
/// here rather than by OSV's servers).
pub fn parse_record(
    asked: &str,
    body: &[u8],
) -> Result<(OsvAdvisory, Vec<AffectedPackage>), ParseError> {
    let w: VulnWire = serde_json::from_slice(body)?;
    check_id(&w.id)?;
    let mut aliases = w.aliases.unwrap_or_default();
    if w.id != asked && !aliases.iter().any(|a| a == asked) {
        return Err(ParseError::Invalid(format!(
            "the body is about advisory {:?}, not {:?}",
            clip_echo(&w.id),
            clip_echo(asked)
        )));
    }
    aliases.retain(|a| check_id(a).is_ok() && a != &w.id);
    aliases.truncate(MAX_LIST);
    let mut affected: Vec<(String, Vec<String>)> = Vec::new();
    let mut matching: Vec<AffectedPackage> = Vec::new();
    for a in w.affected.unwrap_or_default() {
        let Some(p) = a.package else { continue };
        // Only PyPI's entries (an advisory can name other ecosystems' packages too).
        let pypi = p
            .ecosystem
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("pypi"));
        let Some(name) = p.name.as_deref().and_then(|n| PackageName::parse(n).ok()) else {
            continue;
        };
        if !pypi {
            continue;
        }
        // Only ECOSYSTEM ranges are in PEP 440 versions (GIT ranges are commits).
        let ranges: Vec<Vec<RangeEvent>> = a
            .ranges
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.kind.as_deref() == Some("ECOSYSTEM"))
            .map(|r| {
                r.events
                    .unwrap_or_default()
                    .iter()
                    .filter_map(RangeEvent::of)
                    .collect()
            })
            .collect();
        let mut fixed: Vec<String> = ranges
            .iter()
            .flatten()
            .filter_map(|e| match e {
                RangeEvent::Fixed(f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        fixed.dedup();
        fixed.truncate(MAX_LIST);
        let versions: Vec<String> = a
            .versions
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .filter(|v| PackageVersion::parse(v).is_ok())
            .collect();
        if affected.len() < MAX_LIST {
            affected.push((name.as_str().to_string(), fixed));
        }
        match matching.iter_mut().find(|m| m.name == name.as_str()) {
            // One package named twice (two ranges blocks): either may affect a release.
            Some(m) => {
                m.ranges.extend(ranges);
                m.versions.extend(versions);
            }
            None => matching.push(AffectedPackage {
                name: name.as_str().to_string(),
                ranges,
                versions,
            }),
        }
    }
    let advisory = OsvAdvisory {
        id: w.id,
        aliases,
        summary: w
            .summary
            .map(|s| s.trim().chars().take(MAX_SUMMARY_CHARS).collect())
            .filter(|s: &String| !s.is_empty()),
        modified: w.modified.map(|m| m.chars().take(40).collect()),
        withdrawn: w.withdrawn.map(|m| m.chars().take(40).collect()),
        affected,
    };
    Ok((advisory, matching))
}

/// The advisories of two sources (or of one source listing an advisory under two ids),
/// merged: entries that share an id or an alias are one advisory, whose `source` says
/// which sources listed it (`pypi`, `osv`, or `pypi+osv`, in the lists' order) and whose fixed versions and
/// aliases are the union. The first list's id is kept.
pub fn merge(lists: &[&[Vulnerability]]) -> Vec<Vulnerability> {
    let mut out: Vec<Vulnerability> = Vec::new();
    for v in lists.iter().flat_map(|l| l.iter()) {
        let names = |x: &Vulnerability| -> Vec<String> {
            std::iter::once(x.id.clone())
                .chain(x.aliases.iter().cloned())
                .collect()
        };
        let mine = names(v);
        let found = out
            .iter_mut()
            .find(|o| names(o).iter().any(|n| mine.contains(n)));
        let Some(o) = found else {
            out.push(v.clone());
            continue;
        };
        for a in mine {
            if a != o.id && !o.aliases.contains(&a) {
                o.aliases.push(a);
            }
        }
        for f in &v.fixed_in {
            if !o.fixed_in.contains(f) {
                o.fixed_in.push(f.clone());
            }
        }
        o.summary = o.summary.take().or_else(|| v.summary.clone());
        o.link = o.link.take().or_else(|| v.link.clone());
        o.data_date = o.data_date.take().or_else(|| v.data_date.clone());
        // Withdrawn only when every source listing it says so.
        if v.withdrawn.is_none() {
            o.withdrawn = None;
        }
        let mut sources: Vec<&str> = o
            .source
            .as_deref()
            .unwrap_or("")
            .split('+')
            .chain(v.source.as_deref())
            .filter(|s| !s.is_empty())
            .collect();
        let mut seen = Vec::new();
        sources.retain(|s| {
            let new = !seen.contains(s);
            seen.push(*s);
            new
        });
        o.source = Some(sources.join("+"));
    }
    out
}

/// One event of an `ECOSYSTEM` range, its version as OSV gives it (`0` for "from the
/// first release").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeEvent {
    /// Affected from this version on.
    Introduced(String),
    /// Not affected from this version on.
    Fixed(String),
    /// Affected up to and including this version.
    LastAffected(String),
}

impl RangeEvent {
    /// From an event object of a record; `None` for a `limit` (git only), an unknown
    /// kind or a version that is not PEP 440 (`introduced: "0"` aside).
    pub(crate) fn of(e: &serde_json::Map<String, serde_json::Value>) -> Option<RangeEvent> {
        let (kind, v) = e.iter().next()?;
        let v = v.as_str()?;
        if !(v == "0" && kind == "introduced") && Version::from_str(v).is_err() {
            return None;
        }
        Some(match kind.as_str() {
            "introduced" => RangeEvent::Introduced(v.into()),
            "fixed" => RangeEvent::Fixed(v.into()),
            "last_affected" => RangeEvent::LastAffected(v.into()),
            _ => return None,
        })
    }

    fn version(&self) -> Option<Version> {
        let (RangeEvent::Introduced(v) | RangeEvent::Fixed(v) | RangeEvent::LastAffected(v)) = self;
        if v == "0" {
            return None;
        }
        Version::from_str(v).ok()
    }
}

/// What decides which releases of one PyPI package an advisory affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// The normalised name.
    pub name: String,
    /// Its `ECOSYSTEM` ranges, each a list of events.
    pub ranges: Vec<Vec<RangeEvent>>,
    /// The versions it lists as affected.
    pub versions: Vec<String>,
}

impl AffectedPackage {
    /// Whether `version` is affected: listed, or inside a range (OSV's rule: events in
    /// version order, `introduced` opens, `fixed` at or below the version closes,
    /// `last_affected` below it closes).
    pub fn affects(&self, version: &Version) -> bool {
        if self
            .versions
            .iter()
            .any(|v| Version::from_str(v).is_ok_and(|v| &v == version))
        {
            return true;
        }
        self.ranges.iter().any(|events| {
            let mut sorted: Vec<(Option<Version>, &RangeEvent)> =
                events.iter().map(|e| (e.version(), e)).collect();
            // "0" (None) sorts first.
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let mut affected = false;
            for (at, e) in sorted {
                match (e, at) {
                    (RangeEvent::Introduced(_), None) => affected = true,
                    (RangeEvent::Introduced(_), Some(at)) if version >= &at => affected = true,
                    (RangeEvent::Fixed(_), Some(at)) if version >= &at => affected = false,
                    (RangeEvent::LastAffected(_), Some(at)) if version > &at => affected = false,
                    _ => {}
                }
            }
            affected
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> PackageName {
        PackageName::parse(s).unwrap()
    }

    #[test]
    fn the_batch_body_names_the_release_in_pypi_and_carries_the_token() {
        let v = PackageVersion::parse("2.4.1").unwrap();
        let b = batch_request(&name("Jinja2"), &v, Some("tok"));
        let j: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(j["queries"][0]["package"]["name"], "jinja2");
        assert_eq!(j["queries"][0]["package"]["ecosystem"], "PyPI");
        assert_eq!(j["queries"][0]["version"], "2.4.1");
        assert_eq!(j["queries"][0]["page_token"], "tok");
    }

    #[test]
    fn a_batch_page_gives_ids_and_the_next_token_and_an_empty_result_no_ids() {
        let p = parse_batch(
            br#"{"results":[{"vulns":[{"id":"PYSEC-2019-217","modified":"2024-01-01T00:00:00Z"},{"id":"GHSA-462w-v97r-4m45"}],"next_page_token":"abc"}]}"#,
        )
        .unwrap();
        assert_eq!(p.ids, ["PYSEC-2019-217", "GHSA-462w-v97r-4m45"]);
        assert_eq!(p.next_page_token.as_deref(), Some("abc"));
        let empty = parse_batch(br#"{"results":[{}]}"#).unwrap();
        assert!(empty.ids.is_empty() && empty.next_page_token.is_none());
    }

    #[test]
    fn hostile_batch_pages_are_refused_by_name() {
        for (body, words) in [
            (&br#"{"results":[{"vulns":"x"}]}"#[..], "malformed"),
            (br#"{"results":[{},{}]}"#, "2 results"),
            (
                br#"{"results":[{"vulns":[{"id":"../../admin"}]}]}"#,
                "not an OSV advisory id",
            ),
            (br#"{"results":[{"vulns":[{"id":7}]}]}"#, "malformed"),
        ] {
            let e = parse_batch(body).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
        let many: Vec<String> = (0..=MAX_OSV_IDS)
            .map(|i| format!(r#"{{"id":"X-{i}"}}"#))
            .collect();
        let body = format!(r#"{{"results":[{{"vulns":[{}]}}]}}"#, many.join(","));
        assert!(
            parse_batch(body.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("more than")
        );
        let long = "t".repeat(MAX_TOKEN_BYTES + 1);
        let body = format!(r#"{{"results":[{{"next_page_token":"{long}"}}]}}"#);
        assert!(parse_batch(body.as_bytes()).is_err());
    }

    #[test]
    fn an_advisory_keeps_the_pypi_fixes_of_each_package_only() {
        let body = br#"{"id":"PYSEC-2021-66","aliases":["CVE-2021-28957","GHSA-jq4v-f5q6-mjqq"],
            "summary":"XSS in lxml","modified":"2024-11-21T05:00:00Z",
            "affected":[
              {"package":{"ecosystem":"PyPI","name":"LXML"},
               "ranges":[{"type":"GIT","events":[{"introduced":"0"},{"fixed":"abc123"}]},
                         {"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"4.6.3"}]}],
               "versions":["4.6.2"]},
              {"package":{"ecosystem":"Debian","name":"lxml"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"9.9"}]}]}]}"#;
        let a = parse_vuln("PYSEC-2021-66", body).unwrap();
        assert_eq!(
            a.affected,
            [("lxml".to_string(), vec!["4.6.3".to_string()])]
        );
        let v = a.for_package(&name("lxml"));
        assert_eq!(v.fixed_in, ["4.6.3"]);
        assert_eq!(v.source.as_deref(), Some("osv"));
        // Asked by an alias: the record it belongs to is the answer.
        assert!(parse_vuln("GHSA-jq4v-f5q6-mjqq", body).is_ok());
        let e = parse_vuln("PYSEC-1999-1", body).unwrap_err().to_string();
        assert!(e.contains("not \"PYSEC-1999-1\""), "{e}");
        let e = parse_vuln("X", br#"{"id":"X","affected":{"a":1}}"#).unwrap_err();
        assert!(e.to_string().contains("malformed"), "{e}");
    }

    fn adv(id: &str, aliases: &[&str], fixed: &[&str], source: &str) -> Vulnerability {
        Vulnerability {
            id: id.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            summary: None,
            link: None,
            source: Some(source.into()),
            fixed_in: fixed.iter().map(|s| s.to_string()).collect(),
            withdrawn: None,
            data_date: None,
        }
    }

    #[test]
    fn a_pysec_id_and_its_ghsa_alias_are_one_advisory_naming_both_sources() {
        let pypi = [adv("PYSEC-1", &["GHSA-a", "CVE-1"], &["2.0"], "pypi")];
        let osv = [
            adv("GHSA-a", &["PYSEC-1", "CVE-1"], &["2.0", "1.9.9"], "osv"),
            adv("PYSEC-1", &["GHSA-a"], &["2.0"], "osv"),
            adv("GHSA-b", &[], &["3.0"], "osv"),
        ];
        let m = merge(&[&pypi, &osv]);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].id, "PYSEC-1");
        assert_eq!(m[0].source.as_deref(), Some("pypi+osv"));
        assert_eq!(m[0].fixed_in, ["2.0", "1.9.9"]);
        assert!(m[0].aliases.contains(&"GHSA-a".to_string()));
        assert_eq!(m[1].source.as_deref(), Some("osv"));
    }

    #[test]
    fn ids_that_would_change_a_url_are_refused() {
        for bad in ["", "a/b", "..", ".x", "a b", "a?b", "a%2f"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        for good in [
            "PYSEC-2021-66",
            "GHSA-jq4v-f5q6-mjqq",
            "CVE-2021-1",
            "OSV-2020-1:x",
        ] {
            assert!(check_id(good).is_ok(), "{good}");
        }
    }
}
