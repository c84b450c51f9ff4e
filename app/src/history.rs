//! The history API's wire types: what `GET /api/v1/hosts/{host}/series…` answers and the
//! host page reads. A leaf: it imports nothing of the crate.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/hosts/{host}/series`: the host's series names, sorted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesList {
    pub host: String,
    pub series: Vec<String>,
}

/// Where a query's points come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// The samples as they were written.
    #[serde(rename = "raw")]
    Raw,
    /// One point per minute: min, max, average and last of the samples in it.
    #[serde(rename = "1m")]
    Minute,
    /// One point per hour.
    #[serde(rename = "1h")]
    Hour,
}

impl Tier {
    /// The width of one point, in milliseconds (raw points have none: 0).
    pub fn width_ms(self) -> i64 {
        match self {
            Self::Raw => 0,
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
        }
    }
}

/// One point of a history answer. On the wire: `[ts_ms, value]` for raw samples and
/// `[ts_ms, value, min, max]` for points that stand for several samples, where `value`
/// is their average and `ts_ms` the start of their bucket.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HistoryPoint {
    Raw(i64, f64),
    Rolled(i64, f64, f64, f64),
}

impl HistoryPoint {
    pub fn ts(self) -> i64 {
        match self {
            Self::Raw(ts, _) | Self::Rolled(ts, ..) => ts,
        }
    }

    pub fn value(self) -> f64 {
        match self {
            Self::Raw(_, v) | Self::Rolled(_, v, ..) => v,
        }
    }

    /// The lowest and highest sample the point stands for.
    pub fn range(self) -> (f64, f64) {
        match self {
            Self::Raw(_, v) => (v, v),
            Self::Rolled(_, _, min, max) => (min, max),
        }
    }
}

/// `GET /api/v1/hosts/{host}/series/{series}?from=&to=&step=`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesHistory {
    pub series: String,
    /// Seconds per point; 0 for raw samples, which come as they were written.
    pub step: u64,
    pub tier: Tier,
    pub from: i64,
    pub to: i64,
    pub points: Vec<HistoryPoint>,
}

/// The range control of the host page, as it appears in the URL (`?range=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Range {
    Live,
    Hour,
    SixHours,
    Day,
    Week,
    Month,
}

impl Range {
    pub const ALL: [Range; 6] = [
        Self::Live,
        Self::Hour,
        Self::SixHours,
        Self::Day,
        Self::Week,
        Self::Month,
    ];

    /// The label on the button, and the value in the URL (lower-cased).
    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "Live",
            Self::Hour => "1h",
            Self::SixHours => "6h",
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.label().eq_ignore_ascii_case(s))
    }

    /// How far back the range reaches, in milliseconds; `Live` shows the recent window.
    pub fn span_ms(self) -> i64 {
        const HOUR: i64 = 3_600_000;
        match self {
            Self::Live => 5 * 60_000,
            Self::Hour => HOUR,
            Self::SixHours => 6 * HOUR,
            Self::Day => 24 * HOUR,
            Self::Week => 7 * 24 * HOUR,
            Self::Month => 30 * 24 * HOUR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_points_are_pairs_and_rolled_up_points_carry_min_and_max() {
        let points = vec![
            HistoryPoint::Raw(1_000, 1.5),
            HistoryPoint::Rolled(60_000, 2.0, 1.0, 3.0),
        ];
        let text = serde_json::to_string(&points).unwrap();
        assert_eq!(text, "[[1000,1.5],[60000,2.0,1.0,3.0]]");
        assert_eq!(
            serde_json::from_str::<Vec<HistoryPoint>>(&text).unwrap(),
            points
        );
        assert_eq!(serde_json::to_string(&Tier::Minute).unwrap(), r#""1m""#);
    }

    #[test]
    fn ranges_read_back_from_their_labels() {
        for range in Range::ALL {
            assert_eq!(Range::parse(range.label()), Some(range));
        }
        assert_eq!(Range::parse("live"), Some(Range::Live));
        assert_eq!(Range::parse("2d"), None);
    }
}
