//! The walks of `scan_dependencies` and `check_package`, fanned out over the same
//! coalesced flights as every other question:
//!
//! - scan: the version list of every distinct package, concurrently (each with the
//!   versions chain: the project JSON, then the Simple API), merged per package;
//! - check: the version list and the top-packages dataset concurrently, then, when the
//!   package exists, its recent downloads (pypistats, else estimates): always for
//!   `check_package`; for an audit's direct dependencies only when the name resembles
//!   a popular one or the package is young, where the downloads decide the verdict
//!   (an audit of 50 dependencies would otherwise spend pypistats' rate limit on
//!   established packages).

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::recent::{recent, recent_view};
use super::versions::{VersionsAnswer, version_list, versions};
use super::{Question, Walker, confusion, router_restarted};
use crate::actor::router::{DocAnswer, resolve_within};
use sentinel_core::model::ItemFailure;
use sentinel_core::model::limits::MAX_SCAN_PACKAGES;
use sentinel_core::model::{
    Datum, PackageName, Provenance, Query, QueryError, SourceLabel, Upstream,
};
use sentinel_core::project::{self, ParsedProject};
use sentinel_core::upstream::Document;
use sentinel_core::views::check::{
    self, CheckVerdict, PackageCheck, PopularityFacts, ReleaseFacts,
};
use sentinel_core::views::confusion as views_confusion;
use sentinel_core::views::downloads::RecentDownloads;
use sentinel_core::views::scan::{
    DependencyCheck, ScanReport, ScanSummary, ScannedDependency, keep_listed,
};
use sentinel_core::views::vulns::{self, PackageVulnerabilities};

/// Per package, its versions answer and its page on the extra index (when one is
/// configured), in the order asked.
type ScanAnswer = Vec<(
    PackageName,
    Result<VersionsAnswer, QueryError>,
    Option<Result<DocAnswer, QueryError>>,
)>;

/// The facts of the supply-chain check of one package (check_package; audit_project
/// per direct dependency).
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) name: PackageName,
    pub(crate) downloads: CheckDownloads,
}

impl Question for Check {
    type Answer = PackageCheck;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<PackageCheck, QueryError> {
        let parts = check(w, self.name.clone(), self.downloads, deadline).await;
        Ok(check_view(w, self.name, parts))
    }
}

/// The dependencies a project declares (read and parsed before it is asked), each
/// checked against its version list.
#[derive(Debug, Clone)]
pub(crate) struct ScanProject(pub(crate) ParsedProject);

impl Question for ScanProject {
    type Answer = ScanReport;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<ScanReport, QueryError> {
        scan_project(w, self.0, deadline).await
    }
}

/// What the check chain gathered; each part may have failed on its own.
#[derive(Debug)]
struct CheckParts {
    pub(crate) versions: Result<VersionsAnswer, QueryError>,
    pub(crate) top: Result<DocAnswer, QueryError>,
    pub(crate) recent: Option<Result<RecentDownloads, QueryError>>,
    /// The name's page on the extra index, when one is configured.
    pub(crate) extra: Option<Result<DocAnswer, QueryError>>,
}

async fn scan(w: &Walker, names: Vec<PackageName>, deadline: Instant) -> ScanAnswer {
    let deadline = Walker::parts_deadline(deadline);
    let jobs = names.into_iter().map(|name| async move {
        let (r, extra) = tokio::join!(
            versions(w, name.clone(), deadline),
            confusion::extra_page(w, &name, deadline)
        );
        (name, r, extra)
    });
    futures::future::join_all(jobs).await
}

/// When the check fetches recent downloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckDownloads {
    /// Whenever the package exists (`check_package`).
    Always,
    /// Only when the downloads could change the verdict: the name resembles a popular
    /// one, or the first release is young (an audit's direct dependencies).
    WhenSuspect,
}

async fn check(
    w: &Walker,
    name: PackageName,
    downloads: CheckDownloads,
    deadline: Instant,
) -> CheckParts {
    let deadline = Walker::parts_deadline(deadline);
    // The top-packages dataset only serves the resemblance check: it gets the answer
    // budget (its flight goes on and the next check has it), not the whole deadline.
    let (versions, top, extra) = tokio::join!(
        versions(w, name.clone(), deadline),
        top_within_budget(w, deadline),
        confusion::extra_page(w, &name, deadline)
    );
    let wanted = match downloads {
        CheckDownloads::Always => true,
        CheckDownloads::WhenSuspect => suspect(&name, &versions, &top, w),
    };
    let recent = match &versions {
        Ok(_) if wanted => Some(
            // Without the companion series, as batches do (spares pypistats' limit).
            recent(w, &name, deadline, false)
                .await
                .and_then(|a| recent_view(&name, a, w.args.cfg.clock.today())),
        ),
        _ => None,
    };
    CheckParts {
        versions,
        top,
        recent,
        extra,
    }
}

