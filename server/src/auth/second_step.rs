//! The second step of a sign-in (a TOTP code or a recovery code, or setting a second factor
//! up when the admins require one), and managing one's second factor. The session is made
//! here, only when the step passes.

use super::{
    own_password_error, principal, two_factor, unavailable, AccountError, Auth, Checked,
    OwnPasswordError, SessionError,
};
use crate::store::{
    audit::{Actor, AuditEvent},
    unix_now,
    users::UserRecord,
};
use app::{
    account::{Enrolment, SecondFactorPrompt, TwoFactorView},
    auth::{Password, Principal, Username},
    error::LoginError,
};
use std::net::IpAddr;
use tower_sessions::Session;

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
        qr_svg: super::qr::svg(&uri),
    }
}

impl Auth {
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
        let attempt = match self.throttle.begin(Some(&user.username), ip).await {
            Ok(attempt) => attempt,
            Err(wait) => {
                self.hasher.stats().sign_in("throttled");
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
            self.hasher.stats().sign_in("failed");
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
        self.throttle.succeeded(attempt).await;
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
            .await
            .map_err(|wait| LoginError::Throttled {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            })?;
        let now = u64::try_from(unix_now()).unwrap_or(0);
        let Some(step) = two_factor::matching_step(&secret, code, now, 0) else {
            return Err(LoginError::WrongCode);
        };
        self.throttle.succeeded(attempt).await;
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
}
