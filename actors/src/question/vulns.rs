//! The known vulnerabilities of one release, from the sources `vulnerabilities.source`
//! names: the index's per-release JSON (`pypi`), the OSV API (`osv`: the release's
//! advisory ids, then each advisory, every one a document of its own through the
//! router), or both merged by id and alias. With `pypi`, a release whose per-release
//! JSON the index does not serve (404) is asked of OSV, when `upstreams.osv` is on.
//!
//! A source that could not be asked is never read as "no advisory": alone, the release
//! is not checked (a typed failure); beside another source, the answer names it.
//!
//! `offline`: OSV's export synced into the store (`vulns sync`), matched here by the
//! records' ranges and listed versions; no request at all, each advisory dated with
//! the export's date. Until a sync has completed, `pypi` answers, with a note saying so.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures::future::join_all;
use pep440_rs::Version;
use tokio::time::Instant;

use super::Walker;
use crate::actor::router::{DocAnswer, Resolution};
use crate::config::VulnSource;
use sentinel_core::model::limits::MAX_OSV_ADVISORIES;
use sentinel_core::model::{
    PackageName, PackageVersion, Provenance, Query, QueryError, UnavailableCause, Upstream,
};
use sentinel_core::upstream::{Document, Vulnerability, osv};
use sentinel_core::views::vulns::{AdvisorySource, PackageVulnerabilities, from_pypi};

/// The vulnerabilities of `name` `version`. `held`: the per-release JSON when the
/// caller already asked for it (the resolution's metadata, or asked beside the Simple
/// page). `exists`: whether the release is known to exist (listed by the Simple page),
/// without which a 404 of its per-release JSON means "no such release", not "ask OSV".
pub(crate) async fn of_release(
    w: &Walker,
    name: &PackageName,
    version: &PackageVersion,
    held: Option<Resolution>,
    published: Option<&[(Version, bool)]>,
    exists: bool,
    deadline: Instant,
) -> Result<(DocAnswer, PackageVulnerabilities), QueryError> {
    let source = w.args.cfg.vulnerabilities.source;
    if source != VulnSource::Offline {
        return online(w, source, name, version, held, published, exists, deadline).await;
    }
    if let Some(answer) = offline(w, name, version, published).await? {
        return Ok(answer);
    }
    let mut answer = online(
        w,
        VulnSource::Pypi,
        name,
        version,
        held,
        published,
        exists,
        deadline,
    )
    .await?;
    answer.1.notes.push(NOT_SYNCED.into());
    Ok(answer)
}

/// Said when `offline` is configured and no sync has completed.
pub(crate) const NOT_SYNCED: &str = "vulnerabilities.source is \"offline\" but OSV's export was never synced into the store: these advisories were asked online (run `pypi-sentinel vulns sync`)";

/// Whether the walk answers vulnerabilities from the synced export (configured, and a
/// set is held): then no per-release request is needed. Blocking read, off the async
/// threads.
pub(crate) async fn offline_ready(w: &Walker) -> bool {
    if w.args.cfg.vulnerabilities.source != VulnSource::Offline {
        return false;
    }
    let store = w.args.store.clone();
    tokio::task::spawn_blocking(move || store.osv_set().is_some())
        .await
        .unwrap_or(false)
}

