//! The top-pypi-packages dataset: the most-downloaded projects over 30 days.

use serde::{Deserialize, Serialize};

/// One row of the ranking.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TopRow {
    /// Project name.
    pub project: String,
    /// Downloads over the dataset's 30 days.
    pub download_count: u64,
}

/// The dataset.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TopDoc {
    /// When the dataset was built.
    #[serde(default)]
    pub last_update: Option<String>,
    /// Rows, most downloaded first.
    pub rows: Vec<TopRow>,
}

/// Parses the dataset; rows are re-sorted by count so a mirror's order cannot mislead.
pub fn parse(body: &[u8]) -> Result<TopDoc, serde_json::Error> {
    let mut doc: TopDoc = serde_json::from_slice(body)?;
    doc.rows
        .sort_by_key(|r| std::cmp::Reverse(r.download_count));
    doc.rows.shrink_to_fit();
    Ok(doc)
}

impl TopDoc {
    /// Heap size of what is kept.
    pub fn approx_bytes(&self) -> usize {
        use super::heap::{opt_string, string, vec};
        super::heap::arc_document()
            + opt_string(&self.last_update)
            + vec(&self.rows)
            + self.rows.iter().map(|r| string(&r.project)).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_ranked_by_count() {
        let d = parse(br#"{"last_update":"2026-11-01 00:00:00","rows":[{"download_count":1,"project":"b"},{"download_count":9,"project":"a"}]}"#).unwrap();
        assert_eq!(d.rows[0].project, "a");
        assert!(parse(br#"{"rows":null}"#).is_err());
    }
}
