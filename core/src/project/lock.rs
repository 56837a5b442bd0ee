//! Lockfiles that pin the whole tree: `uv.lock`, `poetry.lock` and `pylock.toml`
//! (PEP 751). Each locked package is a dependency pinned to its version (group
//! `lock`); packages from a VCS, a path or a URL are reported, not checked; the
//! project itself (uv's editable or virtual root) is skipped.

use serde::Deserialize;
use toml::Spanned;

use super::bounds::LineIndex;
use super::{DeclaredDependency, DependencySource, Limits, ParsedProject, clip};
use crate::cancel::CancelFlag;
use crate::model::untrusted::redact_urls;

#[derive(Deserialize)]
struct UvLock {
    #[serde(default)]
    package: Vec<UvPackage>,
}

#[derive(Deserialize)]
struct UvPackage {
    name: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    source: Option<toml::Table>,
}

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: Spanned<String>,
    version: Option<String>,
    #[serde(default)]
    source: Option<toml::Table>,
}

#[derive(Deserialize)]
struct Pylock {
    #[serde(rename = "lock-version")]
    lock_version: Option<String>,
    #[serde(default)]
    packages: Vec<PylockPackage>,
}

#[derive(Deserialize)]
struct PylockPackage {
    name: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    vcs: Option<toml::Table>,
    #[serde(default)]
    directory: Option<toml::Table>,
    #[serde(default)]
    archive: Option<toml::Table>,
}

fn toml_problem(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    what: &str,
    e: toml::de::Error,
) {
    let line = e
        .span()
        .map_or(0, |s| LineIndex::new(content).line(s.start));
    out.problem(
        file,
        line,
        "",
        format!("not a valid {what}: {}", e.message()),
    );
}

#[allow(clippy::too_many_arguments)]
fn locked(
    out: &mut ParsedProject,
    file: &str,
    lines: &LineIndex,
    limits: &Limits,
    name: &Spanned<String>,
    version: Option<&str>,
    source: DependencySource,
    marker: Option<String>,
) {
    let line = lines.line(name.span().start);
    let n = match crate::model::PackageName::parse(name.get_ref()) {
        Ok(n) => n,
        Err(e) => {
            out.problem(file, line, name.get_ref(), e.rule);
            return;
        }
    };
    let pinned = match version {
        Some(v) if pep440_rs::Version::from_str(v).is_ok() => Some(v.to_string()),
        Some(v) => {
            out.problem(
                file,
                line,
                v,
                format!("`{}` is not a PEP 440 version", clip(v)),
            );
            return;
        }
        None => None,
    };
    if let Some(m) = &marker
        && let Err(why) = crate::model::untrusted::check_requirement(m)
    {
        out.problem(file, line, m, format!("marker not read: {why}"));
        return;
    }
    let mut notes = Vec::new();
    if source != DependencySource::Index {
        notes.push("not from an index: not fetched and not checked against PyPI".into());
    }
    out.push(
        DeclaredDependency {
            name: n.to_string(),
            requirement: clip(&match &pinned {
                Some(v) => format!("{}=={v}", name.get_ref()),
                None => name.get_ref().clone(),
            }),
            specifier: pinned
                .as_ref()
                .map(|v| format!("=={v}"))
                .unwrap_or_default(),
            extras: vec![],
            marker,
            source,
            pinned,
            group: "lock".into(),
            file: file.into(),
            line,
            hashes: 0,
            notes,
        },
        limits,
    );
}

use std::str::FromStr;

fn source_from(t: Option<&toml::Table>) -> Option<DependencySource> {
    let t = t?;
    let s = |k: &str| t.get(k).and_then(|v| v.as_str()).map(redact_urls);
    if let Some(g) = s("git") {
        return Some(DependencySource::Vcs(clip(&g)));
    }
    if let Some(p) = s("path").or_else(|| s("directory")) {
        return Some(DependencySource::Path(clip(&p)));
    }
    if let Some(u) = s("url") {
        return Some(DependencySource::Url(clip(&u)));
    }
    None
}

/// Reads a `uv.lock`.
pub fn parse_uv(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    limits: &Limits,
    cancel: &CancelFlag,
) {
    let lines = LineIndex::new(content);
    let lock: UvLock = match toml::from_str(content) {
        Ok(l) => l,
        Err(e) => return toml_problem(out, file, content, "uv.lock", e),
    };
    for p in &lock.package {
        if out.should_stop(file, cancel) {
            return;
        }
        let src = p.source.as_ref();
        if src.is_some_and(|s| s.contains_key("editable") || s.contains_key("virtual")) {
            out.note(format!(
                "{file}: `{}` is the project itself (editable or virtual): not checked",
                clip(p.name.get_ref())
            ));
            continue;
        }
        let source = if src.is_some_and(|s| s.contains_key("registry")) {
            DependencySource::Index
        } else {
            source_from(src).unwrap_or(DependencySource::Index)
        };
        locked(
            out,
            file,
            &lines,
            limits,
            &p.name,
            p.version.as_deref(),
            source,
            None,
        );
    }
}

