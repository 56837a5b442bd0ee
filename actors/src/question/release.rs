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

/// A release for a target Python (see [`ReleaseFor`]).
async fn release_for(
    w: &Walker,
    name: PackageName,
    version: Option<PackageVersion>,
    python: PyVersion,
    deadline: Instant,
) -> Result<Selected, QueryError> {
    let q = match &version {
        None => Query::Project(name.clone()),
        Some(v) => Query::Release(name.clone(), v.clone()),
    };
    let doc = w.doc(q, deadline).await?;
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
        return Ok(Selected { doc, note });
    }
    match choose_release(p, &python) {
        Ok(None) => Ok(Selected { doc, note: None }),
        Ok(Some(choice)) => {
            let v = PackageVersion::parse(&choice.version).map_err(QueryError::from)?;
            let release = w.doc(Query::Release(name, v), deadline).await?;
            Ok(Selected {
                doc: release,
                note: Some(choice.note),
            })
        }
        Err(words) => Ok(Selected {
            doc,
            note: Some(words),
        }),
    }
}
