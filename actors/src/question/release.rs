//! A release for a target Python: the one asked for (saying when it excludes the
//! target), or the one pip would pick there.

use tokio::time::Instant;

use super::{Question, Walker};
use crate::actor::router::DocAnswer;
use sentinel_core::model::{PackageName, PackageVersion, Query, QueryError};
use sentinel_core::upstream::{Document, FileInfo, FileLink, ProjectDoc, SimpleDoc, Yanked};
use sentinel_core::views::python::{PyVersion, choose_release, release_admits};

/// A release for a target Python.
#[derive(Debug, Clone)]
pub(crate) struct ReleaseFor {
    pub(crate) name: PackageName,
    pub(crate) version: Option<PackageVersion>,
    pub(crate) python: PyVersion,
}

/// The release document, with what was chosen or found about the target, in words.
#[derive(Debug)]
pub(crate) struct Selected {
    pub(crate) doc: DocAnswer,
    pub(crate) note: Option<String>,
}

impl Question for ReleaseFor {
    type Answer = Selected;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<Selected, QueryError> {
        release_for(w, self.name, self.version, self.python, deadline).await
    }
}

/// The document `info`, `deps` and `docs` read: a release's (per-release JSON, else
/// one made from its core metadata), or with no version the project's (the JSON API,
/// else one made from the Simple API and the newest release's metadata).
#[derive(Debug, Clone)]
pub(crate) struct ReleaseDoc {
    pub(crate) name: PackageName,
    pub(crate) version: Option<PackageVersion>,
}

impl Question for ReleaseDoc {
    type Answer = DocAnswer;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<DocAnswer, QueryError> {
        match &self.version {
            None => super::metadata::project(w, &self.name, deadline).await,
            Some(v) => Ok(release_or_metadata(w, &self.name, v, deadline).await?.0),
        }
    }
}

/// A release for a target Python (see [`ReleaseFor`]).
async fn release_for(
    w: &Walker,
    name: PackageName,
    version: Option<PackageVersion>,
    python: PyVersion,
    deadline: Instant,
) -> Result<Selected, QueryError> {
    let (doc, from) = match &version {
        None => (super::metadata::project(w, &name, deadline).await?, None),
        Some(v) => release_or_metadata(w, &name, v, deadline).await?,
    };
    let (Document::Project(p) | Document::Release(p)) = doc.doc.as_ref() else {
        return Ok(Selected { doc, note: None });
    };
    if version.is_some() {
        let note = (release_admits(p, &python) == Some(false)).then(|| {
            format!(
                "{} {} requires Python {}: it does not install on Python {python}",
                p.info.name,
                p.info.version,
                p.info.requires_python.as_deref().unwrap_or_default()
            )
        });
        return Ok(Selected {
            doc,
            note: joined(note, from),
        });
    }
    match choose_release(p, &python) {
        // A project document made from the Simple page (no JSON API) lists its newest
        // release's files without their digests: list them again, verifiable.
        Ok(None) if doc.upstream == sentinel_core::model::Upstream::PypiSimple => {
            let version = PackageVersion::parse(&p.info.version).map_err(QueryError::from)?;
            let mut doc_p = p.clone();
            if let Some((files, _)) = simple_files(w, &name, &version, deadline).await {
                doc_p.urls = files;
            }
            Ok(Selected {
                doc: DocAnswer {
                    doc: std::sync::Arc::new(Document::Project(doc_p)),
                    ..doc
                },
                note: None,
            })
        }
        Ok(None) => Ok(Selected { doc, note: None }),
        Ok(Some(choice)) => {
            let v = PackageVersion::parse(&choice.version).map_err(QueryError::from)?;
            let (release, from) = release_or_metadata(w, &name, &v, deadline).await?;
            Ok(Selected {
                doc: release,
                note: joined(Some(choice.note), from),
            })
        }
        Err(words) => Ok(Selected {
            doc,
            note: Some(words),
        }),
    }
}

