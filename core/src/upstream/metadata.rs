//! Core metadata files (PEP 658 / 714): `{file url}.metadata`, the `METADATA` file of a
//! wheel served on its own, as pip and uv read it to resolve without downloading
//! wheels. The format is RFC 822-style headers (core metadata 1.0 to 2.4); only what a
//! resolver needs is kept: name, version, `Requires-Dist`, `Requires-Python`,
//! `Provides-Extra`. The body (the long description) is ignored.

use serde::{Deserialize, Serialize};

use super::ParseError;

/// The metadata of one release, as a resolver needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseMetadata {
    /// `Name` (as published, not normalised).
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Requires-Dist` lines (PEP 508), in order.
    #[serde(default)]
    pub requires_dist: Vec<String>,
    /// `Requires-Python`.
    #[serde(default)]
    pub requires_python: Option<String>,
    /// `Provides-Extra` lines.
    #[serde(default)]
    pub provides_extra: Vec<String>,
}

/// Largest metadata file read (real ones are a few kB; the description can make them
/// larger, and it is skipped anyway).
const MAX_HEADER_LINES: usize = 10_000;

/// Parses a core metadata file: one pass over the lines, at most
/// [`MAX_HEADER_LINES`] header lines (the body is capped by the fetch layer), nothing
/// recursive; a requirement's own parse is guarded where it happens.
pub fn parse(body: &[u8]) -> Result<ReleaseMetadata, ParseError> {
    let text = String::from_utf8_lossy(body);
    let mut name = None;
    let mut version = None;
    let mut requires_dist = Vec::new();
    let mut requires_python = None;
    let mut provides_extra = Vec::new();
    let mut current: Option<(String, String)> = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i > MAX_HEADER_LINES {
            return Err(ParseError::Invalid(
                "metadata file: too many header lines".into(),
            ));
        }
        if line.trim().is_empty() {
            break; // headers end; the body (description) follows
        }
        if line.starts_with([' ', '\t']) {
            // A continuation of the previous header (folded line).
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some(done) = current.take() {
            fields.push(done);
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(ParseError::Invalid(format!(
                "metadata file: line {} is not a header: {:?}",
                i + 1,
                crate::model::untrusted::excerpt(line)
            )));
        };
        current = Some((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    if let Some(done) = current.take() {
        fields.push(done);
    }
    for (k, v) in fields {
        match k.as_str() {
            "name" => name = Some(v),
            "version" => version = Some(v),
            "requires-dist" => requires_dist.push(v),
            "requires-python" if !v.is_empty() => requires_python = Some(v),
            "provides-extra" => provides_extra.push(v),
            _ => {}
        }
    }
    let (Some(name), Some(version)) = (name, version) else {
        return Err(ParseError::Invalid(
            "metadata file without Name or Version".into(),
        ));
    };
    Ok(ReleaseMetadata {
        name,
        version,
        requires_dist,
        requires_python,
        provides_extra,
    })
}

impl ReleaseMetadata {
    /// Heap size of what is kept.
    pub fn approx_bytes(&self) -> usize {
        use super::heap::{opt_string, string, strings};
        super::heap::arc_document()
            + string(&self.name)
            + string(&self.version)
            + strings(&self.requires_dist)
            + opt_string(&self.requires_python)
            + strings(&self.provides_extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requirements_and_skips_the_body() {
        let body = b"Metadata-Version: 2.1\nName: Sg-Web\nVersion: 1.1.0\nRequires-Python: >=3.8\nProvides-Extra: speed\nRequires-Dist: sg-http>=1.1\nRequires-Dist: sg-speedups>=1.0;\n  extra == \"speed\"\n\nRequires-Dist: not-a-header\n";
        let m = parse(body).unwrap();
        assert_eq!(m.name, "Sg-Web");
        assert_eq!(m.version, "1.1.0");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(m.provides_extra, ["speed"]);
        assert_eq!(
            m.requires_dist,
            ["sg-http>=1.1", "sg-speedups>=1.0; extra == \"speed\""]
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse(b"<html>oops</html>\n").is_err());
        assert!(parse(b"Metadata-Version: 2.1\nSummary: x\n").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn a_page_that_is_not_metadata_is_quoted_short_without_controls() {
        let body = format!("<html>\x1b]0;{}\n", "x".repeat(100_000));
        let e = parse(body.as_bytes()).unwrap_err().to_string();
        assert!(e.len() < 300 && !e.contains('\x1b'), "{e}");
    }
}
