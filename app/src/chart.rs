//! Line charts in hand-written SVG: scales, round ticks, a path that breaks at gaps, and
//! a cursor shared by every chart of a page.
//!
//! Why SVG by hand and not a charting library: the same code renders on the server (the
//! host page reads complete before the WASM arrives, and links open on a drawn chart),
//! it adds a few kilobytes to the WASM rather than a JavaScript dependency, and it keeps
//! the DOM small in the way uPlot does: one `<path>` per series (plus one for the min/max
//! band of rolled-up points), one for the grid, and a dozen tick labels, however many
//! points there are. The overview's thousand small traces are drawn on canvases instead.

use crate::{
    dashboard::format::{DateTime, Unit},
    history::HistoryPoint,
};
use leptos::prelude::*;
use std::ops::Range;

/// The drawing, in viewBox units; the SVG scales to its box.
pub const W: f64 = 560.0;
pub const H: f64 = 190.0;
/// Margins around the plot: room for the value labels on the left, times below.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// A linear map from a domain to a range of pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    pub fn at(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 {
            return self.r0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }

    pub fn invert(&self, px: f64) -> f64 {
        let span = self.r1 - self.r0;
        if span == 0.0 {
            return self.d0;
        }
        self.d0 + (px - self.r0) / span * (self.d1 - self.d0)
    }
}

/// The 1, 2 or 5 × 10ⁿ nearest to `raw` (on a log scale), as d3 picks tick steps.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction >= 50f64.sqrt() {
        10.0
    } else if fraction >= 10f64.sqrt() {
        5.0
    } else if fraction >= 2f64.sqrt() {
        2.0
    } else {
        1.0
    };
    nice * magnitude
}

/// A value axis: its domain (widened to round numbers) and the ticks on it.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueAxis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    /// Bytes: the power of 1024 the labels are written in (0 = B, 1 = KiB, …).
    pub power: i32,
}

/// Round ticks over `[lo, hi]`, about `target` of them; bytes get steps that are round in
/// the binary unit the labels use.
pub fn value_axis(lo: f64, hi: f64, target: usize, binary: bool) -> ValueAxis {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if hi == 0.0 && lo == 0.0 {
        (0.0, 1.0)
    } else {
        (lo - lo.abs() * 0.1, hi + hi.abs() * 0.1)
    };
    let power = if binary {
        (hi.abs().max(lo.abs()).max(1.0).log(1024.0).floor() as i32).clamp(0, 5)
    } else {
        0
    };
    let unit = 1024f64.powi(power);
    let step = nice_step((hi - lo) / unit / target.max(1) as f64) * unit;
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let ticks = (0..=((last - first) as i64).min(50))
        .map(|i| (first + i as f64) * step)
        .collect();
    ValueAxis {
        lo: first * step,
        hi: last * step,
        ticks,
        power,
    }
}

/// A value axis label: short, in the axis' unit.
pub fn axis_label(v: f64, unit: Unit, power: i32) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let trim = |v: f64| {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    match unit {
        Unit::Percent => format!("{} %", trim(v)),
        Unit::Bytes | Unit::BytesPerSec => {
            let scaled = trim(v / 1024f64.powi(power));
            let name = UNITS[power.clamp(0, 5) as usize];
            if unit == Unit::BytesPerSec {
                format!("{scaled} {name}/s")
            } else {
                format!("{scaled} {name}")
            }
        }
        Unit::Plain if v.abs() < 1e4 => trim(v),
        Unit::Plain => crate::dashboard::format::format_number(v),
    }
}

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Time ticks over `[from, to]` (ms), at most `max` of them, at round times of the clock
/// `offset_ms` ahead of UTC, with their labels: `13:05:10`, `13:05`, or a date at midnight.
pub fn time_ticks(from: i64, to: i64, offset_ms: i64, max: usize) -> Vec<(i64, String)> {
    const STEPS: [i64; 21] = [
        SECOND,
        2 * SECOND,
        5 * SECOND,
        10 * SECOND,
        15 * SECOND,
        30 * SECOND,
        MINUTE,
        2 * MINUTE,
        5 * MINUTE,
        10 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        7 * DAY,
        14 * DAY,
    ];
    if to <= from {
        return Vec::new();
    }
    let span = to - from;
    let step = STEPS
        .into_iter()
        .find(|s| span / s < max.max(1) as i64)
        .unwrap_or(30 * DAY);
    let local_from = from + offset_ms;
    let mut t = local_from.div_euclid(step) * step;
    if t < local_from {
        t += step;
    }
    let mut ticks = Vec::new();
    while t <= to + offset_ms {
        let dt = DateTime::from_ms(t);
        let label = if step >= DAY || t.rem_euclid(DAY) == 0 {
            format!(
                "{} {}",
                MONTHS[(dt.month as usize).saturating_sub(1) % 12],
                dt.day
            )
        } else if step < MINUTE {
            format!("{:02}:{:02}:{:02}", dt.hour, dt.minute, dt.second)
        } else {
            format!("{:02}:{:02}", dt.hour, dt.minute)
        };
        ticks.push((t - offset_ms, label));
        t += step;
    }
    ticks
}

