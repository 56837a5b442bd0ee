//! The known vulnerabilities of one release, from the sources `vulnerabilities.source`
//! names: the index's per-release JSON (`pypi`), the OSV API (`osv`: the release's
//! advisory ids, then each advisory, every one a document of its own through the
//! router), or both merged by id and alias. With `pypi`, a release whose per-release
//! JSON the index does not serve (404) is asked of OSV, when `upstreams.osv` is on.
//!
//! A source that could not be asked is never read as "no advisory": alone, the release
//! is not checked (a typed failure); beside another source, the answer names it.

use std::sync::Arc;

use futures::future::join_all;
use pep440_rs::Version;
use tokio::time::Instant;

use super::Walker;
use crate::actor::router::{DocAnswer, Resolution};
use crate::config::VulnSource;
use crate::model::limits::MAX_OSV_ADVISORIES;
use crate::model::{PackageName, PackageVersion, Query, QueryError, UnavailableCause, Upstream};
use crate::upstream::{Document, Vulnerability, osv};
use crate::views::vulns::{AdvisorySource, PackageVulnerabilities, from_pypi};

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
