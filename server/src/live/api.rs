//! The HTTP API for data: `POST /api/v1/ingest` (ingest token) and the read endpoints
//! `GET /api/v1/hosts`, `GET /api/v1/hosts/{name}/latest` (session, read token, or HTTP
//! Basic from loopback). Handlers are thin: the work is in [`ingest`](super::ingest).

use super::{
    ingest::{self, IngestError, MAX_INGEST_BYTES},
    Live,
};
use crate::store::unix_now_ms;
use crate::{
    access::{
        groups::Viewer,
        tokens::{ApiToken, Check, Scope},
    },
    auth::{client::client_ip, Auth},
};
use app::{
    auth::{Password, Principal, Username},
    history::SeriesList,
};
use axum::{
    body::Body,
    extract::{FromRef, FromRequestParts, Path, Query, State},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid API token is required (Authorization: Bearer lk_…)")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("no host or series named {0}")]
    NotFound(String),
    #[error("the request body was not sent in time")]
    BodyTimeout,
    #[error("a request body holds at most {MAX_INGEST_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    OverCap(String),
    #[error("the server could not do that right now")]
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::OverCap(_) => StatusCode::UNPROCESSABLE_ENTITY,
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

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        let message = err.to_string();
        match err {
            IngestError::Unauthorized => Self::Unauthorized,
            IngestError::WrongScope | IngestError::ForeignHost(_) | IngestError::OwnHost(_) => {
                tracing::warn!(%message, "ingest refused");
                Self::Forbidden(message)
            }
            IngestError::BadBatch(_) => {
                tracing::info!(%message, "ingest batch refused");
                Self::BadRequest(message)
            }
            IngestError::SeriesCap(_) | IngestError::HostCap(_) => {
                tracing::warn!(%message, "ingest batch over a cap");
                Self::OverCap(message)
            }
            IngestError::Db(e) => {
                tracing::error!(error = %e, "ingest failed");
                Self::Internal
            }
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<ApiToken> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    ApiToken::parse(value.strip_prefix("Bearer ")?.trim())
}

/// Whether `err`, or anything it wraps, is a `T`.
fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.is::<T>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// `POST /api/v1/ingest`. The token is checked from the headers alone: a client without a
/// valid token gets 401 at once, whatever body it announces or trickles.
pub async fn ingest(
    State(live): State<Arc<Live>>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let token = bearer(&headers).ok_or(ApiError::Unauthorized)?;
    let grant = ingest::authorize(&live.db, &token).await?;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_INGEST_BYTES as u64) {
        return Err(ApiError::TooLarge);
    }
    let bytes = axum::body::to_bytes(body, MAX_INGEST_BYTES)
        .await
        .map_err(|e| {
            let err = e.into_inner();
            if caused_by::<http_body_util::LengthLimitError>(err.as_ref()) {
                ApiError::TooLarge
            } else if caused_by::<tower_http::timeout::TimeoutError>(err.as_ref()) {
                tracing::info!("ingest body not sent in time");
                ApiError::BodyTimeout
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
    let accepted = ingest::ingest(&live, grant, &bytes).await?;
    let samples = &live.stats.ingest_samples;
    samples
        .with_label_values(&["accepted"])
        .inc_by(accepted.accepted as u64);
    samples
        .with_label_values(&["refused"])
        .inc_by(accepted.refused as u64);
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Proof that the request may read data (a signed-in session, a `read` token, or HTTP
/// Basic where [`OriginPolicy::allows_basic_auth`](crate::auth::origin::OriginPolicy)
/// says nothing can listen in), and which hosts it may read.
pub struct Reader(Viewer);

impl Reader {
    /// 404 for a host the reader may not see, as for one that does not exist: names of
    /// other groups' hosts do not leak.
    fn check(&self, live: &Live, host: &str) -> Result<(), ApiError> {
        if live.sees(&self.0, host) {
            Ok(())
        } else {
            Err(ApiError::NotFound(host.to_string()))
        }
    }
}

impl<S> FromRequestParts<S> for Reader
where
    S: Send + Sync,
    Arc<Live>: FromRef<S>,
    Arc<Auth>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let live = Arc::<Live>::from_ref(state);
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Self(live.viewer(principal)));
        }
        if let Some(token) = bearer(&parts.headers) {
            return match live.db.check_token(&token, Scope::Read).await {
                Ok(Check::Allowed { group, .. }) => Ok(Self(live.access.forest().token(group))),
                Ok(Check::WrongScope) => Err(ApiError::Forbidden(
                    "this token's scope does not allow that".into(),
                )),
                Ok(Check::Unknown) => Err(ApiError::Unauthorized),
                Err(e) => {
                    tracing::error!(error = %e, "cannot check an API token");
                    Err(ApiError::Internal)
                }
            };
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
            Some(pair) if live.origin.allows_basic_auth(ip) => {
                let (user, password) = pair.split_once(':').ok_or(ApiError::Unauthorized)?;
                let password = Password::for_login(password.to_string())
                    .map_err(|_| ApiError::Unauthorized)?;
                let auth = Arc::<Auth>::from_ref(state);
                let checked = auth
                    .check_password(Username::parse(user).ok(), password, ip)
                    .await
                    .map_err(|_| ApiError::Unauthorized)?;
                // A password alone is not enough for an account with a second factor.
                match auth.password_is_enough(&checked).await {
                    Ok(true) => Ok(Self(live.viewer(&checked.principal))),
                    Ok(false) => Err(ApiError::Forbidden(
                        "this account signs in with a second factor; use a read token".into(),
                    )),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the two-factor policy");
                        Err(ApiError::Internal)
                    }
                }
            }
            Some(_) => Err(ApiError::Forbidden(
                "HTTP Basic is accepted only over TLS or from loopback".into(),
            )),
            None => Err(ApiError::Unauthorized),
        }
    }
}