async fn top_within_budget(w: &Walker, deadline: Instant) -> Result<DocAnswer, QueryError> {
    let end = w.budget_end(deadline);
    match resolve_within(&w.router(), Query::TopPackages, Some(end), deadline).await {
        Ok(Some(r)) => r,
        Ok(None) => Err(QueryError::unavailable(
            Upstream::TopPackages,
            w.budget_timeout(),
        )),
        Err(_) => Err(router_restarted()),
    }
}

/// Whether the downloads could change the verdict on `name`: its name resembles a
/// popular one (and it is not popular itself), or its first release is young, or
/// either fact is unknown.
fn suspect(
    name: &PackageName,
    versions: &Result<VersionsAnswer, QueryError>,
    top: &Result<DocAnswer, QueryError>,
    w: &Walker,
) -> bool {
    use sentinel_core::upstream::Document;
    use sentinel_core::views::check;
    let resembles = match top.as_ref().map(|a| a.doc.as_ref()) {
        Ok(Document::Top(t)) => {
            let (rank, resembles, _) = check::resemblance(name.as_str(), t);
            rank.is_none() && resembles.is_some()
        }
        Ok(_) => true,
        Err(_) => {
            let (rank, resembles, _) = check::resemblance(name.as_str(), check::bundled_top());
            rank.is_none() && resembles.is_some()
        }
    };
    let age_days = match versions {
        Ok(VersionsAnswer::Project(a)) => match a.doc.as_ref() {
            Document::Project(p) => {
                check::ReleaseFacts::from_versions(
                    &sentinel_core::views::versions::VersionList::from_project(p),
                    w.args.cfg.clock.now(),
                )
                .age_days
            }
            _ => None,
        },
        _ => None,
    };
    let young = age_days.is_none_or(|days| days < check::YOUNG_DAYS);
    resembles || young
}

/// A project's declared dependencies checked against their version lists. Collecting
/// the names and drawing the report are linear in the file's size (a 1 MB file holds
/// some 60,000 dependencies): both run on the CPU pool, never on the async threads.
pub(crate) async fn scan_project(
    w: &Walker,
    parsed: ParsedProject,
    deadline: Instant,
) -> Result<ScanReport, QueryError> {
    let (parsed, names, over) = on_pool(deadline, move || {
        let (names, over) = packages_to_check(&parsed);
        (parsed, names, over)
    })
    .await?;
    let checked = names.len();
    let answers = if names.is_empty() {
        Vec::new()
    } else {
        scan(w, names, deadline).await
    };
    let extra_url = confusion::configured(w).then(|| confusion::extra_index_url(w));
    on_pool(deadline, move || {
        scan_view(parsed, checked, over, answers, extra_url)
    })
    .await
}

/// The first [`MAX_SCAN_PACKAGES`] distinct index packages in file order, and how many
/// more there were.
fn packages_to_check(parsed: &ParsedProject) -> (Vec<PackageName>, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    let mut over = 0;
    for d in &parsed.dependencies {
        if d.source == project::DependencySource::Index
            && let Ok(n) = PackageName::parse(&d.name)
            && seen.insert(n.clone())
        {
            if names.len() < MAX_SCAN_PACKAGES {
                names.push(n);
            } else {
                over += 1;
            }
        }
    }
    (names, over)
}

/// Runs a scan's linear work on the CPU pool, by the deadline.
async fn on_pool<T: Send + 'static>(
    deadline: Instant,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QueryError> {
    let whole = deadline.saturating_duration_since(Instant::now());
    crate::cpu::pool()
        .run(deadline, move |_| job())
        .await
        .map_err(|e| {
            e.into_query_error(
                whole.as_millis() as u64,
                "the scan's report could not be drawn (a bug); retry, or report it",
            )
        })
}