/// Reads a `poetry.lock`.
pub fn parse_poetry(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    limits: &Limits,
    cancel: &CancelFlag,
) {
    let lines = LineIndex::new(content);
    let lock: PoetryLock = match toml::from_str(content) {
        Ok(l) => l,
        Err(e) => return toml_problem(out, file, content, "poetry.lock", e),
    };
    for p in &lock.package {
        if out.should_stop(file, cancel) {
            return;
        }
        let src = p.source.as_ref();
        let source = match src.and_then(|s| s.get("type")).and_then(|t| t.as_str()) {
            Some("git") => DependencySource::Vcs(
                src.and_then(|s| s.get("url"))
                    .and_then(|u| u.as_str())
                    .map(redact_urls)
                    .unwrap_or_default(),
            ),
            Some("directory") | Some("file") => DependencySource::Path(
                src.and_then(|s| s.get("url"))
                    .and_then(|u| u.as_str())
                    .unwrap_or_default()
                    .to_string(),
            ),
            Some("url") => DependencySource::Url(
                src.and_then(|s| s.get("url"))
                    .and_then(|u| u.as_str())
                    .map(redact_urls)
                    .unwrap_or_default(),
            ),
            _ => DependencySource::Index,
        };
        locked(
            out,
            file,
            &lines,
            limits,
            &p.name,
            p.version.as_deref(),
            source,
            None,
        );
    }
}

/// Reads a `pylock.toml` (PEP 751).
pub fn parse_pylock(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    limits: &Limits,
    cancel: &CancelFlag,
) {
    let lines = LineIndex::new(content);
    let lock: Pylock = match toml::from_str(content) {
        Ok(l) => l,
        Err(e) => return toml_problem(out, file, content, "pylock.toml (PEP 751)", e),
    };
    match lock.lock_version.as_deref() {
        Some(v) if v.starts_with("1.") || v == "1" => {}
        Some(v) => out.note(format!(
            "{file}: lock-version {} is newer than the 1.x this reader knows; read as 1.0",
            clip(v)
        )),
        None => out.problem(
            file,
            1,
            "",
            "pylock.toml without lock-version (PEP 751 requires it)",
        ),
    }
    for p in &lock.packages {
        if out.should_stop(file, cancel) {
            return;
        }
        let source = if let Some(v) = &p.vcs {
            DependencySource::Vcs(
                v.get("url")
                    .and_then(|u| u.as_str())
                    .map(redact_urls)
                    .unwrap_or_default(),
            )
        } else if let Some(d) = &p.directory {
            DependencySource::Path(
                d.get("path")
                    .and_then(|u| u.as_str())
                    .unwrap_or_default()
                    .into(),
            )
        } else if let Some(a) = &p.archive {
            match a.get("path").and_then(|u| u.as_str()) {
                Some(path) => DependencySource::Path(redact_urls(path)),
                None => DependencySource::Url(
                    a.get("url")
                        .and_then(|u| u.as_str())
                        .map(redact_urls)
                        .unwrap_or_default(),
                ),
            }
        } else {
            DependencySource::Index
        };
        locked(
            out,
            file,
            &lines,
            limits,
            &p.name,
            p.version.as_deref(),
            source,
            p.marker.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FileKind, Limits, parse_content};
    use super::*;

    #[test]
    fn uv_lock_skips_the_project_and_pins_the_rest() {
        let text = "version = 1\nrequires-python = \">=3.9\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n\n[[package]]\nname = \"idna\"\nversion = \"3.7\"\nsource = { registry = \"https://pypi.org/simple\" }\n\n[[package]]\nname = \"mylib\"\nversion = \"0.0.1\"\nsource = { git = \"https://github.com/x/mylib?rev=abc#abc\" }\n";
        let p = parse_content(
            "uv.lock",
            FileKind::UvLock,
            text,
            &Limits::default(),
            None,
            &CancelFlag::never(),
        );
        let got: Vec<(&str, Option<&str>, usize)> = p
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.pinned.as_deref(), d.line))
            .collect();
        assert_eq!(
            got,
            [("idna", Some("3.7"), 10), ("mylib", Some("0.0.1"), 15)]
        );
        assert!(matches!(p.dependencies[1].source, DependencySource::Vcs(_)));
    }

    #[test]
    fn poetry_lock_and_pylock() {
        let text = "[[package]]\nname = \"certifi\"\nversion = \"2024.2.2\"\ndescription = \"x\"\noptional = false\npython-versions = \">=3.6\"\n\n[metadata]\nlock-version = \"2.0\"\n";
        let p = parse_content(
            "poetry.lock",
            FileKind::PoetryLock,
            text,
            &Limits::default(),
            None,
            &CancelFlag::never(),
        );
        assert_eq!(p.dependencies[0].pinned.as_deref(), Some("2024.2.2"));
        assert_eq!(p.dependencies[0].line, 2);
        let text = "lock-version = \"1.0\"\ncreated-by = \"uv\"\n\n[[packages]]\nname = \"attrs\"\nversion = \"23.2.0\"\nmarker = \"python_version >= '3.8'\"\n\n[[packages]]\nname = \"local\"\ndirectory = { path = \"./local\" }\n\n[[packages]]\nname = \"bad\"\nversion = \"not a version\"\n";
        let p = parse_content(
            "pylock.toml",
            FileKind::Pylock,
            text,
            &Limits::default(),
            None,
            &CancelFlag::never(),
        );
        assert_eq!(p.dependencies.len(), 2);
        assert_eq!(
            p.dependencies[0].marker.as_deref(),
            Some("python_version >= '3.8'")
        );
        assert!(matches!(
            p.dependencies[1].source,
            DependencySource::Path(_)
        ));
        assert_eq!(p.problems[0].line, 14, "{:?}", p.problems);
    }
}
