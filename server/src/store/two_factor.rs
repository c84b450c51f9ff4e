//! Second factors as stored: each user's TOTP secret and last accepted step, hashed
//! recovery codes, the sign-ins waiting for their second step, and the admins' policy.

use super::{unix_now, Db};
use app::account::TwoFactorPolicy;
use std::net::IpAddr;

/// The settings key of the policy.
const POLICY_KEY: &str = "two_factor_policy";

/// A sign-in whose password was right, waiting for its second step.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Challenge {
    pub user_id: i64,
    pub generation: i64,
    pub ip: String,
    /// Set when the user must enrol first: the secret being enrolled.
    pub enrol_secret: Option<String>,
}

impl Db {
    pub async fn two_factor_policy(&self) -> Result<TwoFactorPolicy, sqlx::Error> {
        Ok(self
            .setting(POLICY_KEY)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or_default())
    }

    pub async fn set_two_factor_policy(&self, policy: TwoFactorPolicy) -> Result<(), sqlx::Error> {
        self.set_setting(POLICY_KEY, policy.as_str()).await
    }

    /// The user's TOTP secret and last accepted step, if they have one.
    pub async fn totp_of(&self, user_id: i64) -> Result<Option<(String, u64)>, sqlx::Error> {
        let row: Option<(Option<String>, i64)> =
            sqlx::query_as("SELECT totp_secret, totp_last_step FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(secret, step)| secret.map(|s| (s, u64::try_from(step).unwrap_or(0)))))
    }

    /// Turns the second factor on: the secret, the step of the code that confirmed it (so
    /// that code is not accepted again) and new recovery codes replacing any old ones.
    pub async fn enable_totp(
        &self,
        user_id: i64,
        secret: &str,
        step: u64,
        recovery_hashes: &[String],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE users SET totp_secret = $1, totp_last_step = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(secret)
        .bind(i64::try_from(step).unwrap_or(i64::MAX))
        .bind(unix_now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Turns the second factor off and forgets the recovery codes. Whether it was on.
    pub async fn disable_totp(&self, user_id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_secret = NULL, totp_last_step = 0, updated_at = $1 \
             WHERE id = $2 AND totp_secret IS NOT NULL",
        )
        .bind(unix_now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records `step` as the last accepted one, if it is later than the last: two requests
    /// with the same code cannot both pass. Whether this one did.
    pub async fn take_totp_step(&self, user_id: i64, step: u64) -> Result<bool, sqlx::Error> {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $3",
        )
        .bind(step)
        .bind(user_id)
        .bind(step)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses up a recovery code, once. Whether it was there and unused.
    pub async fn use_recovery_code(&self, user_id: i64, hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(unix_now())
        .bind(user_id)
        .bind(hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn recovery_codes_left(&self, user_id: i64) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await
    }

    /// Stores a pending second step for `lasts_secs`; expired ones are swept here.
    pub async fn create_challenge(
        &self,
        id_hash: &str,
        user_id: i64,
        generation: i64,
        ip: IpAddr,
        lasts_secs: i64,
        enrol_secret: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let now = unix_now();
        sqlx::query("DELETE FROM login_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO login_challenges (id_hash, user_id, generation, ip, expires_at, enrol_secret) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(generation)
        .bind(ip.to_string())
        .bind(now + lasts_secs)
        .bind(enrol_secret)
        .execute(self.pool())
        .await
        .map(drop)
    }

    /// The pending second step named by `id_hash`, unless it expired.
    pub async fn challenge(&self, id_hash: &str) -> Result<Option<Challenge>, sqlx::Error> {
        sqlx::query_as(
            "SELECT user_id, generation, ip, enrol_secret FROM login_challenges \
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(unix_now())
        .fetch_optional(self.pool())
        .await
    }

    /// Ends a pending second step. Whether it was there: of two requests finishing the
    /// same one, only one gets a session.
    pub async fn finish_challenge(&self, id_hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM login_challenges WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
