//! The supply-chain check before `pip install X` ("slopsquatting": assistants invent
//! package names and attackers register the invented ones). The answer is a verdict
//! worded with its evidence ("not on PyPI", "3 days old, 1 release, 12 downloads last
//! month, one letter away from `numpy`"), never a bare score, and every fact keeps its
//! provenance, so it still answers (with holes it names) during a partial outage.
//!
//! **The resemblance rule**: the Damerau-Levenshtein distance (insertions, deletions,
//! substitutions and transpositions of adjacent letters) between PEP 503-normalised
//! names, against the most downloaded projects of the top-packages dataset
//! ([`POPULAR_ROWS`]): at most 1 when the shorter name has up to 5 characters (short
//! names are all near each other), at most 2 otherwise. A package that is itself in
//! that list is not flagged for resembling another.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::model::ItemFailure;
use crate::model::{Datum, SourceLabel};
use crate::upstream::TopDoc;
use crate::views::versions::VersionList;
use crate::views::vulns::PackageVulnerabilities;
use crate::words::{plural, thousands};
// The rule has a module of its own; the engine names it through `views::check`.
pub use crate::typo::{
    POPULAR_ROWS, Resemblance, max_distance, resemblance, resembles_words, rule_words,
};

/// The date of the snapshot of popular names bundled in the binary.
pub const BUNDLED_TOP_DATE: &str = "2026-04-01";
/// When that snapshot was built (its `last_update`, 2026-04-01 06:34:06 UTC), in Unix
/// seconds.
pub const BUNDLED_TOP_UNIX: u64 = 1_775_025_246;

/// The popular names bundled in the binary: the first [`POPULAR_ROWS`] rows of the real
/// top-packages dataset of [`BUNDLED_TOP_DATE`] (`core/data/SOURCES.md`), for when
/// the live dataset cannot be reached. Inflated on first use (51 KB to 114 KB).
pub fn bundled_top() -> &'static TopDoc {
    static TOP: std::sync::LazyLock<TopDoc> = std::sync::LazyLock::new(|| {
        use std::io::Read as _;
        const GZ: &[u8] = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/top-packages-2026-04-01.tsv.gz"
        ));
        let mut text = String::new();
        // Bundled at build time and checked by a test: a failure here is a broken build.
        let _ = flate2::read::GzDecoder::new(GZ).read_to_string(&mut text);
        let rows = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter_map(|(project, n)| {
                Some(crate::upstream::top::TopRow {
                    project: project.to_string(),
                    download_count: n.parse().ok()?,
                })
            })
            .collect();
        TopDoc {
            last_update: Some(format!("{BUNDLED_TOP_DATE} 06:34:06")),
            rows,
        }
    });
    &TOP
}

/// The words a popularity figure from [`bundled_top`] carries: why, and its date.
pub fn bundled_top_reason(why: &str) -> String {
    format!(
        "the top-packages dataset could not be reached ({why}): popular names from the snapshot bundled in this build, dated {BUNDLED_TOP_DATE}"
    )
}
/// A first release younger than this is "young".
pub const YOUNG_DAYS: u64 = 90;
/// Fewer downloads than this over 30 days is "few".
pub const FEW_DOWNLOADS: u64 = 1_000;

/// The verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckVerdict {
    /// No project of that name on PyPI: do not install (an invented name?).
    NotFound,
    /// Resembles a popular name and is young or little used: likely a typo-squat.
    Suspicious,
    /// One warning sign (young, little used, resembles a popular name, all yanked).
    Caution,
    /// Established: no warning sign found.
    Ok,
    /// PyPI could not be asked whether it exists.
    Unknown,
}

/// Facts from the release history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleaseFacts {
    /// Releases listed.
    pub releases: usize,
    /// Date of the first upload (`YYYY-MM-DD`).
    pub first_release: Option<String>,
    /// Days since the first upload.
    pub age_days: Option<u64>,
    /// Newest stable release.
    pub latest: Option<String>,
    /// Yanked releases.
    pub yanked: Vec<String>,
}