/// The per-release JSON of `v`; where the index has none (a mirror, a private index,
/// or PyPI's own gaps), a release document made from its core metadata (the PEP 658
/// file, else a wheel's `METADATA`), with the metadata's provenance and a note saying
/// so. The JSON's error stands when the metadata cannot be had either.
async fn release_or_metadata(
    w: &Walker,
    name: &PackageName,
    v: &PackageVersion,
    deadline: Instant,
) -> Result<(DocAnswer, Option<String>), QueryError> {
    let err = match w
        .doc(Query::Release(name.clone(), v.clone()), deadline)
        .await
    {
        Ok(doc) => return Ok((doc, None)),
        Err(e) => e,
    };
    match super::metadata::from_simple(w, name, v, deadline).await {
        Ok((ans, from)) => match ans.doc.as_ref() {
            Document::Metadata(m) => {
                let mut release = super::metadata::as_release(m);
                // The files (for `download`): the Simple page's, already held.
                let files = simple_files(w, name, v, deadline).await;
                let note = format!(
                    "{name} {v}: no per-release JSON ({}); its requirements were read from {}{}",
                    err.reason(),
                    match from {
                        super::metadata::FROM_WHEEL => "the METADATA inside one of its wheels",
                        super::metadata::FROM_SDIST => {
                            "the PKG-INFO of its sdist (static metadata, PEP 643)"
                        }
                        _ => "its metadata file (PEP 658)",
                    },
                    if files.is_some() {
                        ", its files from the Simple page"
                    } else {
                        ""
                    }
                );
                if let Some(files) = files {
                    with_files(&mut release, files);
                }
                let doc = Document::Release(release);
                Ok((
                    DocAnswer {
                        doc: std::sync::Arc::new(doc),
                        ..ans
                    },
                    Some(note),
                ))
            }
            _ => Err(err),
        },
        // Only an sdist whose metadata is not static: said as such, typed.
        Err(why) if why.contains(sentinel_core::upstream::sdist::NEEDS_BUILD) => {
            Err(QueryError::Unavailable {
                upstream: sentinel_core::model::Upstream::Files,
                cause: sentinel_core::model::UnavailableCause::NeedsBuild { detail: why },
                note: Some(format!("no per-release JSON: {}", err.reason())),
                remembered: None,
            })
        }
        Err(_) => Err(err),
    }
}

/// The files of release `v` as the project's Simple page lists them (PEP 691 JSON or
/// PEP 503 HTML), each with its absolute URL and the sha256 the page gives (`hashes`,
/// else the URL's `#sha256=` fragment), `Requires-Python`, yanked, and its size when
/// given (0 when not: a download is then bounded by `download.max_bytes` alone).
/// `None` when the page cannot be had or lists no file of `v`.
async fn simple_files(
    w: &Walker,
    name: &PackageName,
    v: &PackageVersion,
    deadline: Instant,
) -> Option<(Vec<FileInfo>, Option<String>)> {
    let page = w.doc(Query::Simple(name.clone()), deadline).await.ok()?;
    let Document::Simple(s) = page.doc.as_ref() else {
        return None;
    };
    let base = &w.args.cfg.upstreams.pypi_simple.base_url;
    let files = files_of(s, base, name, v);
    let reason = s.files.iter().find_map(|f| match &f.yanked {
        Yanked::Reason(r) if files.iter().any(|x| x.filename == f.filename) => Some(r.clone()),
        _ => None,
    });
    (!files.is_empty()).then_some((files, reason))
}

/// See [`simple_files`].
fn files_of(s: &SimpleDoc, base: &str, name: &PackageName, v: &PackageVersion) -> Vec<FileInfo> {
    s.files
        .iter()
        .filter(|f| {
            f.version()
                .and_then(|x| PackageVersion::parse(x).ok())
                .is_some_and(|x| &x == v)
        })
        .map(|f| {
            let link = f.url.as_deref().map(|listed| {
                let sha256 = f
                    .hashes
                    .sha256
                    .as_deref()
                    .or_else(|| sentinel_core::upstream::simple::url_sha256(listed))
                    .map(str::to_ascii_lowercase);
                // Absolute (a page may list files relative to itself), no fragment:
                // the digest is kept on its own.
                let mut url = sentinel_core::upstream::file_url(base, name, listed)
                    .unwrap_or_else(|| listed.to_string());
                if let Some(i) = url.find('#') {
                    url.truncate(i);
                }
                Box::new(FileLink { url, sha256 })
            });
            FileInfo {
                filename: f.filename.clone(),
                packagetype: if f.is_wheel() { "bdist_wheel" } else { "sdist" }.into(),
                upload_time_iso_8601: f.upload_time.clone(),
                yanked: f.is_yanked(),
                size: f.size.unwrap_or(0),
                requires_python: f.requires_python.clone(),
                link,
            }
        })
        .collect()
}

/// A release document's files, and its yanked state as PyPI gives it (every file
/// yanked: the release is; the first reason given).
fn with_files(release: &mut ProjectDoc, (files, reason): (Vec<FileInfo>, Option<String>)) {
    release.info.yanked = files.iter().all(|f| f.yanked);
    release.info.yanked_reason = reason.filter(|_| release.info.yanked);
    release.urls = files;
}

/// Two optional notes as one.
fn joined(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}
