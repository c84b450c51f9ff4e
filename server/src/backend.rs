//! The server's implementation of the app's [`Backend`]: server functions land here.

use crate::{
    auth::{client::client_ip, middleware::session, Auth},
    host::read_host_info,
};
use app::{
    auth::{Password, Principal, Username},
    backend::Backend,
    dashboard::HostInfo,
    error::{ApiError, LoginError},
};
use http::request::Parts;
use std::sync::Arc;

pub struct ServerBackend {
    pub auth: Arc<Auth>,
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
}
