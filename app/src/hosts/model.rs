//! The host page's logic, apart from the view: the range in the URL, the window it
//! covers, how series group under headings, and how live points join the history.

use crate::{dashboard::format::DateTime, history::HistoryPoint, history::Range, live::Point};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The longest custom range the page asks for.
const MAX_CUSTOM_MS: i64 = 400 * 24 * 3_600_000;

/// The time range a host page shows, as in its URL: `?range=24h`, or `?from=…&to=…`
/// (epoch ms, or `2025-01-31T13:05` in UTC as a form without JavaScript sends it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RangeSpec {
    Preset(Range),
    Custom { from: i64, to: i64 },
}

impl Default for RangeSpec {
    fn default() -> Self {
        Self::Preset(Range::Live)
    }
}

/// Epoch milliseconds, or a `datetime-local` value read as UTC.
pub fn parse_instant(s: &str) -> Option<i64> {
    s.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| DateTime::parse_input(s.trim()).map(DateTime::to_ms))
}

impl RangeSpec {
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Self {
        let instant = |k: &str| get(k).as_deref().and_then(parse_instant);
        if let (Some(from), Some(to)) = (instant("from"), instant("to")) {
            if let Some(custom) = Self::custom(from, to) {
                return custom;
            }
        }
        get("range")
            .and_then(|r| Range::parse(&r))
            .map_or_else(Self::default, Self::Preset)
    }

    /// A custom range, if it is one: `from` before `to`, and not absurdly long.
    pub fn custom(from: i64, to: i64) -> Option<Self> {
        (from < to && to - from <= MAX_CUSTOM_MS).then_some(Self::Custom { from, to })
    }

    /// The URL's query part, with its `?`; empty for `Live`, the default.
    pub fn to_search(self) -> String {
        match self {
            Self::Preset(Range::Live) => String::new(),
            Self::Preset(range) => format!("?range={}", range.label().to_lowercase()),
            Self::Custom { from, to } => format!("?from={from}&to={to}"),
        }
    }

    pub fn is_live(self) -> bool {
        self == Self::Preset(Range::Live)
    }

    /// The window shown at `now` (ms): presets end now, a custom range is what it says.
    pub fn window(self, now: i64) -> (i64, i64) {
        match self {
            Self::Preset(range) => (now - range.span_ms(), now),
            Self::Custom { from, to } => (from, to),
        }
    }

    /// The step to ask the history for: about 720 points per chart, whatever the span;
    /// none (every sample) for the live window.
    pub fn step_secs(self, now: i64) -> Option<u64> {
        if self.is_live() {
            return None;
        }
        let (from, to) = self.window(now);
        let secs = (to - from) / 1000 / 720;
        (secs > 1).then_some(secs as u64)
    }

    /// What the range arguments of the history server function are.
    pub fn to_args(self) -> (Option<String>, Option<i64>, Option<i64>) {
        match self {
            Self::Preset(range) => (Some(range.label().to_lowercase()), None, None),
            Self::Custom { from, to } => (None, Some(from), Some(to)),
        }
    }

    pub fn from_args(range: Option<String>, from: Option<i64>, to: Option<i64>) -> Self {
        match (from, to) {
            (Some(from), Some(to)) => Self::custom(from, to).unwrap_or_default(),
            _ => range
                .as_deref()
                .and_then(Range::parse)
                .map_or_else(Self::default, Self::Preset),
        }
    }
}

/// The group a series belongs to: the part of its name before the first dot.
pub fn group_of(series: &str) -> &str {
    series.split('.').next().unwrap_or(series)
}

/// Built-in groups first, in this order; custom prefixes after them, by name.
const BUILT_IN: [&str; 5] = ["cpu", "mem", "load", "net", "disk"];

/// The series grouped under their prefixes: built-in groups first, then custom ones by
/// name; inside a group, aggregates (`cpu.total`, fewer dots) before details
/// (`cpu.core.0`), and numbers in names in numeric order (`core.2` before `core.10`).
pub fn group_series<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_by(|a, b| {
        let rank = |s: &str| {
            let g = group_of(s);
            BUILT_IN
                .iter()
                .position(|b| *b == g)
                .unwrap_or(BUILT_IN.len())
        };
        rank(a)
            .cmp(&rank(b))
            .then_with(|| group_of(a).cmp(group_of(b)))
            .then_with(|| a.matches('.').count().cmp(&b.matches('.').count()))
            .then_with(|| natural_cmp(a, b))
    });
    names.dedup();
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for name in names {
        match groups.last_mut() {
            Some((g, members)) if g == group_of(name) => members.push(name.to_string()),
            _ => groups.push((group_of(name).to_string(), vec![name.to_string()])),
        }
    }
    groups
}

