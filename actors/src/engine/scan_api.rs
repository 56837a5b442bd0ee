//! `scan_dependencies` and `check_package` on the handle: validate and read the input
//! here (files only under `scan.allowed_dirs`), then one question to the router, which
//! fans out per package and merges; the views turn the parts into the answer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::time::Instant;

use super::{EngineHandle, ItemFailure, datum_of};
use crate::cpu::CpuError;
use crate::model::{Datum, InputError, PackageName, QueryError, SourceLabel};
use crate::project::{self, FileKind, Limits, ParsedProject, paths::AllowedRoots};
use crate::question::scan::{Check, CheckDownloads, CheckParts, Scan};
use crate::question::versions::{VersionsAnswer, version_list};
use crate::upstream::Document;
use crate::views::check::{self, PackageCheck, PopularityFacts, ReleaseFacts};
use crate::views::scan::{DependencyCheck, ScanReport, ScanSummary, ScannedDependency};
use crate::views::vulns::{self, PackageVulnerabilities};

pub use crate::model::limits::MAX_SCAN_PACKAGES;

/// What to scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanInput {
    /// A file, or a directory whose project files are all read; relative paths are
    /// resolved against the first allowed directory. Read only under
    /// `scan.allowed_dirs`.
    Path(PathBuf),
    /// A file's content, with its file name (which says its kind).
    Content {
        /// The file name: `pyproject.toml`, `requirements-dev.txt`, `uv.lock`, ...
        filename: String,
        /// The text.
        content: String,
    },
}

/// Longest file name given with content.
const MAX_FILENAME_BYTES: usize = 255;

fn input_error(param: &'static str, value: &str, rule: impl Into<String>) -> QueryError {
    InputError {
        param,
        value: crate::model::clip_echo(&crate::model::untrusted::redact_urls(value)),
        rule: rule.into(),
    }
    .into()
}

impl EngineHandle {
    /// The dependencies a project declares, each checked against PyPI: exists, the
    /// newest release that satisfies it, whether a pin is yanked, missing or outdated.
    /// Bad lines are reported with their file and line; URLs and paths are reported,
    /// not fetched; packages PyPI could not be asked about are typed failures.
    pub async fn scan_dependencies(&self, input: ScanInput) -> Result<ScanReport, QueryError> {
        let parsed = self.read_project(input).await?;
        let _guard = self.enter()?;
        self.check_parsed(parsed, self.deadline()).await
    }

    /// Reads and parses a project's files (only under `scan.allowed_dirs`) or a file's
    /// content; a refused path or a bad file name is an input error. The parsing runs
    /// on the bounded CPU pool, within the question's deadline, and stops when the
    /// deadline passes or the caller goes away: a large hostile file never holds the
    /// runtime's threads.
    pub(super) async fn read_project(&self, input: ScanInput) -> Result<ParsedProject, QueryError> {
        let limits = Limits::default();
        let deadline_ms = self.shared().cfg.timeouts.deadline_ms;
        let deadline = self.deadline();
        let ran = match input {
            ScanInput::Content { filename, content } => {
                let kind = FileKind::from_filename(&filename).ok_or_else(|| {
                    input_error(
                        "filename",
                        &filename,
                        format!("must name a file a scan reads: {}", FileKind::KNOWN),
                    )
                })?;
                // The name is echoed with every entry of the answer: bounded.
                if filename.len() > MAX_FILENAME_BYTES {
                    return Err(input_error(
                        "filename",
                        &filename,
                        format!("must be at most {MAX_FILENAME_BYTES} bytes"),
                    ));
                }
                if content.len() as u64 > limits.max_file_bytes {
                    return Err(input_error(
                        "content",
                        &format!("{} bytes", content.len()),
                        format!("must be at most {} bytes", limits.max_file_bytes),
                    ));
                }
                let name = filename
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or(&filename)
                    .to_string();
                crate::cpu::pool()
                    .run(deadline, move |cancel| {
                        Ok(project::parse_content(
                            &name, kind, &content, &limits, None, cancel,
                        ))
                    })
                    .await
            }
            ScanInput::Path(path) => {
                let dirs = self.shared().cfg.scan.allowed_dirs.clone();
                let shown = path.display().to_string();
                crate::cpu::pool()
                    .run(deadline, move |cancel| {
                        let roots = AllowedRoots::new(&dirs);
                        project::paths::scan_path(&roots, &path, &limits, cancel)
                            .map_err(|r| input_error("path", &shown, r.rule))
                    })
                    .await
            }
        };
        match ran {
            Ok(parsed) => parsed,
            Err(CpuError::Deadline) => Err(QueryError::DeadlineExceeded { deadline_ms }),
            Err(CpuError::Panicked) => {
                Err(QueryError::Internal("the scan's file reader failed".into()))
            }
        }
    }

