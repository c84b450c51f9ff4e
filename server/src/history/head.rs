//! One series in memory: the compressed head of samples not yet sealed, a side buffer of
//! late samples, and which hours still need rolling up. Sealed blocks and rollups live
//! only in the database (the live window and the open hour's rollups are read back from
//! there), so memory per series stays near one seal period of compressed samples.

use super::{
    blocks::MAX_BLOCK_SPAN,
    codec::{CodecError, Encoder},
    pack::decode_samples,
    rollup::{bucket, HOUR},
};
use thin_vec::ThinVec;

/// Late samples held per series until the next seal; beyond this they are dropped (and
/// counted), so a client replaying old data cannot grow memory without bound.
pub const MAX_LATE: usize = 4096;

/// Where a pushed sample went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Head,
    Late,
    Dropped,
}

#[derive(Debug, Default)]
pub struct Series {
    pub head: Encoder<1>,
    /// Samples older than the head's last, in arrival order: nearly always none, so it
    /// costs one pointer until one comes.
    pub late: ThinVec<(i64, f64)>,
    /// The start of the oldest hour holding samples that its rollups do not count yet.
    pub unrolled: Option<i64>,
    /// Whether a sample arrived since the last seal: a series that stays quiet for a whole
    /// seal period gets its open rollups closed.
    pub touched: bool,
    /// The newest sample's timestamp.
    pub last_ts: Option<i64>,
}

/// A raw block ready for the database.
#[derive(Debug, Clone)]
pub struct RawBlock {
    pub first: i64,
    pub last: i64,
    pub count: usize,
    pub bytes: Vec<u8>,
    /// Late samples: written after the head's block of the same seal, so they win ties.
    pub late: bool,
}

impl Series {
    pub fn push(&mut self, ts: i64, v: f64) -> Pushed {
        self.touched = true;
        self.last_ts = Some(self.last_ts.map_or(ts, |last| last.max(ts)));
        let hour = bucket(ts, HOUR);
        self.unrolled = Some(self.unrolled.map_or(hour, |h| h.min(hour)));
        match self.head.span() {
            Some((_, last)) if ts < last => {
                if self.late.len() >= MAX_LATE {
                    return Pushed::Dropped;
                }
                self.late.push((ts, v));
                Pushed::Late
            }
            _ => {
                self.head.append(ts, [v]);
                Pushed::Head
            }
        }
    }

    /// The head, then the late samples: the order of their writes for equal timestamps.
    pub fn unsealed(&self) -> Result<Vec<(i64, f64)>, CodecError> {
        let mut out = decode_samples(&self.head.to_bytes())?;
        out.extend_from_slice(&self.late);
        Ok(out)
    }

    /// What sealing writes: the head, then the late samples, each cut at hour boundaries
    /// (a backfill or a sparse series can span more than a seal period).
    pub fn blocks(&self) -> Result<Vec<RawBlock>, CodecError> {
        let mut out = Vec::new();
        if let Some((first, last)) = self.head.span() {
            let points = decode_samples(&self.head.to_bytes())?;
            if bucket(first, MAX_BLOCK_SPAN) == bucket(last, MAX_BLOCK_SPAN) {
                out.push(RawBlock {
                    first,
                    last,
                    count: points.len(),
                    bytes: pack_samples(&points),
                    late: false,
                });
            } else {
                out.extend(per_hour(&points, false));
            }
        }
        out.extend(per_hour(&newest_wins(self.late.to_vec()), true));
        Ok(out)
    }

    /// After a seal: the head and the late samples are in the database now, and memory
    /// gives their buffers back. Seals are spread over the period (each series at its own
    /// step), so at any moment heads are at every stage of refilling: freed buffers are
    /// taken again at once by heads that grow, and the heads hold half a period's bytes
    /// on average.
    pub fn sealed(&mut self) {
        self.head = Encoder::default();
        self.late = ThinVec::new();
    }

    /// Which hours a seal rolls up now: from the oldest one not rolled up to the open
    /// hour, which is included once the series has been quiet for a whole seal period
    /// (its last hour should reach disk without waiting for a sample that may never
    /// come). `None` if no hour is due.
    pub fn due(&self) -> Option<std::ops::Range<i64>> {
        let from = self.unrolled?;
        let open = bucket(self.last_ts?, HOUR);
        let to = if self.touched { open } else { open + HOUR };
        (from < to).then_some(from..to)
    }

    /// The hours of `due` are rolled up: only the open hour, if it is not among them, is
    /// left.
    pub fn rolled(&mut self, due: &std::ops::Range<i64>) {
        let open = self.last_ts.map(|last| bucket(last, HOUR));
        self.unrolled = open.filter(|&open| open >= due.end);
    }

