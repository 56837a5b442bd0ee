//! A release's core metadata from the Simple API alone, for an index without
//! per-release JSON (a mirror, a private index): the PEP 658 metadata file its page
//! advertises, else the `METADATA` inside one of its wheels, read by the files
//! upstream with range requests. A building block of the walks that need a release's
//! requirements: resolve (after the per-release JSON) and the release for a target
//! (`deps`, `python`) when the per-release JSON is missing.

use std::sync::Arc;

use tokio::time::Instant;

use super::Walker;
use super::resolve::metadata_host_allowed;
use crate::actor::router::DocAnswer;
use crate::model::{PackageName, PackageVersion, Query};
use crate::upstream::metadata::ReleaseMetadata;
use crate::upstream::pypi::{ProjectDoc, ProjectMeta};
use crate::upstream::simple::SimpleFile;
use crate::upstream::{Document, SimpleDoc};

/// Where a release's metadata came from, as answers say it (`metadata_from`).
pub(crate) const FROM_METADATA_FILE: &str = "core-metadata";
/// Read out of a wheel.
pub(crate) const FROM_WHEEL: &str = "wheel";

/// The files of `v` the page lists, wheels only.
fn wheels_of<'a>(page: &'a SimpleDoc, v: &PackageVersion) -> Vec<&'a SimpleFile> {
    page.files
        .iter()
        .filter(|f| {
            f.is_wheel()
                && f.version()
                    .and_then(|x| PackageVersion::parse(x).ok())
                    .is_some_and(|x| &x == v)
        })
        .collect()
}

async fn page(w: &Walker, n: &PackageName, deadline: Instant) -> Result<Arc<Document>, String> {
    let ans = w
        .doc(Query::Simple(n.clone()), deadline)
        .await
        .map_err(|e| format!("its files could not be listed: {}", e.reason()))?;
    Ok(ans.doc)
}

/// The release's metadata: its PEP 658 file when the page advertises one, else the
/// `METADATA` of one of its wheels. A `Document::Metadata` answer, and where it came
/// from.
pub(crate) async fn from_simple(
    w: &Walker,
    n: &PackageName,
    v: &PackageVersion,
    deadline: Instant,
) -> Result<(DocAnswer, &'static str), String> {
    let doc = page(w, n, deadline).await?;
    let Document::Simple(s) = doc.as_ref() else {
        return Err("its files could not be listed".into());
    };
    let advertised = wheels_of(s, v)
        .into_iter()
        .find(|f| f.has_metadata())
        .and_then(|f| f.keyed_url());
    if let Some(url) = advertised
        && metadata_host_allowed(w, n, &url).is_ok()
        && let Ok(ans) = w
            .doc(
                Query::CoreMetadata(n.clone(), v.clone(), Arc::from(url)),
                deadline,
            )
            .await
    {
        return Ok((ans, FROM_METADATA_FILE));
    }
    from_wheel(w, n, v, deadline)
        .await
        .map(|ans| (ans, FROM_WHEEL))
}

/// The `METADATA` inside one of the release's wheels (a pure-Python one first).
pub(crate) async fn from_wheel(
    w: &Walker,
    n: &PackageName,
    v: &PackageVersion,
    deadline: Instant,
) -> Result<DocAnswer, String> {
    let doc = page(w, n, deadline).await?;
    let Document::Simple(s) = doc.as_ref() else {
        return Err("its files could not be listed".into());
    };
    let wheels = wheels_of(s, v);
    let Some(file) = wheels
        .iter()
        .find(|f| f.filename.ends_with("-none-any.whl"))
        .or(wheels.first())
    else {
        return Err(
            "it has no wheel to read METADATA from (an sdist's metadata cannot be known without building it)"
                .into(),
        );
    };
    let base = &w.args.cfg.upstreams.pypi_simple.base_url;
    let url = file
        .keyed_url()
        .and_then(|u| crate::upstream::file_url(base, n, &u))
        .ok_or_else(|| format!("the URL of {} is not an http(s) URL", file.filename))?;
    w.doc(
        Query::WheelMetadata(n.clone(), v.clone(), Arc::from(url)),
        deadline,
    )
    .await
    .map_err(|e| format!("the METADATA of {}: {}", file.filename, e.reason()))
}

/// The `METADATA` of one of the release's wheels when it is already held (in memory
/// or on disk, fresh or immutable), without asking any upstream: an index without
/// metadata files answers from it before the per-release JSON is asked (again).
pub(crate) async fn wheel_held(
    w: &Walker,
    n: &PackageName,
    v: &PackageVersion,
) -> Option<DocAnswer> {
    let doc = w.fresh(&Query::Simple(n.clone()))?.doc;
    let Document::Simple(s) = doc.as_ref() else {
        return None;
    };
    let base = &w.args.cfg.upstreams.pypi_simple.base_url;
    for file in wheels_of(s, v) {
        let Some(url) = file
            .keyed_url()
            .and_then(|u| crate::upstream::file_url(base, n, &u))
        else {
            continue;
        };
        let q = Query::WheelMetadata(n.clone(), v.clone(), Arc::from(url));
        if let Some(ans) = w.held(&q).await {
            return Some(ans);
        }
    }
    None
}

/// A release document made from core metadata alone: the fields a release's
/// requirements and Python support are read from (no files, no vulnerabilities).
pub(crate) fn as_release(m: &ReleaseMetadata) -> ProjectDoc {
    ProjectDoc {
        info: ProjectMeta {
            name: m.name.clone(),
            version: m.version.clone(),
            summary: None,
            license: None,
            license_expression: None,
            requires_python: m.requires_python.clone(),
            project_urls: None,
            home_page: None,
            classifiers: Vec::new(),
            requires_dist: Some(m.requires_dist.clone()),
            provides_extra: Some(m.provides_extra.clone()),
            author: None,
            yanked: false,
            description: None,
            description_content_type: None,
            yanked_reason: None,
        },
        last_serial: None,
        urls: Vec::new(),
        releases: None,
        vulnerabilities: Vec::new(),
    }
}
