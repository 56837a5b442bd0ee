//! Guards for text from outside (a client's project file, an upstream's document)
//! before it reaches a parser that recurses, and the one redaction of every URL that
//! reaches an answer, a log line or an error.
//!
//! Why a guard in front of the parser and not a fix inside it: pep508_rs parses a
//! parenthesised marker by recursion, and a stack overflow is not a panic: it aborts the
//! whole process (no `catch_unwind`, no supervisor). ~2,800 nested parentheses in one
//! `Requires-Dist` of one package on an index were enough. Every path that parses a
//! requirement (client content, project JSON, METADATA, lockfiles) goes through
//! [`check_requirement`] first.

/// Deepest parenthesis nesting a requirement may have. Real markers nest 2 or 3 deep;
/// 32 leaves room for generated ones and stays far below what overflows a 2 MiB stack.
pub const MAX_REQUIREMENT_NESTING: usize = 32;

/// Longest requirement string parsed, in bytes. Real ones (URLs included) stay under
/// 1 KiB; a longer one is refused before any parser sees it.
pub const MAX_REQUIREMENT_BYTES: usize = 8 * 1024;

/// Whether `text` may be handed to a requirement or marker parser: `Err` names what is
/// wrong, for that one requirement (never a crash, never the whole document).
pub fn check_requirement(text: &str) -> Result<(), String> {
    if text.len() > MAX_REQUIREMENT_BYTES {
        return Err(format!(
            "requirement is {} bytes long, more than the {MAX_REQUIREMENT_BYTES} allowed",
            text.len()
        ));
    }
    let deepest = nesting_depth(text);
    if deepest > MAX_REQUIREMENT_NESTING {
        return Err(format!(
            "marker nested {deepest} parentheses deep, more than the {MAX_REQUIREMENT_NESTING} allowed"
        ));
    }
    Ok(())
}

/// The deepest nesting of `(`/`[` in `text`, counted in one pass (quotes are not
/// special: a quoted parenthesis only makes the count larger, never smaller, so the
/// bound stays safe).
pub fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Query parameters whose value is a secret when their (lower-cased) name contains one
/// of these words: `?token=`, `access_token`, `api_key`, `X-Amz-Signature`, `password`...
const SECRET_PARAM_WORDS: &[&str] = &[
    "token",
    "key",
    "secret",
    "pass",
    "pwd",
    "sig",
    "auth",
    "credential",
    "session",
];

/// What replaces a removed secret.
pub const REDACTED: &str = "***";

/// `text` with every URL's secrets removed: the userinfo of `scheme://user:pass@host`
/// becomes `***@host`, and the value of every token-like query parameter becomes `***`
/// (`?token=abc&page=2` → `?token=***&page=2`). Anything else is kept. The one redaction
/// used for answers, log lines and errors, wherever the URL came from (a requirement
/// line, an index's page, the configuration).
pub fn redact_urls(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The URL ends at whitespace or a quote; its authority at the first '/', '?', '#'.
        let url_end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(tail.len());
        let url = &tail[..url_end];
        let auth_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let authority = &url[..auth_end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        out.push_str(&redact_query(&url[auth_end..]));
        rest = &tail[url_end..];
    }
    out.push_str(rest);
    out
}

/// The path, query and fragment of a URL with token-like query values removed.
fn redact_query(path_and_query: &str) -> String {
    let Some(q) = path_and_query.find('?') else {
        return path_and_query.to_string();
    };
    let (path, query) = path_and_query.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let mut out = String::with_capacity(path_and_query.len());
    out.push_str(path);
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out.push_str(fragment);
    out
}

fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAM_WORDS.iter().any(|w| lower.contains(w))
}

/// Most characters of an upstream's text quoted in an answer or an error.
pub const EXCERPT_MAX_CHARS: usize = 120;

/// A short, safe quote of text from outside (an upstream's body, an error holding
/// one): control characters dropped, URLs redacted ([`redact_urls`]), at most
/// [`EXCERPT_MAX_CHARS`] characters, then `…`. Enough to recognise what came (an HTML
/// error page, a proxy's banner), never a reflection of a whole response.
pub fn excerpt(text: &str) -> String {
    // Bounded before redaction so a huge body costs no more than its first part.
    let mut chars = text.chars().filter(|c| !c.is_control());
    let head: String = chars.by_ref().take(EXCERPT_MAX_CHARS * 4).collect();
    let more = chars.next().is_some();
    let safe = redact_urls(&head);
    match safe.char_indices().nth(EXCERPT_MAX_CHARS) {
        None if !more => safe,
        None => format!("{safe}…"),
        Some((cut, _)) => format!("{}…", &safe[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_nested_10000_deep_is_refused_before_parsing() {
        let deep = format!(
            "x; {}python_version >= '3'{}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        let err = check_requirement(&deep).unwrap_err();
        assert!(
            err.contains("bytes long") || err.contains("nested"),
            "{err}"
        );
        let deep_short = format!("x; {}os_name=='a'{}", "(".repeat(40), ")".repeat(40));
        let err = check_requirement(&deep_short).unwrap_err();
        assert!(err.contains("nested 40 parentheses deep"), "{err}");
    }

    #[test]
    fn real_requirements_pass_the_guard() {
        for ok in [
            "requests[socks]>=2; python_version >= '3.8'",
            "pywin32>=300; (sys_platform == 'win32' and (python_version < '3.12' or extra == 'x'))",
            "pkg @ https://example.org/pkg-1.0.tar.gz",
        ] {
            assert_eq!(check_requirement(ok), Ok(()), "{ok}");
        }
        assert_eq!(nesting_depth("a[b]; (c and (d))"), 2);
    }

    #[test]
    fn userinfo_and_token_query_values_are_redacted() {
        assert_eq!(
            redact_urls("http://user:pass@host:8/x?y"),
            "http://***@host:8/x?y"
        );
        assert_eq!(redact_urls("https://tok@h"), "https://***@h");
        assert_eq!(redact_urls("https://pypi.org"), "https://pypi.org");
        assert_eq!(
            redact_urls("a http://u:p@a/ and https://b/c@d e"),
            "a http://***@a/ and https://b/c@d e"
        );
        assert_eq!(
            redact_urls("-ihttps://u:TOKEN@idx/simple?page=2&access_token=TOKEN#f"),
            "-ihttps://***@idx/simple?page=2&access_token=***#f"
        );
        assert_eq!(
            redact_urls("x @ https://h/f.whl?X-Amz-Signature=TOKEN&X-Amz-Credential=TOKEN"),
            "x @ https://h/f.whl?X-Amz-Signature=***&X-Amz-Credential=***"
        );
        assert_eq!(
            redact_urls("git+https://TOKEN@github.com/o/r.git@v1"),
            "git+https://***@github.com/o/r.git@v1"
        );
        assert_eq!(redact_urls("no url"), "no url");
        assert!(!redact_urls("'https://a:TOKEN@h/'").contains("TOKEN"));
    }

    #[test]
    fn an_excerpt_is_short_without_controls_or_secrets() {
        let body = format!(
            "<html>\x1b[31m\r\nsee https://u:TOKEN@h/x?token=TOKEN {}",
            "a".repeat(10_000)
        );
        let e = excerpt(&body);
        assert!(e.chars().count() <= EXCERPT_MAX_CHARS + 1, "{e}");
        assert!(
            !e.contains("TOKEN") && !e.chars().any(char::is_control),
            "{e}"
        );
        assert!(
            e.starts_with("<html>[31msee https://***@h/x?token=***"),
            "{e}"
        );
        assert_eq!(excerpt("short"), "short");
    }
}
