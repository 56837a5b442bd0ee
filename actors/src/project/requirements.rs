//! `requirements*.txt` in pip's format: comments, line continuations, environment
//! markers, per-requirement options (`--hash`), options lines (reported, not
//! followed), editables, and `-r`/`-c` includes resolved relative to the including
//! file, with cycle detection and a depth bound.
//!
//! Environment variables (`${VAR}`) are never expanded: a scan served over MCP must
//! not echo the server's environment (tokens in index URLs) to the client. A line
//! that needs one is reported as a problem.

use super::{
    At, Limits, OptionLine, ParsedProject, Read, Reference, ScannedFile, clip, hide_userinfo,
    read_requirement,
};

/// Loads the target of a `-r`/`-c` include.
pub trait IncludeLoader {
    /// Loads `target` as written in `from`. Returns the label to report the file
    /// under, a key that identifies it (its canonical path) for cycle detection, and
    /// its content; or why it cannot be read.
    fn load(&mut self, from: &str, target: &str) -> Result<Loaded, String>;

    /// The key of the file the scan started from, so an include of it is a cycle.
    fn root_key(&self) -> Option<String> {
        None
    }
}

/// A loaded include.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The label to report the file under.
    pub label: String,
    /// Identity for cycle detection (the canonical path).
    pub key: String,
    /// The text.
    pub content: String,
}

/// Logical lines: continuation lines joined, each with the 1-based number of its
/// first physical line.
fn logical_lines(content: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, raw) in content.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let (start, mut text) = cur.take().unwrap_or((i + 1, String::new()));
        // A comment line ends the logical line even after a continuation.
        if let Some(body) = line.strip_suffix('\\')
            && !strip_comment(line).is_empty()
        {
            text.push_str(body);
            cur = Some((start, text));
            continue;
        }
        text.push_str(line);
        out.push((start, text));
    }
    if let Some(c) = cur {
        out.push(c);
    }
    out
}

/// pip's comment rule: `#` at the start or after whitespace.
fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('#') {
        return "";
    }
    let b = line.as_bytes();
    for i in 1..b.len() {
        if b[i] == b'#' && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
            return &line[..i];
        }
    }
    line
}

/// Splits `-r file`, `-rfile`, `--requirement=file`, `--requirement file`.
fn option_value<'a>(line: &'a str, short: &str, long: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix(long) {
        let rest = rest.strip_prefix('=').unwrap_or(rest);
        if rest.is_empty() || line.as_bytes()[long.len()] == b'=' || rest.starts_with([' ', '\t']) {
            return Some(rest.trim());
        }
        return None;
    }
    line.strip_prefix(short).map(str::trim)
}

/// Options that take no package and are not followed.
const KNOWN_OPTIONS: &[&str] = &[
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--no-binary",
    "--only-binary",
    "--prefer-binary",
    "--require-hashes",
    "--pre",
    "--trusted-host",
    "--use-feature",
    "-Z",
    "--always-unzip",
];

/// Parses a requirements file into `out`. `depth` is the include depth of this file.
pub(crate) fn parse(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    limits: &Limits,
    mut includes: Option<&mut dyn IncludeLoader>,
    group: &str,
    depth: usize,
) {
    let mut stack: Vec<String> = includes
        .as_deref()
        .and_then(|l| l.root_key())
        .into_iter()
        .collect();
    parse_inner(
        out,
        file,
        content,
        limits,
        &mut includes,
        group,
        depth,
        &mut stack,
    );
}