/// The report: each dependency against its package's version list.
fn scan_view(
    parsed: ParsedProject,
    checked: usize,
    over: usize,
    answers: ScanAnswer,
    extra_url: Option<String>,
) -> ScanReport {
    let problems_found = parsed.problems_found();
    let ParsedProject {
        files,
        dependencies,
        references,
        options,
        problems,
        mut notes,
        ..
    } = parsed;
    if over > 0 {
        notes.push(format!(
            "{over} package(s) past the first {MAX_SCAN_PACKAGES} were not checked against PyPI"
        ));
    }
    let mut lists = BTreeMap::new();
    let mut failures = Vec::new();
    let mut labels = Vec::new();
    let mut names = Vec::new();
    let mut extra_only = std::collections::HashSet::new();
    for (name, r, extra) in answers {
        let r = r.and_then(version_list);
        if let Some(page) = extra {
            if let Ok(a) = &page {
                labels.push(a.provenance.label());
            }
            let n = views_confusion::compare(
                name.as_str(),
                confusion::public_side(&r),
                confusion::extra_side(page),
            );
            if n.status == views_confusion::ConfusionStatus::ExtraOnly {
                extra_only.insert(name.to_string());
            }
            names.push(n);
        }
        match &r {
            Ok(d) => labels.push(d.label()),
            Err(QueryError::NotFound { .. }) => labels.push(SourceLabel::Live),
            Err(e) => {
                labels.push(SourceLabel::Unavailable);
                failures.push(ItemFailure::from_error(name.to_string(), e));
            }
        }
        lists.insert(name.to_string(), r);
    }
    let confusion = extra_url.map(|url| views_confusion::ConfusionReport::of(url, names));
    if let Some(c) = &confusion {
        // Never "clean" for a name the extra index could not be asked about.
        failures.extend(c.not_checked.iter().cloned());
    }
    let dependencies: Vec<ScannedDependency> = dependencies
        .into_iter()
        .map(|d| {
            let check = if d.source != project::DependencySource::Index {
                DependencyCheck::not_checked(
                    "a direct reference: not fetched and not checked against PyPI",
                )
            } else {
                match lists.get(&d.name) {
                    None => DependencyCheck::not_checked(format!(
                        "not checked: past the {MAX_SCAN_PACKAGES} packages one scan asks about"
                    )),
                    Some(Ok(list)) => DependencyCheck::against(&d, list),
                    // Not on PyPI but on the extra index: pip installs it from there.
                    Some(Err(QueryError::NotFound { .. })) if extra_only.contains(&d.name) => {
                        DependencyCheck::not_checked(
                            "only on the extra index: pip installs it from there (not checked against PyPI)",
                        )
                    }
                    Some(Err(QueryError::NotFound { .. })) => DependencyCheck::not_found(&d.name),
                    Some(Err(e)) => DependencyCheck::unavailable(&e.reason()),
                }
            };
            ScannedDependency { declared: d, check }
        })
        .collect();
    let mut summary = ScanSummary::count(&dependencies, checked, problems_found);
    let mut dependencies = dependencies;
    summary.not_listed = keep_listed(&mut dependencies);
    if summary.not_listed > 0 {
        notes.push(format!(
            "{} of {} dependencies are listed (those with a finding first); the summary counts all of them",
            dependencies.len(),
            summary.dependencies
        ));
    }
    ScanReport {
        files,
        dependencies,
        references,
        options,
        problems,
        notes,
        failures,
        summary,
        confusion,
        source: SourceLabel::merge(labels),
    }
}

