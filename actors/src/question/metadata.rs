//! A release's core metadata from the Simple API alone, for an index without
//! per-release JSON (a mirror, a private index): the PEP 658 metadata file its page
//! advertises, else the `METADATA` inside one of its wheels, read by the files
//! upstream with range requests. A building block of the walks that need a release's
//! requirements: resolve (after the per-release JSON) and the release for a target
//! (`deps`, `python`) when the per-release JSON is missing.

use std::sync::Arc;

use tokio::time::Instant;

use super::Walker;
use crate::actor::router::DocAnswer;
use sentinel_core::model::{PackageName, PackageVersion, Query, QueryError, UnavailableCause};
use sentinel_core::upstream::metadata::ReleaseMetadata;
use sentinel_core::upstream::pypi::{FileInfo, FileLink, ProjectDoc, ProjectMeta};
use sentinel_core::upstream::simple::SimpleFile;
use sentinel_core::upstream::{Document, SimpleDoc};

/// Where a release's metadata came from, as answers say it (`metadata_from`).
pub(crate) const FROM_METADATA_FILE: &str = "core-metadata";
/// Read out of a wheel.
pub(crate) const FROM_WHEEL: &str = "wheel";
/// Read out of an sdist's `PKG-INFO` (static metadata only, PEP 643).
pub(crate) const FROM_SDIST: &str = sentinel_core::upstream::sdist::FROM_SDIST;

/// The files of `v` the page lists.
fn files_of<'a>(page: &'a SimpleDoc, v: &PackageVersion) -> impl Iterator<Item = &'a SimpleFile> {
    page.files.iter().filter(move |f| {
        f.version()
            .and_then(|x| PackageVersion::parse(x).ok())
            .is_some_and(|x| &x == v)
    })
}

/// The files of `v` the page lists, wheels only.
fn wheels_of<'a>(page: &'a SimpleDoc, v: &PackageVersion) -> Vec<&'a SimpleFile> {
    files_of(page, v).filter(|f| f.is_wheel()).collect()
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
    let advertised = wheels_of(s, v).into_iter().find_map(|f| f.metadata_file());
    if let Some(file) = advertised
        && host_allowed(w, n, &file.url).is_ok()
    {
        // A metadata file that fails, or does not match the hash the index gives, is
        // not used: the wheel's own METADATA (what the file must equal) is read.
        match w
            .doc(Query::CoreMetadata(n.clone(), v.clone(), file), deadline)
            .await
        {
            Ok(ans) => return Ok((ans, FROM_METADATA_FILE)),
            Err(e) => tracing::warn!(package = %n, version = %v, "{}", e.reason()),
        }
    }
    from_files(w, n, v, deadline).await
}

