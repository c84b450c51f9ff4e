//! Accounts, sign-in and sessions: the rules of SECURITY.md's "Accounts and passwords" and
//! "Sessions" sections live here, behind thin server functions and CLI commands.

pub mod middleware;
pub mod password;
pub mod throttle;

use crate::store::{
    audit::AuditEvent,
    sessions::{AuthState, SessionSummary, AUTH_KEY},
    unix_now,
    users::UserStoreError,
    Db,
};
use app::{
    auth::{Password, PasswordError, Principal, Role, Username},
    error::LoginError,
};
use password::{HashError, Hasher};
use std::{net::IpAddr, time::Duration};
use throttle::{LoginThrottle, ThrottlePolicy};
use tower_sessions::Session;

/// How sessions behave, from the configuration.
#[derive(Clone, Debug)]
pub struct SessionPolicy {
    /// Signed out after this long without a request.
    pub idle: Duration,
    /// Signed out this long after sign-in, however active (enforced here, not by the cookie).
    pub max: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid username: {0}")]
    Username(#[from] app::auth::UsernameError),
    #[error("invalid password: {0}")]
    Password(#[from] PasswordError),
    #[error("no user named {0}")]
    NoSuchUser(String),
    #[error(transparent)]
    Store(#[from] UserStoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store error: {0}")]
    Store(#[from] tower_sessions::session::Error),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The account and session service.
#[derive(Debug)]
pub struct Auth {
    db: Db,
    hasher: Hasher,
    throttle: LoginThrottle,
    sessions: SessionPolicy,
    password_min_chars: usize,
}

impl Auth {
    pub fn new(
        db: Db,
        hasher: Hasher,
        throttle: ThrottlePolicy,
        sessions: SessionPolicy,
        password_min_chars: usize,
    ) -> Self {
        Self {
            db,
            hasher,
            throttle: LoginThrottle::new(throttle),
            sessions,
            password_min_chars,
        }
    }

    pub fn session_policy(&self) -> &SessionPolicy {
        &self.sessions
    }

    /// Checks the credentials and binds a new session id to the user.
    #[tracing::instrument(skip_all, fields(user = username.as_ref().map(Username::as_str), %ip))]
    pub async fn sign_in(
        &self,
        session: &Session,
        ip: IpAddr,
        username: Option<Username>,
        password: Password,
    ) -> Result<Principal, LoginError> {
        let principal = self.check_password(username, password, ip).await?;
        // A fresh id at the privilege change: no session fixation (ASVS 7.2.4).
        session.cycle_id().await.map_err(|e| unavailable(&e))?;
        let state = AuthState {
            user_id: principal.user_id,
            signed_in_at: unix_now(),
        };
        session
            .insert(AUTH_KEY, state)
            .await
            .map_err(|e| unavailable(&e))?;
        self.db
            .audit(
                AuditEvent::LoginSuccess,
                Some(&principal.username),
                Some(ip),
                None,
            )
            .await;
        tracing::info!(user_id = principal.user_id, "signed in");
        Ok(principal)
    }

    /// Checks a username and password (sign-in, or HTTP Basic on the API).
    ///
    /// Unknown users and wrong passwords take the same path through the hasher and give
    /// the same error; throttled attempts are refused before any hashing. Failures are
    /// audited here; successes by the caller.
    pub async fn check_password(
        &self,
        username: Option<Username>,
        password: Password,
        ip: IpAddr,
    ) -> Result<Principal, LoginError> {
        let name = username.as_ref().map(Username::as_str);
        if let Err(wait) = self.throttle.check(name, ip) {
            self.db
                .audit(AuditEvent::LoginThrottled, name, Some(ip), None)
                .await;
            tracing::warn!("sign-in throttled");
            return Err(LoginError::Throttled {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        let user = match &username {
            Some(u) => self.db.user_by_name(u).await.map_err(|e| unavailable(&e))?,
            None => None,
        };
        let verified = self
            .hasher
            .verify(
                password.clone(),
                user.as_ref().map(|u| u.password_hash.clone()),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(user) = user.filter(|_| verified.matches) else {
            self.throttle.record_failure(name, ip);
            self.db
                .audit(AuditEvent::LoginFailure, name, Some(ip), None)
                .await;
            tracing::info!("sign-in refused");
            return Err(LoginError::InvalidCredentials);
        };
        self.throttle.record_success(&user.username, ip);
        if verified.needs_rehash {
            match self.hasher.hash(password).await {
                Ok(phc) => {
                    if let Err(e) = self.db.set_password_hash(user.id, &phc).await {
                        tracing::warn!(error = %e, "cannot store rehashed password");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot rehash password"),
            }
        }
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            role: user.role,
        })
    }

    /// Ends the session on the server (the row goes; the cookie is cleared).
    pub async fn sign_out(&self, session: &Session, ip: IpAddr) -> Result<(), SessionError> {
        let state: Option<AuthState> = session.get(AUTH_KEY).await?;
        let user = match state {
            Some(s) => self.db.user_by_id(s.user_id).await?,
            None => None,
        };
        session.flush().await?;
        if let Some(user) = user {
            self.db
                .audit(AuditEvent::Logout, Some(&user.username), Some(ip), None)
                .await;
            tracing::info!(user_id = user.id, "signed out");
        }
        Ok(())
    }

    /// The user a session belongs to, if it is signed in, within its absolute lifetime,
    /// and its user still exists. Sessions past their lifetime are ended here.
    pub async fn principal_of(&self, session: &Session) -> Result<Option<Principal>, SessionError> {
        let Some(state) = session.get::<AuthState>(AUTH_KEY).await? else {
            return Ok(None);
        };
        let age = unix_now().saturating_sub(state.signed_in_at);
        if age < 0 || age as u64 >= self.sessions.max.as_secs() {
            tracing::info!(
                user_id = state.user_id,
                "session reached its absolute lifetime"
            );
            session.flush().await?;
            return Ok(None);
        }
        match self.db.user_by_id(state.user_id).await? {
            Some(user) => Ok(Some(Principal {
                user_id: user.id,
                username: user.username,
                role: user.role,
            })),
            None => {
                session.flush().await?;
                Ok(None)
            }
        }
    }

    /// Creates an account. The password must meet the configured minimum.
    pub async fn add_user(
        &self,
        username: &str,
        role: Role,
        password: String,
    ) -> Result<Username, AccountError> {
        let username = Username::parse(username)?;
        let password = Password::parse_new(password, self.password_min_chars)?;
        let phc = self.hasher.hash(password).await?;
        self.db.create_user(&username, &phc, role).await?;
        self.db
            .audit(
                AuditEvent::UserCreated,
                Some(username.as_str()),
                None,
                Some(role.as_str()),
            )
            .await;
        Ok(username)
    }

    /// Sets a new password and ends every session of the user (ASVS 7.4.3).
    pub async fn change_password(
        &self,
        username: &str,
        password: String,
    ) -> Result<u64, AccountError> {
        let username = Username::parse(username)?;
        let password = Password::parse_new(password, self.password_min_chars)?;
        let user = self
            .db
            .user_by_name(&username)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(username.to_string()))?;
        let phc = self.hasher.hash(password).await?;
        self.db.set_password_hash(user.id, &phc).await?;
        let ended = self.db.delete_sessions_of_user(user.id).await?;
        self.db
            .audit(
                AuditEvent::PasswordChanged,
                Some(username.as_str()),
                None,
                None,
            )
            .await;
        Ok(ended)
    }

    /// Removes an account; its sessions end with it.
    pub async fn remove_user(&self, username: &str) -> Result<(), AccountError> {
        let username = Username::parse(username)?;
        if !self.db.remove_user(&username).await? {
            return Err(AccountError::NoSuchUser(username.to_string()));
        }
        self.db
            .audit(AuditEvent::UserRemoved, Some(username.as_str()), None, None)
            .await;
        Ok(())
    }

    /// Ends every session of a user; returns how many were ended.
    pub async fn revoke_sessions(&self, username: &str) -> Result<u64, AccountError> {
        let user = self.user(username).await?;
        let ended = self.db.delete_sessions_of_user(user.id).await?;
        self.db
            .audit(
                AuditEvent::SessionRevoked,
                Some(&user.username),
                None,
                Some(&format!("{ended} sessions")),
            )
            .await;
        Ok(ended)
    }

    pub async fn sessions_of(&self, username: &str) -> Result<Vec<SessionSummary>, AccountError> {
        let user = self.user(username).await?;
        Ok(self.db.sessions_of_user(user.id).await?)
    }

    async fn user(&self, username: &str) -> Result<crate::store::users::UserRecord, AccountError> {
        let username = Username::parse(username)?;
        self.db
            .user_by_name(&username)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(username.to_string()))
    }
}

fn unavailable(err: &dyn std::fmt::Display) -> LoginError {
    tracing::error!(error = %err, "sign-in failed on the server");
    LoginError::Unavailable
}
