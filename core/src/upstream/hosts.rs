//! The one rule for where a URL found in an upstream's document (a file in a release's
//! listing, a wheel on a Simple page and its PEP 658 metadata file) may be fetched
//! from: the index's own hosts (the JSON and Simple API origins, on their ports) and
//! the configured files hosts (`download.allowed_hosts`, PyPI's files host by default;
//! any port unless one is given). http(s) only, never with credentials in the URL.
//!
//! Why: an index page is untrusted input, and a URL in it otherwise makes the engine
//! request any host it names (an internal service, a cloud metadata endpoint) and
//! report what came back. Downloads and metadata fetches use this same check.

use url::Url;

use crate::model::untrusted::redact_urls;

/// A URL the rule refused, in words fit for an answer (credentials redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRefused {
    /// The URL, redacted and cut.
    pub url: String,
    /// Its host (with `:port` when not the scheme's default), or its scheme when it
    /// has no host.
    pub host: String,
    /// The hosts allowed.
    pub allowed: Vec<String>,
}

impl std::fmt::Display for HostRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is on host {}, which is neither the index's nor one of download.allowed_hosts ({})",
            self.url,
            self.host,
            self.allowed.join(", ")
        )
    }
}

/// The hosts files and metadata may come from, drawn once from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHosts {
    /// `host[:port]` of the JSON and Simple API base URLs (same port only).
    index: Vec<String>,
    /// `download.allowed_hosts`: any port unless one is given.
    files: Vec<String>,
}

/// Host (with `:port` when not the scheme's default) of a URL.
fn authority(u: &Url) -> Option<String> {
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

impl FileHosts {
    /// The rule for an index at `index_bases` (the JSON and Simple API base URLs) and
    /// the files hosts `files` (`download.allowed_hosts`).
    pub fn new(index_bases: &[&str], files: &[String]) -> Self {
        let mut index: Vec<String> = index_bases
            .iter()
            .filter_map(|u| Url::parse(u).ok())
            .filter_map(|u| authority(&u))
            .map(|a| a.to_ascii_lowercase())
            .collect();
        index.dedup();
        FileHosts {
            index,
            files: files.to_vec(),
        }
    }

    /// Every host allowed, for messages.
    pub fn allowed(&self) -> Vec<String> {
        let mut all = self.index.clone();
        for h in &self.files {
            if !all.contains(h) {
                all.push(h.clone());
            }
        }
        all
    }

    /// `listed` (absolute, or relative to `base`) resolved, when it may be fetched.
    pub fn resolve(&self, base: &Url, listed: &str) -> Result<Url, HostRefused> {
        let url = base.join(listed).map_err(|_| HostRefused {
            url: crate::model::clip_echo(&redact_urls(listed)),
            host: "(not a URL)".into(),
            allowed: self.allowed(),
        })?;
        self.check(&url)?;
        Ok(url)
    }

    /// Whether `url` may be fetched: the rule of the module docs.
    pub fn check(&self, url: &Url) -> Result<(), HostRefused> {
        let here = authority(url).unwrap_or_default().to_ascii_lowercase();
        let host = url.host_str().unwrap_or_default();
        let ok = matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none()
            && !here.is_empty()
            && (self.index.contains(&here)
                || self.files.iter().any(|h| {
                    h.eq_ignore_ascii_case(&here)
                        || (!h.contains(':') && h.eq_ignore_ascii_case(host))
                }));
        if ok {
            return Ok(());
        }
        Err(HostRefused {
            url: crate::model::clip_echo(&redact_urls(url.as_str())),
            host: if here.is_empty() {
                url.scheme().to_string()
            } else {
                here
            },
            allowed: self.allowed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> (FileHosts, Url) {
        let files = [
            "files.pythonhosted.org".into(),
            "mirror.example:8443".into(),
        ];
        (
            FileHosts::new(&["http://127.0.0.1:8080", "http://127.0.0.1:8080"], &files),
            Url::parse("http://127.0.0.1:8080/simple/x/").unwrap(),
        )
    }

    #[test]
    fn only_the_index_hosts_and_the_allowed_hosts_are_fetched_from() {
        let (hosts, base) = rule();
        let ok = |u: &str| hosts.resolve(&base, u).map(|u| u.to_string());
        assert_eq!(
            ok("../../files/x.whl").unwrap(),
            "http://127.0.0.1:8080/files/x.whl"
        );
        assert!(ok("https://files.pythonhosted.org/packages/aa/x.whl").is_ok());
        assert!(ok("https://FILES.pythonhosted.org/packages/aa/x.whl").is_ok());
        assert!(ok("https://mirror.example:8443/x.whl").is_ok());
        let refused = |u: &str| hosts.resolve(&base, u).unwrap_err();
        assert_eq!(refused("https://evil.example/x.whl").host, "evil.example");
        assert_eq!(
            refused("https://mirror.example/x.whl").host,
            "mirror.example"
        );
        // The index host on another port is another server; so is another loopback.
        assert_eq!(
            refused("http://127.0.0.1:9999/x.whl").host,
            "127.0.0.1:9999"
        );
        assert_eq!(
            refused("http://127.0.0.2:8080/x.whl").host,
            "127.0.0.2:8080"
        );
        assert_eq!(
            refused("http://169.254.169.254/latest/").host,
            "169.254.169.254"
        );
        assert_eq!(refused("file:///etc/passwd").host, "file");
        assert_eq!(refused("//evil.example/x.whl").host, "evil.example");
    }

    #[test]
    fn a_refused_url_with_credentials_is_named_without_them() {
        let (hosts, base) = rule();
        let e = hosts
            .resolve(
                &base,
                "https://user:pw@files.pythonhosted.org/x.whl?token=TOKEN",
            )
            .unwrap_err();
        assert_eq!(e.host, "files.pythonhosted.org");
        let words = e.to_string();
        assert!(!words.contains("pw") && !words.contains("TOKEN"), "{words}");
        assert!(words.contains("download.allowed_hosts"), "{words}");
    }
}
