//! `setup.cfg`: `[options] install_requires` and `[options.extras_require]`, read with
//! the `rust-ini` crate (indented multi-line values, as setuptools' configparser).
//! The INI parser gives no lines, so each requirement's line is the first line of the
//! section's value that holds its text.

use ini::{Ini, ParseOption};

use super::{At, Limits, ParsedProject, Read, read_requirement};

pub(crate) fn parse(out: &mut ParsedProject, file: &str, content: &str, limits: &Limits) {
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
    let lines: Vec<&str> = content.lines().collect();
    // The line of `text` at or after the header of `section`.
    let find_line = |section: &str, text: &str| -> usize {
        let header = format!("[{section}]");
        let start = lines
            .iter()
            .position(|l| l.trim().eq_ignore_ascii_case(&header))
            .unwrap_or(0);
        lines
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, l)| l.contains(text))
            .map_or(0, |(i, _)| i + 1)
    };
    let mut found = false;
    let read_list = |out: &mut ParsedProject, section: &str, value: &str, group: &str| {
        for item in value.lines() {
            let item = item.trim();
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let line = find_line(section, item);
            match read_requirement(item, At { file, line, group }) {
                Ok(Read::Dep(d)) => out.push(*d, limits),
                Ok(Read::Ref(r)) => out.references.push(r),
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
            out.notes.push(format!(
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
        out.notes.push(format!(
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
}