fn check_view(w: &Walker, name: PackageName, parts: CheckParts) -> PackageCheck {
    let mut failures = Vec::new();
    let mut labels = Vec::new();
    let now = w.args.cfg.clock.now();
    // The project JSON lists its latest release's vulnerabilities: no extra request.
    let latest_vulnerabilities = match &parts.versions {
        Ok(VersionsAnswer::Project(ans)) => match ans.doc.as_ref() {
            Document::Project(p) => {
                let published = vulns::published_releases(p);
                Some(ans.datum(PackageVulnerabilities::from_release(
                    p,
                    published.as_deref(),
                )))
            }
            _ => None,
        },
        _ => None,
    };
    let list = parts.versions.and_then(version_list);
    let name_confusion = parts.extra.map(|page| {
        if let Ok(a) = &page {
            labels.push(a.provenance.label());
        }
        views_confusion::compare(
            name.as_str(),
            confusion::public_side(&list),
            confusion::extra_side(page),
        )
    });
    let (exists, releases) = match list {
        Ok(list) => {
            labels.push(list.label());
            (
                Some(true),
                Some(list.map(|l| ReleaseFacts::from_versions(&l, now))),
            )
        }
        Err(QueryError::NotFound { .. }) => {
            labels.push(SourceLabel::Live);
            (Some(false), None)
        }
        Err(e) => {
            labels.push(SourceLabel::Unavailable);
            failures.push(ItemFailure::from_error(format!("{name}/releases"), &e));
            (None, None)
        }
    };
    let mut from_snapshot = false;
    let popularity = match parts.top {
        Ok(ans) => match ans.doc.as_ref() {
            Document::Top(t) => {
                let (rank, resembles, compared) = check::resemblance(name.as_str(), t);
                labels.push(ans.provenance.label());
                Some(ans.datum(PopularityFacts {
                    rank,
                    resembles,
                    compared_with: compared,
                    rule: check::rule_words(compared),
                }))
            }
            _ => None,
        },
        // The live dataset could not be had: the snapshot bundled in the binary, with
        // its date in the provenance (the failure is still listed).
        Err(e) => {
            labels.push(SourceLabel::Stale);
            failures.push(ItemFailure::from_error(format!("{name}/popularity"), &e));
            from_snapshot = true;
            let top = check::bundled_top();
            let (rank, resembles, compared) = check::resemblance(name.as_str(), top);
            let built =
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(check::BUNDLED_TOP_UNIX);
            let age = now.duration_since(built).unwrap_or_default();
            Some(Datum::new(
                PopularityFacts {
                    rank,
                    resembles,
                    compared_with: compared,
                    rule: format!(
                        "{} (the snapshot of {})",
                        check::rule_words(compared),
                        check::BUNDLED_TOP_DATE
                    ),
                },
                Provenance::Stale {
                    reason: check::bundled_top_reason(&e.reason()),
                },
                Upstream::TopPackages,
                age,
            ))
        }
    };
    let downloads: Option<Datum<Option<u64>>> = match parts.recent {
        Some(Ok(r)) => {
            labels.push(r.last_month.label());
            Some(r.last_month)
        }
        Some(Err(e)) => {
            labels.push(SourceLabel::Unavailable);
            failures.push(ItemFailure::from_error(format!("{name}/downloads"), &e));
            None
        }
        None => None,
    };
    let (mut verdict, mut summary) = check::verdict(
        name.as_str(),
        check::Evidence {
            exists,
            releases: releases.as_ref().map(|r| &r.value),
            downloads: downloads.as_ref().and_then(|d| d.value),
            popularity: popularity.as_ref().map(|p| &p.value),
            latest_vulnerabilities: latest_vulnerabilities.as_ref().map(|v| &v.value),
        },
    );
    let vulnerabilities = match (&latest_vulnerabilities, exists) {
        (Some(v), _) => format!(
            "the latest release ({}) was checked: {}; older releases were not (get_package_vulnerabilities with a version asks)",
            v.value.version,
            match v.value.active {
                0 => "no known vulnerability".to_string(),
                _ => check::vulnerable_words(&v.value),
            }
        ),
        (None, Some(true)) => "not checked: the JSON API did not answer (the release list came from the Simple API, which has no vulnerability data)".into(),
        (None, _) => "not checked".into(),
    };
    if exists == Some(true) && popularity.is_none() {
        summary.push_str("; resemblance to popular names not checked (the top-packages dataset could not be had)");
    }
    if let Some(c) = &name_confusion {
        confusion_verdict(c, &mut verdict, &mut summary, &mut failures);
    }
    if from_snapshot {
        summary.push_str(&format!(
            "; popular names from the snapshot of {} bundled in this build (the live dataset could not be reached)",
            check::BUNDLED_TOP_DATE
        ));
    }
    PackageCheck {
        package: name.to_string(),
        verdict,
        summary,
        exists,
        releases,
        downloads_30d: downloads,
        popularity,
        latest_vulnerabilities,
        vulnerabilities,
        failures,
        confusion: name_confusion,
        source: SourceLabel::merge(labels),
    }
}

/// The confusion check's say in the verdict: PyPI's release installed in place of the
/// private one is `suspicious`; a private release that wins today is `caution`; a name
/// only on the extra index is not PyPI's "not found" (pip installs it from there).
fn confusion_verdict(
    c: &views_confusion::NameConfusion,
    verdict: &mut CheckVerdict,
    summary: &mut String,
    failures: &mut Vec<ItemFailure>,
) {
    use views_confusion::{ConfusionRisk, ConfusionStatus};
    match c.status {
        ConfusionStatus::OnBoth => {
            let Some(f) = &c.finding else { return };
            match f.risk {
                ConfusionRisk::PublicWins => *verdict = CheckVerdict::Suspicious,
                ConfusionRisk::ExtraWins if *verdict == CheckVerdict::Ok => {
                    *verdict = CheckVerdict::Caution
                }
                _ => {}
            }
            *summary = format!("{}; {summary}", f.words);
        }
        ConfusionStatus::ExtraOnly => {
            if *verdict == CheckVerdict::NotFound {
                *verdict = CheckVerdict::Ok;
                *summary = format!(
                    "{} is not on PyPI but is on the extra index: pip installs it from there (were the name registered on PyPI with a higher version, pip would take that one)",
                    c.package
                );
            }
        }
        ConfusionStatus::NotOnExtra => {}
        ConfusionStatus::NotChecked => {
            let reason = c.reason.clone().unwrap_or_default();
            summary.push_str(&format!("; {reason}"));
            failures.push(ItemFailure {
                item: format!("{}/confusion", c.package),
                code: sentinel_core::model::ErrorCode::Unavailable,
                reason,
                suggestion: "retry when the extra index (and PyPI) answer".into(),
                retry_after_secs: None,
            });
        }
    }
}
