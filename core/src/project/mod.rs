//! The dependencies a Python project declares, read from its files: `pyproject.toml`
//! (PEP 621, PEP 735 groups, Poetry), `requirements*.txt` (with `-r`/`-c` includes),
//! `setup.cfg`, and the lockfiles `uv.lock`, `poetry.lock` and `pylock.toml` (PEP 751).
//!
//! Parsing never panics and never stops at the first bad line: every requirement that
//! cannot be read is a [`Problem`] with its file and line, and the rest is still read.
//! Requirements that are URLs or local paths are [`Reference`]s: reported, never
//! fetched. Options lines (`--index-url`, ...) are reported and not followed. Sizes are
//! bounded ([`Limits`]), and so is what one scan lists ([`bounds`]): parsing is linear
//! in the input and stops when its [`CancelFlag`] is raised. Credentials in URLs are
//! never echoed. Files are read only under the allowed directories
//! ([`paths::AllowedRoots`]).

pub mod bounds;
pub mod lock;
pub mod paths;
pub mod pyproject;
pub mod requirements;
pub mod setup_cfg;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cancel::CancelFlag;
use crate::model::untrusted::redact_urls;

/// Bounds on what one scan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
    /// Most requirements kept (the rest is reported as a problem).
    pub max_requirements: usize,
    /// Deepest `-r`/`-c` include chain.
    pub max_include_depth: usize,
    /// Most files read in one scan (includes and a directory's files together).
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 4 * 1024 * 1024,
            max_requirements: 2_000,
            max_include_depth: 8,
            max_files: 64,
        }
    }
}

/// The kind of a project file, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// `pyproject.toml`.
    Pyproject,
    /// `requirements*.txt` (or any `.txt`/`.in` given explicitly).
    Requirements,
    /// `setup.cfg`.
    SetupCfg,
    /// `uv.lock`.
    UvLock,
    /// `poetry.lock`.
    PoetryLock,
    /// `pylock.toml` / `pylock.<name>.toml` (PEP 751).
    Pylock,
}

impl FileKind {
    /// The kind of a file from its name (the last path component), if known.
    pub fn from_filename(name: &str) -> Option<FileKind> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let lower = base.to_ascii_lowercase();
        Some(match lower.as_str() {
            "pyproject.toml" => FileKind::Pyproject,
            "setup.cfg" => FileKind::SetupCfg,
            "uv.lock" => FileKind::UvLock,
            "poetry.lock" => FileKind::PoetryLock,
            "pylock.toml" => FileKind::Pylock,
            l if l.starts_with("pylock.") && l.ends_with(".toml") => FileKind::Pylock,
            l if l.ends_with(".txt") || l.ends_with(".in") => FileKind::Requirements,
            _ => return None,
        })
    }

    /// The names of the kinds, for error messages.
    pub const KNOWN: &'static str =
        "pyproject.toml, requirements*.txt (or .in), setup.cfg, uv.lock, poetry.lock, pylock.toml";

    /// Whether the file pins a whole tree.
    pub fn is_lockfile(self) -> bool {
        matches!(
            self,
            FileKind::UvLock | FileKind::PoetryLock | FileKind::Pylock
        )
    }
}

/// Where a declared dependency comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "location")]
pub enum DependencySource {
    /// The package index (PyPI): checked.
    Index,
    /// A direct URL (`name @ https://...`): reported, not fetched, not checked.
    Url(String),
    /// A version-control URL (`git+https://...`): reported, not fetched.
    Vcs(String),
    /// A local path: reported, not read.
    Path(String),
}

/// One dependency a file declares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeclaredDependency {
    /// PEP 503 normalised name.
    pub name: String,
    /// The requirement as written (cut when very long).
    pub requirement: String,
    /// PEP 440 version specifiers (`>=2,<3`); empty for any version.
    pub specifier: String,
    /// Extras asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<String>,
    /// The environment marker, when the dependency applies only somewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// Index, URL, VCS or local path.
    pub source: DependencySource,
    /// The exact version pinned (`==1.2.3`, or a lockfile's version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// Which list declares it: `dependencies`, `optional:<extra>`, `group:<name>`,
    /// `poetry:<group>`, `requirements`, `constraints`, `install_requires`, `lock`.
    pub group: String,
    /// The file (as given, or relative to the scanned directory).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// `--hash` options given with it (requirements files).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hashes: usize,
    /// What was translated or assumed, in words (Poetry's `^`/`~`, a Python constraint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A requirement without a package name (a bare path or URL, an editable install):
