//! Server-side sessions for tower-sessions, in the same database as the accounts.
//!
//! Rows are keyed by a SHA-256 of the session id, so the table never holds a usable
//! cookie value, and carry the owning user's id, so that every session of one user can be
//! listed and ended at once (logout everywhere, password change, account removal).

use super::{params, unix_now, Db};
use crate::stats::Stats;
use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::{collections::HashMap, sync::Arc};
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    SessionStore,
};

/// The session data key under which the signed-in state lives.
pub const AUTH_KEY: &str = "auth";
/// When the session was last written for activity (ms): it is rewritten, and its idle
/// expiry and cookie renewed, at most once per `SessionPolicy::touch_every`.
pub const SEEN_KEY: &str = "seen";

/// What a session knows about its user: who, since when (for the absolute lifetime), and
/// the user's session generation at sign-in (a later one voids the session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthState {
    pub user_id: i64,
    pub signed_in_at: i64,
    #[serde(default)]
    pub generation: i64,
}

/// The session data key under which the client that signed in is kept.
pub const CLIENT_KEY: &str = "client";

/// The client a session signed in from, as shown on the sessions page.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientInfo {
    pub ip: String,
    /// The `User-Agent` header, cut to [`MAX_AGENT_CHARS`].
    pub agent: String,
}

/// How much of a `User-Agent` a session keeps.
pub const MAX_AGENT_CHARS: usize = 200;

/// Characters of a session's stored hash that name it on the sessions page: enough to be
/// unique (96 bits), and only a hash of the cookie's id, which it cannot be turned back into.
pub const HANDLE_CHARS: usize = 16;

/// One of a user's sessions, as listed to that user or an admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    pub id_hash: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    pub client: Option<ClientInfo>,
}

impl SessionSummary {
    pub fn handle(&self) -> &str {
        self.id_hash.get(..HANDLE_CHARS).unwrap_or(&self.id_hash)
    }
}

#[derive(Clone, Debug)]
pub struct SqlSessionStore {
    db: Db,
    stats: Arc<Stats>,
}

impl SqlSessionStore {
    pub fn new(db: Db, stats: Arc<Stats>) -> Self {
        Self { db, stats }
    }
}

/// How a session id is stored: SHA-256, base64. Never the id itself.
pub fn id_hash(id: &Id) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(id.0.to_le_bytes()))
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn auth_of(record: &Record) -> Option<AuthState> {
    record
        .data
        .get(AUTH_KEY)
        .and_then(|v| serde_json::from_value::<AuthState>(v.clone()).ok())
}