    pub fn heap_bytes(&self) -> usize {
        self.head.heap_bytes() + self.late.capacity() * std::mem::size_of::<(i64, f64)>()
    }
}

/// Sorts samples given in write order by timestamp; of equal timestamps, the last written
/// stays.
pub fn newest_wins(points: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    newest_wins_by(points, |p| p.0)
}

/// [`newest_wins`] for any point with a timestamp.
pub fn newest_wins_by<T>(mut points: Vec<T>, ts: impl Fn(&T) -> i64) -> Vec<T> {
    // Stable: equal timestamps keep their write order.
    points.sort_by_key(&ts);
    let mut out: Vec<T> = Vec::with_capacity(points.len());
    for p in points {
        match out.last_mut() {
            Some(last) if ts(last) == ts(&p) => *last = p,
            _ => out.push(p),
        }
    }
    out
}

/// Samples as a packed block.
fn pack_samples(points: &[(i64, f64)]) -> Vec<u8> {
    let points: Vec<(i64, [f64; 1])> = points.iter().map(|&(ts, v)| (ts, [v])).collect();
    super::pack::pack(&points)
}

/// Ordered samples as blocks, one per hour they touch.
fn per_hour(points: &[(i64, f64)], late: bool) -> Vec<RawBlock> {
    points
        .chunk_by(|a, b| bucket(a.0, MAX_BLOCK_SPAN) == bucket(b.0, MAX_BLOCK_SPAN))
        .map(|group| RawBlock {
            first: group[0].0,
            last: group[group.len() - 1].0,
            count: group.len(),
            bytes: pack_samples(group),
            late,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_fits_in_a_128_byte_allocation() {
        // Every series is one allocation of this size, hundreds of thousands of them:
        // past 128 bytes jemalloc's next size class is 160.
        let size = std::mem::size_of::<Series>();
        assert!(size <= 128, "a series takes {size} bytes");
    }

    #[test]
    fn hours_are_due_once_a_later_one_starts_or_the_series_goes_quiet() {
        let mut s = Series::default();
        assert_eq!(s.due(), None, "no samples, nothing to roll up");
        s.push(10, 1.0);
        s.push(HOUR - 1, 1.0);
        assert_eq!(s.due(), None, "the hour is still open");
        s.push(HOUR + 5, 1.0);
        assert_eq!(s.due(), Some(0..HOUR));
        s.rolled(&(0..HOUR));
        assert_eq!(s.unrolled, Some(HOUR), "the open hour is left");
        assert_eq!(s.due(), None);
        // A late sample of the hour rolled up: that hour is due again.
        s.push(20, 2.0);
        assert_eq!(s.due(), Some(0..HOUR));
        s.rolled(&(0..HOUR));
        // Quiet for a seal period: the open hour goes too.
        s.touched = false;
        assert_eq!(s.due(), Some(HOUR..2 * HOUR));
        s.rolled(&(HOUR..2 * HOUR));
        assert_eq!((s.unrolled, s.due()), (None, None));
    }

    #[test]
    fn late_samples_come_back_in_order_and_the_last_write_of_a_timestamp_wins() {
        let mut s = Series::default();
        for (ts, v) in [
            (1000, 1.0),
            (3000, 3.0),
            (2000, 2.0),
            (3000, 30.0),
            (1000, 10.0),
        ] {
            s.push(ts, v);
        }
        assert_eq!(
            newest_wins(s.unsealed().unwrap()),
            vec![(1000, 10.0), (2000, 2.0), (3000, 30.0)]
        );
        let blocks = s.blocks().unwrap();
        assert_eq!(blocks.len(), 2);
        let late = &blocks[1];
        assert!(late.late);
        assert_eq!((late.first, late.last, late.count), (1000, 2000, 2));
        assert_eq!(
            decode_samples(&late.bytes).unwrap(),
            vec![(1000, 10.0), (2000, 2.0)]
        );
    }

    #[test]
    fn a_head_spanning_hours_is_sealed_as_one_block_per_hour() {
        let mut s = Series::default();
        for ts in [10, 20, MAX_BLOCK_SPAN + 5, 3 * MAX_BLOCK_SPAN] {
            s.push(ts, 1.0);
        }
        let spans: Vec<(i64, i64, usize)> = s
            .blocks()
            .unwrap()
            .iter()
            .map(|b| (b.first, b.last, b.count))
            .collect();
        assert_eq!(
            spans,
            vec![
                (10, 20, 2),
                (MAX_BLOCK_SPAN + 5, MAX_BLOCK_SPAN + 5, 1),
                (3 * MAX_BLOCK_SPAN, 3 * MAX_BLOCK_SPAN, 1)
            ]
        );
    }
}