/// reported, never fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reference {
    /// The text as written (cut when very long).
    pub text: String,
    /// `url`, `vcs`, `path` or `editable`.
    pub kind: String,
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Why it is not checked.
    pub note: String,
}

/// An options line (`--index-url`, `--find-links`, ...): reported, not followed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OptionLine {
    /// The option (`--index-url`).
    pub option: String,
    /// Its value, if any (credentials in URLs are hidden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What was done with it.
    pub note: String,
}

/// Something that could not be read, with where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line (0 when the problem is the whole file).
    pub line: usize,
    /// The offending text (cut when very long).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

/// A file read by a scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScannedFile {
    /// The file (as given, or relative to the scanned directory).
    pub file: String,
    /// Its kind.
    pub kind: FileKind,
    /// The requirements file that included it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_from: Option<String>,
}

/// Everything read from a project's files, before any check against PyPI.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParsedProject {
    /// The files read.
    pub files: Vec<ScannedFile>,
    /// The dependencies declared, in file order.
    pub dependencies: Vec<DeclaredDependency>,
    /// Requirements without a name (paths, URLs, editables): not checked.
    pub references: Vec<Reference>,
    /// Options lines: not followed.
    pub options: Vec<OptionLine>,
    /// What could not be read.
    pub problems: Vec<Problem>,
    /// Notes on the whole scan.
    pub notes: Vec<String>,
    /// What was left out of the lists, and what was read: not part of the answer.
    #[serde(skip)]
    pub tally: bounds::Tally,
}

impl ParsedProject {
    /// Lists a problem (at most [`bounds::MAX_PROBLEMS_PER_FILE`] per file and
    /// [`bounds::MAX_PROBLEMS`] in all; the rest are counted). Credentials in the line
    /// are hidden in its text and in the reason, which may echo the line.
    pub fn problem(&mut self, file: &str, line: usize, text: &str, reason: impl Into<String>) {
        let t = &mut self.tally;
        let per_file = match t.problems_by_file.get_mut(file) {
            Some(c) => c,
            None => t.problems_by_file.entry(file.to_string()).or_default(),
        };
        if per_file.0 >= bounds::MAX_PROBLEMS_PER_FILE
            || self.problems.len() >= bounds::MAX_PROBLEMS
        {
            per_file.1 += 1;
            t.problems_left_out += 1;
            return;
        }
        per_file.0 += 1;
        let reason = reason.into();
        self.problems.push(Problem {
            file: file.to_string(),
            line,
            text: clip(&redact_urls(text)),
            reason: bounds::redact_echo(&reason, text),
        });
    }

    /// Lists a reference (at most [`bounds::MAX_LISTED`]).
    pub fn reference(&mut self, r: Reference) {
        if self.references.len() >= bounds::MAX_LISTED {
            self.tally.references_left_out += 1;
        } else {
            self.references.push(r);
        }
    }

    /// Lists an options line (at most [`bounds::MAX_LISTED`]).
    pub fn option(&mut self, o: OptionLine) {
        if self.options.len() >= bounds::MAX_LISTED {
            self.tally.options_left_out += 1;
        } else {
            self.options.push(o);
        }
    }

    /// Adds a note (at most [`bounds::MAX_LISTED`]).
    pub fn note(&mut self, n: String) {
        if self.notes.len() >= bounds::MAX_LISTED {
            self.tally.notes_left_out += 1;
        } else {
            self.notes.push(n);
        }
    }

    /// Whether the scan must stop now (its deadline passed or its caller went away);
    /// says so once, as a problem, so an audit of what was read is `incomplete`.
    pub fn should_stop(&mut self, file: &str, cancel: &CancelFlag) -> bool {
        if !cancel.is_raised() {
            return false;
        }
        if !self.tally.stopped {
            self.tally.stopped = true;
            self.problem(
                file,
                0,
                "",
                "not read to the end: the scan ran out of time or was cancelled",
            );
        }
        true
    }