/// The popularity facts, from the top-packages dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PopularityFacts {
    /// The package's own rank, when it is in the dataset.
    pub rank: Option<usize>,
    /// The popular package it most resembles, by the rule above.
    pub resembles: Option<Resemblance>,
    /// Rows compared.
    pub compared_with: usize,
    /// The rule, in words.
    pub rule: String,
}

/// The whole check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageCheck {
    /// The name asked about (normalised).
    pub package: String,
    /// The verdict.
    pub verdict: CheckVerdict,
    /// The verdict with its evidence, in words.
    pub summary: String,
    /// Whether it is on PyPI (`None` when PyPI could not be asked).
    pub exists: Option<bool>,
    /// Release history, with its provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub releases: Option<Datum<ReleaseFacts>>,
    /// Downloads over the last 30 days (pypistats, or an estimate), with provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloads_30d: Option<Datum<Option<u64>>>,
    /// Rank and resemblance, with the top-packages dataset's provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub popularity: Option<Datum<PopularityFacts>>,
    /// The known vulnerabilities of the latest release (from the project JSON the
    /// check reads anyway), with provenance; absent when only the Simple API answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_vulnerabilities: Option<Datum<PackageVulnerabilities>>,
    /// What was checked for vulnerabilities, in words (older releases are not: one
    /// request each; `get_package_vulnerabilities` with a version asks).
    pub vulnerabilities: String,
    /// Facts that could not be had, with typed reasons.
    pub failures: Vec<ItemFailure>,
    /// With an extra index configured: whether the name is on both indexes
    /// (dependency confusion), and which release pip would install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion: Option<super::confusion::NameConfusion>,
    /// The overall source of the facts.
    pub source: SourceLabel,
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days between `YYYY-MM-DD...` and `now`.
fn age_days(date: &str, now: SystemTime) -> Option<u64> {
    let mut it = date.get(..10)?.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    let then = days_from_civil(y, m, d);
    let today = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs() as i64 / 86_400;
    Some(today.saturating_sub(then).max(0) as u64)
}

impl ReleaseFacts {
    /// From a version list, at `now`.
    pub fn from_versions(l: &VersionList, now: SystemTime) -> Self {
        let first = l
            .versions
            .iter()
            .filter_map(|v| v.upload_date.as_deref())
            .min()
            .map(|d| d.get(..10).unwrap_or(d).to_string());
        ReleaseFacts {
            releases: l.versions.len(),
            age_days: first.as_deref().and_then(|d| age_days(d, now)),
            first_release: first,
            latest: l.latest_stable.clone().or_else(|| l.latest.clone()),
            yanked: l
                .versions
                .iter()
                .filter(|v| v.yanked)
                .map(|v| v.version.clone())
                .collect(),
        }
    }
}

/// The verdict and its words from the facts at hand.
/// What a verdict is drawn from; `None` is "could not be had".
#[derive(Clone, Copy, Debug, Default)]
pub struct Evidence<'a> {
    /// Whether the package is on PyPI.
    pub exists: Option<bool>,
    /// Its release history.
    pub releases: Option<&'a ReleaseFacts>,
    /// Downloads over 30 days.
    pub downloads: Option<u64>,
    /// Its rank and resemblance to popular names.
    pub popularity: Option<&'a PopularityFacts>,
    /// The known vulnerabilities of its latest release.
    pub latest_vulnerabilities: Option<&'a PackageVulnerabilities>,
}

