//! The one place that words provenance, for every front end: the MCP text, the CLI's
//! table cells and notes, and the demo. (There were three describers, and they drifted.)
//! Failures are worded by the engine itself (`QueryError::reason` / `suggestion`).

use sentinel_actors::{Datum, Provenance};

use crate::text::{age, age_short};

/// The sentence form, for MCP text: `live from pypi-json`, `cached from pypistats, 5
/// min old`, `stale, 3 h old: <why>`, `estimated: <basis>; confidence high`,
/// `unavailable: <why>; <what to do>`. A download figure adds the date of its data
/// (`; data as of 2026-11-29`; an estimate's basis already says it) and, when the
/// upstream lags, the sentence saying so ([`lag`]).
pub fn sentence<T>(d: &Datum<T>) -> String {
    let mut s = sentence_of(&d.provenance, d.age_secs, &d.upstream.to_string());
    if let Some(a) = &d.data_as_of {
        if !matches!(d.provenance, Provenance::Estimated { .. }) {
            s.push_str("; ");
            s.push_str(&a.words());
        }
        if let Some(lag) = lag(d) {
            s.push_str("; ");
            s.push_str(&lag);
        }
    }
    s
}

/// `data as of 2026-11-29` for a download figure whose data has a date.
pub fn data_date<T>(d: &Datum<T>) -> Option<String> {
    d.data_as_of.as_ref().map(|a| a.words())
}

/// When the upstream's data is lagging: `pypistats' data is lagging: its newest day,
/// 2026-11-26, is 4 days old (normally 1)`.
pub fn lag<T>(d: &Datum<T>) -> Option<String> {
    d.data_as_of
        .as_ref()
        .and_then(|a| a.lag_words(d.upstream.as_str()))
}

/// [`sentence`] from the parts.
pub fn sentence_of(p: &Provenance, age_secs: u64, upstream: &str) -> String {
    match p {
        Provenance::Live => format!("live from {upstream}"),
        Provenance::Revalidated => format!("live from {upstream}, revalidated"),
        Provenance::Cached => format!("cached from {upstream}, {} old", age(age_secs)),
        Provenance::Stale { reason } => format!("stale, {} old: {reason}", age(age_secs)),
        Provenance::Estimated { basis, confidence } => {
            format!("estimated: {basis}; confidence {}", confidence.as_str())
        }
        Provenance::Unavailable { reason, suggestion } => {
            format!("unavailable: {reason}; {suggestion}")
        }
    }
}

/// The short tag, for a table cell or a demo line: `live`, `cached 5m`, `stale 3h`,
/// `estimated (high)`, `unavailable`.
pub fn tag(p: &Provenance, age_secs: u64) -> String {
    match p {
        Provenance::Stale { .. } => format!("stale {}", age_short(age_secs)),
        Provenance::Estimated { confidence, .. } => format!("estimated ({})", confidence.as_str()),
        Provenance::Cached if age_secs > 0 => format!("cached {}", age_short(age_secs)),
        p => p.word().to_string(),
    }
}

/// What a tag leaves out and the reader needs (why stale, estimated from what,
/// unavailable why and what to do); `None` for live and cached.
pub fn why(p: &Provenance) -> Option<String> {
    match p {
        Provenance::Stale { reason } => Some(format!("stale because {reason}")),
        Provenance::Estimated { basis, .. } => Some(format!("estimated from {basis}")),
        Provenance::Unavailable { reason, suggestion } => {
            Some(format!("unavailable ({reason}); {suggestion}"))
        }
        _ => None,
    }
}

/// A name's dependency-confusion check in words (check's CLI and MCP text).
pub fn confusion_status(n: &sentinel_actors::views::confusion::NameConfusion) -> String {
    use sentinel_actors::views::confusion::ConfusionStatus;
    match (n.status, &n.finding) {
        (ConfusionStatus::OnBoth, Some(f)) => format!(
            "{} [PyPI: {}; extra index: {}]",
            f.words,
            sentence(&f.public),
            sentence(&f.extra)
        ),
        (ConfusionStatus::ExtraOnly, _) => {
            "only on the extra index: pip installs it from there (not flagged)".into()
        }
        (ConfusionStatus::NotOnExtra, _) => "not on the extra index: nothing to confuse".into(),
        _ => n
            .reason
            .clone()
            .unwrap_or_else(|| "not checked for confusion".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_actors::Confidence;

    #[test]
    fn every_form_says_why_when_it_is_not_live() {
        let stale = Provenance::Stale {
            reason: "pypistats answered HTTP 502".into(),
        };
        assert_eq!(
            sentence_of(&stale, 7200, "pypistats"),
            "stale, 2 h old: pypistats answered HTTP 502"
        );
        assert_eq!(tag(&stale, 7200), "stale 2h");
        assert_eq!(
            why(&stale).unwrap(),
            "stale because pypistats answered HTTP 502"
        );
        let est = Provenance::Estimated {
            basis: "the last 7 days of the daily series".into(),
            confidence: Confidence::High,
        };
        assert!(sentence_of(&est, 0, "pypistats").contains("confidence high"));
        assert_eq!(tag(&est, 0), "estimated (high)");
        assert!(why(&est).unwrap().contains("daily series"));
        assert_eq!(tag(&Provenance::Live, 0), "live");
        assert!(why(&Provenance::Live).is_none());
        assert_eq!(
            sentence_of(&Provenance::Cached, 300, "pypi-json"),
            "cached from pypi-json, 5 min old"
        );
    }
}