    /// Problems found, listed or not.
    pub fn problems_found(&self) -> usize {
        let t = &self.tally;
        let listed: usize = t.problems_by_file.values().map(|c| c.0).sum();
        listed + t.problems_left_out + usize::from(t.requirements_left_out > 0)
    }

    /// Ends a scan: one entry for each list that was cut, saying how much was left out,
    /// and every echoed URL redacted once more (whatever path it came in by).
    pub fn finish(&mut self) {
        let t = &self.tally;
        // Unread requirements are a problem, not a note: an audit is then incomplete.
        if t.requirements_left_out > 0 {
            self.problems.push(Problem {
                file: t.requirements_left_out_file.clone(),
                line: 0,
                text: String::new(),
                reason: format!(
                    "more than {} requirements in one scan: the rest ({}) were not read",
                    t.max_requirements, t.requirements_left_out
                ),
            });
        }
        for (file, (_, left)) in t.problems_by_file.iter().filter(|(_, c)| c.1 > 0) {
            self.problems.push(Problem {
                file: file.clone(),
                line: 0,
                text: String::new(),
                reason: format!(
                    "{left} more problem(s) in this file not listed (at most {} per file and {} per answer are)",
                    bounds::MAX_PROBLEMS_PER_FILE,
                    bounds::MAX_PROBLEMS
                ),
            });
        }
        for (n, what) in [
            (t.references_left_out, "references"),
            (t.options_left_out, "options lines"),
            (t.notes_left_out, "notes"),
        ] {
            if n > 0 {
                self.notes.push(format!(
                    "{n} more {what} not listed (at most {} are)",
                    bounds::MAX_LISTED
                ));
            }
        }
        for d in &mut self.dependencies {
            d.requirement = redact_urls(&d.requirement);
            d.source = match std::mem::replace(&mut d.source, DependencySource::Index) {
                DependencySource::Url(u) => DependencySource::Url(clip(&redact_urls(&u))),
                DependencySource::Vcs(u) => DependencySource::Vcs(clip(&redact_urls(&u))),
                DependencySource::Path(u) => DependencySource::Path(clip(&redact_urls(&u))),
                DependencySource::Index => DependencySource::Index,
            };
            for n in &mut d.notes {
                *n = redact_urls(n);
            }
        }
        for r in &mut self.references {
            r.text = redact_urls(&r.text);
        }
        for o in &mut self.options {
            o.option = redact_urls(&o.option);
            o.value = o.value.as_deref().map(redact_urls);
        }
        for n in &mut self.notes {
            *n = redact_urls(n);
        }
    }

    /// Adds a dependency unless the bound is reached (then counts it, and
    /// [`finish`](Self::finish) says so once).
    pub fn push(&mut self, dep: DeclaredDependency, limits: &Limits) {
        if self.dependencies.len() >= limits.max_requirements {
            if self.tally.requirements_left_out == 0 {
                self.tally.max_requirements = limits.max_requirements;
                self.tally.requirements_left_out_file = dep.file;
            }
            self.tally.requirements_left_out += 1;
            return;
        }
        self.dependencies.push(dep);
    }
}

/// Longest text echoed from a file.
const ECHO_MAX: usize = 200;

/// Cuts text echoed from a file.
pub fn clip(s: &str) -> String {
    crate::model::clip_echo(s.trim())
        .chars()
        .take(ECHO_MAX + 40)
        .collect()
}

/// A requirement string (PEP 508, or `name @ location`) read into a dependency; a
/// string that is only a path or URL becomes a [`Reference`].
#[derive(Debug)]
pub enum Read {
    /// A dependency.
    Dep(Box<DeclaredDependency>),
    /// A path or URL that names no package.
    Ref(Reference),
}

/// Where the requirement stands.
#[derive(Clone, Copy)]
pub struct At<'a> {
    /// The file, as shown.
    pub file: &'a str,
    /// The line (1-based).
    pub line: usize,
    /// The dependency group (`main`, an extra, a group name).
    pub group: &'a str,
}

