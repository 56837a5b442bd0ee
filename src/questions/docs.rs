//! `get_package_docs` / `pypi-sentinel docs NAME[==VERSION]`, and
//! `get_package_docs_with_context` / `pypi-sentinel docs NAME --with-deps`.

use schemars::JsonSchema;
use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::docs::{DependencyDocs, DocsWithContext, PackageDocs};
use sentinel_actors::{DEPS_TARGET, Datum, EngineHandle, QueryError, Target, TargetOnly, limits};
use serde::Deserialize;
use std::fmt::Write as _;

use super::Ask;
use super::show;
use super::{Run, split_spec};
use crate::structured::text::freshness;
use crate::structured::{DatumOut, DocsContextOut};
use crate::terminal::Failure;
use crate::terminal::output::{notes, source_cell, source_note};
use crate::terminal::target::{self, TargetArgs};
use crate::text::thousands;

/// A package's README sized for a model's context.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Docs {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
    /// A release, e.g. `2.31.0`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
    /// Most tokens (o200k_base) of Markdown to return, 100 to 32000. Default 4000.
    #[serde(default)]
    #[schemars(range(min = 100, max = 32000))]
    pub max_tokens: Option<i64>,
}

fn budget(v: Option<i64>) -> Result<usize, QueryError> {
    Ok(limits::docs_tokens(
        v.unwrap_or(limits::DEFAULT_DOCS_TOKENS as i64),
    )?)
}

impl Ask for Docs {
    const TOOL: &'static str = "get_package_docs";
    const DESCRIPTION: &'static str = "A PyPI package's README (the long description of its latest release, or of `version`) as Markdown sized for your context: reStructuredText is converted; sections come most useful first (install, quick start, usage, API and examples; badges, changelog, licence and contributors last) and are cut to max_tokens (100-32000, default 4000, counted with the o200k_base tokenizer) at section boundaries, ending with a marker naming what was left out and its size. Also the summary, documentation and source URLs, and the version the docs belong to.";

    type Answer = Datum<PackageDocs>;
    type Output<'a> = DatumOut<&'a PackageDocs>;

    /// The README, most useful sections first, cut to the budget.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<PackageDocs>, QueryError> {
        let max = budget(self.max_tokens)?;
        engine
            .package_docs(&self.package, self.version.as_deref(), max)
            .await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        package_docs(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        docs_body(a)
    }
}

/// A package's README and its runtime dependencies' short docs, under one budget.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(transform = TargetOnly(DEPS_TARGET))]
pub struct DocsContext {
    /// The PyPI project name, e.g. `black`.
    pub package: String,
    /// A release, e.g. `24.3.0`. Omit it for the latest release (or, with a
    /// `python_version`, the release pip would pick on that Python).
    #[serde(default)]
    pub version: Option<String>,
    /// Where the dependencies would be installed: dependencies whose markers exclude
    /// it are left out (default CPython 3.12 on linux).
    #[serde(flatten)]
    pub target: Target,
    /// Most tokens (o200k_base) in all: the package's Markdown plus every dependency's
    /// summary, 100 to 32000. Default 4000. The dependencies take a third at most.
    #[serde(default)]
    #[schemars(range(min = 100, max = 32000))]
    pub max_tokens: Option<i64>,
}

impl Ask for DocsContext {
    const TOOL: &'static str = "get_package_docs_with_context";
    const DESCRIPTION: &'static str = "get_package_docs plus a short summary (summary line and first README paragraph) of each runtime dependency for a target (python_version, platform, extras, markers as in get_package_dependencies; default CPython 3.12 on linux), all under one max_tokens budget: the dependencies take a third at most, each its stated share, the package's README the rest. A dependency that cannot be fetched is listed under failures with its reason; the others are still answered.";

    type Answer = DocsWithContext;
    type Output<'a> = DocsContextOut<DatumOut<&'a PackageDocs>, DatumOut<&'a DependencyDocs>>;