/// The verdict on `package` and its evidence in words.
pub fn verdict(package: &str, evidence: Evidence<'_>) -> (CheckVerdict, String) {
    let Evidence {
        exists,
        releases,
        downloads,
        popularity,
        latest_vulnerabilities,
    } = evidence;
    let resembles = popularity
        .filter(|p| p.rank.is_none())
        .and_then(|p| p.resembles.as_ref());
    match exists {
        Some(false) => {
            let mut s = format!("not on PyPI: no project named `{package}`");
            if let Some(r) = resembles {
                s.push_str(&format!(
                    "; it is {}: probably a typo or an invented name",
                    resembles_words(r)
                ));
            }
            s.push_str(". Do not install it; if it appears later, it may be a squat of that name");
            (CheckVerdict::NotFound, s)
        }
        None => (
            CheckVerdict::Unknown,
            format!("PyPI could not be asked whether `{package}` exists (see failures)"),
        ),
        Some(true) => {
            let mut facts: Vec<String> = Vec::new();
            let mut signs = 0;
            let young = releases
                .and_then(|r| r.age_days)
                .is_some_and(|d| d < YOUNG_DAYS);
            let few = downloads.is_some_and(|d| d < FEW_DOWNLOADS);
            if let Some(r) = releases {
                match (r.age_days, &r.first_release) {
                    (Some(d), _) if young => facts.push(format!(
                        "{} old (first release {})",
                        plural(d, "day", "days"),
                        r.first_release.as_deref().unwrap_or("?")
                    )),
                    (Some(d), Some(first)) => {
                        facts.push(format!("on PyPI since {first} ({} years)", d / 365))
                    }
                    _ => facts.push("first release date unknown".into()),
                }
                facts.push(plural(r.releases as u64, "release", "releases"));
                if !r.yanked.is_empty() {
                    if r.yanked.len() == r.releases && r.releases > 0 {
                        facts.push("every release yanked".into());
                        signs += 1;
                    } else {
                        facts.push(format!(
                            "{} yanked",
                            plural(r.yanked.len() as u64, "release", "releases")
                        ));
                    }
                }
            }
            match downloads {
                Some(d) => facts.push(format!("{} downloads last month", thousands(d))),
                None => facts.push("downloads unknown".into()),
            }
            if let Some(rank) = popularity.and_then(|p| p.rank) {
                facts.push(format!("rank {rank} of the top packages"));
            }
            if let Some(r) = resembles {
                facts.push(resembles_words(r));
            }
            if let Some(v) = latest_vulnerabilities.filter(|v| v.active > 0) {
                facts.push(vulnerable_words(v));
                signs += 1;
            }
            signs += usize::from(young) + usize::from(few) + usize::from(resembles.is_some());
            let v = if resembles.is_some() && (young || few) {
                CheckVerdict::Suspicious
            } else if signs > 0 {
                CheckVerdict::Caution
            } else {
                CheckVerdict::Ok
            };
            let lead = match v {
                CheckVerdict::Suspicious => {
                    "suspicious: likely a typo-squat of a popular package; "
                }
                CheckVerdict::Caution => "caution: ",
                _ => "",
            };
            (v, format!("{lead}{}", facts.join(", ")))
        }
    }
}

