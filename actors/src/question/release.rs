//! A release for a target Python: the one asked for (saying when it excludes the
//! target), or the one pip would pick there.

use tokio::time::Instant;

use super::{Question, Walker};
use crate::actor::router::DocAnswer;
use crate::model::{PackageName, PackageVersion, Query, QueryError};
use crate::upstream::Document;
use crate::views::python::{PyVersion, choose_release, release_admits};

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
                let note = format!(
                    "{name} {v}: no per-release JSON ({}); its requirements were read from {}",
                    err.reason(),
                    match from {
                        super::metadata::FROM_WHEEL => "the METADATA inside one of its wheels",
                        super::metadata::FROM_SDIST => {
                            "the PKG-INFO of its sdist (static metadata, PEP 643)"
                        }
                        _ => "its metadata file (PEP 658)",
                    }
                );
                let doc = Document::Release(super::metadata::as_release(m));
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
        Err(why) if why.contains(crate::upstream::sdist::NEEDS_BUILD) => {
            Err(QueryError::Unavailable {
                upstream: crate::model::Upstream::Files,
                cause: crate::model::UnavailableCause::NeedsBuild { detail: why },
                note: Some(format!("no per-release JSON: {}", err.reason())),
                remembered: None,
            })
        }
        Err(_) => Err(err),
    }
}

/// Two optional notes as one.
fn joined(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}
