//! The bounds of every question, checked here once for the engine, the MCP tools and
//! the CLI alike (they disagreed: `top` took 10,000 in the CLI and 1,000 over MCP).
//! Numbers arrive as `i64` so that a negative or huge value is named as given.

use super::InputError;

/// Most days of a trend or breakdown: pypistats keeps 180.
pub const MAX_DAYS: u32 = 180;
/// Most rows of the top-packages answer: more would flood an assistant's context, and
/// a person reads the top thousand at most.
pub const MAX_TOP: usize = 1000;
/// Most versions `versions --limit` / `limit` keeps.
pub const MAX_VERSIONS_LIMIT: usize = 10_000;

/// Fewest tokens a docs answer may be cut to: less holds no section worth reading.
pub const MIN_DOCS_TOKENS: usize = 100;
/// Most tokens a docs answer may take: a quarter of a small model's context.
pub const MAX_DOCS_TOKENS: usize = 32_000;
/// The docs budget when none is given.
pub const DEFAULT_DOCS_TOKENS: usize = 4_000;

/// Most requirements one resolution takes from a caller.
pub const MAX_RESOLVE_REQUIREMENTS: usize = 50;
/// The most distinct packages one scan asks PyPI about; the rest are reported as not
/// checked.
pub const MAX_SCAN_PACKAGES: usize = 300;
/// Most direct requirements an audit resolves together: a project's whole declared
/// set, as many as a scan checks.
pub const MAX_AUDIT_REQUIREMENTS: usize = MAX_SCAN_PACKAGES;
/// The bound on a resolution's packages when none is given.
pub const DEFAULT_RESOLVE_PACKAGES: usize = 200;
/// Largest bound on a resolution's packages a caller may set.
pub const MAX_RESOLVE_PACKAGES: usize = 1000;

fn within(param: &'static str, v: i64, max: u64, why: &str) -> Result<u64, InputError> {
    match u64::try_from(v) {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(InputError {
            param,
            value: v.to_string(),
            rule: format!("must be between 1 and {max}{why}"),
        }),
    }
}

/// A number of days, 1 to [`MAX_DAYS`].
pub fn days(v: i64) -> Result<u32, InputError> {
    within("days", v, MAX_DAYS.into(), " (pypistats keeps 180 days)").map(|n| n as u32)
}

/// A number of top packages, 1 to [`MAX_TOP`].
pub fn top_limit(v: i64) -> Result<usize, InputError> {
    within("limit", v, MAX_TOP as u64, "").map(|n| n as usize)
}

/// A number of newest versions to keep, 1 to [`MAX_VERSIONS_LIMIT`].
pub fn versions_limit(v: i64) -> Result<usize, InputError> {
    within("limit", v, MAX_VERSIONS_LIMIT as u64, "").map(|n| n as usize)
}

/// A token budget for package docs, [`MIN_DOCS_TOKENS`] to [`MAX_DOCS_TOKENS`].
pub fn docs_tokens(v: i64) -> Result<usize, InputError> {
    match usize::try_from(v) {
        Ok(n) if (MIN_DOCS_TOKENS..=MAX_DOCS_TOKENS).contains(&n) => Ok(n),
        _ => Err(InputError {
            param: "max_tokens",
            value: v.to_string(),
            rule: format!("must be between {MIN_DOCS_TOKENS} and {MAX_DOCS_TOKENS}"),
        }),
    }
}

/// A number of requirements to resolve, 1 to `max` ([`MAX_RESOLVE_REQUIREMENTS`] from
/// a caller, [`MAX_AUDIT_REQUIREMENTS`] from an audit).
pub fn resolve_requirements(n: usize, max: usize) -> Result<usize, InputError> {
    match n {
        1.. if n <= max => Ok(n),
        _ => Err(InputError {
            param: "requirements",
            value: format!("{n} requirements"),
            rule: format!("give between 1 and {max} requirements"),
        }),
    }
}

/// A bound on a resolution's packages, 1 to [`MAX_RESOLVE_PACKAGES`].
pub fn resolve_packages(v: i64) -> Result<usize, InputError> {
    within("max_packages", v, MAX_RESOLVE_PACKAGES as u64, "").map(|n| n as usize)
}

/// Most pages of ids followed for one release in OSV's `querybatch` (each page a
/// `next_page_token`): past it the answer is refused, never followed forever.
pub const MAX_OSV_PAGES: usize = 10;
/// Most advisory ids kept for one release from OSV; past it the answer is refused.
pub const MAX_OSV_IDS: usize = 500;
/// Most advisories fetched (`/v1/vulns/{id}`) for one release.
pub const MAX_OSV_ADVISORIES: usize = 200;
/// Largest OSV answer read, in bytes (one advisory is kilobytes; a page of ids less).
pub const MAX_OSV_BODY_BYTES: u64 = 4 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_value_given_and_the_rule() {
        assert_eq!(days(1).unwrap(), 1);
        assert_eq!(days(180).unwrap(), 180);
        for bad in [0, -5, 181, i64::MAX, i64::MIN] {
            let e = days(bad).unwrap_err();
            assert_eq!(e.param, "days");
            assert_eq!(e.value, bad.to_string());
            assert!(e.rule.contains("between 1 and 180"), "{}", e.rule);
        }
        assert_eq!(top_limit(1000).unwrap(), 1000);
        assert!(top_limit(1001).is_err());
        assert_eq!(versions_limit(10_000).unwrap(), 10_000);
        assert!(versions_limit(0).is_err());
        assert_eq!(resolve_packages(1000).unwrap(), 1000);
        for bad in [0, -1, 1001] {
            let e = resolve_packages(bad).unwrap_err();
            assert_eq!((e.param, e.value), ("max_packages", bad.to_string()));
        }
        assert_eq!(
            resolve_requirements(50, MAX_RESOLVE_REQUIREMENTS).unwrap(),
            50
        );
        assert!(resolve_requirements(0, MAX_RESOLVE_REQUIREMENTS).is_err());
        let e = resolve_requirements(51, MAX_RESOLVE_REQUIREMENTS).unwrap_err();
        assert!(e.rule.contains("between 1 and 50"), "{}", e.rule);
        assert_eq!(
            resolve_requirements(300, MAX_AUDIT_REQUIREMENTS).unwrap(),
            300
        );
        assert_eq!(docs_tokens(100).unwrap(), 100);
        assert_eq!(docs_tokens(32_000).unwrap(), 32_000);
        for bad in [99, 0, -1, 32_001, i64::MAX] {
            let e = docs_tokens(bad).unwrap_err();
            assert_eq!((e.param, e.value.clone()), ("max_tokens", bad.to_string()));
        }
    }
}