/// The runs of consecutive points to draw as one line: a new run starts where the step
/// from one point to the next is more than 2.5 × the typical (median) step, or than
/// 2.5 × `min_step` (the width of a rolled-up point), so missing data shows as a gap.
pub fn split_gaps(ts: &[i64], min_step: i64) -> Vec<Range<usize>> {
    if ts.is_empty() {
        return Vec::new();
    }
    let mut steps: Vec<i64> = ts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .collect();
    let typical = if steps.is_empty() {
        0
    } else {
        let mid = steps.len() / 2;
        *steps.select_nth_unstable(mid).1
    }
    .max(min_step);
    let limit = typical as f64 * 2.5;
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..ts.len() {
        if typical > 0 && (ts[i] - ts[i - 1]) as f64 > limit {
            runs.push(start..i);
            start = i;
        }
    }
    runs.push(start..ts.len());
    runs
}

/// The SVG path of a line through `points`, broken at gaps; a lone point is a dot.
pub fn line_path(points: &[HistoryPoint], min_step: i64, x: &Scale, y: &Scale) -> String {
    let ts: Vec<i64> = points.iter().map(|p| p.ts()).collect();
    let mut d = String::with_capacity(points.len() * 14);
    for run in split_gaps(&ts, min_step) {
        let lone = run.len() == 1;
        for (k, p) in points[run].iter().enumerate() {
            let cmd = if k == 0 { 'M' } else { 'L' };
            d.push_str(&format!(
                "{cmd}{:.1},{:.1}",
                x.at(p.ts() as f64),
                y.at(p.value())
            ));
        }
        if lone {
            d.push_str("h0.01");
        }
    }
    d
}

/// The band between the lowest and highest sample of rolled-up points, broken at gaps
/// like the line; empty for raw points.
pub fn band_path(points: &[HistoryPoint], min_step: i64, x: &Scale, y: &Scale) -> String {
    if !points.iter().any(|p| matches!(p, HistoryPoint::Rolled(..))) {
        return String::new();
    }
    let ts: Vec<i64> = points.iter().map(|p| p.ts()).collect();
    let mut d = String::new();
    for run in split_gaps(&ts, min_step) {
        let run = &points[run];
        for (k, p) in run.iter().enumerate() {
            let cmd = if k == 0 { 'M' } else { 'L' };
            d.push_str(&format!(
                "{cmd}{:.1},{:.1}",
                x.at(p.ts() as f64),
                y.at(p.range().1)
            ));
        }
        for p in run.iter().rev() {
            d.push_str(&format!(
                "L{:.1},{:.1}",
                x.at(p.ts() as f64),
                y.at(p.range().0)
            ));
        }
        d.push('Z');
    }
    d
}

/// The index of the point nearest to `t`.
pub fn nearest(points: &[HistoryPoint], t: i64) -> Option<usize> {
    if points.is_empty() {
        return None;
    }
    let i = points.partition_point(|p| p.ts() < t);
    match (i.checked_sub(1), (i < points.len()).then_some(i)) {
        (Some(a), Some(b)) => Some(if t - points[a].ts() <= points[b].ts() - t {
            a
        } else {
            b
        }),
        (Some(a), None) => Some(a),
        (None, Some(b)) => Some(b),
        (None, None) => None,
    }
}

/// The value domain a series is drawn on: from zero (or below, for negative values) to
/// its highest point; percentages span at least 0–100.
pub fn value_range(points: &[HistoryPoint], unit: Unit) -> (f64, f64) {
    let (mut lo, mut hi) = (0f64, f64::NEG_INFINITY);
    for p in points {
        let (min, max) = p.range();
        if min.is_finite() {
            lo = lo.min(min);
        }
        if max.is_finite() {
            hi = hi.max(max);
        }
    }
    if !hi.is_finite() {
        hi = 0.0;
    }
    match unit {
        Unit::Percent => hi = hi.max(100.0),
        // Fractions of a byte make no axis: an idle disk reads 0 to 1 KiB/s.
        Unit::Bytes | Unit::BytesPerSec => hi = hi.max(1024.0),
        Unit::Plain => {}
    }
    (lo, hi)
}

