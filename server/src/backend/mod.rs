//! The server's implementation of the app's [`Backend`]: server functions land here.

mod admin;

use crate::{
    auth::{client::client_ip, middleware::session, Auth, OwnPasswordError},
    host::read_host_info,
    live::Live,
    store::{
        audit::{Actor, AuditEvent, AuditFilter},
        invites::{InviteState, InviteToken},
        sessions::id_hash,
        users::UserStoreError,
    },
};
use app::{
    account::{
        AuditEntry, AuditQuery, AuditView, Enrolment, InviteShare, InviteStatus,
        SecondFactorPrompt, SessionRow, SessionsView, SignInStep, TwoFactorView, CHALLENGE_COOKIE,
        PAGE_ROWS,
    },
    auth::{Password, Principal, Role, Username},
    backend::Backend,
    dashboard::HostInfo,
    error::{ApiError, LoginError},
    history::SeriesHistory,
    team::{AdminAction, AdminOutcome, GroupsView, TokensView, UsersView},
};
use http::request::Parts;
use std::sync::Arc;

pub struct ServerBackend {
    pub auth: Arc<Auth>,
    pub live: Arc<Live>,
    /// Origins a sign-in may return to (forward auth).
    pub return_origins: Vec<String>,
}

fn internal(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "a sessions request failed");
    ApiError::Internal
}

fn status_of(state: &InviteState) -> InviteStatus {
    match state {
        InviteState::Open { group, .. } => InviteStatus::Open {
            group: group.clone(),
        },
        InviteState::Expired => InviteStatus::Expired,
        InviteState::UsedUp => InviteStatus::Used,
        InviteState::Revoked => InviteStatus::Revoked,
        InviteState::Unknown => InviteStatus::Invalid,
    }
}

/// An invite that cannot be used, as the error its page shows.
fn refused(status: &InviteStatus) -> ApiError {
    ApiError::BadRequest(
        status
            .refusal()
            .unwrap_or("This invite cannot be used.")
            .into(),
    )
}

impl ServerBackend {
    /// Brings this process's groups up to the database's (a cheap read of the access
    /// version; a reload only if it moved): after a change made here, which other
    /// processes see at their next poll, and before a decision that must not lag.
    async fn regroup(&self) {
        if let Err(e) = self.live.access.refresh().await {
            tracing::warn!(error = %e, "cannot reload groups after a change");
        }
    }
}