fn looks_like_location(s: &str) -> Option<&'static str> {
    let l = s.to_ascii_lowercase();
    if l.starts_with("git+")
        || l.starts_with("hg+")
        || l.starts_with("svn+")
        || l.starts_with("bzr+")
    {
        Some("vcs")
    } else if l.contains("://") {
        Some("url")
    } else if l.starts_with('.')
        || l.starts_with('/')
        || l.starts_with('~')
        || l.contains('\\')
        || (l.len() > 2 && l.as_bytes()[1] == b':')
        || l.ends_with(".whl")
        || l.ends_with(".tar.gz")
        || l.ends_with(".zip")
        || l.contains('/')
    {
        Some("path")
    } else {
        None
    }
}

fn source_of(kind: &str, loc: &str) -> DependencySource {
    let loc = redact_urls(loc);
    match kind {
        "vcs" => DependencySource::Vcs(loc),
        "path" => DependencySource::Path(loc),
        _ if loc.to_ascii_lowercase().starts_with("file:") => DependencySource::Path(loc),
        _ => DependencySource::Url(loc),
    }
}

/// The exact version of `==X` (not `==X.*`, not `===`), when the specifiers are one.
fn exact_pin(spec: &pep440_rs::VersionSpecifiers) -> Option<String> {
    let mut it = spec.iter();
    let first = it.next()?;
    if it.next().is_some() {
        return None;
    }
    (*first.operator() == pep440_rs::Operator::Equal).then(|| first.version().to_string())
}

/// Reads one requirement string. `Err` is the reason it cannot be read.
pub fn read_requirement(raw: &str, at: At<'_>) -> Result<Read, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("an empty requirement".into());
    }
    if text.contains("${") {
        return Err(
            "contains an environment variable (${...}): not expanded (the server's environment is never read into an answer)"
                .into(),
        );
    }
    // A bare location: no package name to check.
    if let Some(kind) = looks_like_location(text.split(';').next().unwrap_or(text).trim())
        && !text.contains(" @ ")
        && !text.contains("@ ")
    {
        let egg = text
            .split_once("#egg=")
            .map(|(_, e)| e.split(['&', ' ', ';']).next().unwrap_or("").to_string());
        if let Some(name) = egg.filter(|e| !e.is_empty())
            && let Ok(n) = crate::model::PackageName::parse(&name)
        {
            let loc = text.split('#').next().unwrap_or(text);
            return Ok(direct_reference(&n, text, kind, loc, None, at));
        }
        return Ok(Read::Ref(Reference {
            text: clip(&redact_urls(text)),
            kind: kind.into(),
            file: at.file.into(),
            line: at.line,
            note: "a direct reference without a package name: reported, not fetched".into(),
        }));
    }
    match parse_pep508(text) {
        Ok(req) => {
            let (specifier, pinned, source) = match &req.version_or_url {
                None => (String::new(), None, DependencySource::Index),
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => {
                    (s.to_string(), exact_pin(s), DependencySource::Index)
                }
                Some(pep508_rs::VersionOrUrl::Url(u)) => {
                    let loc = u.to_string();
                    let kind = looks_like_location(&loc).unwrap_or("url");
                    (String::new(), None, source_of(kind, &loc))
                }
            };
            let mut notes = Vec::new();
            if source != DependencySource::Index {
                notes.push("a direct reference: not fetched and not checked against PyPI".into());
            }
            Ok(Read::Dep(Box::new(DeclaredDependency {
                name: req.name.to_string(),
                requirement: clip(&redact_urls(text)),
                specifier,
                extras: req.extras.iter().map(|e| e.to_string()).collect(),
                marker: req.marker.try_to_string(),
                source,
                pinned,
                group: at.group.into(),
                file: at.file.into(),
                line: at.line,
                hashes: 0,
                notes,
            })))
        }
        Err(e) => {
            // `name @ ./local/path` is not PEP 508 (a relative path is no URL) but is
            // what pip and uv accept: reported as a local path.
            if let Some((name, loc)) = text.split_once(" @ ").or_else(|| text.split_once("@ "))
                && let Ok(n) =
                    crate::model::PackageName::parse(name.split('[').next().unwrap_or(name))
            {
                let loc = loc.split(';').next().unwrap_or(loc).trim();
                let kind = looks_like_location(loc).unwrap_or("path");
                let marker = text.split_once(';').map(|(_, m)| m.trim().to_string());
                return Ok(direct_reference(&n, text, kind, loc, marker, at));
            }
            Err(e)
        }
    }
}