/// Compares names with their runs of digits as numbers.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (
                    std::str::from_utf8(&a[..da])
                        .unwrap_or("0")
                        .trim_start_matches('0'),
                    std::str::from_utf8(&b[..db])
                        .unwrap_or("0")
                        .trim_start_matches('0'),
                );
                let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if o != Ordering::Equal {
                    return o;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// Adds live points to a series in timestamp order (a point at a timestamp already held
/// replaces it) and forgets the points older than `keep_from`.
pub fn merge_points(series: &mut Vec<HistoryPoint>, points: &[Point], keep_from: i64) {
    for &(ts, v) in points {
        let point = HistoryPoint::Raw(ts, v);
        match series.last() {
            Some(last) if last.ts() >= ts => match series.binary_search_by_key(&ts, |p| p.ts()) {
                Ok(i) => series[i] = point,
                Err(i) => series.insert(i, point),
            },
            _ => series.push(point),
        }
    }
    let old = series.partition_point(|p| p.ts() < keep_from);
    series.drain(..old);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(search: &str) -> RangeSpec {
        let map: HashMap<&str, &str> = search
            .trim_start_matches('?')
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        RangeSpec::parse(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn ranges_survive_the_url() {
        assert_eq!(parse(""), RangeSpec::Preset(Range::Live));
        assert_eq!(RangeSpec::default().to_search(), "");
        for range in Range::ALL {
            let spec = RangeSpec::Preset(range);
            assert_eq!(parse(&spec.to_search()), spec);
            let (r, f, t) = spec.to_args();
            assert_eq!(RangeSpec::from_args(r, f, t), spec);
        }
        assert_eq!(RangeSpec::Preset(Range::Day).to_search(), "?range=24h");
        let custom = RangeSpec::Custom {
            from: 1_000,
            to: 90_000,
        };
        assert_eq!(custom.to_search(), "?from=1000&to=90000");
        assert_eq!(parse(&custom.to_search()), custom);
        let (r, f, t) = custom.to_args();
        assert_eq!(RangeSpec::from_args(r, f, t), custom);
    }

    #[test]
    fn custom_ranges_read_times_as_a_form_sends_them_and_refuse_nonsense() {
        assert_eq!(
            parse("from=2025-01-01T10:00&to=2025-01-01T12:30"),
            RangeSpec::Custom {
                from: 1_735_725_600_000,
                to: 1_735_734_600_000
            }
        );
        // Backwards, empty or endless: the default view instead.
        assert_eq!(parse("from=5000&to=1000"), RangeSpec::default());
        assert_eq!(
            parse("from=&to=1000&range=6h"),
            RangeSpec::Preset(Range::SixHours)
        );
        assert_eq!(parse("from=0&to=99999999999999"), RangeSpec::default());
        assert_eq!(parse("range=2d"), RangeSpec::default());
    }

    #[test]
    fn windows_end_now_for_presets_and_steps_keep_charts_to_hundreds_of_points() {
        let now = 100 * 24 * 3_600_000;
        assert_eq!(
            RangeSpec::Preset(Range::Hour).window(now),
            (now - 3_600_000, now)
        );
        assert_eq!(RangeSpec::Custom { from: 5, to: 9 }.window(now), (5, 9));
        assert_eq!(RangeSpec::default().step_secs(now), None);
        assert_eq!(RangeSpec::Preset(Range::Hour).step_secs(now), Some(5));
        assert_eq!(RangeSpec::Preset(Range::Day).step_secs(now), Some(120));
    }

    #[test]
    fn series_group_by_prefix_built_ins_first() {
        let groups = group_series([
            "app.queue_depth",
            "net.eth0.rx",
            "cpu.core.10",
            "cpu.core.2",
            "cpu.total",
            "mem.used_pct",
            "net.rx",
            "load.1",
            "zz",
            "app.errors",
            "disk.read",
        ]);
        let flat: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|(g, s)| (g.as_str(), s.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            flat,
            vec![
                ("cpu", vec!["cpu.total", "cpu.core.2", "cpu.core.10"]),
                ("mem", vec!["mem.used_pct"]),
                ("load", vec!["load.1"]),
                ("net", vec!["net.rx", "net.eth0.rx"]),
                ("disk", vec!["disk.read"]),
                ("app", vec!["app.errors", "app.queue_depth"]),
                ("zz", vec!["zz"]),
            ]
        );
    }

    #[test]
    fn live_points_join_in_order_and_old_ones_go() {
        let mut s = vec![HistoryPoint::Raw(10, 1.0), HistoryPoint::Raw(30, 3.0)];
        merge_points(&mut s, &[(40, 4.0), (20, 2.0), (30, 3.5)], 0);
        let ts: Vec<i64> = s.iter().map(|p| p.ts()).collect();
        assert_eq!(ts, [10, 20, 30, 40]);
        assert_eq!(s[2], HistoryPoint::Raw(30, 3.5));
        merge_points(&mut s, &[(50, 5.0)], 25);
        let ts: Vec<i64> = s.iter().map(|p| p.ts()).collect();
        assert_eq!(ts, [30, 40, 50]);
    }
}
