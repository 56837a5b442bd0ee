//! How long an upstream says its answer stays fresh: its `Cache-Control` header
//! (RFC 9111 section 5.2.2), read as a private cache reads it. `max-age=N` gives the
//! freshness (clamped, so a hostile `max-age=999999999` cannot pin a copy for years);
//! `no-cache` makes every use ask again; `no-store` keeps it off disk as well.
//! `s-maxage` is for shared caches (CDNs) and is ignored. A header that cannot be read
//! is as if absent: the configured TTL stands.

use std::time::Duration;

/// What the upstream's `Cache-Control` says about a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamFreshness {
    /// No usable header: the configured TTL of the document's kind.
    #[default]
    Unsaid,
    /// Fresh for this long from when it was fetched (already clamped).
    MaxAge(Duration),
    /// `no-cache`: kept, but asked about again before each use.
    NoCache,
    /// `no-store`: kept in memory for this answer only, never on disk.
    NoStore,
}

impl UpstreamFreshness {
    /// Reads a `Cache-Control` header value, clamping `max-age` to `max`.
    pub fn parse(header: Option<&str>, max: Duration) -> UpstreamFreshness {
        let Some(header) = header else {
            return UpstreamFreshness::Unsaid;
        };
        let mut max_age = None;
        let mut no_cache = false;
        for directive in header.split(',') {
            let directive = directive.trim();
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (directive, None),
            };
            match name.to_ascii_lowercase().as_str() {
                "no-store" => return UpstreamFreshness::NoStore,
                "no-cache" => no_cache = true,
                "max-age" => {
                    // RFC 9111 5.2.2.1: delta-seconds, digits only; a second, different
                    // max-age makes the header unreadable (treated as absent).
                    let Some(secs) = value
                        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                        // Too many digits to count is "a very long time" (5.1).
                        .map(|v| v.parse::<u64>().unwrap_or(u64::MAX))
                    else {
                        return UpstreamFreshness::Unsaid;
                    };
                    if max_age.is_some_and(|m| m != secs) {
                        return UpstreamFreshness::Unsaid;
                    }
                    max_age = Some(secs);
                }
                _ => {}
            }
        }
        if no_cache {
            return UpstreamFreshness::NoCache;
        }
        match max_age {
            Some(secs) => UpstreamFreshness::MaxAge(Duration::from_secs(secs).min(max)),
            None => UpstreamFreshness::Unsaid,
        }
    }

    /// The freshness to use: the upstream's word, else `ttl`.
    pub fn fresh_for(self, ttl: Duration) -> Duration {
        match self {
            UpstreamFreshness::Unsaid => ttl,
            UpstreamFreshness::MaxAge(d) => d,
            UpstreamFreshness::NoCache | UpstreamFreshness::NoStore => Duration::ZERO,
        }
    }

    /// As kept on disk: milliseconds of freshness, `None` when unsaid.
    pub fn as_ms(self) -> Option<u64> {
        match self {
            UpstreamFreshness::Unsaid | UpstreamFreshness::NoStore => None,
            UpstreamFreshness::MaxAge(d) => Some(d.as_millis() as u64),
            UpstreamFreshness::NoCache => Some(0),
        }
    }

    /// Read back from disk.
    pub fn from_ms(ms: Option<u64>) -> UpstreamFreshness {
        match ms {
            None => UpstreamFreshness::Unsaid,
            Some(0) => UpstreamFreshness::NoCache,
            Some(ms) => UpstreamFreshness::MaxAge(Duration::from_millis(ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn p(h: &str) -> UpstreamFreshness {
        UpstreamFreshness::parse(Some(h), DAY)
    }

    #[test]
    fn pypi_headers_read_as_they_say() {
        assert_eq!(
            p("max-age=900, public"),
            UpstreamFreshness::MaxAge(Duration::from_secs(900))
        );
        assert_eq!(
            p("max-age=600, public"),
            UpstreamFreshness::MaxAge(Duration::from_secs(600))
        );
        assert_eq!(
            UpstreamFreshness::parse(None, DAY),
            UpstreamFreshness::Unsaid
        );
    }

    #[test]
    fn hostile_and_malformed_headers_are_bounded_or_ignored() {
        assert_eq!(p("max-age=999999999"), UpstreamFreshness::MaxAge(DAY));
        assert_eq!(
            p("max-age=99999999999999999999999999"),
            UpstreamFreshness::MaxAge(DAY)
        );
        for bad in [
            "max-age=-1",
            "max-age=1.5",
            "max-age=",
            "max-age",
            "max-age=1, max-age=2",
        ] {
            assert_eq!(p(bad), UpstreamFreshness::Unsaid, "{bad}");
        }
        assert_eq!(
            p("MAX-AGE=\"60\""),
            UpstreamFreshness::MaxAge(Duration::from_secs(60))
        );
        assert_eq!(p("s-maxage=60"), UpstreamFreshness::Unsaid);
        assert_eq!(
            p("public, no-cache, max-age=60"),
            UpstreamFreshness::NoCache
        );
        assert_eq!(p("max-age=60, no-store"), UpstreamFreshness::NoStore);
    }

    #[test]
    fn freshness_falls_back_to_the_ttl_and_round_trips_on_disk() {
        let ttl = Duration::from_secs(300);
        assert_eq!(UpstreamFreshness::Unsaid.fresh_for(ttl), ttl);
        assert_eq!(p("max-age=900").fresh_for(ttl), Duration::from_secs(900));
        assert_eq!(p("no-cache").fresh_for(ttl), Duration::ZERO);
        for f in [p("max-age=900"), p("no-cache"), UpstreamFreshness::Unsaid] {
            assert_eq!(UpstreamFreshness::from_ms(f.as_ms()), f);
        }
    }
}