/// A named requirement on a location (`name @ url`, `git+...#egg=name`): reported,
/// never fetched; credentials in the location are hidden wherever it is echoed.
fn direct_reference(
    name: &crate::model::PackageName,
    text: &str,
    kind: &str,
    loc: &str,
    marker: Option<String>,
    at: At<'_>,
) -> Read {
    Read::Dep(Box::new(DeclaredDependency {
        name: name.to_string(),
        requirement: clip(&redact_urls(text)),
        specifier: String::new(),
        extras: vec![],
        marker,
        source: source_of(kind, loc),
        pinned: None,
        group: at.group.into(),
        file: at.file.into(),
        line: at.line,
        hashes: 0,
        notes: vec!["a direct reference: not fetched and not checked against PyPI".into()],
    }))
}

/// PEP 508 parse that cannot take the caller down (pep508_rs 0.9 panics on some
/// inputs its tokenizer accepts).
fn parse_pep508(text: &str) -> Result<pep508_rs::Requirement<pep508_rs::VerbatimUrl>, String> {
    crate::model::untrusted::check_requirement(text)?;
    let name: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    if pep508_rs::PackageName::new(name.clone()).is_err() {
        return Err(if name.is_empty() {
            "not a requirement: it must start with a package name".into()
        } else {
            format!("`{}` is not a valid package name (PEP 508)", clip(&name))
        });
    }
    match std::panic::catch_unwind(|| {
        pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(text)
    }) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!(
            "not a valid PEP 508 requirement: {}",
            e.message.to_string().lines().next().unwrap_or("")
        )),
        Err(_) => Err("not a valid PEP 508 requirement".into()),
    }
}

/// Parses one file's content. `includes` loads `-r`/`-c` targets of requirements files
/// (none for content given inline). Stops early when `cancel` is raised.
pub fn parse_content(
    file: &str,
    kind: FileKind,
    content: &str,
    limits: &Limits,
    includes: Option<&mut dyn requirements::IncludeLoader>,
    cancel: &CancelFlag,
) -> ParsedProject {
    let mut out = ParsedProject::default();
    parse_into(&mut out, file, kind, content, limits, includes, cancel);
    out.finish();
    out
}

