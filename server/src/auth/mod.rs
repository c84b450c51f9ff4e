//! Accounts, sign-in and sessions: the rules of SECURITY.md's "Accounts and passwords" and
//! "Sessions" sections live here, behind thin server functions and CLI commands.

pub mod client;
pub mod middleware;
pub mod origin;
pub mod password;
pub mod qr;
mod second_step;
pub mod throttle;
pub mod two_factor;

use crate::{
    config::{SessionPolicy, ThrottlePolicy},
    store::{
        audit::{Actor, AuditEvent},
        sessions::{
            AuthState, ClientInfo, SessionSummary, AUTH_KEY, CLIENT_KEY, MAX_AGENT_CHARS, SEEN_KEY,
        },
        unix_now, unix_now_ms,
        users::{UserRecord, UserStoreError},
        Db,
    },
};
use app::{
    account::{SignInStep, CHALLENGE_SECS},
    auth::{Password, PasswordError, Principal, Role, Username},
    error::LoginError,
};
use password::{HashError, Hasher};
use std::net::IpAddr;
use throttle::LoginThrottle;
use tower_sessions::Session;

#[derive(Debug, thiserror::Error)]
pub enum OwnPasswordError {
    #[error("The current password is wrong.")]
    Wrong,
    #[error("Too many failed attempts. Try again in {0} seconds.")]
    Throttled(u64),
    #[error("{0}")]
    Rejected(String),
    #[error("The password cannot be changed right now. Try again shortly.")]
    Unavailable,
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

/// A user whose password was just checked, with the session generation read before the
/// check: a session is stored for it only if the generation has not moved on since.
#[derive(Debug)]
pub struct Checked {
    pub principal: Principal,
    pub generation: i64,
    /// Whether the user has a second factor set up.
    pub two_factor: bool,
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

pub(crate) fn principal(user: &UserRecord) -> Principal {
    Principal {
        user_id: user.id,
        username: user.username.clone(),
        role: user.role,
    }
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

    /// Sign-in attempts counted in Redis, across every instance that shares it.
    pub fn with_shared_throttle(mut self, redis: std::sync::Arc<crate::instances::Redis>) -> Self {
        self.throttle = self.throttle.shared_through(redis);
        self
    }

    pub fn session_policy(&self) -> &SessionPolicy {
        &self.sessions
    }

    /// Checks the credentials and binds a new session id to the user.
    ///
    /// Nothing typed into the form is logged: a password typed into the username field
    /// must not reach a log line. Logs and audit rows name existing accounts only.
    #[tracing::instrument(skip_all, fields(%ip, user_id = tracing::field::Empty))]
    pub async fn sign_in(
        &self,
        session: &Session,
        ip: IpAddr,
        agent: &str,
        username: Option<Username>,
        password: Password,
    ) -> Result<SignInStep, LoginError> {
        let checked = self.check_password(username, password, ip).await?;
        tracing::Span::current().record("user_id", checked.principal.user_id);
        let policy = self
            .db
            .two_factor_policy()
            .await
            .map_err(|e| unavailable(&e))?;
        if checked.two_factor || policy.requires(checked.principal.role) {
            // No session yet: the second step makes it. A user the policy requires a
            // second factor of, who has none, sets one up in that step.
            let challenge = two_factor::new_challenge();
            let enrol = (!checked.two_factor).then(two_factor::new_secret);
            self.db
                .create_challenge(
                    &two_factor::challenge_hash(&challenge),
                    checked.principal.user_id,
                    checked.generation,
                    ip,
                    CHALLENGE_SECS,
                    enrol.as_deref(),
                )
                .await
                .map_err(|e| unavailable(&e))?;
            tracing::info!("password right; waiting for the second step");
            return Ok(SignInStep::SecondFactor { challenge });
        }
        self.start_session(session, ip, agent, &checked, None)
            .await
            .map(SignInStep::Done)
    }

    /// Binds a new session id to a user whose sign-in is complete.
    pub(crate) async fn start_session(
        &self,
        session: &Session,
        ip: IpAddr,
        agent: &str,
        checked: &Checked,
        how: Option<&str>,
    ) -> Result<Principal, LoginError> {
        let Checked {
            principal,
            generation,
            ..
        } = checked;
        let generation = *generation;
        // A fresh id at the privilege change: no session fixation (ASVS 7.2.4).
        session.cycle_id().await.map_err(|e| unavailable(&e))?;
        let state = AuthState {
            user_id: principal.user_id,
            signed_in_at: unix_now(),
            generation,
        };
        session
            .insert(AUTH_KEY, state)
            .await
            .map_err(|e| unavailable(&e))?;
        session
            .insert(SEEN_KEY, unix_now_ms())
            .await
            .map_err(|e| unavailable(&e))?;
        // Shown on the sessions page, so that a user can tell their devices apart.
        let client = ClientInfo {
            ip: ip.to_string(),
            agent: agent.chars().take(MAX_AGENT_CHARS).collect(),
        };
        session
            .insert(CLIENT_KEY, client)
            .await
            .map_err(|e| unavailable(&e))?;
        // The password was changed or the user's sessions revoked while this sign-in was
        // being checked: it must not produce a session. (The store refuses to write such a
        // session too; this gives the client an answer instead of a dead cookie.)
        let current = self
            .db
            .user_by_id(principal.user_id)
            .await
            .map_err(|e| unavailable(&e))?;
        if current.is_none_or(|u| u.generation != generation || u.disabled) {
            session.flush().await.map_err(|e| unavailable(&e))?;
            tracing::info!("sign-in overtaken by a password change or revocation");
            return Err(LoginError::InvalidCredentials);
        }
        self.hasher.stats().sign_in("ok");
        self.db
            .audit(
                AuditEvent::LoginSuccess,
                Some(&principal.username),
                Some(ip),
                how,
            )
            .await;
        tracing::info!("signed in");
        Ok(principal.clone())
    }

    /// Checks a username and password (sign-in, or HTTP Basic on the API).
    ///
    /// The attempt is counted by the throttle before the password is hashed. Unknown users
    /// and wrong passwords take the same path through the hasher and give the same error.
    /// Failures are audited here; successes by the caller.
    pub async fn check_password(
        &self,
        username: Option<Username>,
        password: Password,
        ip: IpAddr,
    ) -> Result<Checked, LoginError> {
        let user = match &username {
            Some(u) => self.db.user_by_name(u).await.map_err(|e| unavailable(&e))?,
            None => None,
        };
        // Audit rows and logs name an account only when it exists: what was typed may be
        // a password in the wrong field.
        let account = user.as_ref().map(|u| u.username.clone());
        let account = account.as_deref();
        let attempt = match self
            .throttle
            .begin(username.as_ref().map(Username::as_str), ip)
            .await
        {
            Ok(attempt) => attempt,
            Err(wait) => {
                self.hasher.stats().sign_in("throttled");
                self.db
                    .audit(AuditEvent::LoginThrottled, account, Some(ip), None)
                    .await;
                tracing::warn!(user_id = user.as_ref().map(|u| u.id), "sign-in throttled");
                return Err(LoginError::Throttled {
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                });
            }
        };
        if !attempt.delay.is_zero() {
            tracing::info!(delay = ?attempt.delay, "account under attack; slowing this attempt");
            tokio::time::sleep(attempt.delay).await;
        }
        let verified = self
            .hasher
            .verify(
                password.clone(),
                user.as_ref().map(|u| u.password_hash.clone()),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(user) = user.filter(|u| verified.matches && !u.disabled) else {
            let detail = if account.is_none() {
                Some("unknown account")
            } else if verified.matches {
                // The same answer as a wrong password: a disabled account is not a way to
                // tell which passwords are right.
                Some("disabled account")
            } else {
                None
            };
            self.hasher.stats().sign_in("failed");
            self.db
                .audit(AuditEvent::LoginFailure, account, Some(ip), detail)
                .await;
            tracing::info!("sign-in refused");
            return Err(LoginError::InvalidCredentials);
        };
        self.throttle.succeeded(attempt).await;
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
        Ok(Checked {
            principal: principal(&user),
            generation: user.generation,
            two_factor: user.two_factor,
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

    /// The user a session belongs to, if it is signed in, within its absolute lifetime, of
    /// the user's current generation, and its user still exists. Other sessions are ended
    /// here. Activity is written at most once per `touch_every`: the session is saved
    /// (renewing its idle expiry and its cookie) only then.
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
        let user = match self.db.user_by_id(state.user_id).await? {
            Some(user) if user.generation == state.generation && !user.disabled => user,
            _ => {
                session.flush().await?;
                return Ok(None);
            }
        };
        let now = unix_now_ms();
        let seen = session.get::<i64>(SEEN_KEY).await?.unwrap_or(0);
        let every = i64::try_from(self.sessions.touch_every().as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(seen) >= every {
            session.insert(SEEN_KEY, now).await?;
        }
        Ok(Some(principal(&user)))
    }

    /// Creates an account. The password must meet the configured minimum.
    pub async fn add_user(
        &self,
        by: &Actor,
        username: &str,
        role: Role,
        password: String,
    ) -> Result<Username, AccountError> {
        let username = Username::parse(username)?;
        let password = Password::parse_new(password, self.password_min_chars)?;
        let phc = self.hasher.hash(password).await?;
        self.db.create_user(&username, &phc, role).await?;
        self.db
            .audit_by(
                by,
                AuditEvent::UserCreated,
                Some(username.as_str()),
                Some(role.as_str()),
            )
            .await;
        Ok(username)
    }

    /// Sets a new password and ends every session of the user (ASVS 7.4.3).
    pub async fn change_password(
        &self,
        by: &Actor,
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
            .audit_by(
                by,
                AuditEvent::PasswordChanged,
                Some(username.as_str()),
                None,
            )
            .await;
        Ok(ended)
    }

    /// A signed-in user's own password change: the current password first (counted by the
    /// sign-in throttle, like any guess), then the new one under the same rules as
    /// everywhere. Every other session of the user ends; the one asking goes on.
    pub async fn change_own_password(
        &self,
        principal: &Principal,
        keep: &str,
        ip: IpAddr,
        current: Password,
        new: String,
    ) -> Result<u64, OwnPasswordError> {
        let username = Username::parse(&principal.username).map_err(|_| OwnPasswordError::Wrong)?;
        self.check_password(Some(username), current, ip)
            .await
            .map_err(own_password_error)?;
        let new = Password::parse_new(new, self.password_min_chars)
            .map_err(|e| OwnPasswordError::Rejected(e.to_string()))?;
        let phc = self
            .hasher
            .hash(new)
            .await
            .map_err(|_| OwnPasswordError::Unavailable)?;
        let ended = self
            .db
            .change_password_keeping(principal.user_id, &phc, keep)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot change a password");
                OwnPasswordError::Unavailable
            })?;
        self.db
            .audit(
                AuditEvent::PasswordChanged,
                Some(&principal.username),
                Some(ip),
                Some(&format!("by the user; {ended} other sessions ended")),
            )
            .await;
        Ok(ended)
    }

    /// Removes an account; its sessions end first, so that its sockets close at once.
    pub async fn remove_user(&self, by: &Actor, username: &str) -> Result<(), AccountError> {
        let user = self.user(username).await?;
        self.db.delete_sessions_of_user(user.id).await?;
        let username = Username::parse(&user.username)?;
        if !self.db.remove_user(&username).await? {
            return Err(AccountError::NoSuchUser(username.to_string()));
        }
        self.db
            .audit_by(by, AuditEvent::UserRemoved, Some(username.as_str()), None)
            .await;
        Ok(())
    }

    /// Ends every session of a user; returns how many were ended.
    pub async fn revoke_sessions(&self, by: &Actor, username: &str) -> Result<u64, AccountError> {
        let user = self.user(username).await?;
        let ended = self.db.delete_sessions_of_user(user.id).await?;
        self.db
            .audit_by(
                by,
                AuditEvent::SessionRevoked,
                Some(&user.username),
                Some(&format!("{ended} sessions")),
            )
            .await;
        Ok(ended)
    }

    /// Gives a user another role; their sessions end (a privilege change, ASVS 7.4).
    pub async fn set_role(
        &self,
        by: &Actor,
        username: &str,
        role: Role,
    ) -> Result<u64, AccountError> {
        let user = self.user(username).await?;
        let ended = self.db.set_role(user.id, role).await?;
        self.db
            .audit_by(
                by,
                AuditEvent::RoleChanged,
                Some(&user.username),
                Some(&format!("{} to {role}; {ended} sessions ended", user.role)),
            )
            .await;
        Ok(ended)
    }

    /// Disables (ending every session) or enables an account.
    pub async fn set_disabled(
        &self,
        by: &Actor,
        username: &str,
        disabled: bool,
    ) -> Result<u64, AccountError> {
        let user = self.user(username).await?;
        let ended = self.db.set_disabled(user.id, disabled).await?;
        let event = if disabled {
            AuditEvent::UserDisabled
        } else {
            AuditEvent::UserEnabled
        };
        self.db
            .audit_by(
                by,
                event,
                Some(&user.username),
                disabled
                    .then(|| format!("{ended} sessions ended"))
                    .as_deref(),
            )
            .await;
        Ok(ended)
    }

    pub async fn sessions_of(&self, username: &str) -> Result<Vec<SessionSummary>, AccountError> {
        let user = self.user(username).await?;
        Ok(self.db.sessions_of_user(user.id).await?)
    }

    pub async fn user(&self, username: &str) -> Result<UserRecord, AccountError> {
        let username = Username::parse(username)?;
        self.db
            .user_by_name(&username)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(username.to_string()))
    }
}

pub(crate) fn own_password_error(e: LoginError) -> OwnPasswordError {
    match e {
        LoginError::Throttled { retry_after_secs } => OwnPasswordError::Throttled(retry_after_secs),
        LoginError::Unavailable => OwnPasswordError::Unavailable,
        _ => OwnPasswordError::Wrong,
    }
}

pub(crate) fn unavailable(err: &dyn std::fmt::Display) -> LoginError {
    tracing::error!(error = %err, "sign-in failed on the server");
    LoginError::Unavailable
}