#[allow(clippy::too_many_arguments)]
fn parse_inner(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    limits: &Limits,
    includes: &mut Option<&mut dyn IncludeLoader>,
    group: &str,
    depth: usize,
    stack: &mut Vec<String>,
) {
    for (line_no, raw) in logical_lines(content) {
        let line = strip_comment(&raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('-') {
            let include = option_value(line, "-r", "--requirement")
                .map(|t| (t, "requirements"))
                .or_else(|| option_value(line, "-c", "--constraint").map(|t| (t, "constraints")));
            if let Some((target, child_group)) = include {
                include_file(
                    out,
                    file,
                    line_no,
                    line,
                    target,
                    child_group,
                    limits,
                    includes,
                    depth,
                    stack,
                );
                continue;
            }
            if let Some(target) = option_value(line, "-e", "--editable") {
                match read_requirement(
                    target,
                    At {
                        file,
                        line: line_no,
                        group,
                    },
                ) {
                    Ok(Read::Dep(mut d)) => {
                        d.notes
                            .push("an editable install: not checked against PyPI".into());
                        d.source = match d.source {
                            super::DependencySource::Index => {
                                super::DependencySource::Path(clip(target))
                            }
                            s => s,
                        };
                        out.push(*d, limits);
                    }
                    _ => out.references.push(Reference {
                        text: clip(&hide_userinfo(target)),
                        kind: "editable".into(),
                        file: file.into(),
                        line: line_no,
                        note: "an editable install: reported, not fetched".into(),
                    }),
                }
                continue;
            }
            let (opt, value) = match line.split_once(['=', ' ', '\t']) {
                Some((o, v)) => (o, Some(v.trim())),
                None => (line, None),
            };
            let known = KNOWN_OPTIONS.contains(&opt);
            out.options.push(OptionLine {
                option: clip(opt),
                value: value
                    .filter(|v| !v.is_empty())
                    .map(|v| clip(&hide_userinfo(v))),
                file: file.into(),
                line: line_no,
                note: if known {
                    "reported, not followed: packages are checked against the configured index"
                        .into()
                } else {
                    "an option pip may not know: reported, not followed".into()
                },
            });
            continue;
        }
        // Per-requirement options start at the first ` --`.
        let (req, opts) = match line.find(" --").or_else(|| line.find("\t--")) {
            Some(i) => (&line[..i], &line[i..]),
            None => (line, ""),
        };
        let hashes = opts.matches("--hash").count();
        match read_requirement(
            req,
            At {
                file,
                line: line_no,
                group,
            },
        ) {
            Ok(Read::Dep(mut d)) => {
                d.hashes = hashes;
                let other: Vec<&str> = opts
                    .split_whitespace()
                    .filter(|t| t.starts_with("--") && !t.starts_with("--hash"))
                    .collect();
                if !other.is_empty() {
                    d.notes
                        .push(format!("options not followed: {}", clip(&other.join(" "))));
                }
                out.push(*d, limits);
            }
            Ok(Read::Ref(r)) => out.references.push(r),
            Err(reason) => out.problem(file, line_no, line, reason),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn include_file(
    out: &mut ParsedProject,
    file: &str,
    line_no: usize,
    line: &str,
    target: &str,
    group: &str,
    limits: &Limits,
    includes: &mut Option<&mut dyn IncludeLoader>,
    depth: usize,
    stack: &mut Vec<String>,
) {
    if target.is_empty() {
        out.problem(file, line_no, line, "an include without a file name");
        return;
    }
    let Some(loader) = includes.as_deref_mut() else {
        out.problem(
            file,
            line_no,
            line,
            "include not followed: the content was given inline, so there is no directory to resolve it in (scan the file by path)",
        );
        return;
    };
    if depth + 1 > limits.max_include_depth {
        out.problem(
            file,
            line_no,
            line,
            format!(
                "include not followed: more than {} levels of includes",
                limits.max_include_depth
            ),
        );
        return;
    }
    if out.files.len() >= limits.max_files {
        out.problem(
            file,
            line_no,
            line,
            format!(
                "include not followed: more than {} files in one scan",
                limits.max_files
            ),
        );
        return;
    }
    let loaded = match loader.load(file, target) {
        Ok(l) => l,
        Err(reason) => {
            out.problem(
                file,
                line_no,
                line,
                format!("include not followed: {reason}"),
            );
            return;
        }
    };
    if stack.contains(&loaded.key) {
        out.problem(
            file,
            line_no,
            line,
            format!(
                "include cycle: {} is already being read ({} -> {})",
                loaded.label,
                stack_labels(out, stack),
                loaded.label
            ),
        );
        return;
    }
    out.files.push(ScannedFile {
        file: loaded.label.clone(),
        kind: super::FileKind::Requirements,
        included_from: Some(file.into()),
    });
    stack.push(loaded.key.clone());
    parse_inner(
        out,
        &loaded.label,
        &loaded.content,
        limits,
        includes,
        group,
        depth + 1,
        stack,
    );
    stack.pop();
}

fn stack_labels(_out: &ParsedProject, stack: &[String]) -> String {
    stack
        .iter()
        .map(|k| k.rsplit(['/', '\\']).next().unwrap_or(k).to_string())
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Loads includes from a fixed set of named texts (tests and embedders holding files
/// in memory).
#[derive(Debug, Default)]
pub struct MemoryLoader(pub std::collections::BTreeMap<String, String>);

impl IncludeLoader for MemoryLoader {
    fn load(&mut self, _from: &str, target: &str) -> Result<Loaded, String> {
        self.0
            .get(target)
            .map(|c| Loaded {
                label: target.into(),
                key: target.into(),
                content: c.clone(),
            })
            .ok_or_else(|| format!("{target} does not exist"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FileKind, Limits, parse_content};
    use super::*;

    #[test]
    fn a_real_world_requirements_file() {
        let text = "# app deps\n\
            --index-url https://user:tok@pypi.example/simple\n\
            requests>=2.31 ; python_version >= \"3.8\"  # http\n\
            Django==4.2.1 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb\n\
            ./vendor/thing\n\
            git+https://github.com/x/y.git@v1#egg=why\n\
            -e .\n\
            numpy>=>1\n\
            \n\
            pkg==${PKG_VERSION}\n";
        let p = parse_content(
            "requirements.txt",
            FileKind::Requirements,
            text,
            &Limits::default(),
            None,
        );
        let names: Vec<&str> = p.dependencies.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["requests", "django", "why"]);
        assert_eq!(p.dependencies[0].line, 3);
        assert!(p.dependencies[0].marker.is_some());
        assert_eq!(p.dependencies[1].hashes, 2);
        assert_eq!(p.dependencies[1].line, 4);
        assert_eq!(p.options[0].option, "--index-url");
        assert!(!p.options[0].value.as_ref().unwrap().contains("tok"));
        assert_eq!(p.references.len(), 2, "{:?}", p.references);
        let lines: Vec<usize> = p.problems.iter().map(|x| x.line).collect();
        assert_eq!(lines, [10, 12], "{:?}", p.problems);
    }

    #[test]
    fn bounds_on_requirements_and_include_depth() {
        let limits = Limits {
            max_requirements: 3,
            max_include_depth: 2,
            ..Limits::default()
        };
        let text: String = (0..10).map(|i| format!("pkg{i}\n")).collect();
        let p = parse_content("r.txt", FileKind::Requirements, &text, &limits, None);
        assert_eq!(p.dependencies.len(), 3);
        assert!(
            p.notes[0].contains("more than 3 requirements"),
            "{:?}",
            p.notes
        );
        let mut files = std::collections::BTreeMap::new();
        for i in 0..5 {
            files.insert(format!("{i}.txt"), format!("-r {}.txt\npkg{i}\n", i + 1));
        }
        let mut loader = MemoryLoader(files);
        let p = parse_content(
            "r.txt",
            FileKind::Requirements,
            "-r 0.txt\n",
            &limits,
            Some(&mut loader),
        );
        assert_eq!(p.files.len(), 3, "the root and two levels");
        assert!(
            p.problems
                .iter()
                .any(|x| x.reason.contains("more than 2 levels")),
            "{:?}",
            p.problems
        );
    }

    #[test]
    fn nested_includes_cycles_and_depth() {
        let mut files = std::collections::BTreeMap::new();
        files.insert("base.txt".to_string(), "-r common.txt\nflask\n".to_string());
        files.insert(
            "common.txt".to_string(),
            "-c constraints.txt\n-r base.txt\nclick\n".to_string(),
        );
        files.insert("constraints.txt".to_string(), "click==8.1.7\n".to_string());
        let mut loader = MemoryLoader(files);
        let p = parse_content(
            "requirements.txt",
            FileKind::Requirements,
            "-r base.txt\nrich\n",
            &Limits::default(),
            Some(&mut loader),
        );
        let got: Vec<(&str, &str)> = p
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.group.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("click", "constraints"),
                ("click", "requirements"),
                ("flask", "requirements"),
                ("rich", "requirements")
            ]
        );
        assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
        assert!(p.problems[0].reason.contains("include cycle"));
        assert_eq!(
            (p.problems[0].file.as_str(), p.problems[0].line),
            ("common.txt", 2)
        );
        let p = parse_content(
            "r.txt",
            FileKind::Requirements,
            "-r other.txt\n",
            &Limits::default(),
            None,
        );
        assert!(p.problems[0].reason.contains("inline"));
    }
}
