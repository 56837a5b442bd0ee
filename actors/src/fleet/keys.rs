//! The only place Redis keys are spelled: `<ns>:v1:...`, with the upstream's stable
//! name and a fingerprint of its base URL, so a private index and public PyPI (or two
//! pepy keys) never share documents or quota.

use sha2::{Digest, Sha256};

use sentinel_core::model::Upstream;

/// 64 bits of SHA-256 of the base URL, hex.
pub(crate) fn fingerprint(base_url: &str) -> String {
    let d = Sha256::digest(base_url.trim_end_matches('/').as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Keys of one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    ns: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str) -> Self {
        Keys {
            ns: format!("{namespace}:v1"),
        }
    }

    /// The strict-window logs of an upstream, one per window; one hash tag so one
    /// script may touch them together on a cluster.
    pub(crate) fn quota(&self, up: Upstream, base_url: &str, window: usize) -> String {
        format!(
            "{}:{{lim:{}:{}}}:w{window}",
            self.ns,
            up.as_str(),
            fingerprint(base_url)
        )
    }

    /// The probe lease of an upstream's breakers: the replica that probes this open
    /// period (`SET NX PX <open period>`).
    pub(crate) fn probe(&self, up: Upstream, base_url: &str) -> String {
        format!(
            "{}:{{probe:{}:{}}}",
            self.ns,
            up.as_str(),
            fingerprint(base_url)
        )
    }

    /// Every replica's breaker state of one upstream (`breakers.rs`); `origin` is the
    /// base URL's fingerprint.
    pub(crate) fn breakers(&self, up: Upstream, origin: &str) -> String {
        format!("{}:breakers:{}:{origin}", self.ns, up.as_str())
    }

    /// The fleet's requests to one upstream per minute (`rates.rs`): a hash, field =
    /// minute on Redis' clock; `origin` is the base URL's fingerprint.
    pub(crate) fn stats(&self, up: Upstream, origin: &str) -> String {
        format!("{}:stats:{}:{origin}", self.ns, up.as_str())
    }

    /// A legacy MCP session's `initialize` parameters. `id` is hashed: it comes from
    /// the client's `Mcp-Session-Id` header.
    pub(crate) fn mcp_session(&self, id: &str) -> String {
        let d = Sha256::digest(id.as_bytes());
        let h: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:mcp:session:{h}", self.ns)
    }

    /// The Redis stream of one SSE stream's events (`sse.rs`); `tag` is already a hash.
    pub(crate) fn mcp_sse(&self, tag: &str) -> String {
        format!("{}:mcp:sse:{tag}", self.ns)
    }

    /// The pub/sub channel of `filled` events (`events.rs`).
    pub(crate) fn events(&self) -> String {
        format!("{}:events", self.ns)
    }

    /// The replica registry (sorted set: id -> last heartbeat, Redis ms).
    pub(crate) fn replicas(&self) -> String {
        format!("{}:replicas", self.ns)
    }

    /// A random id set once: a changed epoch means Redis was flushed or replaced.
    pub(crate) fn epoch(&self) -> String {
        format!("{}:epoch", self.ns)
    }

    /// When `refresh_cache` last marked a package's documents (or, with `None`,
    /// every document) stale: Redis ms. A copy fetched at or before it is stale.
    pub(crate) fn invalidated(&self, package: Option<&str>) -> String {
        match package {
            Some(p) => format!("{}:inv:{p}", self.ns),
            None => format!("{}:inv:*", self.ns),
        }
    }

    /// The stream of invalidations every replica reads.
    pub(crate) fn invalidations(&self) -> String {
        format!("{}:invalidations", self.ns)
    }

    /// A document in L2. `doc` is the query's stable key (already redacted of
    /// credentials by the caller); hashed so no client string becomes a key verbatim.
    pub(crate) fn doc(&self, up: Upstream, base_url: &str, doc: &str) -> String {
        let d = Sha256::digest(doc.as_bytes());
        let h: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}:doc:{}:{}:{h}",
            self.ns,
            up.as_str(),
            fingerprint(base_url)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_index_and_pypi_never_share_a_key() {
        let k = Keys::new("ns");
        let a = k.doc(Upstream::PypiJson, "https://pypi.org", "numpy");
        let b = k.doc(Upstream::PypiJson, "https://pypi.internal", "numpy");
        assert_ne!(a, b);
        assert!(a.starts_with("ns:v1:doc:"), "{a}");
        assert_eq!(
            k.quota(Upstream::Pypistats, "https://pypistats.org/", 0),
            k.quota(Upstream::Pypistats, "https://pypistats.org", 0)
        );
        assert_ne!(
            k.quota(Upstream::Pypistats, "https://a", 0),
            k.quota(Upstream::Pypistats, "https://b", 0)
        );
    }
}