/// `GET /metrics`, in Prometheus' text format. Asked from the server's own machine (a
/// loopback peer, not forwarded by a proxy) it answers as it is; from anywhere else it needs
/// what may read the API (a read token, a session).
pub async fn metrics<S>(State(state): State<S>, request: axum::extract::Request) -> Response
where
    S: Clone + Send + Sync + 'static,
    Arc<Live>: FromRef<S>,
    Arc<Auth>: FromRef<S>,
{
    let (mut parts, _) = request.into_parts();
    let direct_loopback = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|peer| peer.0.ip().is_loopback());
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| parts.headers.contains_key(*h));
    // A token, when sent, is checked wherever the request comes from: the host check lets
    // `/metrics` with one through under any name.
    let token = parts.headers.contains_key(header::AUTHORIZATION);
    if !direct_loopback || forwarded || token {
        if let Err(refused) = Reader::from_request_parts(&mut parts, &state).await {
            return refused.into_response();
        }
    }
    let live = Arc::<Live>::from_ref(&state);
    live.stats
        .open_sockets
        .set(i64::try_from(live.sockets.count()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        live.stats.render(),
    )
        .into_response()
}

/// Every host: those reporting now and those known from storage that stopped.
pub async fn hosts(State(live): State<Arc<Live>>, reader: Reader) -> impl IntoResponse {
    Json(json!({ "hosts": live.hosts_for(&reader.0) }))
}

/// `GET /api/v1/hosts/{name}/series`.
pub async fn series(
    State(live): State<Arc<Live>>,
    reader: Reader,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    reader.check(&live, &name)?;
    let series = live
        .series_of(&name)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot list a host's series");
            ApiError::Internal
        })?
        .ok_or_else(|| ApiError::NotFound(name.clone()))?;
    Ok(Json(SeriesList { host: name, series }))
}

/// The query of `GET /api/v1/hosts/{name}/series/{series}`, as sent.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RangeParams {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

/// A checked time range: `from < to`, both in ms, and a step in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: i64,
    pub to: i64,
    pub step_secs: Option<u64>,
}

/// The longest range one query may ask for: the 1-hour tier's default retention.
const MAX_RANGE_MS: i64 = 400 * 24 * 3_600_000;
/// The default range: the last hour.
const DEFAULT_RANGE_MS: i64 = 3_600_000;

