//! The write-ahead log: one row per tick holding every sample of the tick, so that a
//! crash loses at most the tick being written. Rows are deleted in the transaction that
//! seals their samples into blocks.
//!
//! Format: a version byte, `varint(count)`, then per sample `varint(series id)`,
//! `zigzag varint(ts - previous sample's ts)` (samples of one host tick share a timestamp,
//! so this is mostly one byte) and the value's 8 bytes, little-endian.

use super::codec::{get_varint, put_varint};
use thiserror::Error;

const VERSION: u8 = 1;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WalError {
    #[error("write-ahead log row of unknown version {0}")]
    Version(u8),
    #[error("write-ahead log row is truncated")]
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalSample {
    pub series: i64,
    pub ts: i64,
    pub value: f64,
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub fn encode(samples: &[WalSample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + samples.len() * 11);
    out.push(VERSION);
    put_varint(&mut out, samples.len() as u64);
    let mut prev_ts = 0i64;
    for s in samples {
        put_varint(&mut out, s.series as u64);
        put_varint(&mut out, zigzag(s.ts.wrapping_sub(prev_ts)));
        out.extend_from_slice(&s.value.to_le_bytes());
        prev_ts = s.ts;
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<Vec<WalSample>, WalError> {
    let (&version, _) = bytes.split_first().ok_or(WalError::Truncated)?;
    if version != VERSION {
        return Err(WalError::Version(version));
    }
    let mut at = 1;
    let count = get_varint(bytes, &mut at).ok_or(WalError::Truncated)?;
    // Each sample takes at least 10 bytes: a count larger than that is corrupt, and must
    // not size an allocation.
    if count > (bytes.len() / 10) as u64 {
        return Err(WalError::Truncated);
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut prev_ts = 0i64;
    for _ in 0..count {
        let series = get_varint(bytes, &mut at).ok_or(WalError::Truncated)? as i64;
        let delta = unzigzag(get_varint(bytes, &mut at).ok_or(WalError::Truncated)?);
        let value = bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(f64::from_le_bytes)
            .ok_or(WalError::Truncated)?;
        at += 8;
        prev_ts = prev_ts.wrapping_add(delta);
        out.push(WalSample {
            series,
            ts: prev_ts,
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn wal_rows_round_trip(samples in prop::collection::vec(
            (0i64..i64::MAX, any::<i64>(), any::<u64>()),
            0..200,
        )) {
            let samples: Vec<WalSample> = samples
                .into_iter()
                .map(|(series, ts, bits)| WalSample { series, ts, value: f64::from_bits(bits) })
                .collect();
            let decoded = decode(&encode(&samples)).unwrap();
            prop_assert_eq!(decoded.len(), samples.len());
            for (d, s) in decoded.iter().zip(&samples) {
                prop_assert_eq!((d.series, d.ts, d.value.to_bits()), (s.series, s.ts, s.value.to_bits()));
            }
        }
    }

    #[test]
    fn a_cut_wal_row_is_an_error() {
        let row = encode(&[WalSample {
            series: 3,
            ts: 1_700_000_000_000,
            value: 1.5,
        }]);
        assert_eq!(decode(&row[..row.len() - 1]), Err(WalError::Truncated));
        assert_eq!(decode(&[9]), Err(WalError::Version(9)));
    }
}
