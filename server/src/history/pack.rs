//! Sealed blocks, packed column by column once all their points are known.
//!
//! A head is written one point at a time ([`super::codec::Encoder`]), so its codes are
//! fixed in advance. A sealed block is written once, so each column gets the code that
//! suits it: timestamps and decimal values as integer deltas (or deltas of deltas, for
//! counters), each integer column Rice-coded with the parameter that makes it shortest, a
//! column that never changes in zero bits, and a column that is not decimal (an average,
//! a ratio) in Gorilla's XOR code. On a realistic mix this is about a fifth smaller than
//! the head's code, and its decoding is as fast.
//!
//! Layout: `0x00 0x01`, `varint(count)`, then one bit stream: the first timestamp (64
//! bits), the timestamp column, then the `N` value columns. The leading `0x00` tells it
//! from a head block, whose first byte is its count, never 0 for a block with points.

use super::codec::{BitReader, BitWriter, CodecError, ValueState};

const MAGIC: [u8; 2] = [0x00, 0x01];

/// No block holds more points: one per millisecond of an hour.
const MAX_POINTS: usize = 3_600_000;

/// Whether `block` is packed (as opposed to a head's streaming code).
pub fn is_packed(block: &[u8]) -> bool {
    block.len() > 2 && block[..2] == MAGIC
}

/// Unary quotients at least this long are escaped: a rare outlier costs its bit length,
/// not millions of ones.
const ESCAPE: u64 = 24;

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn bit_len(u: u64) -> u32 {
    64 - u.leading_zeros()
}

/// Bits of `u` Rice-coded with parameter `k`.
fn rice_cost(u: u64, k: u32) -> u64 {
    let q = u >> k;
    if q < ESCAPE {
        q + 1 + u64::from(k)
    } else {
        ESCAPE + 7 + u64::from(bit_len(u))
    }
}

fn write_rice(w: &mut BitWriter, u: u64, k: u32) {
    let q = u >> k;
    if q < ESCAPE {
        // `q` ones and a zero: at most 25 bits, one write.
        w.write(((1u64 << q) - 1) << 1, q as u32 + 1);
        if k > 0 {
            w.write(u & ((1u64 << k) - 1), k);
        }
    } else {
        w.write((1u64 << ESCAPE) - 1, ESCAPE as u32);
        let n = bit_len(u);
        w.write(u64::from(n), 7);
        w.write(u, n);
    }
}

fn read_rice(r: &mut BitReader, k: u32) -> Result<u64, CodecError> {
    let mut q = 0;
    while q < ESCAPE && r.bit()? {
        q += 1;
    }
    if q == ESCAPE {
        let n = r.read(7)? as u32;
        if n > 64 {
            return Err(CodecError::Truncated);
        }
        return r.read(n);
    }
    let low = if k > 0 { r.read(k)? } else { 0 };
    Ok((q << k) | low)
}

/// Column codes.
const ALL_ZERO: u64 = 0;
const RICE: u64 = 1;

/// An integer column: 1 bit, all zero (nothing follows); or Rice with the best `k` (6 bits).
fn write_ints(w: &mut BitWriter, values: &[u64]) {
    if values.iter().all(|&u| u == 0) {
        w.write(ALL_ZERO, 1);
        return;
    }
    let k = best_k(values);
    w.write(RICE, 1);
    w.write(u64::from(k), 6);
    for &u in values {
        write_rice(w, u, k);
    }
}

fn ints_cost(values: &[u64]) -> u64 {
    if values.iter().all(|&u| u == 0) {
        return 1;
    }
    let k = best_k(values);
    7 + values.iter().map(|&u| rice_cost(u, k)).sum::<u64>()
}

/// The Rice parameter that codes `values` shortest, from a histogram of their bit lengths
/// (a mean would be pulled up by one outlier and cost every other value bits).
fn best_k(values: &[u64]) -> u32 {
    let mut count = [0u64; 65];
    let mut sum = [0u128; 65];
    for &u in values {
        let len = bit_len(u) as usize;
        count[len] += 1;
        sum[len] += u128::from(u);
    }
    // Only the lengths that occur (a handful), and no `k` past the longest: from there on
    // every value costs `1 + k` bits, more at each step. A seal runs this a few times per
    // column for every series, so it must not walk 64 × 65 buckets each time.
    let mut lens = [(0u32, 0u128, 0u128); 65];
    let mut distinct = 0;
    for len in 0..=64u32 {
        let n = count[len as usize];
        if n > 0 {
            lens[distinct] = (len, u128::from(n), sum[len as usize]);
            distinct += 1;
        }
    }
    let lens = &lens[..distinct];
    let cost = |k: u32| -> u128 {
        let mut bits = 0u128;
        for &(len, n, sum) in lens {
            bits += if len <= k {
                n * (1 + u128::from(k))
            } else if len - k > 5 {
                // Quotients of at least 2^5 > ESCAPE: escaped.
                n * (u128::from(ESCAPE) + 7 + u128::from(len))
            } else {
                (sum >> k) + n * (1 + u128::from(k))
            };
        }
        bits
    };
    let longest = lens.last().map_or(0, |l| l.0).min(63);
    (0..=longest).min_by_key(|&k| (cost(k), k)).unwrap_or(0)
}