/// Everything a chart draws for one state of its data.
#[derive(Clone, Debug, PartialEq)]
struct Drawing {
    line: String,
    band: String,
    grid: String,
    y_labels: Vec<(f64, String)>,
    x_labels: Vec<(f64, String)>,
}

fn x_scale(domain: (i64, i64)) -> Scale {
    Scale {
        d0: domain.0 as f64,
        d1: domain.1.max(domain.0 + 1) as f64,
        r0: LEFT,
        r1: W - RIGHT,
    }
}

fn draw(
    points: &[HistoryPoint],
    min_step: i64,
    unit: Unit,
    domain: (i64, i64),
    offset_ms: i64,
) -> Drawing {
    let x = x_scale(domain);
    let (lo, hi) = value_range(points, unit);
    let axis = value_axis(lo, hi, 4, unit.binary());
    let y = Scale {
        d0: axis.lo,
        d1: axis.hi,
        r0: H - BOTTOM,
        r1: TOP,
    };
    let mut grid = String::new();
    let mut y_labels = Vec::new();
    for v in &axis.ticks {
        let py = y.at(*v);
        grid.push_str(&format!("M{LEFT},{py:.1}H{}", W - RIGHT));
        y_labels.push((py, axis_label(*v, unit, axis.power)));
    }
    let x_labels = time_ticks(domain.0, domain.1, offset_ms, 6)
        .into_iter()
        .map(|(t, label)| (x.at(t as f64), label))
        .collect();
    // Only what is inside the window is drawn; a point on each side keeps the line
    // running to the edges.
    let first = points
        .partition_point(|p| p.ts() < domain.0)
        .saturating_sub(1);
    let last = (points.partition_point(|p| p.ts() <= domain.1) + 1).min(points.len());
    let shown = &points[first.min(last)..last];
    Drawing {
        line: line_path(shown, min_step, &x, &y),
        band: band_path(shown, min_step, &x, &y),
        grid,
        y_labels,
        x_labels,
    }
}