/// Parses `text` (a file of kind `kind`) into `into`, checking `flag` between lines.
pub fn parse_into(
    out: &mut ParsedProject,
    file: &str,
    kind: FileKind,
    content: &str,
    limits: &Limits,
    includes: Option<&mut dyn requirements::IncludeLoader>,
    cancel: &CancelFlag,
) {
    out.files.push(ScannedFile {
        file: file.into(),
        kind,
        included_from: None,
    });
    // A TOML parser recurses per level of nesting: refused before it parses.
    if !matches!(kind, FileKind::Requirements | FileKind::SetupCfg) {
        let deepest = bounds::toml_nesting(content);
        if deepest > bounds::MAX_TOML_NESTING {
            out.problem(
                file,
                0,
                "",
                format!(
                    "not read: arrays and tables nested {deepest} deep, more than the {} a project file may have",
                    bounds::MAX_TOML_NESTING
                ),
            );
            return;
        }
    }
    match kind {
        FileKind::Pyproject => pyproject::parse(out, file, content, limits, cancel),
        FileKind::Requirements => {
            requirements::parse(out, file, content, limits, includes, "requirements", cancel)
        }
        FileKind::SetupCfg => setup_cfg::parse(out, file, content, limits, cancel),
        FileKind::UvLock => lock::parse_uv(out, file, content, limits, cancel),
        FileKind::PoetryLock => lock::parse_poetry(out, file, content, limits, cancel),
        FileKind::Pylock => lock::parse_pylock(out, file, content, limits, cancel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> At<'static> {
        At {
            file: "f",
            line: 1,
            group: "g",
        }
    }

    fn dep(s: &str) -> DeclaredDependency {
        match read_requirement(s, at()) {
            Ok(Read::Dep(d)) => *d,
            Ok(Read::Ref(r)) => panic!("a reference: {r:?}"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn requirements_are_read_with_markers_extras_and_pins() {
        let d = dep("Black[d]==24.1.0 ; python_version >= '3.8'");
        assert_eq!(d.name, "black");
        assert_eq!(d.extras, ["d"]);
        assert_eq!(d.pinned.as_deref(), Some("24.1.0"));
        assert_eq!(d.marker.as_deref(), Some("python_full_version >= '3.8'"));
        let d = dep("requests>=2,<3");
        assert_eq!(d.pinned, None);
        assert_eq!(d.source, DependencySource::Index);
        let d = dep("pkg @ https://user:secret@example.com/pkg-1.0.tar.gz");
        assert!(matches!(d.source, DependencySource::Url(ref u) if !u.contains("secret")));
        assert!(!d.requirement.contains("secret"));
        let d = dep("local @ ./vendor/local");
        assert!(matches!(d.source, DependencySource::Path(_)));
    }

    #[test]
    fn bare_locations_are_references_and_bad_ones_errors() {
        assert!(
            matches!(read_requirement("./vendor/pkg", at()), Ok(Read::Ref(r)) if r.kind == "path")
        );
        assert!(
            matches!(read_requirement("https://x.example/a.whl", at()), Ok(Read::Ref(r)) if r.kind == "url")
        );
        let d = dep("git+https://github.com/x/y.git#egg=yy");
        assert_eq!(d.name, "yy");
        assert!(matches!(d.source, DependencySource::Vcs(_)));
        // A token in a named VCS location stays out of the answer, as in `name @ url`.
        let d = dep("git+https://user:secret@github.com/x/y.git#egg=yy");
        assert!(!d.requirement.contains("secret"), "{}", d.requirement);
        assert!(matches!(d.source, DependencySource::Vcs(ref u) if !u.contains("secret")));
        assert!(read_requirement("requests>=>2", at()).is_err());
        assert!(read_requirement("-!-", at()).is_err());
        assert!(
            read_requirement("foo==${VERSION}", at())
                .unwrap_err()
                .contains("environment")
        );
    }

    #[test]
    fn a_scan_whose_flag_is_raised_stops_reading_at_the_next_line() {
        // The engine's pool raises the flag at the deadline (actors/src/cpu.rs).
        let text = "pkg\n".repeat(200_000);
        let flag = CancelFlag::never();
        flag.raise();
        let p = parse_content(
            "requirements.txt",
            FileKind::Requirements,
            &text,
            &Limits::default(),
            None,
            &flag,
        );
        assert!(p.dependencies.is_empty(), "{}", p.dependencies.len());
        assert!(p.problems[0].reason.contains("not read to the end"));
    }

    #[test]
    fn ten_thousand_bad_lines_list_a_hundred_and_count_the_rest() {
        let text = "!\n".repeat(10_000);
        let p = parse_content(
            "r.txt",
            FileKind::Requirements,
            &text,
            &Limits::default(),
            None,
            &CancelFlag::never(),
        );
        assert_eq!(p.problems.len(), bounds::MAX_PROBLEMS_PER_FILE + 1);
        assert_eq!(p.problems_found(), 10_000);
        assert!(p.problems[100].reason.starts_with("9900 more problem(s)"));
    }

    #[test]
    fn kinds_from_names() {
        assert_eq!(
            FileKind::from_filename("a/requirements-dev.txt"),
            Some(FileKind::Requirements)
        );
        assert_eq!(
            FileKind::from_filename("pylock.dev.toml"),
            Some(FileKind::Pylock)
        );
        assert_eq!(FileKind::from_filename("uv.lock"), Some(FileKind::UvLock));
        assert_eq!(FileKind::from_filename("Cargo.toml"), None);
    }
}
