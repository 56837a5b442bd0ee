//! `get_package_docs` and `get_package_docs_with_context` on the handle: the documents
//! come by the usual path (fresh hit, router), then the README is rendered, tokenized
//! and cut on the CPU pool within the question's deadline (so `/healthz`, cached
//! answers and other questions keep their threads), and each answer is kept per
//! document version and budget, so asking again renders nothing.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock};

use tokio::time::Instant;

use super::{EngineHandle, MAX_CONTEXT_DEPS, datum_of};
use crate::actor::router::DocAnswer;
use crate::cpu::CancelFlag;
use crate::question::docs::DocSummaries;
use sentinel_core::model::{Datum, PackageName, PackageVersion, QueryError, SourceLabel};
use sentinel_core::model::{ItemFailure, PartialResult};
use sentinel_core::upstream::{Document, ProjectDoc};
use sentinel_core::views::deps::{Dependencies, TargetEnv};
use sentinel_core::views::docs::{
    DependencyDocs, DocsWithContext, MAX_README_BYTES, PackageDocs, cut_text, shares, tokens,
};

/// Rendered and cut READMEs, by document version and budget: a shared value, weighed
/// in bytes; keyed by content, so one per process serves every engine in it.
static RENDERED: LazyLock<moka::sync::Cache<DocsKey, Arc<PackageDocs>>> = LazyLock::new(|| {
    moka::sync::Cache::builder()
        .max_capacity(16 << 20)
        .weigher(|_, d: &Arc<PackageDocs>| weight(d))
        .build()
});

/// Bytes an answer holds, about.
fn weight(d: &PackageDocs) -> u32 {
    let urls: usize = d.project_urls.iter().map(|(k, v)| k.len() + v.len()).sum();
    let lists = 64 * (d.sections.len() + d.left_out.len());
    u32::try_from(512 + d.markdown.len() + urls + lists).unwrap_or(u32::MAX)
}

/// What a docs answer is computed from: the release, the budget, and a digest of the
/// fields read (so a re-published body under the same version is not mistaken).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct DocsKey {
    package: String,
    version: String,
    max_tokens: usize,
    digest: u64,
}

impl DocsKey {
    fn of(p: &ProjectDoc, max_tokens: usize) -> Self {
        let i = &p.info;
        let mut h = DefaultHasher::new();
        // What the view reads, no more: the description's first MAX_README_BYTES.
        for (field, max) in [
            (&i.description, MAX_README_BYTES),
            (&i.summary, 4096),
            (&i.description_content_type, 256),
            (&i.home_page, 4096),
        ] {
            let s = field.as_deref().unwrap_or("").as_bytes();
            (field.is_some(), s.len(), &s[..s.len().min(max)]).hash(&mut h);
        }
        if let Some(urls) = &i.project_urls {
            urls.len().hash(&mut h);
            urls.iter().take(256).for_each(|kv| kv.hash(&mut h));
        }
        DocsKey {
            package: i.name.clone(),
            version: i.version.clone(),
            max_tokens,
            digest: h.finish(),
        }
    }

    fn with_budget(self, max_tokens: usize) -> Self {
        DocsKey { max_tokens, ..self }
    }
}

fn project_of(ans: &DocAnswer) -> Result<&ProjectDoc, QueryError> {
    match ans.doc.as_ref() {
        Document::Project(p) | Document::Release(p) => Ok(p),
        _ => Err(QueryError::Internal("not a release document".into())),
    }
}

/// The kept answer for `key`, or one rendered now (on the caller's thread: call it on
/// the pool) and kept; `None` once `flag` is raised.
fn docs_kept_or_rendered(key: DocsKey, p: &ProjectDoc, flag: &CancelFlag) -> Option<PackageDocs> {
    if let Some(d) = RENDERED.get(&key) {
        return Some((*d).clone());
    }
    let d = PackageDocs::from_project_until(p, key.max_tokens, flag)?;
    RENDERED.insert(key, Arc::new(d.clone()));
    Some(d)
}

/// A dependency's summary cut to its share: the text, whether it was cut, its tokens.
type DepCut = Option<(String, bool, usize)>;

impl EngineHandle {
    /// The README (long description) of a release as Markdown, most useful sections
    /// first, cut to `max_tokens` (100 to 32,000) at section boundaries with a marker of
    /// what was left out; with its summary, documentation and source URLs. A view over
    /// the cached project document: stale during an outage, like the rest. At most
    /// [`MAX_README_BYTES`] of the README are read; the answer says what was not.
    pub async fn package_docs(
        &self,
        package: &str,
        version: Option<&str>,
        max_tokens: usize,
    ) -> Result<Datum<PackageDocs>, QueryError> {
        let max = sentinel_core::model::limits::docs_tokens(
            i64::try_from(max_tokens).unwrap_or(i64::MAX),
        )?;
        let name = PackageName::parse(package)?;
        let version = version.map(PackageVersion::parse).transpose()?;
        let _guard = self.enter()?;
        let deadline = self.deadline();
        let ans = self.release_doc(&name, version.as_ref(), deadline).await?;
        let key = DocsKey::of(project_of(&ans)?, max);
        if let Some(d) = RENDERED.get(&key) {
            return Ok(datum_of(&ans, (*d).clone()));
        }
        let doc = ans.doc.clone();
        let docs = self
            .on_pool(deadline, move |flag| {
                let (Document::Project(p) | Document::Release(p)) = doc.as_ref() else {
                    return None;
                };
                docs_kept_or_rendered(key, p, flag)
            })
            .await?;
        Ok(datum_of(&ans, docs))
    }