    pub(super) async fn check_parsed(
        &self,
        parsed: ParsedProject,
        deadline: Instant,
    ) -> Result<ScanReport, QueryError> {
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
        let mut names: Vec<PackageName> = Vec::new();
        for d in &dependencies {
            if d.source == project::DependencySource::Index
                && let Ok(n) = PackageName::parse(&d.name)
                && !names.contains(&n)
            {
                names.push(n);
            }
        }
        let over = names.len().saturating_sub(MAX_SCAN_PACKAGES);
        names.truncate(MAX_SCAN_PACKAGES);
        if over > 0 {
            notes.push(format!(
                "{over} package(s) past the first {MAX_SCAN_PACKAGES} were not checked against PyPI"
            ));
        }
        let checked = names.len();
        let answers = if names.is_empty() {
            Vec::new()
        } else {
            self.ask(Scan(names), deadline).await?
        };
        let mut lists = BTreeMap::new();
        let mut failures = Vec::new();
        let mut labels = Vec::new();
        for (name, r) in answers {
            let r = r.and_then(version_list);
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
                        Some(Err(QueryError::NotFound { .. })) => {
                            DependencyCheck::not_found(&d.name)
                        }
                        Some(Err(e)) => DependencyCheck::unavailable(&e.reason()),
                    }
                };
                ScannedDependency { declared: d, check }
            })
            .collect();
        let summary = ScanSummary::count(&dependencies, checked, problems_found);
        Ok(ScanReport {
            files,
            dependencies,
            references,
            options,
            problems,
            notes,
            failures,
            summary,
            source: SourceLabel::merge(labels),
        })
    }

    /// The supply-chain check before suggesting `pip install <package>`: does it exist,
    /// its first release and number of releases, its downloads, whether its name is
    /// within a small edit distance of a popular package's (and which), yanked
    /// releases; a verdict worded with that evidence. Facts that could not be had are
    /// typed failures; the rest still answers.
    pub async fn check_package(&self, package: &str) -> Result<PackageCheck, QueryError> {
        let name = PackageName::parse(package)?;
        let _guard = self.enter()?;
        self.checked(name, CheckDownloads::Always, self.deadline())
            .await
    }

    /// The check of `name`: one question to the router, the verdict drawn here.
    pub(super) async fn checked(
        &self,
        name: PackageName,
        downloads: CheckDownloads,
        deadline: Instant,
    ) -> Result<PackageCheck, QueryError> {
        let question = Check {
            name: name.clone(),
            downloads,
        };
        let parts = self.ask(question, deadline).await?;
        Ok(self.check_view(name, parts))
    }

    fn check_view(&self, name: PackageName, parts: CheckParts) -> PackageCheck {
        let mut failures = Vec::new();
        let mut labels = Vec::new();
        let now = self.shared().cfg.clock.now();
        // The project JSON lists its latest release's vulnerabilities: no extra request.
        let latest_vulnerabilities = match &parts.versions {
            Ok(VersionsAnswer::Project(ans)) => match ans.doc.as_ref() {
                Document::Project(p) => {
                    let published = vulns::published_releases(p);
                    Some(datum_of(
                        ans,
                        PackageVulnerabilities::from_release(p, published.as_deref()),
                    ))
                }
                _ => None,
            },
            _ => None,
        };
        let (exists, releases) = match parts.versions.and_then(version_list) {
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
        let popularity = match parts.top {
            Ok(ans) => match ans.doc.as_ref() {
                Document::Top(t) => {
                    let (rank, resembles, compared) = check::resemblance(name.as_str(), t);
                    labels.push(ans.provenance.label());
                    Some(datum_of(
                        &ans,
                        PopularityFacts {
                            rank,
                            resembles,
                            compared_with: compared,
                            rule: check::rule_words(compared),
                        },
                    ))
                }
                _ => None,
            },
            Err(e) => {
                labels.push(SourceLabel::Unavailable);
                failures.push(ItemFailure::from_error(format!("{name}/popularity"), &e));
                None
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
        let (verdict, mut summary) = check::verdict(
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
            source: SourceLabel::merge(labels),
        }
    }
}
