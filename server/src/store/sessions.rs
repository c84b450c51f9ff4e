//! Server-side sessions for tower-sessions, in the same database as the accounts.
//!
//! Rows are keyed by a SHA-256 of the session id, so the table never holds a usable
//! cookie value, and carry the owning user's id, so that every session of one user can be
//! listed and ended at once (logout everywhere, password change, account removal).

use super::{unix_now, Db};
use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    SessionStore,
};

/// The session data key under which the signed-in state lives.
pub const AUTH_KEY: &str = "auth";

/// What a session knows about its user: who, and since when (for the absolute lifetime).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthState {
    pub user_id: i64,
    pub signed_in_at: i64,
}

/// One of a user's sessions, as listed to that user or an admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    pub id_hash: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug)]
pub struct SqlSessionStore {
    db: Db,
}

impl SqlSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// How a session id is stored: SHA-256, base64. Never the id itself.
pub fn id_hash(id: &Id) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(id.0.to_le_bytes()))
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn user_id_of(record: &Record) -> Option<i64> {
    record
        .data
        .get(AUTH_KEY)
        .and_then(|v| serde_json::from_value::<AuthState>(v.clone()).ok())
        .map(|a| a.user_id)
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    serde_json::to_vec(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let now = unix_now();
        // Ids are 128 random bits; a collision is astronomically unlikely, but a fresh id
        // is cheaper than an argument.
        loop {
            let done = sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, data, expires_at, created_at, last_seen) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id_hash) DO NOTHING",
            )
            .bind(id_hash(&record.id))
            .bind(user_id_of(record))
            .bind(&data)
            .bind(record.expiry_date.unix_timestamp())
            .bind(now)
            .bind(now)
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates an existing session only. A session deleted meanwhile (signed out, revoked,
    /// user removed) stays deleted even if a request that was in flight saves it.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query(
            "UPDATE sessions SET user_id = ?, data = ?, expires_at = ?, last_seen = ? WHERE id_hash = ?",
        )
        .bind(user_id_of(record))
        .bind(encode(record)?)
        .bind(record.expiry_date.unix_timestamp())
        .bind(unix_now())
        .bind(id_hash(&record.id))
        .execute(self.db.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = sqlx::query(
            "SELECT data, expires_at FROM sessions WHERE id_hash = ? AND expires_at > ?",
        )
        .bind(id_hash(id))
        .bind(unix_now())
        .fetch_optional(self.db.pool())
        .await
        .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let data: Vec<u8> = row.try_get("data").map_err(backend)?;
        let expires_at: i64 = row.try_get("expires_at").map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_slice(&data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: OffsetDateTime::from_unix_timestamp(expires_at).map_err(backend)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash(id))
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for SqlSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(unix_now())
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}

impl Db {
    /// The live sessions of one user, newest first.
    pub async fn sessions_of_user(&self, user_id: i64) -> Result<Vec<SessionSummary>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id_hash, created_at, last_seen, expires_at FROM sessions \
             WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC",
        )
        .bind(user_id)
        .bind(unix_now())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SessionSummary {
                    id_hash: row.try_get("id_hash")?,
                    created_at: row.try_get("created_at")?,
                    last_seen: row.try_get("last_seen")?,
                    expires_at: row.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// Ends every session of one user; returns how many there were.
    pub async fn delete_sessions_of_user(&self, user_id: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Which of `hashes` are live sessions now.
    pub async fn live_sessions_among(&self, hashes: &[String]) -> Result<Vec<String>, sqlx::Error> {
        let mut live = Vec::with_capacity(hashes.len());
        // SQLite caps bound parameters; 500 at a time is far below every limit.
        for chunk in hashes.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT id_hash FROM sessions WHERE expires_at > ? AND id_hash IN ({marks})"
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql).bind(unix_now());
            for hash in chunk {
                query = query.bind(hash);
            }
            live.extend(query.fetch_all(self.pool()).await?);
        }
        Ok(live)
    }

    /// Pushes the idle expiry of `hashes` to `idle` from now (never shortens it).
    pub async fn extend_sessions(
        &self,
        hashes: &[String],
        idle: std::time::Duration,
    ) -> Result<(), sqlx::Error> {
        let until =
            unix_now().saturating_add(i64::try_from(idle.as_secs()).unwrap_or(i64::MAX / 2));
        for chunk in hashes.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "UPDATE sessions SET expires_at = MAX(expires_at, ?), last_seen = ? WHERE id_hash IN ({marks})"
            );
            let mut query = sqlx::query(&sql).bind(until).bind(unix_now());
            for hash in chunk {
                query = query.bind(hash);
            }
            query.execute(self.pool()).await?;
        }
        Ok(())
    }
}
