//! `pyproject.toml`: PEP 621 `[project] dependencies` and `optional-dependencies`,
//! PEP 735 `[dependency-groups]` (with `include-group`, cycles refused), and Poetry's
//! `[tool.poetry.dependencies]`, `dev-dependencies` and `group.<name>.dependencies`,
//! whose `^`/`~` constraints are translated to PEP 440 and say so.
//!
//! Read with `toml` into spanned values, so every requirement has its line, and each
//! string parsed alone with `pep508_rs`: one bad requirement is a problem at its line
//! and the others are still read (a whole-file typed parse, as the `pyproject-toml`
//! crate does, fails on the first bad string and knows no lines).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::bounds::LineIndex;
use super::{
    At, DeclaredDependency, DependencySource, Limits, ParsedProject, Read, clip, read_requirement,
};
use crate::cancel::CancelFlag;
use crate::model::untrusted::redact_urls;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc {
    project: Option<Project>,
    #[serde(rename = "dependency-groups")]
    dependency_groups: Option<BTreeMap<String, Vec<Spanned<toml::Value>>>>,
    tool: Option<Tool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Project {
    dependencies: Option<Vec<Spanned<String>>>,
    #[serde(rename = "optional-dependencies")]
    optional_dependencies: Option<BTreeMap<String, Vec<Spanned<String>>>>,
    dynamic: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Tool {
    poetry: Option<Poetry>,
}

type PoetryDeps = BTreeMap<String, Spanned<toml::Value>>;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Poetry {
    dependencies: Option<PoetryDeps>,
    #[serde(rename = "dev-dependencies")]
    dev_dependencies: Option<PoetryDeps>,
    group: Option<BTreeMap<String, PoetryGroup>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PoetryGroup {
    dependencies: Option<PoetryDeps>,
}

/// PEP 503 / PEP 735 group-name normalisation.
fn normalise(name: &str) -> String {
    crate::model::PackageName::parse(name)
        .map(|n| n.to_string())
        .unwrap_or_else(|_| name.to_ascii_lowercase())
}

/// Reads a `pyproject.toml`.
pub fn parse(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    limits: &Limits,
    cancel: &CancelFlag,
) {
    let lines = LineIndex::new(content);
    let line_of = |at: usize| lines.line(at);
    let doc: Doc = match toml::from_str(content) {
        Ok(d) => d,
        Err(e) => {
            let line = e.span().map_or(0, |s| line_of(s.start));
            out.problem(
                file,
                line,
                "",
                format!("not valid pyproject.toml: {}", e.message()),
            );
            return;
        }
    };
    let req = |out: &mut ParsedProject, s: &Spanned<String>, group: &str| {
        let line = line_of(s.span().start);
        match read_requirement(s.get_ref(), At { file, line, group }) {
            Ok(Read::Dep(d)) => out.push(*d, limits),
            Ok(Read::Ref(r)) => out.reference(r),
            Err(reason) => out.problem(file, line, s.get_ref(), reason),
        }
    };
    let mut found_any = false;
    if let Some(p) = &doc.project {
        for s in p.dependencies.iter().flatten() {
            if out.should_stop(file, cancel) {
                return;
            }
            req(out, s, "dependencies");
        }
        for (extra, list) in p.optional_dependencies.iter().flatten() {
            let group = format!("optional:{extra}");
            for s in list {
                if out.should_stop(file, cancel) {
                    return;
                }
                req(out, s, &group);
            }
        }
        found_any |= p.dependencies.is_some() || p.optional_dependencies.is_some();
        if p.dynamic
            .iter()
            .flatten()
            .any(|d| d == "dependencies" || d == "optional-dependencies")
        {
            out.note(format!(
                "{file}: dependencies are dynamic (computed by the build backend at build time), so pyproject.toml does not list them all"
            ));
        }
    }
    if let Some(groups) = &doc.dependency_groups {
        found_any = true;
        let names: BTreeMap<String, &str> =
            groups.keys().map(|k| (normalise(k), k.as_str())).collect();
        let cycles = include_cycles(groups, &names);
        for (group, entries) in groups {
            let label = format!("group:{group}");
            for e in entries {
                if out.should_stop(file, cancel) {
                    return;
                }
                let line = line_of(e.span().start);
                match e.get_ref() {
                    toml::Value::String(s) => {
                        let spanned = Spanned::new(e.span(), s.clone());
                        req(out, &spanned, &label);
                    }
                    toml::Value::Table(t) => match t.get("include-group").and_then(|v| v.as_str()) {
                        Some(inc) => match names.get(&normalise(inc)) {
                            None => out.problem(file, line, inc, format!("include-group `{}` names no group of [dependency-groups]", clip(inc))),
                            Some(_) => match cycles.get(group.as_str()) {
                                Some(cycle) => out.problem(file, line, inc, format!("include-group cycle: {cycle}")),
                                None => out.note(format!("{file}: group `{group}` includes group `{inc}`")),
                            },
                        },
                        None => out.problem(file, line, "", "a dependency-groups entry must be a requirement string or {include-group = \"name\"}"),
                    },
                    _ => out.problem(file, line, "", "a dependency-groups entry must be a requirement string or {include-group = \"name\"}"),
                }
            }
        }
    }
    if let Some(poetry) = doc.tool.as_ref().and_then(|t| t.poetry.as_ref()) {
        let mut lists: Vec<(String, &PoetryDeps)> = Vec::new();
        if let Some(d) = &poetry.dependencies {
            lists.push(("poetry:main".into(), d));
        }
        if let Some(d) = &poetry.dev_dependencies {
            lists.push(("poetry:dev".into(), d));
        }
        for (g, grp) in poetry.group.iter().flatten() {
            if let Some(d) = &grp.dependencies {
                lists.push((format!("poetry:{g}"), d));
            }
        }
        found_any |= !lists.is_empty();
        for (group, deps) in lists {
            for (name, value) in deps {
                if out.should_stop(file, cancel) {
                    return;
                }
                let line = line_of(value.span().start);
                if name.eq_ignore_ascii_case("python") {
                    continue;
                }
                match poetry_dependency(
                    name,
                    value.get_ref(),
                    At {
                        file,
                        line,
                        group: &group,
                    },
                ) {
                    Ok(list) => {
                        for d in list {
                            out.push(d, limits);
                        }
                    }
                    Err(reason) => {
                        out.problem(file, line, &format!("{name} = {}", value.get_ref()), reason)
                    }
                }
            }
        }
    }
    if !found_any {
        out.note(format!(
            "{file}: no [project] dependencies, [dependency-groups] or [tool.poetry] dependencies found"
        ));
    }
}

/// The groups from which an include-group cycle is reachable, each with that cycle in
/// words. One depth-first walk over all groups, each group finished once: a walk per
/// include entry without memory is exponential in a chain of groups that each
/// include the next twice.
fn include_cycles<'a>(
    groups: &'a BTreeMap<String, Vec<Spanned<toml::Value>>>,
    names: &BTreeMap<String, &'a str>,
) -> BTreeMap<&'a str, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    struct Dfs<'a, 'n> {
        groups: &'a BTreeMap<String, Vec<Spanned<toml::Value>>>,
        names: &'n BTreeMap<String, &'a str>,
        marks: BTreeMap<&'a str, Mark>,
        path: Vec<&'a str>,
        cycles: BTreeMap<&'a str, String>,
    }
    impl<'a> Dfs<'a, '_> {
        /// The cycle reachable from `g`, if any (at most 64 levels deep).
        fn walk(&mut self, g: &'a str) -> Option<String> {
            match self.marks.get(g) {
                Some(Mark::Done) => return self.cycles.get(g).cloned(),
                Some(Mark::Open) => {
                    let from = self.path.iter().position(|p| *p == g).unwrap_or(0);
                    let mut words = self.path[from..].to_vec();
                    words.push(g);
                    return Some(words.join(" -> "));
                }
                None => {}
            }
            if self.path.len() > 64 {
                return None;
            }
            self.marks.insert(g, Mark::Open);
            self.path.push(g);
            let mut found = None;
            for e in self.groups.get(g).into_iter().flatten() {
                if let Some(inc) = e
                    .get_ref()
                    .as_table()
                    .and_then(|t| t.get("include-group"))
                    .and_then(|v| v.as_str())
                    && let Some(target) = self.names.get(&normalise(inc)).copied()
                    && let Some(c) = self.walk(target)
                {
                    found = Some(c);
                    break;
                }
            }
            self.path.pop();
            self.marks.insert(g, Mark::Done);
            if let Some(c) = &found {
                self.cycles.insert(g, c.clone());
            }
            found
        }
    }
    let mut dfs = Dfs {
        groups,
        names,
        marks: BTreeMap::new(),
        path: Vec::new(),
        cycles: BTreeMap::new(),
    };
    for g in groups.keys() {
        dfs.walk(g);
    }
    dfs.cycles
}

