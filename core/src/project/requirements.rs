//! `requirements*.txt` in pip's format: comments, line continuations, environment
//! markers, per-requirement options (`--hash`), options lines (reported, not
//! followed), editables, and `-r`/`-c` includes resolved relative to the including
//! file, with cycle detection and a depth bound.
//!
//! Environment variables (`${VAR}`) are never expanded: a scan served over MCP must
//! not echo the server's environment (tokens in index URLs) to the client. A line
//! that needs one is reported as a problem.

use std::borrow::Cow;

use super::{
    At, Limits, OptionLine, ParsedProject, Read, Reference, ScannedFile, clip, read_requirement,
};
use crate::cancel::CancelFlag;
use crate::model::untrusted::redact_urls;

/// Finds and reads the targets of `-r`/`-c` includes. Finding comes first and reads
/// nothing, so a cycle, or a file this scan has already read, is refused before it is
/// read again (two files including each other line after line once cost 47 s of CPU).
pub trait IncludeLoader {
    /// Finds `target` as written in `from`: the label to report it under and a key
    /// identifying it (its canonical path); or why it cannot be read. Reads nothing.
    fn locate(&mut self, from: &str, target: &str) -> Result<Located, String>;

    /// Reads a file [`locate`](Self::locate) found.
    fn read(&mut self, at: &Located) -> Result<String, String>;

    /// The key of the file the scan started from, so an include of it is a cycle.
    fn root_key(&self) -> Option<String> {
        None
    }
}

/// An include target, found and not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The label to report the file under.
    pub label: String,
    /// Identity for cycle detection and read-once (the canonical path).
    pub key: String,
}

/// Logical lines, lazily: continuation lines joined, each with the 1-based number of
/// its first physical line (nothing is copied unless a line continues).
fn logical_lines(content: &str) -> impl Iterator<Item = (usize, Cow<'_, str>)> {
    let mut physical = content.lines().enumerate();
    std::iter::from_fn(move || {
        let mut cur: Option<(usize, String)> = None;
        for (i, raw) in physical.by_ref() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            // A comment line ends the logical line even after a continuation.
            let continues = line.ends_with('\\') && !strip_comment(line).is_empty();
            let body = if continues {
                &line[..line.len() - 1]
            } else {
                line
            };
            match (&mut cur, continues) {
                (None, false) => return Some((i + 1, Cow::Borrowed(line))),
                (None, true) => cur = Some((i + 1, body.to_string())),
                (Some((_, text)), _) => {
                    text.push_str(body);
                    if !continues {
                        return cur.map(|(n, t)| (n, Cow::Owned(t)));
                    }
                }
            }
        }
        cur.map(|(n, t)| (n, Cow::Owned(t)))
    })
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

