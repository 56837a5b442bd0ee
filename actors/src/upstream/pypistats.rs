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
    #[serde(default)]
    package: Option<String>,
}

/// Longest category pypistats could send (`with_mirrors`, `3.10`, `Windows`, ...).
const MAX_CATEGORY_LEN: usize = 64;

/// Parses a body of the endpoint `kind`, refusing what cannot be true: a week with
/// fewer downloads than its last day, dates that are not dates, totals past `u64`.
/// Returns the document and the package the body says it is about.
pub fn parse(kind: StatsKind, body: &[u8]) -> Result<(Document, Option<String>), ParseError> {
    Ok(match kind {
        StatsKind::Recent => {
            let w = serde_json::from_slice::<RecentWire>(body)?;
            let r = &w.data;
            let ordered = |a: Option<u64>, b: Option<u64>| match (a, b) {
                (Some(a), Some(b)) => a <= b,
                _ => true,
            };
            if !ordered(r.last_day, r.last_week)
                || !ordered(r.last_week, r.last_month)
                || !ordered(r.last_day, r.last_month)
            {
                return Err(ParseError::Invalid(format!(
                    "inconsistent totals: last day {:?}, last week {:?}, last month {:?}",
                    r.last_day, r.last_week, r.last_month
                )));
            }
            (Document::Recent(w.data), w.package)
        }
        _ => {
            let mut doc: SeriesDoc = serde_json::from_slice(body)?;
            let mut total: u64 = 0;
            for p in &doc.data {
                if !is_date(&p.date) {
                    return Err(ParseError::Invalid(format!(
                        "{:?} is not a YYYY-MM-DD date",
                        super::clip(&p.date)
                    )));
                }
                if p.category.len() > MAX_CATEGORY_LEN {
                    return Err(ParseError::Invalid(format!(
                        "a category of {} characters",
                        p.category.len()
                    )));
                }
                total = total
                    .checked_add(p.downloads)
                    .ok_or_else(|| ParseError::Invalid("the downloads add up past 2^64".into()))?;
            }
            doc.data.shrink_to_fit();
            let package = Some(doc.package.clone());
            (Document::Series(doc), package)
        }
    })
}

/// `YYYY-MM-DD` with a plausible month and day.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|x| x.parse::<u32>().ok())
    };
    matches!(
        (num(0..4), num(5..7), num(8..10)),
        (Some(_), Some(1..=12), Some(1..=31))
    )
}

impl SeriesDoc {
    /// Heap size of what is kept.
    pub fn approx_bytes(&self) -> usize {
        use super::heap::{string, vec};
        super::heap::arc_document()
            + string(&self.package)
            + string(&self.kind)
            + vec(&self.data)
            + self
                .data
                .iter()
                .map(|p| string(&p.category) + string(&p.date))
                .sum::<usize>()
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
        let (doc, package) = parse(
            StatsKind::Recent,
            br#"{"data":{"last_week":70},"package":"x","type":"recent_downloads"}"#,
        )
        .unwrap();
        assert_eq!(package.as_deref(), Some("x"));
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
        let (Document::Series(s), _) = parse(StatsKind::PythonMajor, body).unwrap() else {
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
    fn totals_that_wrap_or_contradict_and_dates_that_are_not_dates_are_refused() {
        let wrap = format!(
            r#"{{"data":[{{"category":"x","date":"2026-01-01","downloads":{m}}},{{"category":"x","date":"2026-01-02","downloads":{m}}}],"package":"x","type":"t"}}"#,
            m = u64::MAX
        );
        assert!(matches!(
            parse(StatsKind::Overall, wrap.as_bytes()),
            Err(ParseError::Invalid(_))
        ));
        let week_below_day =
            br#"{"data":{"last_day":10,"last_week":5,"last_month":50},"package":"x"}"#;
        assert!(matches!(
            parse(StatsKind::Recent, week_below_day),
            Err(ParseError::Invalid(_))
        ));
        let not_a_date = br#"{"data":[{"category":"x","date":"yesterday!","downloads":1}],"package":"x","type":"t"}"#;
        assert!(matches!(
            parse(StatsKind::Overall, not_a_date),
            Err(ParseError::Invalid(_))
        ));
        assert!(is_date("2026-11-30") && !is_date("2026-13-01") && !is_date("2026-1-01"));
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
