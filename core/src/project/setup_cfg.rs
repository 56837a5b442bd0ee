//! `setup.cfg`: `[options] install_requires` and `[options.extras_require]`, read with
//! the `rust-ini` crate (indented multi-line values, as setuptools' configparser).
//! The INI parser gives no lines, so each requirement's line is found by a cursor
//! that only moves forward through its section (values are in file order): one pass
//! over the file in all, never a search from the top per requirement.

use std::collections::BTreeMap;

use ini::{Ini, ParseOption};

use super::{At, Limits, ParsedProject, Read, read_requirement};
use crate::cancel::CancelFlag;

/// Where each section's requirements are looked for: physical lines, the sections'
/// ranges, and a cursor per section.
struct Lines<'a> {
    lines: Vec<&'a str>,
    /// Lower-cased section name -> (first line after its header, its end).
    sections: BTreeMap<String, (usize, usize)>,
    cursors: BTreeMap<String, usize>,
}

impl<'a> Lines<'a> {
    fn new(content: &'a str) -> Self {
        let lines: Vec<&str> = content.lines().collect();
        let mut sections = BTreeMap::new();
        let mut open: Option<(String, usize)> = None;
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim();
            if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                if let Some((n, start)) = open.take() {
                    sections.entry(n).or_insert((start, i));
                }
                open = Some((name.trim().to_ascii_lowercase(), i + 1));
            }
        }
        if let Some((n, start)) = open {
            sections.entry(n).or_insert((start, lines.len()));
        }
        Lines {
            lines,
            sections,
            cursors: BTreeMap::new(),
        }
    }

    /// The 1-based line of the next line of `section` holding `text` (0 when none).
    fn find(&mut self, section: &str, text: &str) -> usize {
        let Some(&(start, end)) = self.sections.get(section) else {
            return 0;
        };
        let cursor = self.cursors.entry(section.to_string()).or_insert(start);
        match self.lines[*cursor..end].iter().position(|l| holds(l, text)) {
            Some(i) => {
                let at = *cursor + i;
                *cursor = at + 1;
                at + 1
            }
            // Not found (the INI reader changed the text): the cursor stays, so the
            // next requirement is still found; this one has no line.
            None => 0,
        }
    }
}

/// Whether physical line `l` is the value line `text`: the whole line, or the value
/// after `key =` / `key:` on the line that opens the value.
fn holds(l: &str, text: &str) -> bool {
    l.trim() == text
        || l.split_once(['=', ':'])
            .is_some_and(|(_, v)| v.trim() == text)
}

/// Reads a `setup.cfg`.
pub fn parse(
    out: &mut ParsedProject,
    file: &str,
    content: &str,
    limits: &Limits,
    cancel: &CancelFlag,
) {
    let opt = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        enabled_preserve_key_leading_whitespace: false,
    };
    let ini = match Ini::load_from_str_opt(content, opt) {
        Ok(i) => i,
        Err(e) => {
            out.problem(
                file,
                e.line,
                "",
                format!("not a valid setup.cfg: {}", e.msg),
            );
            return;
        }
    };
    let mut lines = Lines::new(content);
    let mut found = false;
    let mut read_list = |out: &mut ParsedProject, section: &str, value: &str, group: &str| {
        for item in value.lines() {
            if out.should_stop(file, cancel) {
                return;
            }
            let item = item.trim();
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let line = lines.find(section, item);
            match read_requirement(item, At { file, line, group }) {
                Ok(Read::Dep(d)) => out.push(*d, limits),
                Ok(Read::Ref(r)) => out.reference(r),
                Err(reason) => out.problem(file, line, item, reason),
            }
        }
    };
    if let Some(opts) = ini.section(Some("options")) {
        if let Some(v) = opts.get("install_requires") {
            found = true;
            read_list(out, "options", v, "install_requires");
        }
        if opts.get("setup_requires").is_some() || opts.get("tests_require").is_some() {
            out.note(format!(
                "{file}: setup_requires / tests_require are build or test tools and are not listed"
            ));
        }
    }
    if let Some(extras) = ini.section(Some("options.extras_require")) {
        for (extra, v) in extras.iter() {
            found = true;
            read_list(
                out,
                "options.extras_require",
                v,
                &format!("optional:{extra}"),
            );
        }
    }
    if !found {
        out.note(format!(
            "{file}: no install_requires or extras_require in [options]"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FileKind, Limits, parse_content};

    #[test]
    fn install_requires_and_extras() {
        let text = "[metadata]\nname = app\n\n[options]\npackages = find:\ninstall_requires =\n    requests>=2.0\n    importlib-metadata; python_version<\"3.8\"\n    not a requirement!\n\n[options.extras_require]\ntest =\n    pytest>=7\n";
        let p = parse_content(
            "setup.cfg",
            FileKind::SetupCfg,
            text,
            &Limits::default(),
            None,
            &crate::cancel::CancelFlag::never(),
        );
        let got: Vec<(&str, &str, usize)> = p
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.group.as_str(), d.line))
            .collect();
        assert_eq!(
            got,
            [
                ("requests", "install_requires", 7),
                ("importlib-metadata", "install_requires", 8),
                ("pytest", "optional:test", 13)
            ]
        );
        assert!(p.dependencies[1].marker.is_some());
        assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
        assert_eq!(p.problems[0].line, 9);
    }

    #[test]
    fn repeated_requirements_in_many_extras_each_get_their_own_line() {
        let mut text =
            String::from("[options]\ninstall_requires =\n    a\n    a\n[options.extras_require]\n");
        for i in 0..50 {
            text.push_str(&format!("x{i} =\n    a\n    b\n"));
        }
        let p = parse_content(
            "setup.cfg",
            FileKind::SetupCfg,
            &text,
            &Limits::default(),
            None,
            &crate::cancel::CancelFlag::never(),
        );
        let lines: Vec<usize> = p.dependencies.iter().map(|d| d.line).collect();
        let mut want = vec![3, 4];
        for i in 0..50 {
            want.extend([7 + 3 * i, 8 + 3 * i]);
        }
        assert_eq!(lines, want);
    }
}
