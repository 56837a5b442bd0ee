//! pepy.tech API v2: `/api/v2/projects/{name}` (needs an API key).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// A pepy project, as kept: the all-time total and the daily totals over all versions
/// (~90 days). The per-version breakdown is summed away at parse time: no view uses it,
/// and for a popular project it is most of the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PepyDoc {
    /// The project.
    pub id: String,
    /// All-time downloads.
    pub total_downloads: u64,
    /// `(YYYY-MM-DD, downloads)`, ascending by date.
    pub daily: Vec<(String, u64)>,
}

#[derive(Deserialize)]
struct Wire {
    id: String,
    total_downloads: u64,
    #[serde(default)]
    downloads: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Parses a project body, refusing dates that are not dates and sums past `u64`.
pub fn parse(body: &[u8]) -> Result<PepyDoc, ParseError> {
    let w: Wire = serde_json::from_slice(body)?;
    let mut daily = Vec::with_capacity(w.downloads.len());
    for (date, versions) in w.downloads {
        if !super::pypistats::is_date(&date) {
            return Err(ParseError::Invalid(format!(
                "{:?} is not a YYYY-MM-DD date",
                crate::model::clip_echo(&date)
            )));
        }
        let day = versions
            .values()
            .try_fold(0u64, |acc, n| acc.checked_add(*n))
            .ok_or_else(|| ParseError::Invalid("a day's downloads add up past 2^64".into()))?;
        daily.push((date, day));
    }
    daily
        .iter()
        .try_fold(0u64, |acc, (_, n)| acc.checked_add(*n))
        .ok_or_else(|| ParseError::Invalid("the downloads add up past 2^64".into()))?;
    Ok(PepyDoc {
        id: w.id,
        total_downloads: w.total_downloads,
        daily,
    })
}

impl PepyDoc {
    /// Heap size of what is kept.
    pub fn approx_bytes(&self) -> usize {
        use super::heap::{string, vec};
        super::heap::arc_document()
            + string(&self.id)
            + vec(&self.daily)
            + self.daily.iter().map(|(d, _)| string(d)).sum::<usize>()
    }

    /// The newest day with counts (its data date), as days since 1970-01-01.
    pub fn newest_day(&self) -> Option<i64> {
        self.daily
            .iter()
            .filter_map(|(d, _)| super::pypistats::Day::parse(d))
            .max()
            .map(super::pypistats::Day::epoch_day)
    }

    /// Downloads per day (all versions), ascending by date.
    pub fn daily_totals(&self) -> Vec<(String, u64)> {
        self.daily.clone()
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
