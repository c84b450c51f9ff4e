//! Invitations to a group. A link carries `{id}.{secret}`: the row is found by its id and
//! the secret compared, in constant time, with the stored SHA-256. An invite has a number
//! of uses and an expiry, and can be revoked; each state says so to whoever opens it.

use super::{
    audit::{Actor, AuditEvent},
    unix_now, Db,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// An invite link's token, `{id}.{secret}`. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteToken {
    id: i64,
    secret: String,
}

impl InviteToken {
    /// Parses a token from a link; anything not shaped like one is refused before any
    /// lookup.
    pub fn parse(raw: &str) -> Option<Self> {
        let (id, secret) = raw.split_once('.')?;
        let id = id.parse().ok().filter(|id: &i64| *id > 0)?;
        let shaped = secret.len() == 43
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| Self {
            id,
            secret: secret.to_string(),
        })
    }

    fn generate(id: i64) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            id,
            secret: URL_SAFE_NO_PAD.encode(bytes),
        }
    }

    fn hash(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.secret.as_bytes()))
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    /// The token as it goes into a link.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
}

impl fmt::Debug for InviteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteToken({}.<redacted>)", self.id)
    }
}

/// What an invite link is worth now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteState {
    Open {
        group_id: i64,
        group: String,
    },
    Expired,
    UsedUp,
    Revoked,
    /// No such invite, or the secret does not match: the two look the same.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("no group named {0}")]
    NoSuchGroup(String),
    #[error("no invite {0}")]
    NoSuchInvite(i64),
    #[error("an invite is used 1 to 1000 times")]
    BadUses,
    #[error("an invite lasts from a second to 90 days")]
    BadExpiry,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// An invite as `lookout invite list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InviteRow {
    pub id: i64,
    pub group: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub uses: i64,
    pub max_uses: i64,
    pub revoked_at: Option<i64>,
}

impl InviteRow {
    pub fn state(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.uses >= self.max_uses {
            "used"
        } else if now >= self.expires_at {
            "expired"
        } else {
            "open"
        }
    }
}

/// Longest life of an invite, in seconds.
pub const MAX_INVITE_SECS: i64 = 90 * 24 * 3600;