impl TimeRange {
    /// `from`/`to` as epoch milliseconds or RFC 3339; `to` defaults to `now`, `from` to an
    /// hour before `to`; `step` in whole seconds, at most a day.
    pub fn parse(params: &RangeParams, now: i64) -> Result<Self, String> {
        let to = params
            .to
            .as_deref()
            .map(instant)
            .transpose()?
            .unwrap_or(now);
        let from = params
            .from
            .as_deref()
            .map(instant)
            .transpose()?
            .unwrap_or(to.saturating_sub(DEFAULT_RANGE_MS));
        if from >= to {
            return Err("from must be before to".into());
        }
        if to.checked_sub(from).is_none_or(|span| span > MAX_RANGE_MS) {
            return Err("a query spans at most 400 days".into());
        }
        let step_secs = params
            .step
            .as_deref()
            .map(|s| match s.parse::<u64>() {
                Ok(step @ 1..=86_400) => Ok(step),
                _ => Err(format!(
                    "step must be whole seconds from 1 to 86400, not {s:?}"
                )),
            })
            .transpose()?;
        Ok(Self {
            from,
            to,
            step_secs,
        })
    }
}

/// Epoch milliseconds or an RFC 3339 time.
fn instant(raw: &str) -> Result<i64, String> {
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        .map_err(|_| format!("{raw:?} is neither epoch milliseconds nor an RFC 3339 time"))
}

/// `GET /api/v1/hosts/{name}/series/{series}?from=&to=&step=`.
pub async fn series_history(
    State(live): State<Arc<Live>>,
    reader: Reader,
    Path((name, series)): Path<(String, String)>,
    Query(params): Query<RangeParams>,
) -> Result<impl IntoResponse, ApiError> {
    reader.check(&live, &name)?;
    let range = TimeRange::parse(&params, unix_now_ms()).map_err(|reason| {
        tracing::info!(%reason, "history query refused");
        ApiError::BadRequest(reason)
    })?;
    let history = live
        .series_history(&name, &series, range.from, range.to, range.step_secs)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read a series' history");
            ApiError::Internal
        })?
        .ok_or_else(|| ApiError::NotFound(format!("{name}/{series}")))?;
    Ok(Json(history))
}

pub async fn latest(
    State(live): State<Arc<Live>>,
    reader: Reader,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    reader.check(&live, &name)?;
    let (ts, values) = live
        .hub
        .latest(&name)
        .ok_or(ApiError::NotFound(name.clone()))?;
    Ok(Json(json!({ "host": name, "ts": ts, "values": values })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(from: Option<&str>, to: Option<&str>, step: Option<&str>) -> RangeParams {
        RangeParams {
            from: from.map(Into::into),
            to: to.map(Into::into),
            step: step.map(Into::into),
        }
    }

    #[test]
    fn ranges_take_epoch_ms_or_rfc3339_and_default_to_the_last_hour() {
        let now = 1_764_500_000_000;
        assert_eq!(
            TimeRange::parse(&params(None, None, None), now).unwrap(),
            TimeRange {
                from: now - 3_600_000,
                to: now,
                step_secs: None
            }
        );
        let r = TimeRange::parse(
            &params(
                Some("2025-11-30T10:00:00Z"),
                Some("1764500000000"),
                Some("60"),
            ),
            now,
        )
        .unwrap();
        assert_eq!(r.from, 1_764_496_800_000);
        assert_eq!(r.to, now);
        assert_eq!(r.step_secs, Some(60));
    }

    #[test]
    fn bad_ranges_are_refused_with_a_reason() {
        let now = 1_764_500_000_000;
        for (p, why) in [
            (params(Some("yesterday"), None, None), "RFC 3339"),
            (params(Some("2000"), Some("1000"), None), "before"),
            (params(Some("0"), None, None), "400 days"),
            (params(None, None, Some("0")), "step"),
            (params(None, None, Some("1.5")), "step"),
            (params(None, None, Some("999999")), "step"),
        ] {
            let err = TimeRange::parse(&p, now).unwrap_err();
            assert!(err.contains(why), "{p:?}: {err}");
        }
    }
}