fn read_ints(r: &mut BitReader, n: usize, out: &mut Vec<u64>) -> Result<(), CodecError> {
    out.clear();
    if r.read(1)? == ALL_ZERO {
        out.resize(n, 0);
        return Ok(());
    }
    let k = r.read(6)? as u32;
    for _ in 0..n {
        out.push(read_rice(r, k)?);
    }
    Ok(())
}

/// The first difference, then the rest as second differences (`order` 2), or all as
/// first differences (`order` 1).
fn differences(xs: &[i64], order: u8) -> (Option<i64>, Vec<i64>) {
    let d1: Vec<i64> = xs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    if order == 1 {
        return (None, d1);
    }
    let d2 = d1.windows(2).map(|w| w[1].wrapping_sub(w[0]));
    (d1.first().copied(), d2.collect())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Differences over their common factor (a byte count that moves by 4 KiB pages moves
/// by whole pages), zigzagged; the factor is 1 when there is none.
fn scaled(diffs: &[i64]) -> (i64, Vec<u64>) {
    let g = diffs.iter().fold(0, |g, d| gcd(g, d.unsigned_abs()));
    let g = i64::try_from(g).ok().filter(|&g| g > 1).unwrap_or(1);
    (g, diffs.iter().map(|&d| zigzag(d / g)).collect())
}

fn factor_cost(g: i64) -> u64 {
    if g == 1 {
        1
    } else {
        1 + 7 + u64::from(bit_len(g as u64))
    }
}

fn write_factor(w: &mut BitWriter, g: i64) {
    if g == 1 {
        w.write(0, 1);
    } else {
        w.write(1, 1);
        let n = bit_len(g as u64);
        w.write(u64::from(n), 7);
        w.write(g as u64, n);
    }
}

fn read_factor(r: &mut BitReader) -> Result<i64, CodecError> {
    if !r.bit()? {
        return Ok(1);
    }
    let n = r.read(7)? as u32;
    if n > 63 {
        return Err(CodecError::Truncated);
    }
    Ok(r.read(n)? as i64)
}

fn write_signed(w: &mut BitWriter, v: i64) {
    let u = zigzag(v);
    let n = bit_len(u);
    w.write(u64::from(n), 7);
    w.write(u, n);
}

fn read_signed(r: &mut BitReader) -> Result<i64, CodecError> {
    let n = r.read(7)? as u32;
    if n > 64 {
        return Err(CodecError::Truncated);
    }
    Ok(unzigzag(r.read(n)?))
}

/// An integer series after its first value: 1 bit for the order, then the columns.
fn write_series(w: &mut BitWriter, xs: &[i64]) {
    if xs.len() < 2 {
        return;
    }
    let (_, d1) = differences(xs, 1);
    let (g1, z1) = scaled(&d1);
    let (first2, d2) = differences(xs, 2);
    let (g2, z2) = scaled(&d2);
    let cost1 = factor_cost(g1) + ints_cost(&z1);
    let cost2 =
        first2.map_or(0, |d| 7 + u64::from(bit_len(zigzag(d)))) + factor_cost(g2) + ints_cost(&z2);
    if xs.len() > 2 && cost2 < cost1 {
        w.write(1, 1);
        write_signed(w, first2.unwrap_or(0));
        write_factor(w, g2);
        write_ints(w, &z2);
    } else {
        w.write(0, 1);
        write_factor(w, g1);
        write_ints(w, &z1);
    }
}

fn read_series(r: &mut BitReader, first: i64, n: usize) -> Result<Vec<i64>, CodecError> {
    let mut out = Vec::with_capacity(n);
    out.push(first);
    if n < 2 {
        return Ok(out);
    }
    let mut ints = Vec::with_capacity(n);
    if r.bit()? {
        let mut delta = read_signed(r)?;
        out.push(first.wrapping_add(delta));
        let g = read_factor(r)?;
        read_ints(r, n - 2, &mut ints)?;
        for &u in &ints {
            delta = delta.wrapping_add(unzigzag(u).wrapping_mul(g));
            let last = out[out.len() - 1];
            out.push(last.wrapping_add(delta));
        }
    } else {
        let g = read_factor(r)?;
        read_ints(r, n - 1, &mut ints)?;
        for &u in &ints {
            let last = out[out.len() - 1];
            out.push(last.wrapping_add(unzigzag(u).wrapping_mul(g)));
        }
    }
    Ok(out)
}

/// Value column codes.
const DECIMAL: u64 = 0;
const XOR: u64 = 1;

fn write_values(w: &mut BitWriter, values: &[f64]) {
    if let Some((scale, ms)) = super::codec::common_decimal(values) {
        w.write(DECIMAL, 1);
        w.write(u64::from(scale), 3);
        write_signed(w, ms[0]);
        write_series(w, &ms);
    } else {
        w.write(XOR, 1);
        let mut state = ValueState::default();
        for &v in values {
            state.encode(w, v);
        }
    }
}

fn read_values(r: &mut BitReader, n: usize) -> Result<Vec<f64>, CodecError> {
    if r.read(1)? == DECIMAL {
        let scale = r.read(3)? as u8;
        let first = read_signed(r)?;
        let ms = read_series(r, first, n)?;
        Ok(ms
            .into_iter()
            .map(|m| super::codec::from_decimal(m, scale))
            .collect())
    } else {
        let mut state = ValueState::default();
        (0..n).map(|_| state.decode(r)).collect()
    }
}

/// Every point of a block, packed or in the head's streaming code (blocks written before
/// packing, and heads themselves).
pub fn decode<const N: usize>(block: &[u8]) -> Result<Vec<(i64, [f64; N])>, CodecError> {
    if is_packed(block) {
        unpack::<N>(block)
    } else {
        super::codec::decode::<N>(block)
    }
}

/// Every point of a one-column block (raw samples).
pub fn decode_samples(block: &[u8]) -> Result<Vec<(i64, f64)>, CodecError> {
    Ok(decode::<1>(block)?
        .into_iter()
        .map(|(ts, [v])| (ts, v))
        .collect())
}

/// Packs points (timestamps equal or increasing, as a head holds them).
pub fn pack<const N: usize>(points: &[(i64, [f64; N])]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    super::codec::put_varint(&mut out, points.len() as u64);
    let Some(&(first, _)) = points.first() else {
        return out;
    };
    let mut w = BitWriter::default();
    w.write(first as u64, 64);
    let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
    write_series(&mut w, &ts);
    let mut column = Vec::with_capacity(points.len());
    for c in 0..N {
        column.clear();
        column.extend(points.iter().map(|p| p.1[c]));
        write_values(&mut w, &column);
    }
    out.extend_from_slice(w.bytes());
    out
}

/// Every point of a packed block.
pub fn unpack<const N: usize>(block: &[u8]) -> Result<Vec<(i64, [f64; N])>, CodecError> {
    let mut at = MAGIC.len();
    let count = super::codec::get_varint(block, &mut at).ok_or(CodecError::Truncated)?;
    let n = usize::try_from(count).map_err(|_| CodecError::Truncated)?;
    let bytes = &block[at..];
    if n == 0 {
        return Ok(Vec::new());
    }
    // A column that never changes takes no bits, so the count is bounded by what a block
    // can hold instead: an hour of milliseconds.
    if n > MAX_POINTS {
        return Err(CodecError::Truncated);
    }
    let mut r = BitReader::new(bytes);
    let first = r.read(64)? as i64;
    let ts = read_series(&mut r, first, n)?;
    let mut points: Vec<(i64, [f64; N])> = ts.into_iter().map(|t| (t, [0.0; N])).collect();
    for c in 0..N {
        for (p, v) in points.iter_mut().zip(read_values(&mut r, n)?) {
            p.1[c] = v;
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::super::codec::tests::{same_bits, value};
    use super::*;
    use proptest::prelude::*;

    /// Every `k` from 0 to 63 against every length's bucket, as [`best_k`] once did.
    fn best_k_of_all(values: &[u64]) -> u32 {
        let mut count = [0u128; 65];
        let mut sum = [0u128; 65];
        for &u in values {
            count[bit_len(u) as usize] += 1;
            sum[bit_len(u) as usize] += u128::from(u);
        }
        let cost = |k: u32| -> u128 {
            (0..=64u32)
                .map(|len| {
                    let (n, sum) = (count[len as usize], sum[len as usize]);
                    if len <= k {
                        n * (1 + u128::from(k))
                    } else if len - k > 5 {
                        n * (u128::from(ESCAPE) + 7 + u128::from(len))
                    } else {
                        (sum >> k) + n * (1 + u128::from(k))
                    }
                })
                .sum()
        };
        (0..64).min_by_key(|&k| (cost(k), k)).unwrap_or(0)
    }

    proptest! {
        #[test]
        fn best_k_picks_what_trying_every_k_picks(
            values in prop::collection::vec(any::<u64>().prop_map(|u| u >> (u % 64)), 1..300),
        ) {
            prop_assert_eq!(best_k(&values), best_k_of_all(&values));
        }
    }

    proptest! {
        #[test]
        fn packed_blocks_decode_bit_for_bit(
            start in any::<i64>(),
            steps in prop::collection::vec(0i64..5_000, 0..200),
            values in prop::collection::vec(value(), 200),
            regular in any::<bool>(),
        ) {
            let mut ts = start;
            let points: Vec<(i64, [f64; 1])> = steps
                .iter()
                .zip(&values)
                .map(|(&step, &v)| {
                    ts = ts.wrapping_add(if regular { 1000 } else { step });
                    (ts, [v])
                })
                .collect();
            let block = pack(&points);
            prop_assert!(is_packed(&block) || points.is_empty());
            prop_assert!(same_bits(&unpack::<1>(&block).unwrap(), &points));
        }

        #[test]
        fn packed_rollups_decode_bit_for_bit(
            rows in prop::collection::vec((value(), value(), value(), value()), 1..61),
        ) {
            let points: Vec<(i64, [f64; 5])> = rows
                .iter()
                .enumerate()
                .map(|(i, &(a, b, c, d))| (60_000 * i as i64, [a, b, c, d, 60.0]))
                .collect();
            prop_assert!(same_bits(&unpack::<5>(&pack(&points)).unwrap(), &points));
        }

        #[test]
        fn corrupt_packed_blocks_are_refused_not_panicked_on(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut block = MAGIC.to_vec();
            block.extend(bytes);
            let _ = unpack::<1>(&block);
            let _ = unpack::<5>(&block);
        }
    }

    #[test]
    fn a_steady_series_on_the_grid_costs_a_few_bits_a_point() {
        // Timestamps on the grid and an unchanging value: both columns code as all-zero.
        let points: Vec<(i64, [f64; 1])> = (0..120).map(|i| (1_000 * i, [64.0])).collect();
        let block = pack(&points);
        assert!(block.len() < 24, "{} bytes", block.len());
        // A counter: second differences are zero.
        let counter: Vec<(i64, [f64; 1])> = (0..120)
            .map(|i| (1_000 * i, [1e9 + 123.0 * i as f64]))
            .collect();
        assert!(pack(&counter).len() < 32, "{} bytes", pack(&counter).len());
        assert!(same_bits(&unpack::<1>(&pack(&counter)).unwrap(), &counter));
    }

    #[test]
    fn a_noisy_rate_costs_about_its_entropy() {
        // Whole bytes a second around 100 kB/s, noise about ±20 kB: about 15 bits of
        // entropy a point; the head's fixed buckets spend 28 on it.
        let mut x = 12345u64;
        let points: Vec<(i64, [f64; 1])> = (0..120)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = (x >> 33) % 40_000;
                (1_000 * i, [(100_000 + noise) as f64])
            })
            .collect();
        let bits_per_point = pack(&points).len() as f64 * 8.0 / 120.0;
        assert!(bits_per_point < 19.0, "{bits_per_point:.1} bits a point");
    }

    #[test]
    fn a_byte_count_moving_by_pages_is_coded_in_pages() {
        let mut x = 99u64;
        let points: Vec<(i64, [f64; 1])> = (0..120)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pages = (x >> 33) % 64;
                (1_000 * i, [(8_000_000_000 + pages * 4096) as f64])
            })
            .collect();
        let block = pack(&points);
        // Six or seven bits of pages a point, not the nineteen of their byte counts.
        assert!(block.len() * 8 < 120 * 9, "{} bytes", block.len());
        assert!(same_bits(&unpack::<1>(&block).unwrap(), &points));
    }

    #[test]
    fn a_huge_outlier_is_escaped() {
        let points: Vec<(i64, [f64; 1])> = (0..50)
            .map(|i| (1_000 * i, [if i == 25 { 1e15 } else { i as f64 }]))
            .collect();
        let block = pack(&points);
        assert!(block.len() < 60, "{} bytes", block.len());
        assert!(same_bits(&unpack::<1>(&block).unwrap(), &points));
    }
}