/// "the latest release 1.2.0 has 2 known vulnerabilities (fixed by upgrading to 1.2.3)".
pub fn vulnerable_words(v: &PackageVulnerabilities) -> String {
    let fix = match &v.fix {
        Some(f) => format!(
            " (fixed by upgrading to {})",
            f.upgrade_to.as_deref().unwrap_or(&f.version)
        ),
        None => " (no fixed release known)".into(),
    };
    format!(
        "the latest release {} has {}{fix}",
        v.version,
        plural(
            v.active as u64,
            "known vulnerability",
            "known vulnerabilities"
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::TopDoc;
    use crate::upstream::TopRow;

    fn top(names: &[(&str, u64)]) -> TopDoc {
        TopDoc {
            last_update: None,
            rows: names
                .iter()
                .map(|(n, c)| TopRow {
                    project: n.to_string(),
                    download_count: *c,
                })
                .collect(),
        }
    }

    #[test]
    fn the_bundled_snapshot_is_the_real_ranking_of_its_date() {
        let t = bundled_top();
        assert_eq!(t.rows.len(), POPULAR_ROWS);
        assert_eq!(
            t.rows[0].project, "boto3",
            "the most downloaded project on 2026-04-01"
        );
        assert!(
            t.rows
                .windows(2)
                .all(|w| w[0].download_count >= w[1].download_count)
        );
        let (rank, resembles, _) = resemblance("reqeusts", t);
        assert_eq!(rank, None);
        assert_eq!(resembles.map(|r| r.name), Some("requests".to_string()));
    }

    #[test]
    fn the_resemblance_rule() {
        let t = top(&[
            ("requests", 900),
            ("numpy", 800),
            ("six", 700),
            ("boto3", 600),
            ("python-dateutil", 500),
        ]);
        assert_eq!(
            resemblance("reqeusts", &t).1.unwrap().name,
            "requests",
            "transposition is one edit"
        );
        assert_eq!(resemblance("requestss", &t).1.unwrap().distance, 1);
        assert_eq!(resemblance("rekuestz", &t).1.unwrap().distance, 2);
        assert!(
            resemblance("numpyyy", &t).1.is_none(),
            "numpy is short: one edit only"
        );
        assert_eq!(resemblance("numpyy", &t).1.unwrap().name, "numpy");
        assert!(resemblance("sip", &t).1.is_some());
        assert!(resemblance("flask", &t).1.is_none());
        assert_eq!(resemblance("boto3", &t).0, Some(4));
        assert_eq!(
            resemblance("python-dateutils", &t).1.unwrap().name,
            "python-dateutil"
        );
    }

    #[test]
    fn verdicts_carry_their_evidence() {
        let pop = PopularityFacts {
            rank: None,
            resembles: Some(Resemblance {
                name: "numpy".into(),
                rank: 1,
                downloads_30d: 40_000_000,
                distance: 1,
            }),
            compared_with: 10,
            rule: String::new(),
        };
        let (v, s) = verdict(
            "numpyy",
            Evidence {
                exists: Some(false),
                popularity: Some(&pop),
                ..Evidence::default()
            },
        );
        assert_eq!(v, CheckVerdict::NotFound);
        assert!(
            s.starts_with("not on PyPI") && s.contains("one letter away from `numpy`"),
            "{s}"
        );
        let young = ReleaseFacts {
            releases: 1,
            first_release: Some("2026-11-27".into()),
            age_days: Some(3),
            latest: Some("0.0.1".into()),
            yanked: vec![],
        };
        let (v, s) = verdict(
            "numpyy",
            Evidence {
                exists: Some(true),
                releases: Some(&young),
                downloads: Some(12),
                popularity: Some(&pop),
                ..Evidence::default()
            },
        );
        assert_eq!(v, CheckVerdict::Suspicious);
        assert!(
            s.contains("3 days old") && s.contains("12 downloads") && s.contains("`numpy`"),
            "{s}"
        );
        let old = ReleaseFacts {
            releases: 120,
            first_release: Some("2006-01-01".into()),
            age_days: Some(7000),
            latest: None,
            yanked: vec![],
        };
        let own = PopularityFacts {
            rank: Some(1),
            resembles: None,
            compared_with: 10,
            rule: String::new(),
        };
        let established = Evidence {
            exists: Some(true),
            releases: Some(&old),
            downloads: Some(40_000_000),
            popularity: Some(&own),
            ..Evidence::default()
        };
        let (v, s) = verdict("numpy", established);
        assert_eq!(v, CheckVerdict::Ok, "{s}");
        assert!(s.contains("rank 1"));
        // A known vulnerability in the latest release is a warning sign, with its fix.
        let vulns = PackageVulnerabilities::from_list(
            "numpy",
            "1.0",
            &[crate::upstream::Vulnerability {
                id: "PYSEC-1".into(),
                fixed_in: vec!["1.0.1".into()],
                ..Default::default()
            }],
            None,
        );
        let (v, s) = verdict(
            "numpy",
            Evidence {
                latest_vulnerabilities: Some(&vulns),
                ..established
            },
        );
        assert_eq!(v, CheckVerdict::Caution, "{s}");
        assert!(
            s.contains(
                "the latest release 1.0 has 1 known vulnerability (fixed by upgrading to 1.0.1)"
            ),
            "{s}"
        );
        assert_eq!(verdict("x", Evidence::default()).0, CheckVerdict::Unknown);
        assert_eq!(
            age_days(
                "1970-01-02T00:00:00Z",
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(3 * 86_400)
            ),
            Some(2)
        );
    }
}
