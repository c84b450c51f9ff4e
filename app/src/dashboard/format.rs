//! Numbers, units and times as people read them, shared by the overview and the host page.

/// Bytes in binary units with one decimal: `1.5 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in its two largest units: `3 d 4 h`, `5 h 12 min`, `42 s`.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// How long ago something happened, in its largest unit: `3 s ago`, `5 min ago`.
pub fn format_ago(age_ms: i64) -> String {
    let secs = age_ms.max(0) / 1000;
    match secs {
        0..=59 => format!("{secs} s ago"),
        60..=3_599 => format!("{} min ago", secs / 60),
        3_600..=86_399 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// What a series measures, from its name: the unit of its axis and of its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `cpu.*` and every `*_pct`.
    Percent,
    /// Network and disk rates.
    BytesPerSec,
    /// Memory sizes.
    Bytes,
    /// Load, custom series: a plain number.
    Plain,
}

impl Unit {
    pub fn of_series(name: &str) -> Self {
        let prefix = name.split('.').next().unwrap_or(name);
        if name.ends_with("_pct") || prefix == "cpu" {
            Self::Percent
        } else if prefix == "net" || prefix == "disk" {
            Self::BytesPerSec
        } else if prefix == "mem" || prefix == "swap" {
            Self::Bytes
        } else {
            Self::Plain
        }
    }

    /// A value with its unit, as a chart's header or tooltip shows it.
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "–".to_string();
        }
        match self {
            Self::Percent => format!("{v:.1} %"),
            Self::BytesPerSec => format!("{}/s", format_bytes(v.max(0.0).round() as u64)),
            Self::Bytes => format_bytes(v.max(0.0).round() as u64),
            Self::Plain => format_number(v),
        }
    }

    /// The base a scale's ticks should be round in: bytes are round in powers of 1024.
    pub fn binary(self) -> bool {
        matches!(self, Self::BytesPerSec | Self::Bytes)
    }
}

/// A plain number, short: `0.52`, `12.5`, `1,234`, `1.2 M`.
pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1} G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1} M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1} k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A calendar date and time of day (no time zone: the caller has shifted the timestamp).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl DateTime {
    /// From milliseconds since the epoch (already shifted into the wanted time zone).
    pub fn from_ms(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's days-to-civil.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year,
            month,
            day,
            hour: rem / 3_600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// Milliseconds since the epoch of this date and time (the inverse of [`Self::from_ms`]).
    pub fn to_ms(self) -> i64 {
        // Howard Hinnant's days-from-civil.
        let y = self.year - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        (days * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second))
            * 1000
    }

    /// `2025-01-31 13:05:09`.
    pub fn full(self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// The value of an `<input type="datetime-local">`: `2025-01-31T13:05`.
    pub fn input_value(self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }

    /// Reads `2025-01-31T13:05` or `2025-01-31T13:05:09` (an `<input type="datetime-local">`).
    pub fn parse_input(s: &str) -> Option<Self> {
        let (date, time) = s.split_once('T')?;
        let mut d = date.splitn(3, '-');
        let year = d.next()?.parse().ok()?;
        let month = d.next()?.parse().ok()?;
        let day = d.next()?.parse().ok()?;
        let mut t = time.splitn(3, ':');
        let hour = t.next()?.parse().ok()?;
        let minute = t.next()?.parse().ok()?;
        let second = match t.next() {
            Some(s) => s.split('.').next()?.parse().ok()?,
            None => 0,
        };
        let dt = Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
        };
        let valid = (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60
            && Self::from_ms(dt.to_ms()) == dt;
        valid.then_some(dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(24 * 1024 * 1024 * 1024), "24.0 GiB");
    }

    #[test]
    fn durations_show_two_largest_units() {
        assert_eq!(format_duration(42), "42 s");
        assert_eq!(format_duration(125), "2 min 5 s");
        assert_eq!(format_duration(5 * 3600 + 12 * 60), "5 h 12 min");
        assert_eq!(format_duration(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }

    #[test]
    fn ages_show_their_largest_unit_and_never_run_backwards() {
        assert_eq!(format_ago(3_400), "3 s ago");
        assert_eq!(format_ago(-500), "0 s ago");
        assert_eq!(format_ago(125_000), "2 min ago");
        assert_eq!(format_ago(2 * 3_600_000), "2 h ago");
        assert_eq!(format_ago(3 * 86_400_000), "3 d ago");
    }

    #[test]
    fn units_follow_the_series_name() {
        assert_eq!(Unit::of_series("cpu.total"), Unit::Percent);
        assert_eq!(Unit::of_series("cpu.core.3"), Unit::Percent);
        assert_eq!(Unit::of_series("disk.root.used_pct"), Unit::Percent);
        assert_eq!(Unit::of_series("mem.used_pct"), Unit::Percent);
        assert_eq!(Unit::of_series("net.eth0.rx"), Unit::BytesPerSec);
        assert_eq!(Unit::of_series("disk.write"), Unit::BytesPerSec);
        assert_eq!(Unit::of_series("mem.used"), Unit::Bytes);
        assert_eq!(Unit::of_series("load.1"), Unit::Plain);
        assert_eq!(Unit::of_series("app.queue_depth"), Unit::Plain);
        assert_eq!(Unit::Percent.format(12.345), "12.3 %");
        assert_eq!(Unit::BytesPerSec.format(2048.0), "2.0 KiB/s");
        assert_eq!(Unit::Plain.format(42.0), "42");
        assert_eq!(Unit::Plain.format(0.525), "0.53");
        assert_eq!(Unit::Plain.format(f64::NAN), "–");
    }

    #[test]
    fn dates_round_trip_through_the_calendar() {
        let dt = DateTime::from_ms(1_735_689_600_000 + 13 * 3_600_000 + 5 * 60_000 + 9_000);
        assert_eq!(dt.full(), "2025-01-01 13:05:09");
        assert_eq!(dt.input_value(), "2025-01-01T13:05");
        assert_eq!(DateTime::from_ms(0).full(), "1970-01-01 00:00:00");
        assert_eq!(DateTime::from_ms(-1_000).full(), "1969-12-31 23:59:59");
        for ms in [0, 951_782_400_000, 1_709_164_800_000, 4_102_444_800_000] {
            assert_eq!(DateTime::from_ms(ms).to_ms(), ms);
        }
        assert_eq!(
            DateTime::parse_input("2024-02-29T23:59").map(|d| d.to_ms()),
            Some(1_709_251_140_000)
        );
        assert_eq!(DateTime::parse_input("2023-02-29T10:00"), None);
        assert_eq!(DateTime::parse_input("yesterday"), None);
    }
}
