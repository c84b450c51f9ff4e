//! The seam between server functions (here, compiled into the app) and the domain (in the
//! `server` crate). Server functions parse their input, call one `Backend` method and map
//! its error; the server crate provides the implementation through Leptos context.

use crate::{
    account::{
        AuditQuery, AuditView, Enrolment, InviteShare, InviteStatus, Password, Principal,
        SecondFactorPrompt, SessionsView, SignInStep, TwoFactorView, Username,
    },
    error::{respond_with, ApiError, LoginError},
    history::SeriesHistory,
    host::HostInfo,
    team::{AdminAction, AdminOutcome, GroupsView, TokensView, UsersView},
};
use http::request::Parts;
use leptos::prelude::*;
use std::sync::Arc;

/// The domain operations the UI can ask for. `parts` is the request being served: the
/// implementation finds the session and the client address in its extensions.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Verifies the credentials and, on success, binds a fresh session id to the user, or
    /// (for a user with a second factor) starts the second step.
    async fn sign_in(
        &self,
        parts: &Parts,
        username: Option<Username>,
        password: Password,
    ) -> Result<SignInStep, LoginError>;

    /// The origins of other apps behind Lookout's sign-in that a sign-in may return to.
    fn return_origins(&self) -> &[String];

    /// What the second step of the request's pending sign-in (its challenge cookie) asks.
    async fn second_factor_prompt(&self, parts: &Parts) -> Result<SecondFactorPrompt, LoginError>;

    /// Checks the second step's code and makes the session; the new recovery codes of a
    /// user who enrolled in this step.
    async fn second_factor(
        &self,
        parts: &Parts,
        code: &str,
    ) -> Result<Option<Vec<String>>, LoginError>;

    /// The principal's own second factor.
    async fn two_factor(&self, principal: &Principal) -> Result<TwoFactorView, ApiError>;

    /// A new secret for the principal to enrol, kept in their session until confirmed.
    async fn begin_two_factor(
        &self,
        parts: &Parts,
        principal: &Principal,
    ) -> Result<Enrolment, ApiError>;

    /// Confirms the enrolment with a first code; the new recovery codes.
    async fn confirm_two_factor(
        &self,
        parts: &Parts,
        principal: &Principal,
        code: &str,
    ) -> Result<Vec<String>, LoginError>;

    /// Turns the principal's second factor off, after checking their password.
    async fn disable_two_factor(
        &self,
        parts: &Parts,
        principal: &Principal,
        password: Password,
    ) -> Result<(), ApiError>;

    /// Ends the request's session on the server.
    async fn sign_out(&self, parts: &Parts) -> Result<(), ApiError>;

    /// Facts about the machine Lookout runs on.
    async fn host_info(&self) -> Result<HostInfo, ApiError>;

    /// The series of a host the principal may see, sorted; `None` if there is no such
    /// host (or the principal may not see it: the two look the same).
    async fn host_series(
        &self,
        principal: &Principal,
        host: &str,
    ) -> Result<Option<Vec<String>>, ApiError>;

    /// One series' history over `[from_ms, to_ms]`, from the tier that suits the range
    /// (and `step_secs`, if given); `None` for an unknown host or series.
    async fn series_history(
        &self,
        principal: &Principal,
        host: &str,
        series: &str,
        from_ms: i64,
        to_ms: i64,
        step_secs: Option<u64>,
    ) -> Result<Option<SeriesHistory>, ApiError>;

    /// The live sessions of `user` (the principal's own without it; only an admin may
    /// name another user), the request's own marked.
    async fn sessions(
        &self,
        parts: &Parts,
        principal: &Principal,
        user: Option<Username>,
    ) -> Result<SessionsView, ApiError>;

    /// Ends the session named by `id` (a handle from [`Backend::sessions`]): the
    /// principal's own, or anyone's for an admin. Its sockets close.
    async fn revoke_session(
        &self,
        parts: &Parts,
        principal: &Principal,
        id: &str,
    ) -> Result<(), ApiError>;

    /// Changes the principal's own password after checking the current one; ends every
    /// other session of theirs. How many ended.
    async fn change_password(
        &self,
        parts: &Parts,
        principal: &Principal,
        current: Password,
        new: String,
    ) -> Result<u64, ApiError>;

    /// What the invite link `token` is worth now (anyone may ask: the token is the secret),
    /// and for an open one its link and QR code.
    async fn invite_status(
        &self,
        parts: &Parts,
        token: &str,
    ) -> Result<(InviteStatus, Option<InviteShare>), ApiError>;

    /// Creates an account through an open invite, makes it a member of the invite's group
    /// and signs the request's session in as it (or starts the second step, when the
    /// policy requires one of everyone).
    async fn accept_invite(
        &self,
        parts: &Parts,
        token: &str,
        username: Username,
        password: String,
    ) -> Result<SignInStep, ApiError>;

    /// Makes the principal a member of the open invite's group.
    async fn join_invite(&self, principal: &Principal, token: &str) -> Result<(), ApiError>;

    /// The audit log's rows that match `query`, newest first (admins only).
    async fn audit_log(
        &self,
        principal: &Principal,
        query: AuditQuery,
    ) -> Result<AuditView, ApiError>;

    /// Ends every session of the principal but the request's own. How many ended.
    async fn sign_out_others(&self, parts: &Parts, principal: &Principal) -> Result<u64, ApiError>;

    /// Every account (admins only).
    async fn admin_users(&self, principal: &Principal) -> Result<UsersView, ApiError>;

    /// The groups the principal manages, with their members, hosts and invites (none for
    /// a user who manages none).
    async fn admin_groups(&self, principal: &Principal) -> Result<GroupsView, ApiError>;

    /// Every API token, never its secret (admins only).
    async fn admin_tokens(&self, principal: &Principal) -> Result<TokensView, ApiError>;

    /// Performs `action` if the principal may: 403 otherwise, before anything changes.
    async fn admin(
        &self,
        parts: &Parts,
        principal: &Principal,
        action: AdminAction,
    ) -> Result<AdminOutcome, ApiError>;
}

/// The backend as stored in Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

/// The backend and the request, or an internal error if the server was wired wrongly.
pub fn request_context() -> Result<(SharedBackend, Parts), ApiError> {
    match (use_context::<SharedBackend>(), use_context::<Parts>()) {
        (Some(backend), Some(parts)) => Ok((backend, parts)),
        _ => {
            tracing::error!("server function called without backend or request in context");
            Err(ApiError::Internal)
        }
    }
}

/// The signed-in user of this request, as resolved by the server's session middleware.
pub fn principal(parts: &Parts) -> Option<Principal> {
    parts.extensions.get::<Principal>().cloned()
}

/// Like [`principal`], but an error for anonymous requests.
pub fn require_principal(parts: &Parts) -> Result<Principal, ApiError> {
    principal(parts).ok_or_else(|| respond_with(&ApiError::Unauthorized))
}