/// The release's advisories from the synced export, `None` when none was synced.
async fn offline(
    w: &Walker,
    name: &PackageName,
    version: &PackageVersion,
    published: Option<&[(Version, bool)]>,
) -> Result<Option<(DocAnswer, PackageVulnerabilities)>, QueryError> {
    let store = w.args.store.clone();
    let package = name.clone();
    let Some((set, rows)) = tokio::task::spawn_blocking(move || store.osv_advisories(&package))
        .await
        .map_err(|e| QueryError::Internal(format!("the store read failed: {e}")))?
    else {
        return Ok(None);
    };
    let v = Version::from_str(version.as_str())
        .map_err(|e| QueryError::Internal(format!("version {version}: {e}")))?;
    let list: Vec<Vulnerability> = rows
        .iter()
        .filter(|(_, rule)| rule.affects(&v))
        .map(|(a, _)| Vulnerability {
            source: Some(AdvisorySource::OsvExport.as_str().into()),
            data_date: set.data_date.clone(),
            ..a.for_package(name)
        })
        .collect();
    let ids = list.iter().map(|v| v.id.clone()).collect();
    let list = osv::merge(&[&list]);
    let mut view =
        PackageVulnerabilities::from_list(name.as_str(), version.as_str(), &list, published);
    view.sources = vec![AdvisorySource::OsvExport];
    let synced = UNIX_EPOCH + Duration::from_secs(set.synced_at_unix);
    let age = w
        .args
        .cfg
        .clock
        .now()
        .duration_since(synced)
        .unwrap_or_default();
    view.notes.push(format!(
        "from OSV's export of {} ({} advisories), synced {}: no request was made",
        set.data_date.as_deref().unwrap_or("an unknown date"),
        set.advisories,
        sentinel_core::model::ago_words(age)
    ));
    if published.is_none() {
        view.notes.push(format!(
            "the release list could not be read: that {name} {version} was published was not checked"
        ));
    }
    let data_date = set
        .data_date
        .as_deref()
        .and_then(sentinel_core::model::date::Day::parse)
        .map(sentinel_core::model::date::Day::epoch_day);
    let ans = DocAnswer {
        doc: Arc::new(Document::OsvIds(osv::OsvIds {
            ids,
            next_page_token: None,
        })),
        provenance: Provenance::Cached,
        upstream: Upstream::Osv,
        age,
        data_date,
    };
    Ok(Some((ans, view)))
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
/// The release's advisories from the online sources `source` names.
#[allow(clippy::too_many_arguments)]
async fn online(
    w: &Walker,
    source: VulnSource,
    name: &PackageName,
    version: &PackageVersion,
    held: Option<Resolution>,
    published: Option<&[(Version, bool)]>,
    exists: bool,
    deadline: Instant,
) -> Result<(DocAnswer, PackageVulnerabilities), QueryError> {
    let osv_on = w.args.cfg.upstreams.osv.enabled;
    let pypi = async {
        if source == VulnSource::Osv {
            return None;
        }
        Some(match held {
            Some(r) => r,
            None => {
                w.doc(Query::Release(name.clone(), version.clone()), deadline)
                    .await
            }
        })
    };
    let osv = async {
        match source {
            VulnSource::Pypi => None,
            _ => Some(from_osv(w, name, version, deadline).await),
        }
    };
    let (pypi, osv) = tokio::join!(pypi, osv);
    let view = |list: &[Vulnerability], sources: Vec<AdvisorySource>| {
        let mut v =
            PackageVulnerabilities::from_list(name.as_str(), version.as_str(), list, published);
        v.sources = sources;
        v
    };
    match (pypi, osv) {
        (Some(Ok(ans)), None) => {
            let list = pypi_list(&ans)?;
            Ok((ans, view(&list, vec![AdvisorySource::Pypi])))
        }
        (Some(Err(QueryError::NotFound { .. })), None) if osv_on && exists => {
            let (ans, list) = from_osv(w, name, version, deadline).await?;
            let mut v = view(&list, vec![AdvisorySource::Osv]);
            v.notes.push(
                "the index serves no per-release JSON for this release: its advisories are OSV's"
                    .into(),
            );
            Ok((ans, v))
        }
        (Some(Err(e)), None) => Err(e),
        (None, Some(r)) => {
            let (ans, list) = r?;
            Ok((ans, view(&list, vec![AdvisorySource::Osv])))
        }
        (Some(p), Some(o)) => {
            let p = p.and_then(|ans| pypi_list(&ans).map(|l| (ans, l)));
            match (p, o) {
                (Ok((ans, p)), Ok((_, o))) => {
                    let merged = osv::merge(&[&p, &o]);
                    Ok((
                        ans,
                        view(&merged, vec![AdvisorySource::Pypi, AdvisorySource::Osv]),
                    ))
                }
                (Ok((ans, list)), Err(e)) | (Err(e), Ok((ans, list))) => {
                    let (had, missed) = match ans.upstream {
                        Upstream::Osv => (AdvisorySource::Osv, AdvisorySource::Pypi),
                        _ => (AdvisorySource::Pypi, AdvisorySource::Osv),
                    };
                    let mut v = view(&list, vec![had]);
                    v.notes.push(match e {
                        QueryError::NotFound { .. } if exists => "the index serves no per-release JSON for this release: its advisories are OSV's".into(),
                        e => format!(
                            "{} could not be asked ({}): these are {}'s advisories only",
                            missed.as_str(),
                            e.reason(),
                            had.as_str()
                        ),
                    });
                    Ok((ans, v))
                }
                (Err(QueryError::NotFound { .. }), Err(e)) | (Err(e), Err(_)) => Err(e),
            }
        }
        (None, None) => Err(QueryError::Internal("no vulnerability source asked".into())),
    }
}

/// The advisories a per-release (or project) body lists, labelled as PyPI's.
fn pypi_list(ans: &DocAnswer) -> Result<Vec<Vulnerability>, QueryError> {
    match ans.doc.as_ref() {
        Document::Release(doc) | Document::Project(doc) => Ok(from_pypi(&doc.vulnerabilities)),
        _ => Err(QueryError::Internal("not a release document".into())),
    }
}

/// OSV's advisories about the release: its ids, then each advisory (all of them: one
/// that could not be had makes the whole answer fail, never a shorter list), those
/// naming each other merged.
async fn from_osv(
    w: &Walker,
    name: &PackageName,
    version: &PackageVersion,
    deadline: Instant,
) -> Result<(DocAnswer, Vec<Vulnerability>), QueryError> {
    let ans = w
        .doc(Query::OsvRelease(name.clone(), version.clone()), deadline)
        .await?;
    let Document::OsvIds(ids) = ans.doc.as_ref() else {
        return Err(QueryError::Internal("not an OSV batch answer".into()));
    };
    if ids.ids.len() > MAX_OSV_ADVISORIES {
        return Err(QueryError::Unavailable {
            upstream: Upstream::Osv,
            cause: UnavailableCause::BadBody {
                detail: format!(
                    "{} advisories listed for {name} {version}, more than the {MAX_OSV_ADVISORIES} read",
                    ids.ids.len()
                ),
            },
            note: None,
            remembered: None,
        });
    }
    let docs = join_all(
        ids.ids
            .iter()
            .map(|id| w.doc(Query::OsvAdvisory(Arc::from(id.as_str())), deadline)),
    )
    .await;
    let mut list = Vec::with_capacity(docs.len());
    for d in docs {
        match d?.doc.as_ref() {
            Document::OsvAdvisory(a) => list.push(a.for_package(name)),
            _ => return Err(QueryError::Internal("not an OSV advisory".into())),
        }
    }
    Ok((ans, osv::merge(&[&list])))
}
