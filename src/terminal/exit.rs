//! The exit codes: defined here once, with the name `--json` errors carry and the
//! meaning that `--help` and the README's table are generated from.

use std::fmt::Write as _;

/// How a command ended. The discriminant is the process's exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command answered.
    Ok = 0,
    /// A bug or a broken environment (no async runtime, a failed write).
    Internal = 1,
    /// Bad input or usage.
    BadInput = 2,
    /// The package, version or file does not exist.
    NotFound = 3,
    /// An upstream could not answer and there was no fallback.
    Unavailable = 4,
    /// The configuration is invalid.
    Config = 5,
    /// A batch answered only in part (the answered part is printed).
    Partial = 6,
    /// `resolve` found that no set of versions satisfies the requirements.
    NoSolution = 7,
    /// `audit` found something that fails it.
    AuditFindings = 8,
    /// `download` refused the file or could not verify it.
    Download = 9,
}

impl Exit {
    /// Every exit code, in order.
    pub const ALL: [Exit; 10] = [
        Exit::Ok,
        Exit::Internal,
        Exit::BadInput,
        Exit::NotFound,
        Exit::Unavailable,
        Exit::Config,
        Exit::Partial,
        Exit::NoSolution,
        Exit::AuditFindings,
        Exit::Download,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The name `--json` error objects carry as `error`.
    pub const fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Internal => "internal",
            Exit::BadInput => "invalid_input",
            Exit::NotFound => "not_found",
            Exit::Unavailable => "unavailable",
            Exit::Config => "config",
            Exit::Partial => "partial",
            Exit::NoSolution => "no_solution",
            Exit::AuditFindings => "audit_findings",
            Exit::Download => "download",
        }
    }

    /// What the code means, in one line for the help and the README.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "answered (`audit`: clean; `scan` reports whatever it finds)",
            Exit::Internal => "internal error",
            Exit::BadInput => {
                "bad input or usage (also a `download` destination that is not allowed)"
            }
            Exit::NotFound => {
                "not found: the package or version (`check`: not on PyPI; `download`: no file for the target)"
            }
            Exit::Unavailable => {
                "upstream unavailable with no fallback, or deferred by our own rate limit (`resolve`: stopped at a bound)"
            }
            Exit::Config => "bad configuration",
            Exit::Partial => {
                "partial answer: a batch (`overview`, `scan`, `check`, `docs --with-deps`) answered only in part, a `resolve` with a node that could not be fetched, or an `audit` that found nothing but could not check everything"
            }
            Exit::NoSolution => "`resolve` found no solution: the requirements conflict",
            Exit::AuditFindings => {
                "`audit` found something that fails it (a vulnerable release, a yanked, missing or unsatisfiable pin, conflicting requirements, a suspicious package)"
            }
            Exit::Download => {
                "`download` refused the file or could not verify it (corrupt, cut short, oversize, a host not allowed, an unsafe file name); nothing was written"
            }
        }
    }

    /// The exit code of `code`, if it is one of ours.
    pub fn from_code(code: u8) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The table printed after `--help`.
    pub fn help_table() -> String {
        let mut s = String::from("Exit codes:\n");
        for e in Exit::ALL {
            let _ = writeln!(s, "  {}  {}", e.code(), e.meaning());
        }
        s.push_str("With --json, a failure also writes {\"error\": <name>, \"exit_code\": <code>, \"message\": ...} to stdout.");
        s
    }

    /// The README's table (Markdown).
    pub fn markdown_table() -> String {
        let mut s =
            String::from("| code | `error` (with `--json`) | meaning |\n| --- | --- | --- |\n");
        for e in Exit::ALL {
            let _ = writeln!(s, "| {} | `{}` | {} |", e.code(), e.name(), e.meaning());
        }
        s
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_in_order_with_a_distinct_name() {
        for (i, e) in Exit::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(e.code()), i, "{e:?}");
            assert_eq!(Exit::from_code(e.code()), Some(e));
        }
        let mut names: Vec<_> = Exit::ALL.iter().map(|e| e.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Exit::ALL.len());
        assert_eq!(Exit::from_code(10), None);
    }

    #[test]
    fn the_help_and_readme_tables_give_each_code_its_meaning() {
        let help = Exit::help_table();
        let md = Exit::markdown_table();
        for e in Exit::ALL {
            assert!(
                help.contains(&format!("  {}  {}\n", e.code(), e.meaning())),
                "{help}"
            );
            assert!(
                md.contains(&format!("| {} | `{}` |", e.code(), e.name())),
                "{md}"
            );
        }
        assert!(help.contains("8  `audit`"), "{help}");
        assert!(help.contains("9  `download`"), "{help}");
    }
}
