//! Ingest: a batch of samples pushed with an ingest token. The token is checked before
//! the body is read; the batch is validated (bad names, values or impossible timestamps
//! refuse it whole; samples merely outside the clock-skew window are refused one by one);
//! the token's host binding and the caps are enforced; then the batch is published.

use super::{
    hub::{SeriesCapExceeded, Ticks},
    Live,
};
use crate::{
    access::tokens::{ApiToken, Check, HostBinding, Scope, TokenError},
    store::{groups::ROOT_GROUP, hosts::HostRecord, Db},
};
use app::live::is_valid_name;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Largest ingest body and batch.
pub const MAX_INGEST_BYTES: usize = 1024 * 1024;
pub const MAX_SAMPLES: usize = 10_000;

/// Timestamps outside 2000-01-01 .. 2100-01-01 (ms) are not a clock off by a while but
/// a wrong unit or garbage: the batch is refused whole.
pub(crate) const EARLIEST_MS: i64 = 946_684_800_000;
pub(crate) const LATEST_MS: i64 = 4_102_444_800_000;

/// At most this many refusals are spelled out in a response.
const REFUSALS_SHOWN: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub host: String,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub series: String,
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    pub value: f64,
}

/// A sample that was left out of an otherwise good batch, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub sample: usize,
    pub reason: String,
}

/// A checked batch: what to record, and what was refused.
#[derive(Debug)]
pub struct Validated {
    pub host: String,
    pub ticks: Ticks,
    pub refused: Vec<Refusal>,
}

/// What an accepted batch answers.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub accepted: usize,
    pub refused: usize,
    /// The first few refused samples, with reasons.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
}

