//! The HTTP API for data: `POST /api/v1/ingest` (ingest token) and the read endpoints
//! `GET /api/v1/hosts`, `GET /api/v1/hosts/{name}/latest` (session, read token, or HTTP
//! Basic from loopback).

use super::Live;
use crate::{
    access::tokens::{ApiToken, Check, Scope},
    auth::middleware::client_ip,
    http::AppState,
    store::Db,
};
use app::{
    auth::{Password, Principal, Username},
    live::is_valid_name,
};
use axum::{
    body::Bytes,
    extract::{FromRequestParts, Path, State},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::Deserialize;
use serde_json::json;
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// Largest ingest body and batch.
pub const MAX_INGEST_BYTES: usize = 1024 * 1024;
pub const MAX_SAMPLES: usize = 10_000;

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

/// One host's samples, grouped by tick.
pub type Ticks = BTreeMap<i64, BTreeMap<String, f64>>;

/// Checks a whole batch; the first bad sample refuses all of it.
pub fn validate(batch: Batch, now_ms: i64, max_skew: Duration) -> Result<(String, Ticks), String> {
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
        if (sample.ts - now_ms).abs() > skew {
            return Err(format!(
                "sample {i}: ts {} is more than {} s from the server's clock ({now_ms})",
                sample.ts,
                max_skew.as_secs()
            ));
        }
        ticks
            .entry(sample.ts)
            .or_default()
            .insert(sample.series, sample.value);
    }
    Ok((batch.host, ticks))
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid API token is required (Authorization: Bearer lk_…)")]
    Unauthorized,
    #[error("this token's scope does not allow that")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error("no host named {0}")]
    NotFound(String),
    #[error("the server could not do that right now")]
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut res = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

fn bearer(headers: &HeaderMap) -> Option<ApiToken> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    ApiToken::parse(value.strip_prefix("Bearer ")?.trim())
}

async fn token_allows(db: &Db, token: &ApiToken, scope: Scope) -> Result<(), ApiError> {
    match db.check_token(token, scope).await {
        Ok(Check::Allowed { .. }) => Ok(()),
        Ok(Check::WrongScope) => Err(ApiError::Forbidden),
        Ok(Check::Unknown) => Err(ApiError::Unauthorized),
        Err(e) => {
            tracing::error!(error = %e, "cannot check an API token");
            Err(ApiError::Internal)
        }
    }
}

pub async fn ingest(
    State(live): State<Arc<Live>>,
    State(db): State<Db>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let token = bearer(&headers).ok_or(ApiError::Unauthorized)?;
    token_allows(&db, &token, Scope::Ingest).await?;
    let batch: Batch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("malformed batch: {e}")))?;
    let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(0);
    let (host, ticks) = validate(batch, now_ms, live.max_skew).map_err(|msg| {
        tracing::info!(%msg, "ingest batch refused");
        ApiError::BadRequest(msg)
    })?;
    let accepted: usize = ticks.values().map(BTreeMap::len).sum();
    live.hub.publish_batch(&host, ticks);
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))))
}

/// Proof that the request may read data: a signed-in session, a `read` token, or HTTP
/// Basic where [`SecurityPolicy::allows_basic_auth`](crate::http::security::SecurityPolicy)
/// says nothing can listen in.
pub struct Reader;

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.extensions.get::<Principal>().is_some() {
            return Ok(Self);
        }
        if let Some(token) = bearer(&parts.headers) {
            return token_allows(&state.db, &token, Scope::Read)
                .await
                .map(|()| Self);
        }
        let basic = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let ip = client_ip(&parts.extensions);
        match basic {
            Some(pair) if state.security.allows_basic_auth(ip) => {
                let (user, password) = pair.split_once(':').ok_or(ApiError::Unauthorized)?;
                let password = Password::for_login(password.to_string())
                    .map_err(|_| ApiError::Unauthorized)?;
                match state
                    .auth
                    .check_password(Username::parse(user).ok(), password, ip)
                    .await
                {
                    Ok(_) => Ok(Self),
                    Err(_) => Err(ApiError::Unauthorized),
                }
            }
            Some(_) => Err(ApiError::Forbidden),
            None => Err(ApiError::Unauthorized),
        }
    }
}

pub async fn hosts(State(live): State<Arc<Live>>, _: Reader) -> impl IntoResponse {
    Json(json!({ "hosts": live.hub.hosts() }))
}

pub async fn latest(
    State(live): State<Arc<Live>>,
    _: Reader,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (ts, values) = live
        .hub
        .latest(&name)
        .ok_or(ApiError::NotFound(name.clone()))?;
    Ok(Json(json!({ "host": name, "ts": ts, "values": values })))
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
        let (host, ticks) = validate(
            batch(&format!(
                r#"{{"host":"web-1","samples":[{{"series":"cpu.total","ts":{NOW},"value":1.5}},{{"series":"mem.used","ts":{NOW},"value":2}}]}}"#
            )),
            NOW,
            SKEW,
        )
        .unwrap();
        assert_eq!(host, "web-1");
        assert_eq!(ticks[&NOW].len(), 2);
    }

    #[test]
    fn the_first_bad_sample_is_named() {
        let err = validate(
            batch(&format!(
                r#"{{"host":"web-1","samples":[{{"series":"ok","ts":{NOW},"value":1}},{{"series":"Bad Name","ts":{NOW},"value":1}}]}}"#
            )),
            NOW,
            SKEW,
        )
        .unwrap_err();
        assert!(err.starts_with("sample 1: series \"Bad Name\""), "{err}");
        let old = NOW - 301_000;
        let err = validate(
            batch(&format!(
                r#"{{"host":"h","samples":[{{"series":"x","ts":{old},"value":1}}]}}"#
            )),
            NOW,
            SKEW,
        )
        .unwrap_err();
        assert!(err.starts_with("sample 0: ts"), "{err}");
        assert!(
            validate(batch(r#"{"host":"UPPER","samples":[]}"#), NOW, SKEW)
                .unwrap_err()
                .starts_with("host")
        );
        assert!(validate(batch(r#"{"host":"h","samples":[]}"#), NOW, SKEW).is_err());
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