    /// Runs README work on the CPU pool within `deadline`; `None` from the job means
    /// it saw its flag raised.
    async fn on_pool<T, F>(&self, deadline: Instant, job: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(&CancelFlag) -> Option<T> + Send + 'static,
    {
        let deadline_ms = self.shared().cfg.timeouts.deadline_ms;
        match crate::cpu::pool().run(deadline, job).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(QueryError::DeadlineExceeded { deadline_ms }),
            Err(e) => Err(e.into_query_error(
                deadline_ms,
                "sizing the README failed (a bug); the server is still running",
            )),
        }
    }

    /// [`package_docs`](Self::package_docs) plus short docs of the release's runtime
    /// dependencies for `env` (those whose markers apply, at most [`MAX_CONTEXT_DEPS`]),
    /// fetched concurrently by the router and merged under the one budget: the
    /// dependencies take a third at most, each its stated share; a dependency that
    /// fails is listed with its reason.
    pub async fn package_docs_with_context(
        &self,
        package: &str,
        version: Option<&str>,
        env: &TargetEnv,
        max_tokens: usize,
    ) -> Result<DocsWithContext, QueryError> {
        let max = sentinel_core::model::limits::docs_tokens(
            i64::try_from(max_tokens).unwrap_or(i64::MAX),
        )?;
        let _guard = self.enter()?;
        let deadline = self.deadline();
        let (ans, note) = self
            .release_for_target(package, version, env, deadline)
            .await?;
        let p = project_of(&ans)?;
        let deps = Dependencies::from_project(p, Some(env));
        let mut notes: Vec<String> = note.into_iter().chain(deps.notes.clone()).collect();
        let mut wanted: Vec<(PackageName, String)> = Vec::new();
        let mut failures = Vec::new();
        for d in deps.dependencies.iter().filter(|d| d.applies == Some(true)) {
            match PackageName::parse(&d.name) {
                Ok(n) if !wanted.iter().any(|(w, _)| *w == n) => {
                    wanted.push((n, d.specifier.clone()))
                }
                Ok(_) => {}
                Err(e) => failures.push(ItemFailure::from_error(d.name.clone(), &e.into())),
            }
        }
        if wanted.len() > MAX_CONTEXT_DEPS {
            notes.push(format!(
                "{} runtime dependencies; the first {MAX_CONTEXT_DEPS} are summarised",
                wanted.len()
            ));
            wanted.truncate(MAX_CONTEXT_DEPS);
        }
        let summaries = if wanted.is_empty() {
            Vec::new()
        } else {
            let names = wanted.iter().map(|(n, _)| n.clone()).collect();
            self.ask_by(DocSummaries(names), deadline).await?
        };
        let dependency_budget = max / 3;
        // Counting, sharing and cutting, then the package's own README in what is left:
        // one job on the pool.
        let texts: Vec<Option<String>> = summaries
            .iter()
            .map(|(_, r)| r.as_ref().ok().map(|d| d.value.text.clone()))
            .collect();
        let key = DocsKey::of(p, max);
        let doc = ans.doc.clone();
        let (cuts, shares, docs) = self
            .on_pool(deadline, move |flag| {
                let (Document::Project(p) | Document::Release(p)) = doc.as_ref() else {
                    return None;
                };
                let natural: Vec<usize> = texts
                    .iter()
                    .map(|t| {
                        t.as_deref()
                            .map_or(0, |t| tokens::count_up_to(t, dependency_budget))
                    })
                    .collect();
                let shares = shares(&natural, dependency_budget);
                let mut cuts: Vec<DepCut> = Vec::with_capacity(texts.len());
                for (t, &share) in texts.iter().zip(&shares) {
                    if flag.is_raised() {
                        return None;
                    }
                    cuts.push(t.as_deref().map(|t| {
                        let (text, cut) = cut_text(t, share);
                        let n = tokens::count(&text);
                        (text, cut, n)
                    }));
                }
                let used: usize = cuts.iter().flatten().map(|(_, _, n)| n).sum();
                let docs = docs_kept_or_rendered(key.with_budget(max - used), p, flag)?;
                Some((cuts, shares, docs))
            })
            .await?;
        let mut items = Vec::new();
        let mut labels = Vec::new();
        for ((((name, result), share), cut), (_, specifier)) in
            summaries.into_iter().zip(shares).zip(cuts).zip(&wanted)
        {
            match (result, cut) {
                (Ok(d), Some((text, cut, n))) => {
                    labels.push(d.label());
                    let dd = DependencyDocs {
                        package: name.as_str().to_string(),
                        specifier: specifier.clone(),
                        version: d.value.version.clone(),
                        tokens: n,
                        text,
                        share_tokens: share,
                        cut,
                        documentation_url: d.value.documentation_url.clone(),
                    };
                    items.push(d.map(|_| dd));
                }
                (Err(e), _) => {
                    labels.push(SourceLabel::Unavailable);
                    failures.push(ItemFailure::from_error(name.as_str().to_string(), &e));
                }
                (Ok(_), None) => return Err(QueryError::Internal("a summary went missing".into())),
            }
        }
        let used: usize = items
            .iter()
            .map(|d: &Datum<DependencyDocs>| d.value.tokens)
            .sum();
        let docs = datum_of(&ans, docs);
        // No dependency: the part's source is the package's own.
        let source = if labels.is_empty() {
            docs.label()
        } else {
            SourceLabel::merge(labels)
        };
        Ok(DocsWithContext {
            tokens: docs.value.tokens + used,
            docs,
            dependencies: PartialResult {
                items,
                failures,
                source,
            },
            evaluated_for: env.clone(),
            notes,
            max_tokens: max,
            dependency_budget,
            encoding: tokens::ENCODING.into(),
        })
    }
}