/// Checks a whole batch. Bad names, non-finite values and impossible timestamps refuse it
/// whole (naming the first bad sample); samples outside the skew window are refused alone.
pub fn validate(batch: Batch, now_ms: i64, max_skew: Duration) -> Result<Validated, String> {
    if !is_valid_name(&batch.host) {
        return Err(format!(
            "host {:?} must match [a-z0-9._-]{{1,64}}",
            batch.host
        ));
    }
    if batch.samples.is_empty() {
        return Err("a batch needs at least one sample".into());
    }
    if batch.samples.len() > MAX_SAMPLES {
        return Err(format!(
            "a batch holds at most {MAX_SAMPLES} samples, not {}",
            batch.samples.len()
        ));
    }
    let skew = i64::try_from(max_skew.as_millis()).unwrap_or(i64::MAX);
    let mut ticks = Ticks::new();
    let mut refused = Vec::new();
    for (i, sample) in batch.samples.into_iter().enumerate() {
        if !is_valid_name(&sample.series) {
            return Err(format!(
                "sample {i}: series {:?} must match [a-z0-9._-]{{1,64}}",
                sample.series
            ));
        }
        if !sample.value.is_finite() {
            return Err(format!("sample {i}: value must be a finite number"));
        }
        if !(EARLIEST_MS..=LATEST_MS).contains(&sample.ts) {
            return Err(format!(
                "sample {i}: ts {} is not a time in milliseconds since 1970 (years 2000-2100)",
                sample.ts
            ));
        }
        // Both within 2000..2100: the difference cannot overflow.
        if (sample.ts - now_ms).abs() > skew {
            refused.push(Refusal {
                sample: i,
                reason: format!(
                    "ts {} is more than {} s from the server's clock ({now_ms})",
                    sample.ts,
                    max_skew.as_secs()
                ),
            });
            continue;
        }
        ticks
            .entry(sample.ts)
            .or_default()
            .insert(sample.series, sample.value);
    }
    Ok(Validated {
        host: batch.host,
        ticks,
        refused,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("a valid API token is required (Authorization: Bearer lk_…)")]
    Unauthorized,
    #[error("this token's scope does not allow that")]
    WrongScope,
    #[error("this token may not write host {0}")]
    ForeignHost(String),
    #[error("the server's own host {0} cannot be written through the API")]
    OwnHost(String),
    #[error("{0}")]
    BadBatch(String),
    #[error(transparent)]
    SeriesCap(#[from] SeriesCapExceeded),
    #[error("this token has created {0} hosts; the limit (--max-hosts-per-token) is {0}")]
    HostCap(usize),
    #[error("database error: {0}")]
    Db(#[from] TokenError),
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(TokenError::Db(e))
    }
}

/// What a checked ingest token may do.
#[derive(Debug)]
pub struct Grant {
    token_id: i64,
    hosts: HostBinding,
    /// The token's group, which the hosts it creates join.
    group: Option<i64>,
}

/// Checks an ingest token (before anything of the body is read).
pub async fn authorize(db: &Db, token: &ApiToken) -> Result<Grant, IngestError> {
    match db.check_token(token, Scope::Ingest).await? {
        Check::Allowed {
            id, hosts, group, ..
        } => Ok(Grant {
            token_id: id,
            hosts,
            group,
        }),
        Check::WrongScope => Err(IngestError::WrongScope),
        Check::Unknown => Err(IngestError::Unauthorized),
    }
}

/// Validates and publishes a batch under `grant`.
pub async fn ingest(live: &Live, grant: Grant, body: &[u8]) -> Result<Accepted, IngestError> {
    let batch: Batch = serde_json::from_slice(body)
        .map_err(|e| IngestError::BadBatch(format!("malformed batch: {e}")))?;
    let Validated {
        host,
        ticks,
        refused,
    } = validate(batch, crate::store::unix_now_ms(), live.config.max_skew)
        .map_err(IngestError::BadBatch)?;
    if host == live.config.host_name {
        return Err(IngestError::OwnHost(host));
    }
    let hosts = match grant.hosts {
        HostBinding::Unbound => live.db.bind_token_to_host(grant.token_id, &host).await?,
        bound => bound,
    };
    if !hosts.allows(&host) {
        return Err(IngestError::ForeignHost(host));
    }
    if !live.hub.has_host(&host) {
        let cap = hosts
            .is_pattern()
            .then_some(live.config.max_hosts_per_token);
        if live.db.record_host(&host, grant.token_id, cap).await? == HostRecord::TokenFull {
            return Err(IngestError::HostCap(live.config.max_hosts_per_token));
        }
        // A new host of a group: its members see it from its first samples on, not only
        // after the next poll of the access version.
        if grant.group.is_some() && live.access.forest().group_of(&host) == ROOT_GROUP {
            if let Err(e) = live.access.refresh().await {
                tracing::warn!(error = %e, "cannot reload groups after a new host");
            }
        }
    }
    let accepted = ticks.values().map(|values| values.len()).sum();
    if !ticks.is_empty() {
        live.record_batch(&host, ticks).await?;
    }
    if !refused.is_empty() {
        tracing::info!(
            refused = refused.len(),
            accepted,
            "samples outside the skew window refused"
        );
    }
    Ok(Accepted {
        accepted,
        refused: refused.len(),
        refusals: refused.into_iter().take(REFUSALS_SHOWN).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const SKEW: Duration = Duration::from_secs(300);

    fn batch(json: &str) -> Batch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_good_batch_is_grouped_by_tick() {
        let v = validate(
            batch(&format!(
                r#"{{"host":"web-1","samples":[{{"series":"cpu.total","ts":{NOW},"value":1.5}},{{"series":"mem.used","ts":{NOW},"value":2}}]}}"#
            )),
            NOW,
            SKEW,
        )
        .unwrap();
        assert_eq!(v.host, "web-1");
        assert_eq!(v.ticks[&NOW].len(), 2);
        assert!(v.refused.is_empty());
    }

    #[test]
    fn the_first_bad_sample_is_named_and_refuses_the_batch() {
        let err = validate(
            batch(&format!(
                r#"{{"host":"web-1","samples":[{{"series":"ok","ts":{NOW},"value":1}},{{"series":"Bad Name","ts":{NOW},"value":1}}]}}"#
            )),
            NOW,
            SKEW,
        )
        .unwrap_err();
        assert!(err.starts_with("sample 1: series \"Bad Name\""), "{err}");
        assert!(
            validate(batch(r#"{"host":"UPPER","samples":[]}"#), NOW, SKEW)
                .unwrap_err()
                .starts_with("host")
        );
        assert!(validate(batch(r#"{"host":"h","samples":[]}"#), NOW, SKEW).is_err());
    }

    #[test]
    fn stale_samples_are_refused_alone_and_the_rest_kept() {
        let old = NOW - 301_000;
        let v = validate(
            batch(&format!(
                r#"{{"host":"h","samples":[{{"series":"x","ts":{old},"value":1}},{{"series":"x","ts":{NOW},"value":2}}]}}"#
            )),
            NOW,
            SKEW,
        )
        .unwrap();
        assert_eq!(v.refused.len(), 1);
        assert_eq!(v.refused[0].sample, 0);
        assert!(v.refused[0].reason.contains("300 s"), "{:?}", v.refused);
        assert_eq!(v.ticks.keys().copied().collect::<Vec<_>>(), vec![NOW]);
    }

    #[test]
    fn extreme_timestamps_refuse_the_batch_without_overflow() {
        for ts in [i64::MAX, i64::MIN, -1, 0, 1_700_000_000] {
            let err = validate(
                Batch {
                    host: "h".into(),
                    samples: vec![Sample {
                        series: "x".into(),
                        ts,
                        value: 1.0,
                    }],
                },
                NOW,
                SKEW,
            )
            .unwrap_err();
            assert!(err.starts_with("sample 0: ts"), "{ts}: {err}");
        }
        assert!(serde_json::from_str::<Batch>(
            r#"{"host":"h","samples":[{"series":"x","ts":1e308,"value":1}]}"#
        )
        .is_err());
    }

    #[test]
    fn batches_over_ten_thousand_samples_are_refused() {
        let samples = (0..=MAX_SAMPLES)
            .map(|_| Sample {
                series: "x".into(),
                ts: NOW,
                value: 1.0,
            })
            .collect();
        let err = validate(
            Batch {
                host: "h".into(),
                samples,
            },
            NOW,
            SKEW,
        )
        .unwrap_err();
        assert!(err.contains("at most 10000"), "{err}");
    }

    #[test]
    fn non_finite_values_are_refused() {
        let samples = vec![Sample {
            series: "x".into(),
            ts: NOW,
            value: f64::INFINITY,
        }];
        assert_eq!(
            validate(
                Batch {
                    host: "h".into(),
                    samples
                },
                NOW,
                SKEW
            )
            .unwrap_err(),
            "sample 0: value must be a finite number"
        );
    }
}
