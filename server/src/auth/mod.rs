//! Accounts, sign-in and sessions: the rules of SECURITY.md's "Accounts and passwords" and
//! "Sessions" sections live here, behind thin server functions and CLI commands.

pub mod client;
pub mod middleware;
pub mod origin;
pub mod password;
pub mod qr;
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
    account::{Enrolment, SecondFactorPrompt, SignInStep, TwoFactorView, CHALLENGE_SECS},
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

fn principal(user: &UserRecord) -> Principal {
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
    async fn start_session(
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

    /// What the second step of the sign-in named by `challenge` asks for.
    pub async fn second_factor_prompt(
        &self,
        challenge: Option<&str>,
    ) -> Result<SecondFactorPrompt, LoginError> {
        let Some(challenge) = challenge else {
            return Ok(SecondFactorPrompt::Expired);
        };
        let pending = self
            .db
            .challenge(&two_factor::challenge_hash(challenge))
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(pending) = pending else {
            return Ok(SecondFactorPrompt::Expired);
        };
        match pending.enrol_secret {
            None => Ok(SecondFactorPrompt::Code),
            Some(secret) => {
                let user = self
                    .db
                    .user_by_id(pending.user_id)
                    .await
                    .map_err(|e| unavailable(&e))?
                    .ok_or(LoginError::ChallengeExpired)?;
                Ok(SecondFactorPrompt::Enrol(enrolment(
                    &secret,
                    &user.username,
                )))
            }
        }
    }

    /// The second step: a code from the user's app (or, once each, a recovery code), or
    /// for a user enrolling now, the first code of the new secret. Throttled with the
    /// password's counters; the session is made only here. Returns the new recovery codes
    /// of a user who enrolled.
    #[tracing::instrument(skip_all, fields(%ip, user_id = tracing::field::Empty))]
    pub async fn second_factor(
        &self,
        session: &Session,
        ip: IpAddr,
        agent: &str,
        challenge: Option<&str>,
        code: &str,
    ) -> Result<Option<Vec<String>>, LoginError> {
        let hash = two_factor::challenge_hash(challenge.ok_or(LoginError::ChallengeExpired)?);
        let db = &self.db;
        let pending = db
            .challenge(&hash)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or(LoginError::ChallengeExpired)?;
        let user = db
            .user_by_id(pending.user_id)
            .await
            .map_err(|e| unavailable(&e))?
            .filter(|u| u.generation == pending.generation && !u.disabled)
            .ok_or(LoginError::ChallengeExpired)?;
        tracing::Span::current().record("user_id", user.id);
        let attempt = match self.throttle.begin(Some(&user.username), ip) {
            Ok(attempt) => attempt,
            Err(wait) => {
                db.audit(
                    AuditEvent::LoginThrottled,
                    Some(&user.username),
                    Some(ip),
                    Some("second step"),
                )
                .await;
                tracing::warn!("second step throttled");
                return Err(LoginError::Throttled {
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                });
            }
        };
        if !attempt.delay.is_zero() {
            tokio::time::sleep(attempt.delay).await;
        }
        let now = u64::try_from(unix_now()).unwrap_or(0);
        let passed = match &pending.enrol_secret {
            Some(secret) => two_factor::matching_step(secret, code, now, 0)
                .map(|step| Passed::Enrolled(secret.clone(), step)),
            None => self.check_code(user.id, code, now).await?,
        };
        let Some(passed) = passed else {
            db.audit(
                AuditEvent::TwoFactorFailure,
                Some(&user.username),
                Some(ip),
                None,
            )
            .await;
            tracing::info!("second step refused");
            return Err(LoginError::WrongCode);
        };
        // Of two requests finishing the same sign-in, one makes a session.
        if !db
            .finish_challenge(&hash)
            .await
            .map_err(|e| unavailable(&e))?
        {
            return Err(LoginError::ChallengeExpired);
        }
        self.throttle.succeeded(attempt);
        let (codes, how) = match passed {
            Passed::Enrolled(secret, step) => {
                let codes = self.enable(&user, &secret, step, Some(ip)).await?;
                (Some(codes), "with a second factor set up now")
            }
            Passed::Totp => (None, "with a one-time code"),
            Passed::Recovery => (None, "with a recovery code"),
        };
        let checked = Checked {
            principal: principal(&user),
            generation: user.generation,
            two_factor: true,
        };
        self.start_session(session, ip, agent, &checked, Some(how))
            .await?;
        Ok(codes)
    }

    /// Whether `code` is the user's current TOTP code (taking its step) or an unused
    /// recovery code (using it up).
    async fn check_code(
        &self,
        user_id: i64,
        code: &str,
        now: u64,
    ) -> Result<Option<Passed>, LoginError> {
        let Some((secret, last)) = self
            .db
            .totp_of(user_id)
            .await
            .map_err(|e| unavailable(&e))?
        else {
            return Ok(None);
        };
        if let Some(step) = two_factor::matching_step(&secret, code, now, last) {
            let taken = self
                .db
                .take_totp_step(user_id, step)
                .await
                .map_err(|e| unavailable(&e))?;
            return Ok(taken.then_some(Passed::Totp));
        }
        let Some(normal) = two_factor::normalise_recovery_code(code) else {
            return Ok(None);
        };
        let used = self
            .db
            .use_recovery_code(user_id, &two_factor::recovery_hash(&normal))
            .await
            .map_err(|e| unavailable(&e))?;
        if used {
            let user = self.db.user_by_id(user_id).await.ok().flatten();
            self.db
                .audit(
                    AuditEvent::RecoveryCodeUsed,
                    user.as_ref().map(|u| u.username.as_str()),
                    None,
                    None,
                )
                .await;
        }
        Ok(used.then_some(Passed::Recovery))
    }

    /// Stores a confirmed secret with ten new recovery codes, which are returned (to be
    /// shown once).
    async fn enable(
        &self,
        user: &UserRecord,
        secret: &str,
        step: u64,
        ip: Option<IpAddr>,
    ) -> Result<Vec<String>, LoginError> {
        let codes = two_factor::new_recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .filter_map(|c| two_factor::normalise_recovery_code(c))
            .map(|c| two_factor::recovery_hash(&c))
            .collect();
        self.db
            .enable_totp(user.id, secret, step, &hashes)
            .await
            .map_err(|e| unavailable(&e))?;
        self.db
            .audit(AuditEvent::TwoFactorEnabled, Some(&user.username), ip, None)
            .await;
        Ok(codes)
    }

    /// The signed-in user's second factor, for the settings page.
    pub async fn two_factor_of(&self, principal: &Principal) -> Result<TwoFactorView, sqlx::Error> {
        let enabled = self.db.totp_of(principal.user_id).await?.is_some();
        Ok(TwoFactorView {
            enabled,
            recovery_codes_left: self.db.recovery_codes_left(principal.user_id).await?,
            required: self.db.two_factor_policy().await?.requires(principal.role),
        })
    }

    /// A new secret for a signed-in user to enrol; kept in their session until confirmed.
    pub async fn begin_enrolment(
        &self,
        session: &Session,
        principal: &Principal,
    ) -> Result<Enrolment, SessionError> {
        let secret = two_factor::new_secret();
        session.insert(ENROL_KEY, secret.clone()).await?;
        Ok(enrolment(&secret, &principal.username))
    }

    /// Confirms the enrolment begun in this session with a first code; returns the new
    /// recovery codes. Wrong codes count like wrong passwords.
    pub async fn confirm_enrolment(
        &self,
        session: &Session,
        principal: &Principal,
        ip: IpAddr,
        code: &str,
    ) -> Result<Vec<String>, LoginError> {
        let secret: Option<String> = session.get(ENROL_KEY).await.map_err(|e| unavailable(&e))?;
        let secret = secret.ok_or(LoginError::ChallengeExpired)?;
        let attempt = self
            .throttle
            .begin(Some(&principal.username), ip)
            .map_err(|wait| LoginError::Throttled {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            })?;
        let now = u64::try_from(unix_now()).unwrap_or(0);
        let Some(step) = two_factor::matching_step(&secret, code, now, 0) else {
            return Err(LoginError::WrongCode);
        };
        self.throttle.succeeded(attempt);
        let _: Option<String> = session
            .remove(ENROL_KEY)
            .await
            .map_err(|e| unavailable(&e))?;
        let user = self
            .db
            .user_by_id(principal.user_id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or(LoginError::ChallengeExpired)?;
        self.enable(&user, &secret, step, Some(ip)).await
    }

    /// Turns the signed-in user's second factor off, after checking their password;
    /// refused when the policy requires it of them.
    pub async fn disable_own_two_factor(
        &self,
        principal: &Principal,
        ip: IpAddr,
        password: Password,
    ) -> Result<(), OwnPasswordError> {
        let policy = self.db.two_factor_policy().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the two-factor policy");
            OwnPasswordError::Unavailable
        })?;
        if policy.requires(principal.role) {
            return Err(OwnPasswordError::Rejected(
                "Two-factor sign-in is required for your account; it cannot be turned off.".into(),
            ));
        }
        let username = Username::parse(&principal.username).map_err(|_| OwnPasswordError::Wrong)?;
        self.check_password(Some(username), password, ip)
            .await
            .map_err(own_password_error)?;
        self.db
            .disable_totp(principal.user_id)
            .await
            .map_err(|_| OwnPasswordError::Unavailable)?;
        self.db
            .audit(
                AuditEvent::TwoFactorDisabled,
                Some(&principal.username),
                Some(ip),
                Some("by the user"),
            )
            .await;
        Ok(())
    }

    /// Turns a user's second factor off (they lost their device). Their sessions stay.
    pub async fn reset_two_factor(&self, by: &Actor, username: &str) -> Result<bool, AccountError> {
        let user = self.user(username).await?;
        let was_on = self.db.disable_totp(user.id).await?;
        if was_on {
            self.db
                .audit_by(
                    by,
                    AuditEvent::TwoFactorDisabled,
                    Some(&user.username),
                    Some("reset by an admin"),
                )
                .await;
        }
        Ok(was_on)
    }

    /// Whether a password alone may open the API (HTTP Basic): not for a user who signs in
    /// with a second factor, or must.
    pub async fn password_is_enough(&self, checked: &Checked) -> Result<bool, sqlx::Error> {
        Ok(!checked.two_factor
            && !self
                .db
                .two_factor_policy()
                .await?
                .requires(checked.principal.role))
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
        {
            Ok(attempt) => attempt,
            Err(wait) => {
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
            self.db
                .audit(AuditEvent::LoginFailure, account, Some(ip), detail)
                .await;
            tracing::info!("sign-in refused");
            return Err(LoginError::InvalidCredentials);
        };
        self.throttle.succeeded(attempt);
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

/// How a second step passed.
enum Passed {
    /// The first code of a secret being enrolled, and its step.
    Enrolled(String, u64),
    Totp,
    Recovery,
}

/// The session key of a secret being enrolled from the settings page.
const ENROL_KEY: &str = "totp_enrol";

fn enrolment(secret: &str, username: &str) -> Enrolment {
    let uri = two_factor::uri(secret, username).unwrap_or_default();
    Enrolment {
        secret: secret.to_string(),
        qr_svg: crate::auth::qr::svg(&uri),
    }
}

fn own_password_error(e: LoginError) -> OwnPasswordError {
    match e {
        LoginError::Throttled { retry_after_secs } => OwnPasswordError::Throttled(retry_after_secs),
        LoginError::Unavailable => OwnPasswordError::Unavailable,
        _ => OwnPasswordError::Wrong,
    }
}

fn unavailable(err: &dyn std::fmt::Display) -> LoginError {
    tracing::error!(error = %err, "sign-in failed on the server");
    LoginError::Unavailable
}