/// Most extras read from one Poetry dependency.
const MAX_EXTRAS: usize = 32;

/// One Poetry dependency (`name = "^1.2"`, a table, or a list of tables with markers).
fn poetry_dependency(
    name: &str,
    value: &toml::Value,
    at: At<'_>,
) -> Result<Vec<DeclaredDependency>, String> {
    let n = crate::model::PackageName::parse(name)
        .map_err(|e| format!("`{}`: {}", clip(name), e.rule))?;
    let one = |v: &toml::Value| -> Result<DeclaredDependency, String> {
        let mut notes = Vec::new();
        let mut extras = Vec::new();
        let mut markers: Vec<String> = Vec::new();
        let mut source = DependencySource::Index;
        let constraint = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Table(t) => {
                for key in ["git", "path", "url"] {
                    if let Some(loc) = t.get(key).and_then(|x| x.as_str()) {
                        let loc = clip(&redact_urls(loc));
                        source = match key {
                            "git" => DependencySource::Vcs(loc),
                            "path" => DependencySource::Path(loc),
                            _ => DependencySource::Url(loc),
                        };
                        notes.push(
                            "a direct reference: not fetched and not checked against PyPI".into(),
                        );
                    }
                }
                if let Some(x) = t.get("extras").and_then(|x| x.as_array()) {
                    // Bounded as a requirement's extras are: by what is echoed.
                    extras = x
                        .iter()
                        .filter_map(|e| e.as_str().map(clip))
                        .take(MAX_EXTRAS)
                        .collect();
                }
                if t.get("optional").and_then(|o| o.as_bool()) == Some(true) {
                    notes.push("optional (installed through an extra)".into());
                }
                if let Some(py) = t.get("python").and_then(|p| p.as_str()) {
                    let (spec, _) = poetry_to_pep440(py)?;
                    let m: Vec<String> = spec
                        .split(',')
                        .filter(|c| !c.is_empty())
                        .map(|c| {
                            let op_end = c.find(|ch: char| ch.is_ascii_digit()).unwrap_or(0);
                            format!("python_version {} '{}'", &c[..op_end], &c[op_end..])
                        })
                        .collect();
                    if !m.is_empty() {
                        markers.push(m.join(" and "));
                    }
                    notes.push(format!(
                        "Poetry python = \"{}\" read as the marker python {}",
                        clip(py),
                        clip(&spec)
                    ));
                }
                if let Some(m) = t.get("markers").and_then(|m| m.as_str()) {
                    crate::model::untrusted::check_requirement(m)?;
                    markers.push(m.to_string());
                }
                t.get("version")
                    .and_then(|x| x.as_str())
                    .unwrap_or("*")
                    .to_string()
            }
            other => {
                return Err(format!(
                    "a Poetry dependency is a version string or a table, not {}",
                    other.type_str()
                ));
            }
        };
        let (specifier, note) = if source == DependencySource::Index {
            poetry_to_pep440(&constraint)?
        } else {
            (String::new(), None)
        };
        notes.extend(note);
        let specs = pep440_rs::VersionSpecifiers::from_str(&specifier)
            .map_err(|e| format!("`{}` is not a version constraint: {e}", clip(&constraint)))?;
        let marker = match markers.len() {
            0 => None,
            1 => markers.pop(),
            _ => Some(
                markers
                    .iter()
                    .map(|m| format!("({m})"))
                    .collect::<Vec<_>>()
                    .join(" and "),
            ),
        };
        Ok(DeclaredDependency {
            name: n.to_string(),
            requirement: clip(&redact_urls(&format!("{name} = {v}"))),
            pinned: super::exact_pin(&specs),
            specifier,
            extras,
            marker,
            source,
            group: at.group.into(),
            file: at.file.into(),
            line: at.line,
            hashes: 0,
            notes,
        })
    };
    match value {
        toml::Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

use std::str::FromStr;

/// Poetry's version syntax in PEP 440, with a note when something was translated:
/// `^1.2.3` is `>=1.2.3,<2.0.0` (`^0.2.3` is `>=0.2.3,<0.3.0`, `^0.0.3` is
/// `>=0.0.3,<0.0.4`), `~1.2.3` is `>=1.2.3,<1.3.0` (`~1` is `>=1,<2`), a bare version
/// is `==`, `*` is any; constraints may be joined with `,` or spaces. `||` (either
/// range) has no PEP 440 form and is refused.
pub fn poetry_to_pep440(constraint: &str) -> Result<(String, Option<String>), String> {
    let c = constraint.trim();
    if c.contains("||") || c.contains('|') {
        return Err(format!(
            "Poetry constraint `{}` uses `||` (either range), which has no PEP 440 form: not checked",
            clip(c)
        ));
    }
    let mut parts = Vec::new();
    let mut translated = false;
    // Tokens: `>= 1.2` may be written with a space.
    let mut tokens: Vec<String> = Vec::new();
    for t in c.split([',', ' ']).filter(|t| !t.is_empty()) {
        if let Some(last) = tokens.last_mut()
            && last.chars().all(|ch| "<>=!~^".contains(ch))
        {
            last.push_str(t);
            continue;
        }
        tokens.push(t.to_string());
    }
    for t in tokens {
        if t == "*" {
            continue;
        }
        if let Some(v) = t.strip_prefix('^') {
            let (lo, hi) = bump(v, true)?;
            parts.push(format!(">={lo}"));
            parts.push(format!("<{hi}"));
            translated = true;
        } else if let Some(v) = t.strip_prefix('~').filter(|v| !v.starts_with('=')) {
            let (lo, hi) = bump(v, false)?;
            parts.push(format!(">={lo}"));
            parts.push(format!("<{hi}"));
            translated = true;
        } else if t.starts_with(['<', '>', '!', '~']) || t.starts_with("==") {
            parts.push(t);
        } else if let Some(v) = t.strip_prefix('=') {
            parts.push(format!("=={v}"));
            translated = true;
        } else {
            parts.push(format!("=={t}"));
            translated = true;
        }
    }
    let spec = parts.join(",");
    let note =
        translated.then(|| format!("Poetry constraint `{c}` translated to PEP 440 `{spec}`"));
    Ok((spec, note))
}

/// The bounds of `^v` (caret) or `~v` (tilde).
fn bump(v: &str, caret: bool) -> Result<(String, String), String> {
    let release: Vec<u64> = v.split('.').map_while(|p| p.parse::<u64>().ok()).collect();
    if release.is_empty() {
        return Err(format!(
            "`{}{}` is not a Poetry version constraint",
            if caret { '^' } else { '~' },
            clip(v)
        ));
    }
    let idx = if caret {
        release
            .iter()
            .position(|n| *n != 0)
            .unwrap_or(release.len() - 1)
    } else if release.len() >= 2 {
        1
    } else {
        0
    };
    let mut hi: Vec<u64> = release.clone();
    hi[idx] += 1;
    for x in hi.iter_mut().skip(idx + 1) {
        *x = 0;
    }
    let hi = hi.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    Ok((v.to_string(), hi))
}

#[cfg(test)]
mod tests {
    use super::super::{FileKind, Limits, parse_content};
    use super::*;

    #[test]
    fn poetry_constraints_in_pep440() {
        let t = |c: &str| poetry_to_pep440(c).unwrap().0;
        assert_eq!(t("^1.2.3"), ">=1.2.3,<2.0.0");
        assert_eq!(t("^0.2.3"), ">=0.2.3,<0.3.0");
        assert_eq!(t("^0.0.3"), ">=0.0.3,<0.0.4");
        assert_eq!(t("^0"), ">=0,<1");
        assert_eq!(t("~1.2.3"), ">=1.2.3,<1.3.0");
        assert_eq!(t("~1"), ">=1,<2");
        assert_eq!(t("~=1.4"), "~=1.4");
        assert_eq!(t("1.2.3"), "==1.2.3");
        assert_eq!(t("*"), "");
        assert_eq!(t(">= 1.2, < 2"), ">=1.2,<2");
        assert_eq!(t(">=1.2 <2"), ">=1.2,<2");
        assert!(poetry_to_pep440("^1 || ^2").is_err());
        assert!(poetry_to_pep440("^x").is_err());
    }

    #[test]
    fn pep621_pep735_and_poetry_with_lines() {
        let text = r#"[project]
name = "app"
dependencies = [
  "httpx>=0.27",
  "rich ; sys_platform != 'win32'",
  "bad>=>1",
]
[project.optional-dependencies]
docs = ["sphinx>=7"]

[dependency-groups]
test = ["pytest>=8", {include-group = "lint"}]
lint = ["ruff"]
loop-a = [{include-group = "loop-b"}]
loop-b = [{include-group = "Loop_A"}]
broken = [{include-group = "nope"}]

[tool.poetry.dependencies]
python = "^3.9"
requests = "^2.31"
numpy = { version = "~1.26", python = ">=3.9" }
mylib = { path = "../mylib" }

[tool.poetry.group.dev.dependencies]
black = "24.1.0"
"#;
        let p = parse_content(
            "pyproject.toml",
            FileKind::Pyproject,
            text,
            &Limits::default(),
            None,
            &CancelFlag::never(),
        );
        let got: Vec<(&str, &str, usize)> = p
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.group.as_str(), d.line))
            .collect();
        assert!(got.contains(&("httpx", "dependencies", 4)), "{got:?}");
        assert!(got.contains(&("sphinx", "optional:docs", 9)), "{got:?}");
        assert!(got.contains(&("pytest", "group:test", 12)), "{got:?}");
        assert!(got.contains(&("ruff", "group:lint", 13)), "{got:?}");
        assert!(got.contains(&("requests", "poetry:main", 20)), "{got:?}");
        assert!(got.contains(&("black", "poetry:dev", 25)), "{got:?}");
        assert!(!got.iter().any(|g| g.0 == "python"));
        let requests = p
            .dependencies
            .iter()
            .find(|d| d.name == "requests")
            .unwrap();
        assert_eq!(requests.specifier, ">=2.31,<3.0");
        assert!(requests.notes[0].contains("translated"));
        let numpy = p.dependencies.iter().find(|d| d.name == "numpy").unwrap();
        assert_eq!(numpy.marker.as_deref(), Some("python_version >= '3.9'"));
        let black = p.dependencies.iter().find(|d| d.name == "black").unwrap();
        assert_eq!(black.pinned.as_deref(), Some("24.1.0"));
        let mylib = p.dependencies.iter().find(|d| d.name == "mylib").unwrap();
        assert!(matches!(mylib.source, DependencySource::Path(_)));
        let problems: Vec<(usize, &str)> = p
            .problems
            .iter()
            .map(|x| (x.line, x.reason.as_str()))
            .collect();
        assert!(
            problems
                .iter()
                .any(|(l, r)| *l == 6 && r.contains("PEP 508")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|(_, r)| r.contains("include-group cycle")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|(l, r)| *l == 16 && r.contains("names no group")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_chain_of_groups_each_including_the_next_twice_is_walked_once() {
        // Walked per path, 2^40 paths; walked per group, 40 steps.
        let mut text = String::from("[dependency-groups]\n");
        for i in 0..40 {
            text.push_str(&format!(
                "g{i} = [{{include-group = \"g{n}\"}}, {{include-group = \"g{n}\"}}, \"pkg{i}\"]\n",
                n = i + 1
            ));
        }
        text.push_str("g40 = [\"last\"]\n");
        let p = parse_content(
            "pyproject.toml",
            FileKind::Pyproject,
            &text,
            &Limits::default(),
            None,
            &CancelFlag::never(),
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.dependencies.len(), 41);
    }

    #[test]
    fn broken_toml_is_a_problem_with_its_line() {
        let p = parse_content(
            "pyproject.toml",
            FileKind::Pyproject,
            "[project]\ndependencies = [\n  \"a\",\n  oops\n]\n",
            &Limits::default(),
            None,
            &CancelFlag::never(),
        );
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].line, 4, "{:?}", p.problems);
    }
}
