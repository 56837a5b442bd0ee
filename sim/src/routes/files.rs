//! `GET /files/{name}/{filename}`: a synthetic graph project's distribution file, or
//! the PEP 658 metadata file (`{wheel}.metadata`) of one of its wheels, where the
//! index profile has metadata files. A single byte range (`Range: bytes=A-B`, `A-` or
//! `-N`) is answered `206` with that part, unless the profile ignores `Range`.

use http::StatusCode;

use crate::data::etag_of;
use crate::routes::{Req, Resp};
use crate::server::Shared;

fn not_found() -> Resp {
    Resp::new(StatusCode::NOT_FOUND, "text/plain", "404 Not Found")
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// No range, or one the server may ignore (several ranges, another unit, bad
    /// syntax): the whole body.
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A range that starts past the end: `416`.
    Unsatisfiable,
}

fn wanted(header: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Wanted::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        // `-N`: the last N bytes.
        (true, false) => b.parse::<u64>().ok().map(|n| {
            if n == 0 {
                (len, len)
            } else {
                (len.saturating_sub(n), len.saturating_sub(1))
            }
        }),
        (false, true) => a.parse::<u64>().ok().map(|s| (s, len.saturating_sub(1))),
        (false, false) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => Some((s, e.min(len.saturating_sub(1)))),
            _ => None,
        },
        (true, true) => None,
    };
    match parsed {
        None => Wanted::Whole,
        Some((start, _)) if start >= len => Wanted::Unsatisfiable,
        Some((start, end)) => Wanted::Part(start, end),
    }
}

/// The body of an immutable file, whole or the part asked for.
fn immutable(body: Vec<u8>, range: Option<&str>, honour_range: bool) -> Resp {
    let etag = etag_of(&body);
    let len = body.len() as u64;
    let base = |status, part: Vec<u8>| {
        let r = Resp::new(status, "application/octet-stream", part)
            .with_header("cache-control", "max-age=365000000, immutable, public")
            .with_etag(&etag);
        if honour_range {
            r.with_header("accept-ranges", "bytes")
        } else {
            r
        }
    };
    if !honour_range {
        return base(StatusCode::OK, body);
    }
    match wanted(range, len) {
        Wanted::Whole => base(StatusCode::OK, body),
        Wanted::Part(start, end) => {
            let part = body[start as usize..=end as usize].to_vec();
            base(StatusCode::PARTIAL_CONTENT, part)
                .with_header("content-range", &format!("bytes {start}-{end}/{len}"))
        }
        Wanted::Unsatisfiable => Resp::new(StatusCode::RANGE_NOT_SATISFIABLE, "text/plain", "")
            .with_header("content-range", &format!("bytes */{len}")),
    }
}

/// `GET /files/{name}/{filename}`.
pub(crate) fn file(shared: &Shared, name: &str, filename: &str, req: &Req<'_>) -> Resp {
    let Some(p) = shared.catalog.project(name) else {
        return not_found();
    };
    let Some(g) = p.graph.as_ref() else {
        return not_found();
    };
    let profile = shared.cfg.index_profile;
    let range = req.header("range");
    if let Some(wheel) = filename.strip_suffix(".metadata") {
        return match g.file_served_as(wheel) {
            Some((r, f)) if profile.has_metadata_files() && g.has_metadata_file(&f) => {
                immutable(g.metadata(r).into_bytes(), range, profile.honours_range())
            }
            _ => not_found(),
        };
    }
    match g.file_served_as(filename) {
        Some((r, f)) => immutable(g.file_bytes(r, &f), range, profile.honours_range()),
        None => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-9"), 100), Wanted::Part(0, 9));
        assert_eq!(wanted(Some("bytes=90-"), 100), Wanted::Part(90, 99));
        assert_eq!(wanted(Some("bytes=-10"), 100), Wanted::Part(90, 99));
        assert_eq!(wanted(Some("bytes=-1000"), 100), Wanted::Part(0, 99));
        assert_eq!(wanted(Some("bytes=50-1000"), 100), Wanted::Part(50, 99));
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-1,5-6"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("items=0-1"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=9-2"), 100), Wanted::Whole);
    }
}