/// The row's expiry in whole seconds, rounded up: a session never ends before its idle
/// timeout because of the column's granularity.
fn expires_at(record: &Record) -> i64 {
    let at = record.expiry_date;
    at.unix_timestamp() + i64::from(at.nanosecond() > 0)
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    serde_json::to_vec(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

/// A session's stored data with its signed-in state moved on to `generation`.
fn with_generation(data: &[u8], generation: i64) -> Result<Vec<u8>, sqlx::Error> {
    let decode = |e: serde_json::Error| sqlx::Error::Decode(e.into());
    let mut value: serde_json::Value = serde_json::from_slice(data).map_err(decode)?;
    if let Some(auth) = value.get_mut(AUTH_KEY).and_then(|a| a.as_object_mut()) {
        auth.insert("generation".into(), generation.into());
    }
    serde_json::to_vec(&value).map_err(decode)
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let auth = auth_of(record);
        let now = unix_now();
        Stats::add(&self.stats.session_writes);
        // Ids are 128 random bits; a collision is astronomically unlikely, but a fresh id
        // is cheaper than an argument.
        loop {
            // Not stored when the user's generation moved on since sign-in began (password
            // changed, sessions revoked meanwhile): the cookie then opens nothing.
            let done = sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, data, expires_at, created_at, last_seen) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
                 (SELECT 1 FROM users WHERE id = $7 AND generation <> $8) \
                 ON CONFLICT (id_hash) DO NOTHING",
            )
            .bind(id_hash(&record.id))
            .bind(auth.map(|a| a.user_id))
            .bind(&data)
            .bind(expires_at(record))
            .bind(now)
            .bind(now)
            .bind(auth.map(|a| a.user_id))
            .bind(auth.map_or(0, |a| a.generation))
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            let taken: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM sessions WHERE id_hash = $1")
                    .bind(id_hash(&record.id))
                    .fetch_optional(self.db.pool())
                    .await
                    .map_err(backend)?;
            if taken.is_none() {
                tracing::warn!(
                    "a sign-in finished after its user's sessions were ended; not stored"
                );
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates an existing session only. A session deleted meanwhile (signed out, revoked,
    /// user removed) stays deleted even if a request that was in flight saves it.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let auth = auth_of(record);
        Stats::add(&self.stats.session_writes);
        sqlx::query(
            "UPDATE sessions SET user_id = $1, data = $2, expires_at = $3, last_seen = $4 \
             WHERE id_hash = $5 AND NOT EXISTS \
             (SELECT 1 FROM users WHERE id = $6 AND generation <> $7)",
        )
        .bind(auth.map(|a| a.user_id))
        .bind(encode(record)?)
        .bind(expires_at(record))
        .bind(unix_now())
        .bind(id_hash(&record.id))
        .bind(auth.map(|a| a.user_id))
        .bind(auth.map_or(0, |a| a.generation))
        .execute(self.db.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = sqlx::query(
            "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
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
        let hash = id_hash(id);
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(&hash)
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        self.db.session_ended(hash);
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for SqlSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
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
            "SELECT id_hash, created_at, last_seen, expires_at, data FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC",
        )
        .bind(user_id)
        .bind(unix_now())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let data: Vec<u8> = row.try_get("data")?;
                let client = serde_json::from_slice::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|v| serde_json::from_value(v.get(CLIENT_KEY)?.clone()).ok());
                Ok(SessionSummary {
                    id_hash: row.try_get("id_hash")?,
                    created_at: row.try_get("created_at")?,
                    last_seen: row.try_get("last_seen")?,
                    expires_at: row.try_get("expires_at")?,
                    client,
                })
            })
            .collect()
    }

    /// How many live sessions each user has.
    pub async fn session_counts(&self) -> Result<HashMap<i64, usize>, sqlx::Error> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT user_id, COUNT(*) FROM sessions \
             WHERE user_id IS NOT NULL AND expires_at > $1 GROUP BY user_id",
        )
        .bind(unix_now())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user, n)| (user, usize::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// Ends every session of one user, and any sign-in of theirs still in flight (by moving
    /// their generation on); returns how many sessions there were.
    pub async fn delete_sessions_of_user(&self, user_id: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE users SET generation = generation + 1 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let ended: Vec<String> =
            sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 RETURNING id_hash")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(self.sessions_ended(ended))
    }

    /// Tells the socket registry that these sessions ended; how many.
    fn sessions_ended(&self, hashes: Vec<String>) -> u64 {
        let count = hashes.len() as u64;
        for hash in hashes {
            self.session_ended(hash);
        }
        count
    }

    /// The live session named by `handle` (see [`HANDLE_CHARS`]): its hash and user.
    pub async fn session_by_handle(
        &self,
        handle: &str,
    ) -> Result<Option<(String, Option<i64>)>, sqlx::Error> {
        if handle.len() != HANDLE_CHARS {
            return Ok(None);
        }
        sqlx::query_as(
            "SELECT id_hash, user_id FROM sessions WHERE substr(id_hash, 1, CAST($1 AS INTEGER)) = $2 AND expires_at > $3",
        )
        .bind(HANDLE_CHARS as i64)
        .bind(handle)
        .bind(unix_now())
        .fetch_optional(self.pool())
        .await
    }

    /// Ends one session; its sockets close. Whether it was live.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        self.session_ended(id_hash.to_string());
        Ok(done.rows_affected() == 1)
    }

    /// Ends every session of the user but `keep`. How many ended.
    pub async fn delete_other_sessions(
        &self,
        user_id: i64,
        keep: &str,
    ) -> Result<u64, sqlx::Error> {
        let ended: Vec<String> = sqlx::query_scalar(
            "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2 RETURNING id_hash",
        )
        .bind(user_id)
        .bind(keep)
        .fetch_all(self.pool())
        .await?;
        Ok(self.sessions_ended(ended))
    }

    /// Sets a new password hash and ends every session of the user but `keep`, in one
    /// transaction: the user's generation moves on (a sign-in in flight gives no session)
    /// and `keep`'s signed-in state moves with it. How many sessions ended.
    pub async fn change_password_keeping(
        &self,
        user_id: i64,
        password_hash: &str,
        keep: &str,
    ) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let generation: i64 = sqlx::query_scalar(
            "UPDATE users SET password_hash = $1, updated_at = $2, generation = generation + 1 \
             WHERE id = $3 RETURNING generation",
        )
        .bind(password_hash)
        .bind(unix_now())
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        let ended: Vec<String> = sqlx::query_scalar(
            "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2 RETURNING id_hash",
        )
        .bind(user_id)
        .bind(keep)
        .fetch_all(&mut *tx)
        .await?;
        let kept: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT data FROM sessions WHERE id_hash = $1 AND user_id = $2")
                .bind(keep)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(data) = kept {
            sqlx::query("UPDATE sessions SET data = $1 WHERE id_hash = $2")
                .bind(with_generation(&data, generation)?)
                .bind(keep)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(self.sessions_ended(ended))
    }

    /// Which of `hashes` are live sessions now.
    pub async fn live_sessions_among(&self, hashes: &[String]) -> Result<Vec<String>, sqlx::Error> {
        let mut live = Vec::with_capacity(hashes.len());
        // Databases cap bound parameters; 500 at a time is far below every limit.
        for chunk in hashes.chunks(500) {
            let sql = format!(
                "SELECT id_hash FROM sessions WHERE expires_at > $1 AND id_hash IN ({})",
                params(2, chunk.len())
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
            let sql = format!(
                "UPDATE sessions SET expires_at = CASE WHEN expires_at > $1 THEN expires_at ELSE $1 END, \
                 last_seen = $2 WHERE id_hash IN ({})",
                params(3, chunk.len())
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