/// An options line as (option, value): `--opt=v`, `--opt v`, `-x v`, and pip's `-xv`
/// (`-ihttps://...` written without a space).
fn split_option(line: &str) -> (&str, Option<&str>) {
    let cut = if line.starts_with("--") {
        line.find(['=', ' ', '\t'])
    } else {
        line.char_indices().nth(2).map(|(i, _)| i)
    };
    match cut {
        Some(i) => {
            let v = line[i..].trim_start_matches(['=', ' ', '\t']).trim();
            (&line[..i], (!v.is_empty()).then_some(v))
        }
        None => (line, None),
    }
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

/// One requirements file's walk: where it stands and what it may still do.
struct Walk<'a, 'l> {
    limits: &'a Limits,
    includes: Option<&'l mut dyn IncludeLoader>,
    /// Keys of the files being read, outermost first (a cycle is an include of one).
    stack: Vec<String>,
    cancel: &'a CancelFlag,
}

/// Parses a requirements file into `out` (with its `-r`/`-c` includes).
pub fn parse(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    limits: &Limits,
    includes: Option<&mut dyn IncludeLoader>,
    group: &str,
    cancel: &CancelFlag,
) {
    let stack: Vec<String> = includes
        .as_deref()
        .and_then(|l| l.root_key())
        .into_iter()
        .collect();
    out.tally.read.extend(stack.iter().cloned());
    let mut walk = Walk {
        limits,
        includes,
        stack,
        cancel,
    };
    walk.file(out, file, content, group);
}

impl Walk<'_, '_> {
    fn file(&mut self, out: &mut ParsedProject, file: &str, content: &str, group: &str) {
        let limits = self.limits;
        for (line_no, raw) in logical_lines(content) {
            if out.should_stop(file, self.cancel) {
                return;
            }
            let line = strip_comment(&raw).trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('-') {
                self.option_line(out, file, line_no, line, group);
                continue;
            }
            // Per-requirement options start at the first ` --`.
            let (req, opts) = match line.find(" --").or_else(|| line.find("\t--")) {
                Some(i) => (&line[..i], &line[i..]),
                None => (line, ""),
            };
            let hashes = opts.matches("--hash").count();
            let at = At {
                file,
                line: line_no,
                group,
            };
            match read_requirement(req, at) {
                Ok(Read::Dep(mut d)) => {
                    d.hashes = hashes;
                    let other: Vec<&str> = opts
                        .split_whitespace()
                        .filter(|t| t.starts_with("--") && !t.starts_with("--hash"))
                        .collect();
                    if !other.is_empty() {
                        d.notes.push(format!(
                            "options not followed: {}",
                            clip(&redact_urls(&other.join(" ")))
                        ));
                    }
                    out.push(*d, limits);
                }
                Ok(Read::Ref(r)) => out.reference(r),
                Err(reason) => out.problem(file, line_no, line, reason),
            }
        }
    }

    fn option_line(
        &mut self,
        out: &mut ParsedProject,
        file: &str,
        line_no: usize,
        line: &str,
        group: &str,
    ) {
        let include = option_value(line, "-r", "--requirement")
            .map(|t| (t, "requirements"))
            .or_else(|| option_value(line, "-c", "--constraint").map(|t| (t, "constraints")));
        if let Some((target, child_group)) = include {
            self.include(out, file, line_no, line, target, child_group);
            return;
        }
        if let Some(target) = option_value(line, "-e", "--editable") {
            let at = At {
                file,
                line: line_no,
                group,
            };
            match read_requirement(target, at) {
                Ok(Read::Dep(mut d)) => {
                    d.notes
                        .push("an editable install: not checked against PyPI".into());
                    d.source = match d.source {
                        super::DependencySource::Index => {
                            super::DependencySource::Path(clip(&redact_urls(target)))
                        }
                        s => s,
                    };
                    out.push(*d, self.limits);
                }
                _ => out.reference(Reference {
                    text: clip(&redact_urls(target)),
                    kind: "editable".into(),
                    file: file.into(),
                    line: line_no,
                    note: "an editable install: reported, not fetched".into(),
                }),
            }
            return;
        }
        let (opt, value) = split_option(line);
        let known = KNOWN_OPTIONS.contains(&opt);
        out.option(OptionLine {
            option: clip(&redact_urls(opt)),
            value: value.map(|v| clip(&redact_urls(v))),
            file: file.into(),
            line: line_no,
            note: if known {
                "reported, not followed: packages are checked against the configured index".into()
            } else {
                "an option pip may not know: reported, not followed".into()
            },
        });
    }

    /// Follows `-r`/`-c target`: found, cycle-checked and checked against what this
    /// scan has read, and only then read.
    fn include(
        &mut self,
        out: &mut ParsedProject,
        file: &str,
        line_no: usize,
        line: &str,
        target: &str,
        group: &str,
    ) {
        let limits = self.limits;
        if target.is_empty() {
            out.problem(file, line_no, line, "an include without a file name");
            return;
        }
        let Some(loader) = self.includes.as_deref_mut() else {
            out.problem(
                file,
                line_no,
                line,
                "include not followed: the content was given inline, so there is no directory to resolve it in (scan the file by path)",
            );
            return;
        };
        // The root is at depth 0 on the stack.
        let depth = self.stack.len().max(1) - 1;
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
        let found = match loader.locate(file, target) {
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
        if self.stack.contains(&found.key) {
            out.problem(
                file,
                line_no,
                line,
                format!(
                    "include cycle: {} is already being read ({} -> {})",
                    found.label,
                    stack_labels(&self.stack),
                    found.label
                ),
            );
            return;
        }
        if out.tally.read.contains(&found.key) {
            out.note(format!(
                "{file}:{line_no}: {} was already read in this scan: not read again",
                found.label
            ));
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
        out.tally.read.insert(found.key.clone());
        let content = match loader.read(&found) {
            Ok(c) => c,
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
        out.files.push(ScannedFile {
            file: found.label.clone(),
            kind: super::FileKind::Requirements,
            included_from: Some(file.into()),
        });
        if self.stack.is_empty() {
            // No root key (an embedder's loader): the depth still counts from here.
            self.stack.push(String::new());
        }
        self.stack.push(found.key);
        self.file(out, &found.label, &content, group);
        self.stack.pop();
    }
}

fn stack_labels(stack: &[String]) -> String {
    stack
        .iter()
        .filter(|k| !k.is_empty())
        .map(|k| k.rsplit(['/', '\\']).next().unwrap_or(k).to_string())
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Loads includes from a fixed set of named texts (tests and embedders holding files
/// in memory).
#[derive(Debug, Default)]
pub struct MemoryLoader(pub std::collections::BTreeMap<String, String>);

impl IncludeLoader for MemoryLoader {
    fn locate(&mut self, _from: &str, target: &str) -> Result<Located, String> {
        if self.0.contains_key(target) {
            Ok(Located {
                label: target.into(),
                key: target.into(),
            })
        } else {
            Err(format!("{target} does not exist"))
        }
    }

    fn read(&mut self, at: &Located) -> Result<String, String> {
        self.0
            .get(&at.key)
            .cloned()
            .ok_or_else(|| format!("{} does not exist", at.label))
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
            &CancelFlag::never(),
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
        let p = parse_content(
            "r.txt",
            FileKind::Requirements,
            &text,
            &limits,
            None,
            &CancelFlag::never(),
        );
        assert_eq!(p.dependencies.len(), 3);
        assert!(
            p.problems[0].reason.contains("more than 3 requirements"),
            "{:?}",
            p.problems
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
            &CancelFlag::never(),
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
            &CancelFlag::never(),
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
            &CancelFlag::never(),
        );
        assert!(p.problems[0].reason.contains("inline"));
    }
}