/// The request's `User-Agent`, or nothing.
fn agent(parts: &Parts) -> &str {
    parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The pending sign-in's challenge id, from its cookie.
fn challenge_of(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == CHALLENGE_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// The stored hash of the request's own session.
fn own_hash(parts: &Parts) -> Option<String> {
    session(parts)?.id().map(|id| id_hash(&id))
}

#[async_trait::async_trait]
impl Backend for ServerBackend {
    async fn sign_in(
        &self,
        parts: &Parts,
        username: Option<Username>,
        password: Password,
    ) -> Result<SignInStep, LoginError> {
        let session = session(parts).ok_or(LoginError::Unavailable)?;
        self.auth
            .sign_in(
                &session,
                client_ip(&parts.extensions),
                agent(parts),
                username,
                password,
            )
            .await
    }

    fn return_origins(&self) -> &[String] {
        &self.return_origins
    }

    async fn second_factor_prompt(&self, parts: &Parts) -> Result<SecondFactorPrompt, LoginError> {
        self.auth
            .second_factor_prompt(challenge_of(parts).as_deref())
            .await
    }

    async fn second_factor(
        &self,
        parts: &Parts,
        code: &str,
    ) -> Result<Option<Vec<String>>, LoginError> {
        let session = session(parts).ok_or(LoginError::Unavailable)?;
        self.auth
            .second_factor(
                &session,
                client_ip(&parts.extensions),
                agent(parts),
                challenge_of(parts).as_deref(),
                code,
            )
            .await
    }

    async fn two_factor(&self, principal: &Principal) -> Result<TwoFactorView, ApiError> {
        self.auth
            .two_factor_of(principal)
            .await
            .map_err(|e| internal(&e))
    }

    async fn begin_two_factor(
        &self,
        parts: &Parts,
        principal: &Principal,
    ) -> Result<Enrolment, ApiError> {
        let session = session(parts).ok_or(ApiError::Unauthorized)?;
        self.auth
            .begin_enrolment(&session, principal)
            .await
            .map_err(|e| internal(&e))
    }

    async fn confirm_two_factor(
        &self,
        parts: &Parts,
        principal: &Principal,
        code: &str,
    ) -> Result<Vec<String>, LoginError> {
        let session = session(parts).ok_or(LoginError::Unavailable)?;
        self.auth
            .confirm_enrolment(&session, principal, client_ip(&parts.extensions), code)
            .await
    }

    async fn disable_two_factor(
        &self,
        parts: &Parts,
        principal: &Principal,
        password: Password,
    ) -> Result<(), ApiError> {
        self.auth
            .disable_own_two_factor(principal, client_ip(&parts.extensions), password)
            .await
            .map_err(|e| match e {
                OwnPasswordError::Unavailable => ApiError::Internal,
                refused => ApiError::BadRequest(refused.to_string()),
            })
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

    async fn sessions(
        &self,
        parts: &Parts,
        principal: &Principal,
        user: Option<Username>,
    ) -> Result<SessionsView, ApiError> {
        let db = self.live.db.clone();
        let (user_id, username) = match user {
            Some(name) if name.as_str() != principal.username => {
                if principal.role != Role::Admin {
                    tracing::warn!(
                        user_id = principal.user_id,
                        "sessions of another user refused"
                    );
                    return Err(ApiError::Forbidden);
                }
                let record = db
                    .user_by_name(&name)
                    .await
                    .map_err(|e| internal(&e))?
                    .ok_or_else(|| ApiError::BadRequest(format!("no user named {name}")))?;
                (record.id, record.username.to_string())
            }
            _ => (principal.user_id, principal.username.clone()),
        };
        let own = own_hash(parts);
        let sessions = db
            .sessions_of_user(user_id)
            .await
            .map_err(|e| internal(&e))?
            .into_iter()
            .map(|s| SessionRow {
                id: s.handle().to_string(),
                created_at: s.created_at,
                last_seen: s.last_seen,
                ip: s.client.as_ref().map(|c| c.ip.clone()),
                agent: s.client.as_ref().map(|c| c.agent.clone()),
                current: own.as_deref() == Some(s.id_hash.as_str()),
            })
            .collect();
        Ok(SessionsView {
            me: principal.clone(),
            user: username,
            sessions,
        })
    }

    async fn revoke_session(
        &self,
        parts: &Parts,
        principal: &Principal,
        id: &str,
    ) -> Result<(), ApiError> {
        let db = &self.live.db;
        let Some((hash, owner)) = db.session_by_handle(id).await.map_err(|e| internal(&e))? else {
            return Err(ApiError::BadRequest(
                "That session has ended already.".into(),
            ));
        };
        if owner != Some(principal.user_id) && principal.role != Role::Admin {
            tracing::warn!(
                user_id = principal.user_id,
                "revoking another user's session refused"
            );
            return Err(ApiError::Forbidden);
        }
        db.delete_session(&hash).await.map_err(|e| internal(&e))?;
        let whose = match owner {
            Some(owner) if owner != principal.user_id => db
                .user_by_id(owner)
                .await
                .ok()
                .flatten()
                .map(|u| format!("of {}", u.username)),
            _ => None,
        };
        db.audit(
            AuditEvent::SessionRevoked,
            Some(&principal.username),
            Some(client_ip(&parts.extensions)),
            Some(&format!(
                "one session {}",
                whose.as_deref().unwrap_or("of their own")
            )),
        )
        .await;
        tracing::info!(user_id = principal.user_id, "session revoked");
        Ok(())
    }

    async fn sign_out_others(&self, parts: &Parts, principal: &Principal) -> Result<u64, ApiError> {
        let own = own_hash(parts).ok_or(ApiError::Unauthorized)?;
        let db = &self.live.db;
        let ended = db
            .delete_other_sessions(principal.user_id, &own)
            .await
            .map_err(|e| internal(&e))?;
        db.audit(
            AuditEvent::SessionRevoked,
            Some(&principal.username),
            Some(client_ip(&parts.extensions)),
            Some(&format!(
                "{ended} other sessions (signed out everywhere else)"
            )),
        )
        .await;
        Ok(ended)
    }

    async fn audit_log(
        &self,
        principal: &Principal,
        query: AuditQuery,
    ) -> Result<AuditView, ApiError> {
        if principal.role != Role::Admin {
            tracing::warn!(
                user_id = principal.user_id,
                "audit log refused to a non-admin"
            );
            return Err(ApiError::Forbidden);
        }
        let filter = AuditFilter {
            user: query.user,
            event: query.event,
            from: query.from,
            to: query.to,
            before_id: query.before,
        };
        // One more than a page: whether there are older rows.
        let mut rows = self
            .live
            .db
            .audit_rows(&filter, PAGE_ROWS as i64 + 1)
            .await
            .map_err(|e| internal(&e))?;
        let more = rows.len() > PAGE_ROWS;
        rows.truncate(PAGE_ROWS);
        Ok(AuditView {
            me: principal.clone(),
            entries: rows
                .into_iter()
                .map(|r| AuditEntry {
                    id: r.id,
                    at: r.at,
                    event: r.event,
                    actor: r.actor,
                    user: r.username,
                    ip: r.ip,
                    detail: r.detail,
                })
                .collect(),
            events: AuditEvent::ALL
                .iter()
                .map(|e| e.as_str().to_string())
                .collect(),
            more,
        })
    }

    async fn change_password(
        &self,
        parts: &Parts,
        principal: &Principal,
        current: Password,
        new: String,
    ) -> Result<u64, ApiError> {
        let own = own_hash(parts).ok_or(ApiError::Unauthorized)?;
        self.auth
            .change_own_password(principal, &own, client_ip(&parts.extensions), current, new)
            .await
            .map_err(|e| match e {
                OwnPasswordError::Unavailable => ApiError::Internal,
                refused => ApiError::BadRequest(refused.to_string()),
            })
    }

    async fn invite_status(
        &self,
        parts: &Parts,
        token: &str,
    ) -> Result<(InviteStatus, Option<InviteShare>), ApiError> {
        let Some(token) = InviteToken::parse(token) else {
            return Ok((InviteStatus::Invalid, None));
        };
        let state = self
            .live
            .db
            .invite_state(&token)
            .await
            .map_err(|e| internal(&e))?;
        let status = status_of(&state);
        let share = matches!(status, InviteStatus::Open { .. }).then(|| {
            let link = format!(
                "{}/invite/{}",
                self.live.origin.base_url(&parts.headers),
                token.expose()
            );
            let qr_svg = crate::auth::qr::svg(&link);
            InviteShare { link, qr_svg }
        });
        Ok((status, share))
    }

    async fn accept_invite(
        &self,
        parts: &Parts,
        token: &str,
        username: Username,
        password: String,
    ) -> Result<SignInStep, ApiError> {
        let db = &self.live.db;
        let token = InviteToken::parse(token).ok_or_else(|| refused(&InviteStatus::Invalid))?;
        let status = status_of(&db.invite_state(&token).await.map_err(|e| internal(&e))?);
        if !matches!(status, InviteStatus::Open { .. }) {
            return Err(refused(&status));
        }
        let login = Password::for_login(password.clone())
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        // The new person creates their own account.
        let by = Actor::user(username.as_str(), client_ip(&parts.extensions));
        let created = self
            .auth
            .add_user(&by, username.as_str(), Role::Viewer, password)
            .await
            .map_err(|e| match e {
                crate::auth::AccountError::Store(UserStoreError::Exists(_)) => {
                    ApiError::BadRequest("That username is taken; choose another.".into())
                }
                crate::auth::AccountError::Password(e) => ApiError::BadRequest(e.to_string()),
                crate::auth::AccountError::Username(e) => ApiError::BadRequest(e.to_string()),
                other => internal(&other),
            })?;
        let user = db
            .user_by_name(&created)
            .await
            .map_err(|e| internal(&e))?
            .ok_or(ApiError::Internal)?;
        let used = db.use_invite(&token, user.id, created.as_str()).await;
        if !matches!(used, Ok(InviteState::Open { .. })) {
            // Used up by someone else meanwhile (or the database failed): the account
            // goes again, so that no account exists outside the invite's group.
            if let Err(e) = self.auth.remove_user(&by, created.as_str()).await {
                tracing::error!(error = %e, "cannot remove an account whose invite ran out");
            }
            return Err(match used {
                Ok(state) => refused(&status_of(&state)),
                Err(e) => internal(&e),
            });
        }
        self.regroup().await;
        self.sign_in(parts, Some(created), login)
            .await
            .map_err(|e| match e {
                LoginError::Unavailable => ApiError::Internal,
                _ => ApiError::BadRequest("Your account is ready; sign in with it.".into()),
            })
    }

    async fn join_invite(&self, principal: &Principal, token: &str) -> Result<(), ApiError> {
        let token = InviteToken::parse(token).ok_or_else(|| refused(&InviteStatus::Invalid))?;
        let state = self
            .live
            .db
            .use_invite(&token, principal.user_id, &principal.username)
            .await
            .map_err(|e| internal(&e))?;
        match state {
            InviteState::Open { .. } => {
                self.regroup().await;
                Ok(())
            }
            other => Err(refused(&status_of(&other))),
        }
    }

    async fn admin_users(&self, principal: &Principal) -> Result<UsersView, ApiError> {
        self.users_view(principal).await
    }

    async fn admin_groups(&self, principal: &Principal) -> Result<GroupsView, ApiError> {
        self.groups_view(principal).await
    }

    async fn admin_tokens(&self, principal: &Principal) -> Result<TokensView, ApiError> {
        self.tokens_view(principal).await
    }

    async fn admin(
        &self,
        parts: &Parts,
        principal: &Principal,
        action: AdminAction,
    ) -> Result<AdminOutcome, ApiError> {
        self.perform(parts, principal, action).await
    }
}
