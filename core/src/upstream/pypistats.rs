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

/// The calendar day type and its check live with the other date code.
pub use crate::model::date::{Day, is_date};

/// One point of a daily series, compact: the category is an index into
/// [`SeriesDoc::categories`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Index of the category in [`SeriesDoc::categories`].
    pub category: u16,
    /// The day.
    pub date: Day,
    /// Downloads that day.
    pub downloads: u64,
}

/// A daily series (`overall` and the breakdowns), as kept: each category name once,
/// and the points as numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesDoc {
    /// The package as pypistats names it.
    pub package: String,
    /// `overall_downloads`, `python_major_downloads`, ...
    pub kind: String,
    /// `with_mirrors`/`without_mirrors`, Python versions, operating systems, `null`.
    pub categories: Vec<String>,
    /// The points, ordered by category then date.
    pub data: Vec<SeriesPoint>,
}

#[derive(Deserialize)]
struct WirePoint {
    #[serde(default, deserialize_with = "category")]
    category: String,
    date: String,
    downloads: u64,
}

#[derive(Deserialize)]
struct WireSeries {
    package: String,
    #[serde(rename = "type")]
    kind: String,
    data: Vec<WirePoint>,
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
/// Most distinct categories in one series (pypistats sends a handful).
const MAX_CATEGORIES: usize = 1_000;

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
            let w: WireSeries = serde_json::from_slice(body)?;
            let points = w
                .data
                .iter()
                .map(|p| (p.category.as_str(), p.date.as_str(), p.downloads));
            let doc = SeriesDoc::from_points(w.package, w.kind, points)?;
            let package = Some(doc.package.clone());
            (Document::Series(doc), package)
        }
    })
}

impl SeriesDoc {
    /// Builds a series from `(category, date, downloads)` points, refusing dates that
    /// are not dates, absurd categories and totals past `u64`.
    pub fn from_points<'a>(
        package: String,
        kind: String,
        points: impl IntoIterator<Item = (&'a str, &'a str, u64)>,
    ) -> Result<SeriesDoc, ParseError> {
        let mut categories: Vec<String> = Vec::new();
        let mut data = Vec::new();
        let mut total: u64 = 0;
        for (category, date, downloads) in points {
            let date = Day::parse(date).ok_or_else(|| {
                ParseError::Invalid(format!(
                    "{:?} is not a YYYY-MM-DD date",
                    crate::model::clip_echo(date)
                ))
            })?;
            if category.len() > MAX_CATEGORY_LEN {
                return Err(ParseError::Invalid(format!(
                    "a category of {} characters",
                    category.len()
                )));
            }
            let index = match categories.iter().position(|c| c == category) {
                Some(i) => i,
                None if categories.len() < MAX_CATEGORIES => {
                    categories.push(category.to_string());
                    categories.len() - 1
                }
                None => {
                    return Err(ParseError::Invalid(format!(
                        "more than {MAX_CATEGORIES} categories"
                    )));
                }
            };
            total = total
                .checked_add(downloads)
                .ok_or_else(|| ParseError::Invalid("the downloads add up past 2^64".into()))?;
            data.push(SeriesPoint {
                category: index as u16,
                date,
                downloads,
            });
        }
        categories.shrink_to_fit();
        data.shrink_to_fit();
        Ok(SeriesDoc {
            package,
            kind,
            categories,
            data,
        })
    }

    /// Heap size of what is kept.
    pub fn approx_bytes(&self) -> usize {
        use super::heap::{string, strings, vec};
        super::heap::arc_document()
            + string(&self.package)
            + string(&self.kind)
            + strings(&self.categories)
            + vec(&self.data)
    }

    /// The newest day in the series (its data date), as days since 1970-01-01.
    pub fn newest_day(&self) -> Option<i64> {
        self.data.iter().map(|p| p.date).max().map(Day::epoch_day)
    }

    /// The name of a point's category.
    pub fn category_name(&self, p: &SeriesPoint) -> &str {
        self.categories
            .get(p.category as usize)
            .map_or("null", String::as_str)
    }

    /// The daily points of one category, ascending by date.
    pub fn category(&self, name: &str) -> Vec<&SeriesPoint> {
        let Some(index) = self.categories.iter().position(|c| c == name) else {
            return Vec::new();
        };
        let mut pts: Vec<&SeriesPoint> = self
            .data
            .iter()
            .filter(|p| p.category as usize == index)
            .collect();
        pts.sort_by_key(|p| p.date);
        pts
    }

    /// The series counting downloads the way `recent` does: `without_mirrors` when
    /// present (pypistats' default), else every point summed per date.
    pub fn daily_totals(&self) -> Vec<(String, u64)> {
        let without = self.category("without_mirrors");
        if !without.is_empty() {
            return without
                .iter()
                .map(|p| (p.date.to_string(), p.downloads))
                .collect();
        }
        // The total of the whole document fits in u64 (checked at parse): so does
        // every day's.
        let mut by_date = std::collections::BTreeMap::<Day, u64>::new();
        for p in &self.data {
            *by_date.entry(p.date).or_default() += p.downloads;
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