/// One series' chart: axes, the line (and band), a crosshair at the page's shared
/// `cursor` time, and a tooltip with the exact time and value while the pointer is on it.
/// `offset_ms` is the browser's time zone (0, UTC, until hydrated).
#[component]
pub fn SeriesChart(
    name: String,
    points: Signal<Vec<HistoryPoint>>,
    /// Width of a rolled-up point in ms (0 for raw samples).
    #[prop(into)]
    min_step: Signal<i64>,
    domain: Signal<(i64, i64)>,
    cursor: RwSignal<Option<i64>>,
    offset_ms: Signal<i64>,
) -> AnyView {
    let unit = Unit::of_series(&name);
    let drawing = Memo::new(move |_| {
        points.with(|p| draw(p, min_step.get(), unit, domain.get(), offset_ms.get()))
    });
    let hovered = RwSignal::new(false);
    let latest = move || {
        points.with(|p| {
            p.last()
                .map_or_else(|| "–".to_string(), |p| unit.format(p.value()))
        })
    };
    // The crosshair's x, while the shared cursor is inside this chart's window.
    let cursor_x = move || {
        let (from, to) = domain.get();
        cursor
            .get()
            .filter(|t| (from..=to).contains(t))
            .map(|t| x_scale((from, to)).at(t as f64))
    };
    // The point under the cursor, on the chart the pointer is over.
    let hover_point = move || {
        if !hovered.get() {
            return None;
        }
        let t = cursor.get()?;
        let (from, to) = domain.get();
        points.with(|p| {
            let i = nearest(p, t)?;
            let point = p[i];
            (from..=to).contains(&point.ts()).then_some(point)
        })
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        use wasm_bindgen::JsCast;
        let Some(target) = ev.current_target() else {
            return;
        };
        let rect = target
            .unchecked_into::<web_sys::Element>()
            .get_bounding_client_rect();
        if rect.width() <= 0.0 {
            return;
        }
        let px = (f64::from(ev.client_x()) - rect.left()) / rect.width() * W;
        let t = x_scale(domain.get_untracked()).invert(px.clamp(LEFT, W - RIGHT));
        hovered.set(true);
        cursor.set(Some(t.round() as i64));
    };
    let on_leave = move |_| {
        hovered.set(false);
        cursor.set(None);
    };
    let testid = format!("value-{name}");
    let label = format!("{name} over time");
    view! {
        <figure class="chart" data-series=name.clone()>
            <figcaption>
                <span class="series-name">{name.clone()}</span>
                <span class="value" data-testid=testid>{latest}</span>
            </figcaption>
            <div class="plot">
                <svg
                    viewBox=format!("0 0 {W} {H}")
                    role="img"
                    aria-label=label
                    on:pointermove=on_move
                    on:pointerleave=on_leave
                >
                    <path class="grid" d=move || drawing.with(|d| d.grid.clone())></path>
                    <g class="y-axis">
                        {move || {
                            drawing
                                .with(|d| d.y_labels.clone())
                                .into_iter()
                                .map(|(py, text)| {
                                    view! {
                                        <text x=LEFT - 6.0 y=py + 4.0 text-anchor="end">{text}</text>
                                    }
                                })
                                .collect_view()
                        }}
                    </g>
                    <g class="x-axis">
                        <path class="axis" d=format!("M{LEFT},{}H{}", H - BOTTOM, W - RIGHT)></path>
                        {move || {
                            drawing
                                .with(|d| d.x_labels.clone())
                                .into_iter()
                                .map(|(px, text)| {
                                    view! {
                                        <text x=px y=H - 6.0 text-anchor="middle">{text}</text>
                                    }
                                })
                                .collect_view()
                        }}
                    </g>
                    <path class="band" d=move || drawing.with(|d| d.band.clone())></path>
                    <path class="line" d=move || drawing.with(|d| d.line.clone())></path>
                    <line
                        class="crosshair"
                        x1=move || cursor_x().unwrap_or(-10.0)
                        x2=move || cursor_x().unwrap_or(-10.0)
                        y1=TOP
                        y2=H - BOTTOM
                        visibility=move || if cursor_x().is_some() { "visible" } else { "hidden" }
                    ></line>
                </svg>
                {move || {
                    hover_point()
                        .map(|p| {
                            let offset = offset_ms.get_untracked();
                            let left = x_scale(domain.get_untracked()).at(p.ts() as f64) / W * 100.0;
                            // Right of the middle, the tooltip opens to the left.
                            let (l, r) = if left > 60.0 {
                                ("auto".to_string(), format!("{:.2}%", 100.0 - left))
                            } else {
                                (format!("{left:.2}%"), "auto".to_string())
                            };
                            let range = match p {
                                HistoryPoint::Rolled(_, _, min, max) => {
                                    Some(format!("min {} · max {}", unit.format(min), unit.format(max)))
                                }
                                HistoryPoint::Raw(..) => None,
                            };
                            view! {
                                <div class="tooltip" role="tooltip" data-testid="chart-tooltip" style:left=l style:right=r>
                                    <time>{DateTime::from_ms(p.ts() + offset).full()}</time>
                                    <strong>{unit.format(p.value())}</strong>
                                    {range.map(|r| view! { <span class="muted">{r}</span> })}
                                </div>
                            }
                        })
                }}
            </div>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(1.3), 1.0);
        assert_eq!(nice_step(3.0), 2.0);
        assert_eq!(nice_step(4.0), 5.0);
        assert_eq!(nice_step(8.0), 10.0);
        assert_eq!(nice_step(230.0), 200.0);
        assert!((nice_step(0.7) - 0.5).abs() < 1e-12);
        assert!((nice_step(0.013) - 0.01).abs() < 1e-12);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn value_axes_widen_to_round_numbers() {
        let axis = value_axis(0.0, 87.0, 4, false);
        assert_eq!(axis.ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!((axis.lo, axis.hi), (0.0, 100.0));
        // A flat zero line still gets an axis.
        let flat = value_axis(0.0, 0.0, 4, false);
        assert_eq!((flat.lo, flat.hi), (0.0, 1.0));
        // Bytes: round in the binary unit of the labels.
        let bytes = value_axis(0.0, 3.0 * 1024.0 * 1024.0, 4, true);
        assert_eq!(bytes.power, 2);
        assert_eq!(bytes.ticks.last(), Some(&(3.0 * 1024.0 * 1024.0)));
        let labels: Vec<String> = bytes
            .ticks
            .iter()
            .map(|v| axis_label(*v, Unit::BytesPerSec, bytes.power))
            .collect();
        assert_eq!(labels, ["0 MiB/s", "1 MiB/s", "2 MiB/s", "3 MiB/s"]);
        assert_eq!(axis_label(50.0, Unit::Percent, 0), "50 %");
        assert_eq!(axis_label(2.5, Unit::Plain, 0), "2.5");
        assert_eq!(axis_label(25_000.0, Unit::Plain, 0), "25.0 k");
    }

    #[test]
    fn time_ticks_fall_on_round_times_of_the_local_clock() {
        // 10:00:07 to 10:05:07 UTC on 2025-01-01.
        let base = 1_735_725_600_000;
        let ticks = time_ticks(base + 7_000, base + 307_000, 0, 6);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["10:01", "10:02", "10:03", "10:04", "10:05"]);
        // An hour ahead of UTC, the same instants read an hour later.
        let ticks = time_ticks(base + 7_000, base + 307_000, HOUR, 6);
        assert_eq!(ticks[0], (base + MINUTE, "11:01".to_string()));
        // A day: hours, with the date at midnight.
        let ticks = time_ticks(base - 2 * HOUR, base + 22 * HOUR, 0, 6);
        assert!(
            ticks
                .iter()
                .any(|(t, l)| *t == base + 14 * HOUR && l == "Jan 2"),
            "{ticks:?}"
        );
        assert!(ticks.len() <= 6);
        // Seconds for a short window.
        let ticks = time_ticks(base, base + 30_000, 0, 6);
        assert_eq!(ticks[1].1, "10:00:10");
        assert!(time_ticks(base, base, 0, 6).is_empty());
    }

    #[test]
    fn gaps_longer_than_two_and_a_half_steps_break_the_line() {
        assert!(split_gaps(&[], 0).is_empty());
        assert_eq!(split_gaps(&[5], 0), vec![0..1]);
        let ts = [0, 1_000, 2_000, 3_000, 10_000, 11_000, 12_000];
        assert_eq!(split_gaps(&ts, 0), vec![0..4, 4..7]);
        // Irregular but without a hole: one run.
        let ts = [0, 1_000, 2_500, 3_000, 5_000];
        assert_eq!(split_gaps(&ts, 0), vec![0..5]);
        // Rolled-up minutes: a missing minute or two is within 2.5 widths.
        let ts = [0, 60_000, 180_000, 240_000];
        assert_eq!(split_gaps(&ts, 60_000), vec![0..4]);
    }

    #[test]
    fn paths_break_at_gaps_and_show_lone_points_as_dots() {
        let x = Scale {
            d0: 0.0,
            d1: 10_000.0,
            r0: 0.0,
            r1: 100.0,
        };
        let y = Scale {
            d0: 0.0,
            d1: 10.0,
            r0: 100.0,
            r1: 0.0,
        };
        let pts = |v: &[(i64, f64)]| {
            v.iter()
                .map(|&(t, v)| HistoryPoint::Raw(t, v))
                .collect::<Vec<_>>()
        };
        let d = line_path(
            &pts(&[(0, 0.0), (1_000, 5.0), (2_000, 10.0), (9_000, 5.0)]),
            0,
            &x,
            &y,
        );
        assert_eq!(d, "M0.0,100.0L10.0,50.0L20.0,0.0M90.0,50.0h0.01");
        assert_eq!(d.matches('M').count(), 2);
        assert_eq!(line_path(&[], 0, &x, &y), "");
        assert_eq!(band_path(&pts(&[(0, 1.0)]), 0, &x, &y), "");
        let rolled = [
            HistoryPoint::Rolled(0, 5.0, 2.0, 8.0),
            HistoryPoint::Rolled(1_000, 5.0, 4.0, 6.0),
        ];
        assert_eq!(
            band_path(&rolled, 1_000, &x, &y),
            "M0.0,20.0L10.0,40.0L10.0,60.0L0.0,80.0Z"
        );
    }

    #[test]
    fn the_nearest_point_is_found_on_either_side() {
        let p: Vec<HistoryPoint> = [0, 10, 20]
            .iter()
            .map(|&t| HistoryPoint::Raw(t, 0.0))
            .collect();
        assert_eq!(nearest(&p, -5), Some(0));
        assert_eq!(nearest(&p, 4), Some(0));
        assert_eq!(nearest(&p, 6), Some(1));
        assert_eq!(nearest(&p, 99), Some(2));
        assert_eq!(nearest(&[], 1), None);
    }

    #[test]
    fn scales_map_and_invert() {
        let s = Scale {
            d0: 100.0,
            d1: 200.0,
            r0: 10.0,
            r1: 110.0,
        };
        assert_eq!(s.at(150.0), 60.0);
        assert_eq!(s.invert(60.0), 150.0);
        assert_eq!(
            value_range(&[HistoryPoint::Raw(0, 12.0)], Unit::Percent),
            (0.0, 100.0)
        );
        assert_eq!(
            value_range(&[HistoryPoint::Rolled(0, 5.0, -2.0, 30.0)], Unit::Plain),
            (-2.0, 30.0)
        );
        assert_eq!(
            value_range(&[HistoryPoint::Raw(0, 0.0)], Unit::BytesPerSec),
            (0.0, 1024.0)
        );
    }
}
