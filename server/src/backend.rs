//! The server's implementation of the app's [`Backend`]: server functions land here.

use crate::{
    auth::{client::client_ip, middleware::session, Auth},
    host::read_host_info,
    live::Live,
};
use app::{
    auth::{Password, Principal, Username},
    backend::Backend,
    dashboard::HostInfo,
    error::{ApiError, LoginError},
    history::SeriesHistory,
};
use http::request::Parts;
use std::sync::Arc;

pub struct ServerBackend {
    pub auth: Arc<Auth>,
    pub live: Arc<Live>,
}

#[async_trait::async_trait]
impl Backend for ServerBackend {
    async fn sign_in(
        &self,
        parts: &Parts,
        username: Option<Username>,
        password: Password,
    ) -> Result<Principal, LoginError> {
        let session = session(parts).ok_or(LoginError::Unavailable)?;
        self.auth
            .sign_in(&session, client_ip(&parts.extensions), username, password)
            .await
    }

    async fn sign_out(&self, parts: &Parts) -> Result<(), ApiError> {
        let session = session(parts).ok_or(ApiError::Internal)?;
        self.auth
            .sign_out(&session, client_ip(&parts.extensions))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "sign-out failed");
                ApiError::Internal
            })
    }

    async fn host_info(&self) -> Result<HostInfo, ApiError> {
        tokio::task::spawn_blocking(read_host_info)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read host info");
                ApiError::Internal
            })
    }

    async fn host_series(
        &self,
        principal: &Principal,
        host: &str,
    ) -> Result<Option<Vec<String>>, ApiError> {
        // A host the user may not see is answered as unknown: its name does not leak.
        if !self.live.sees(&self.live.viewer(principal), host) {
            return Ok(None);
        }
        self.live.series_of(host).await.map_err(|e| {
            tracing::error!(error = %e, "cannot list a host's series");
            ApiError::Internal
        })
    }

    async fn series_history(
        &self,
        principal: &Principal,
        host: &str,
        series: &str,
        from_ms: i64,
        to_ms: i64,
        step_secs: Option<u64>,
    ) -> Result<Option<SeriesHistory>, ApiError> {
        if !self.live.sees(&self.live.viewer(principal), host) {
            return Ok(None);
        }
        self.live
            .series_history(host, series, from_ms, to_ms, step_secs)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read a series' history");
                ApiError::Internal
            })
    }
}
