//! pypistats.org: `/api/packages/{name}/recent|overall|python_major|python_minor|system`.

use serde::{Deserialize, Serialize};

use super::{Document, ParseError};
use crate::model::StatsKind;

/// `recent`: totals over the last day, week and month (only one with `?period=`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RecentDoc {
    /// Downloads on the last complete day.
    #[serde(default)]
    pub last_day: Option<u64>,
    /// Over the last 7 days.
    #[serde(default)]
    pub last_week: Option<u64>,
    /// Over the last 30 days.
    #[serde(default)]
    pub last_month: Option<u64>,
}

/// One point of a daily series.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SeriesPoint {
    /// `with_mirrors`/`without_mirrors`, a Python version, an OS, or `null`.
    #[serde(default, deserialize_with = "category")]
    pub category: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Downloads that day.
    pub downloads: u64,
}

/// A daily series (`overall` and the breakdowns).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SeriesDoc {
    /// The package as pypistats names it.
    pub package: String,
    /// `overall_downloads`, `python_major_downloads`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The points, ordered by category then date.
    pub data: Vec<SeriesPoint>,
}

/// The category pypistats writes as the string `"null"`; a JSON `null` reads the same.
fn category<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(|| "null".into()))
}

#[derive(Deserialize)]
struct RecentWire {
    data: RecentDoc,
}

/// Parses a body of the endpoint `kind`.
pub fn parse(kind: StatsKind, body: &[u8]) -> Result<Document, ParseError> {
    Ok(match kind {
        StatsKind::Recent => Document::Recent(serde_json::from_slice::<RecentWire>(body)?.data),
        _ => Document::Series(serde_json::from_slice(body)?),
    })
}

impl SeriesDoc {
    /// Approximate heap size.
    pub fn approx_bytes(&self) -> usize {
        64 + self.data.len() * 72
    }

    /// The daily points of one category, ascending by date.
    pub fn category(&self, name: &str) -> Vec<&SeriesPoint> {
        let mut pts: Vec<&SeriesPoint> = self.data.iter().filter(|p| p.category == name).collect();
        pts.sort_by(|a, b| a.date.cmp(&b.date));
        pts
    }

    /// The series counting downloads the way `recent` does: `without_mirrors` when
    /// present (pypistats' default), else every point summed per date.
    pub fn daily_totals(&self) -> Vec<(String, u64)> {
        let without = self.category("without_mirrors");
        if !without.is_empty() {
            return without
                .iter()
                .map(|p| (p.date.clone(), p.downloads))
                .collect();
        }
        let mut by_date = std::collections::BTreeMap::<&str, u64>::new();
        for p in &self.data {
            *by_date.entry(p.date.as_str()).or_default() += p.downloads;
        }
        by_date
            .into_iter()
            .map(|(d, n)| (d.to_string(), n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_with_one_period_keeps_the_others_empty() {
        let doc = parse(
            StatsKind::Recent,
            br#"{"data":{"last_week":70},"package":"x","type":"recent_downloads"}"#,
        )
        .unwrap();
        let Document::Recent(r) = doc else {
            panic!("not recent")
        };
        assert_eq!(
            (r.last_day, r.last_week, r.last_month),
            (None, Some(70), None)
        );
    }

    #[test]
    fn series_reads_null_categories_and_sorts_by_date() {
        let body = br#"{"data":[{"category":"null","date":"2026-01-02","downloads":1},{"category":null,"date":"2026-01-01","downloads":2},{"category":"3","date":"2026-01-01","downloads":5}],"package":"x","type":"python_major_downloads"}"#;
        let Document::Series(s) = parse(StatsKind::PythonMajor, body).unwrap() else {
            panic!()
        };
        let nulls = s.category("null");
        assert_eq!(
            nulls.iter().map(|p| p.downloads).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!(
            s.daily_totals(),
            vec![("2026-01-01".into(), 7), ("2026-01-02".into(), 1)]
        );
    }

    #[test]
    fn drifted_bodies_are_refused() {
        assert!(parse(StatsKind::Recent, br#"{"package":"x"}"#).is_err());
        assert!(
            parse(
                StatsKind::Overall,
                br#"{"data":null,"package":"x","type":"t"}"#
            )
            .is_err()
        );
        assert!(parse(StatsKind::Overall, br#"{"package":"x","type":"t"}"#).is_err());
    }
}