impl Db {
    /// Creates an invite to `group` and returns its token, which is not stored.
    pub async fn create_invite(
        &self,
        group: &str,
        max_uses: i64,
        lasts_secs: i64,
        by: &Actor,
    ) -> Result<InviteToken, InviteError> {
        if !(1..=1000).contains(&max_uses) {
            return Err(InviteError::BadUses);
        }
        if !(1..=MAX_INVITE_SECS).contains(&lasts_secs) {
            return Err(InviteError::BadExpiry);
        }
        let group_id = self
            .group_named(group)
            .await
            .map_err(|_| InviteError::NoSuchGroup(group.to_string()))?;
        let now = unix_now();
        let mut tx = self.pool().begin().await?;
        // The secret is made once the id is known; the placeholder hash matches nothing.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO invites (secret_hash, group_id, created_by, created_at, expires_at, max_uses) \
             VALUES ('', $1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(group_id)
        .bind(by.name())
        .bind(now)
        .bind(now + lasts_secs)
        .bind(max_uses)
        .fetch_one(&mut *tx)
        .await?;
        let token = InviteToken::generate(id);
        sqlx::query("UPDATE invites SET secret_hash = $1 WHERE id = $2")
            .bind(token.hash())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.audit_by(
            by,
            AuditEvent::InviteCreated,
            None,
            Some(&format!(
                "invite {id} to {group}, {max_uses} uses, {lasts_secs} s"
            )),
        )
        .await;
        Ok(token)
    }

    pub async fn list_invites(&self) -> Result<Vec<InviteRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT i.id, g.name AS \"group\", i.created_by, i.created_at, i.expires_at, i.uses, \
             i.max_uses, i.revoked_at \
             FROM invites i JOIN groups g ON g.id = i.group_id ORDER BY i.id",
        )
        .fetch_all(self.pool())
        .await
    }

    /// The group of invite `id`, if there is such an invite.
    pub async fn invite_group(&self, id: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT g.name FROM invites i JOIN groups g ON g.id = i.group_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
    }

    pub async fn revoke_invite(&self, id: i64, by: &Actor) -> Result<(), InviteError> {
        let done =
            sqlx::query("UPDATE invites SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(unix_now())
                .bind(id)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(InviteError::NoSuchInvite(id));
        }
        self.audit_by(
            by,
            AuditEvent::InviteRevoked,
            None,
            Some(&format!("invite {id}")),
        )
        .await;
        Ok(())
    }

    /// What the invite is worth now.
    pub async fn invite_state(&self, token: &InviteToken) -> Result<InviteState, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let state = state_in(&mut tx, token).await?;
        tx.commit().await?;
        Ok(state)
    }

    /// Takes one use of an open invite and makes `user_id` a member of its group, in one
    /// transaction; the state that refused it otherwise.
    pub async fn use_invite(
        &self,
        token: &InviteToken,
        user_id: i64,
        username: &str,
    ) -> Result<InviteState, sqlx::Error> {
        let state = self.invite_state(token).await?;
        let InviteState::Open { group_id, group } = &state else {
            return Ok(state);
        };
        // The use is taken by one conditional statement, which holds the write lock from
        // the start of the transaction: two sign-ups racing for the last use cannot both
        // see it free.
        let mut tx = self.pool().begin().await?;
        let taken = sqlx::query(
            "UPDATE invites SET uses = uses + 1 \
             WHERE id = $1 AND revoked_at IS NULL AND uses < max_uses AND expires_at > $2",
        )
        .bind(token.id)
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            tx.rollback().await?;
            return self.invite_state(token).await;
        }
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, owner, created_at) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (group_id, user_id) DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) \
             WHERE key = 'access_version'",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.audit(
            AuditEvent::InviteUsed,
            Some(username),
            None,
            Some(&format!("invite {} to {group}", token.id)),
        )
        .await;
        Ok(state)
    }
}

/// An invite's row, as its state is read.
#[derive(sqlx::FromRow)]
struct Stored {
    secret_hash: String,
    group_id: i64,
    name: String,
    expires_at: i64,
    uses: i64,
    max_uses: i64,
    revoked_at: Option<i64>,
}

async fn state_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &InviteToken,
) -> Result<InviteState, sqlx::Error> {
    let row: Option<Stored> = sqlx::query_as(
        "SELECT i.secret_hash, i.group_id, g.name, i.expires_at, i.uses, i.max_uses, i.revoked_at \
         FROM invites i JOIN groups g ON g.id = i.group_id WHERE i.id = $1",
    )
    .bind(token.id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(InviteState::Unknown);
    };
    if !bool::from(row.secret_hash.as_bytes().ct_eq(token.hash().as_bytes())) {
        return Ok(InviteState::Unknown);
    }
    Ok(if row.revoked_at.is_some() {
        InviteState::Revoked
    } else if row.uses >= row.max_uses {
        InviteState::UsedUp
    } else if unix_now() >= row.expires_at {
        InviteState::Expired
    } else {
        InviteState::Open {
            group_id: row.group_id,
            group: row.name,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_their_own_shape_and_never_debug_print_the_secret() {
        let t = InviteToken::generate(7);
        let raw = t.expose();
        assert_eq!(InviteToken::parse(&raw), Some(t.clone()));
        assert!(!format!("{t:?}").contains(&t.secret));
        for bad in [
            "",
            "7",
            "7.",
            "x.abc",
            "0.aaaa",
            &format!("-1.{}", t.secret),
            &format!("7.{}!", &t.secret[1..]),
        ] {
            assert!(InviteToken::parse(bad).is_none(), "{bad}");
        }
        assert_ne!(InviteToken::generate(7).secret, t.secret);
    }
}