/// The metadata inside the release's files: the `METADATA` of one of its wheels (a
/// pure-Python one first); with no wheel, its sdist's `PKG-INFO` when that is static
/// (PEP 643: `Metadata-Version` 2.2 or later, `Requires-Dist` not `Dynamic`), else
/// "cannot be known without building it". A `Document::Metadata` answer, and where it
/// came from.
pub(crate) async fn from_files(
    w: &Walker,
    n: &PackageName,
    v: &PackageVersion,
    deadline: Instant,
) -> Result<(DocAnswer, &'static str), String> {
    let doc = page(w, n, deadline).await?;
    let Document::Simple(s) = doc.as_ref() else {
        return Err("its files could not be listed".into());
    };
    let wheels = wheels_of(s, v);
    let base = &w.args.cfg.upstreams.pypi_simple.base_url;
    let url_of = |file: &SimpleFile| {
        file.keyed_url()
            .and_then(|u| sentinel_core::upstream::file_url(base, n, &u))
            .ok_or_else(|| format!("the URL of {} is not an http(s) URL", file.filename))
    };
    if let Some(file) = wheels
        .iter()
        .find(|f| f.filename.ends_with("-none-any.whl"))
        .or(wheels.first())
    {
        let url = url_of(file)?;
        return w
            .doc(
                Query::WheelMetadata(n.clone(), v.clone(), Arc::from(url)),
                deadline,
            )
            .await
            .map(|ans| (ans, FROM_WHEEL))
            .map_err(|e| format!("the METADATA of {}: {}", file.filename, e.reason()));
    }
    use sentinel_core::upstream::sdist::{SdistFormat, static_requirements};
    let sdists: Vec<&SimpleFile> = files_of(s, v)
        .filter(|f| SdistFormat::of(&f.filename).is_some())
        .collect();
    let Some(file) = sdists
        .iter()
        .find(|f| SdistFormat::of(&f.filename) == Some(SdistFormat::TarGz))
        .or(sdists.first())
    else {
        return Err(
            "it has no wheel and no .tar.gz or .zip sdist to read its metadata from".into(),
        );
    };
    let url = url_of(file)?;
    let ans = w
        .doc(
            Query::SdistMetadata(n.clone(), v.clone(), Arc::from(url)),
            deadline,
        )
        .await
        .map_err(|e| format!("the PKG-INFO of {}: {}", file.filename, e.reason()))?;
    if let Document::Metadata(m) = ans.doc.as_ref() {
        static_requirements(m).map_err(|why| format!("{}: {why}", file.filename))?;
    }
    Ok((ans, FROM_SDIST))
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
            .and_then(|u| sentinel_core::upstream::file_url(base, n, &u))
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

/// A release document made from core metadata alone: its `info` (requirements, Python
/// support, the descriptive fields and README); no files, no vulnerabilities.
pub(crate) fn as_release(m: &ReleaseMetadata) -> ProjectDoc {
    ProjectDoc {
        info: ProjectMeta {
            name: m.name.clone(),
            version: m.version.clone(),
            summary: m.summary.clone(),
            license: m.license.clone(),
            license_expression: m.license_expression.clone(),
            requires_python: m.requires_python.clone(),
            project_urls: (!m.project_urls.is_empty())
                .then(|| m.project_urls.iter().cloned().collect()),
            home_page: m.home_page.clone(),
            classifiers: m.classifiers.clone(),
            requires_dist: Some(m.requires_dist.clone()),
            provides_extra: Some(m.provides_extra.clone()),
            author: m.author.clone(),
            yanked: false,
            description: m.description.clone(),
            description_content_type: m.description_content_type.clone(),
            yanked_reason: None,
        },
        last_serial: None,
        urls: Vec::new(),
        releases: None,
        vulnerabilities: Vec::new(),
    }
}

/// The project document of `name`: PyPI's JSON API, or, on an index that has none (it
/// answers 404, or is not configured), one made from the Simple API's file list and
/// the newest release's core metadata (see [`as_project`]). Its provenance is the
/// Simple page's and its upstream `pypi-simple`, so every answer built on it says
/// where it came from. "Not found" stands only when the Simple API agrees.
pub(crate) async fn project(
    w: &Walker,
    name: &PackageName,
    deadline: Instant,
) -> Result<DocAnswer, QueryError> {
    let err = match w.doc(Query::Project(name.clone()), deadline).await {
        Ok(doc) => return Ok(doc),
        Err(e) if no_json_api(&e) => e,
        Err(e) => return Err(e),
    };
    let page = match w.doc(Query::Simple(name.clone()), deadline).await {
        Ok(page) => page,
        // Not on the Simple API either: the JSON API's "not found" is the answer.
        Err(QueryError::NotFound { .. }) => return Err(err),
        Err(e) => return Err(e),
    };
    let Document::Simple(s) = page.doc.as_ref() else {
        return Err(err);
    };
    let Some(newest) = newest_version(s) else {
        return Err(err);
    };
    // The newest release's metadata; without it (only an sdist, or it failed) the
    // document still lists the versions and files, with the descriptive fields empty.
    let meta = match from_simple(w, name, &newest, deadline).await {
        Ok((ans, _)) => match ans.doc.as_ref() {
            Document::Metadata(m) => Some(m.clone()),
            _ => None,
        },
        Err(_) => None,
    };
    Ok(DocAnswer {
        doc: Arc::new(Document::Project(as_project(s, &newest, meta.as_ref()))),
        ..page
    })
}

/// Whether a JSON API error means the index has no JSON API for this project, so the
/// Simple API is asked instead: a 404 (a mirror, a private index), or the JSON API
/// turned off in the configuration.
fn no_json_api(e: &QueryError) -> bool {
    matches!(e, QueryError::NotFound { .. })
        || matches!(e.cause(), Some(UnavailableCause::Disabled))
}

/// The version PyPI's `info` would describe: the version list's latest final release
/// not wholly yanked, else its latest.
fn newest_version(s: &SimpleDoc) -> Option<PackageVersion> {
    let list = sentinel_core::views::versions::VersionList::from_simple(s);
    list.latest_stable
        .or(list.latest)
        .and_then(|v| PackageVersion::parse(&v).ok())
}

/// A project document made from a Simple page and the newest release's metadata:
/// every version with its files (name, size, upload time, yanked, `Requires-Python`),
/// and `info` from the metadata (summary, licence, URLs, author, classifiers,
/// requirements, the README). No vulnerabilities: the Simple API lists none (the
/// vulnerability questions ask their own source).
pub(crate) fn as_project(
    s: &SimpleDoc,
    newest: &PackageVersion,
    meta: Option<&ReleaseMetadata>,
) -> ProjectDoc {
    use std::collections::BTreeMap;
    let mut releases: BTreeMap<String, Vec<FileInfo>> = BTreeMap::new();
    let mut urls = Vec::new();
    for f in &s.files {
        let Some(v) = f.version() else { continue };
        let info = FileInfo {
            filename: f.filename.clone(),
            packagetype: if f.is_wheel() { "bdist_wheel" } else { "sdist" }.into(),
            upload_time_iso_8601: f.upload_time.clone(),
            yanked: f.is_yanked(),
            size: f.size.unwrap_or(0),
            requires_python: f.requires_python.clone(),
            link: None,
        };
        if PackageVersion::parse(v).is_ok_and(|x| &x == newest) {
            urls.push(FileInfo {
                link: f
                    .url
                    .clone()
                    .map(|url| Box::new(FileLink { url, sha256: None })),
                ..info.clone()
            });
        }
        releases.entry(v.to_string()).or_default().push(info);
    }
    let yanked = !urls.is_empty() && urls.iter().all(|f| f.yanked);
    let m = meta.cloned().unwrap_or_default();
    let project_urls: BTreeMap<String, String> = m.project_urls.into_iter().collect();
    ProjectDoc {
        info: ProjectMeta {
            name: if m.name.is_empty() {
                s.name.clone()
            } else {
                m.name
            },
            version: newest.as_str().to_string(),
            summary: m.summary,
            license: m.license,
            license_expression: m.license_expression,
            requires_python: m
                .requires_python
                .or_else(|| urls.iter().find_map(|f| f.requires_python.clone())),
            project_urls: (!project_urls.is_empty()).then_some(project_urls),
            home_page: m.home_page,
            classifiers: m.classifiers,
            requires_dist: meta.map(|_| m.requires_dist),
            provides_extra: meta.map(|_| m.provides_extra),
            author: m.author,
            yanked,
            description: m.description,
            description_content_type: m.description_content_type,
            yanked_reason: None,
        },
        last_serial: None,
        urls,
        releases: Some(releases),
        vulnerabilities: Vec::new(),
    }
}

/// Whether the metadata file of a Simple page's `file` may be fetched: the one rule of
/// [`FileHosts`](sentinel_core::upstream::hosts::FileHosts) (the index's hosts and `download.allowed_hosts`), as for downloads.
pub(super) fn host_allowed(w: &Walker, name: &PackageName, file: &str) -> Result<(), String> {
    let cfg = &w.args.cfg;
    let base = &cfg.upstreams.pypi_simple.base_url;
    let url = sentinel_core::upstream::metadata_url(base, name, file)
        .and_then(|u| reqwest::Url::parse(&u).ok())
        .ok_or_else(|| {
            format!(
                "{} is not an http(s) URL",
                sentinel_core::model::untrusted::excerpt(file)
            )
        })?;
    cfg.file_hosts().check(&url).map_err(|r| r.to_string())
}
