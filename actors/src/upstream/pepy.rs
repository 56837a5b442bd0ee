//! pepy.tech API v2: `/api/v2/projects/{name}` (needs an API key).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A pepy project: all-time total and per-day, per-version downloads (~90 days).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PepyDoc {
    /// The project.
    pub id: String,
    /// All-time downloads.
    pub total_downloads: u64,
    /// Versions, in version order.
    #[serde(default)]
    pub versions: Vec<String>,
    /// `YYYY-MM-DD` -> version -> downloads.
    #[serde(default)]
    pub downloads: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Parses a project body.
pub fn parse(body: &[u8]) -> Result<PepyDoc, serde_json::Error> {
    serde_json::from_slice(body)
}

impl PepyDoc {
    /// Approximate heap size.
    pub fn approx_bytes(&self) -> usize {
        128 + self.versions.iter().map(|v| v.len() + 24).sum::<usize>()
            + self
                .downloads
                .values()
                .map(|m| 48 + m.len() * 48)
                .sum::<usize>()
    }

    /// Downloads per day (all versions), ascending by date.
    pub fn daily_totals(&self) -> Vec<(String, u64)> {
        self.downloads
            .iter()
            .map(|(d, m)| (d.clone(), m.values().sum()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_versions_per_day() {
        let d = parse(br#"{"downloads":{"2026-01-02":{"1.0":3,"2.0":4},"2026-01-01":{"1.0":1}},"id":"x","total_downloads":100,"versions":["1.0","2.0"]}"#).unwrap();
        assert_eq!(
            d.daily_totals(),
            vec![("2026-01-01".into(), 1), ("2026-01-02".into(), 7)]
        );
        assert!(
            parse(br#"{"id":"x","versions":[]}"#).is_err(),
            "total_downloads is required"
        );
    }
}