    /// The README and the dependencies' summaries, fetched concurrently.
    async fn ask(&self, engine: &EngineHandle) -> Result<DocsWithContext, QueryError> {
        let max = budget(self.max_tokens)?;
        self.target.only(DEPS_TARGET)?;
        let env = TargetEnv::of(&self.target)?;
        engine
            .package_docs_with_context(&self.package, self.version.as_deref(), &env, max)
            .await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DocsContextOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        context_text(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        context_table(a)
    }

    /// A dependency that failed makes the exit partial.
    fn exit(&self, r: &Self::Answer) -> Result<(), Failure> {
        let deps = &r.dependencies;
        if deps.failures.is_empty() {
            return Ok(());
        }
        Err(Failure::partial(format!(
            "{} of {} dependencies failed",
            deps.failures.len(),
            deps.failures.len() + deps.items.len()
        )))
    }
}

/// The header of a docs answer: release, freshness, budget, summary, URLs.
fn docs_header(d: &Datum<PackageDocs>) -> String {
    let v = &d.value;
    let mut s = format!("{} {} docs ({})", v.package, v.version, freshness(d));
    if let Some(summary) = &v.summary {
        let _ = write!(s, "\n{summary}");
    }
    let mut urls = Vec::new();
    if let Some(u) = &v.documentation_url {
        urls.push(format!("documentation {u}"));
    }
    if let Some(u) = &v.source_url {
        urls.push(format!("source {u}"));
    }
    if !urls.is_empty() {
        let _ = write!(s, "\n{}", urls.join("; "));
    }
    let _ = write!(
        s,
        "\n{} of {} tokens shown ({} budget, counted with {}; {} sections shown, {} left out)",
        thousands(v.tokens as u64),
        thousands(v.total_tokens as u64),
        thousands(v.max_tokens as u64),
        v.encoding,
        v.sections.len(),
        v.sections_left_out()
    );
    s
}

/// `get_package_docs`.
fn package_docs(d: &Datum<PackageDocs>) -> String {
    let mut s = docs_header(d);
    if d.value.markdown.is_empty() {
        s.push_str("\nThe release publishes no description.");
    } else {
        let _ = write!(s, "\n\n{}", d.value.markdown);
    }
    s
}

/// `get_package_docs_with_context`.
fn context_text(r: &DocsWithContext) -> String {
    let mut s = package_docs(&r.docs);
    let e = &r.evaluated_for;
    let deps = &r.dependencies;
    let _ = write!(
        s,
        "\n\n## Runtime dependencies for Python {} on {:?} ({} answered, {} failed; {} of {} tokens in all, dependencies up to {})",
        e.python_version,
        e.platform,
        deps.items.len(),
        deps.failures.len(),
        thousands(r.tokens as u64),
        thousands(r.max_tokens as u64),
        thousands(r.dependency_budget as u64),
    );
    for n in &r.notes {
        let _ = write!(s, "\nnote: {n}");
    }
    for d in &deps.items {
        let v = &d.value;
        let _ = write!(
            s,
            "\n\n### {}{} ({}; {} of its {}-token share{}; {})\n{}",
            v.package,
            if v.specifier.is_empty() {
                String::new()
            } else {
                format!(" {}", v.specifier)
            },
            v.version,
            v.tokens,
            v.share_tokens,
            if v.cut { ", cut" } else { "" },
            freshness(d),
            v.text
        );
    }
    if !deps.failures.is_empty() {
        s.push_str("\n\nfailures:");
        for f in &deps.failures {
            let _ = write!(s, "\n{}", crate::structured::text::failure(f));
        }
    }
    s
}

fn docs_body(d: &Datum<PackageDocs>) -> String {
    let mut s = String::new();
    let v = &d.value;
    ln!(s, "{} {} ({})", v.package, v.version, source_cell(d));
    if let Some(summary) = &v.summary {
        ln!(s, "{summary}");
    }
    if let Some(u) = &v.documentation_url {
        ln!(s, "documentation: {u}");
    }
    if let Some(u) = &v.source_url {
        ln!(s, "source: {u}");
    }
    ln!(
        s,
        "{} of {} tokens ({} budget, {}); {} sections shown, {} left out",
        thousands(v.tokens as u64),
        thousands(v.total_tokens as u64),
        thousands(v.max_tokens as u64),
        v.encoding,
        v.sections.len(),
        v.sections_left_out()
    );
    s += &notes([source_note("docs", d)]);
    ln!(s, "");
    if v.markdown.is_empty() {
        ln!(s, "(the release publishes no description)");
    } else {
        ln!(s, "{}", v.markdown);
    }
    s
}

/// `docs --with-deps`; a dependency that failed makes the exit code partial.
fn context_table(r: &DocsWithContext) -> String {
    let mut s = String::new();
    let deps = &r.dependencies;
    s += &docs_body(&r.docs);
    ln!(s, "");
    ln!(
        s,
        "## Runtime dependencies for Python {} on {:?}: {} of {} tokens in all, dependencies up to {}",
        r.evaluated_for.python_version,
        r.evaluated_for.platform,
        thousands(r.tokens as u64),
        thousands(r.max_tokens as u64),
        thousands(r.dependency_budget as u64)
    );
    for n in &r.notes {
        ln!(s, "  note: {n}");
    }
    for d in &deps.items {
        let v = &d.value;
        ln!(s, "");
        ln!(
            s,
            "### {} {} ({}; {} of a {}-token share{}; {})",
            v.package,
            v.specifier,
            v.version,
            v.tokens,
            v.share_tokens,
            if v.cut { ", cut" } else { "" },
            source_cell(d)
        );
        ln!(s, "{}", v.text);
    }
    for f in &deps.failures {
        ln!(s, "  failed: {}: {} ({})", f.item, f.reason, f.suggestion);
    }
    s
}

/// A release's README as Markdown sized for a model's context: most useful
/// sections first, cut to a token budget (o200k_base) with a marker of what was
/// left out. With --with-deps, its runtime dependencies' short docs too, under the
/// same budget.
#[derive(clap::Args, Debug)]
#[command(mut_args(|a| target::only_with(a, DEPS_TARGET, "with_deps")))]
pub(crate) struct DocsFlags {
    /// Package, optionally `==VERSION`.
    spec: String,
    /// Most tokens, 100-32000 (default 4000).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_tokens: Option<i64>,
    /// Add short docs of the runtime dependencies for the target (MCP:
    /// get_package_docs_with_context).
    #[arg(long)]
    with_deps: bool,
    /// With --with-deps: where the dependencies would be installed (default Python
    /// 3.12 on linux).
    #[command(flatten)]
    target: TargetArgs,
}

impl Run for DocsFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let (package, version) = split_spec(&self.spec)?;
        if self.with_deps {
            let q = DocsContext {
                package,
                version,
                target: self.target.target()?,
                max_tokens: self.max_tokens,
            };
            return show(engine, q, json).await;
        }
        let q = Docs {
            package,
            version,
            max_tokens: self.max_tokens,
        };
        show(engine, q, json).await
    }
}
