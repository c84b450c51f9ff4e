//! The `hosts` table: every host that has pushed data, and which token created it.

use super::{unix_now, Db};

/// The outcome of recording that a token writes a host.
#[derive(Debug, PartialEq, Eq)]
pub enum HostRecord {
    /// Known already, or recorded now.
    Ok,
    /// New, and the token has created as many hosts as it may.
    TokenFull,
}

/// A host as listed by `lookout host list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub name: String,
    pub token: Option<String>,
    pub created_at: i64,
}

impl Db {
    /// Records `host` as created by `token_id` unless it exists, and unless the token has
    /// already created `max_for_token` hosts (`None`: no cap). One statement: concurrent
    /// batches cannot both slip under the cap.
    pub async fn record_host(
        &self,
        host: &str,
        token_id: i64,
        max_for_token: Option<usize>,
    ) -> Result<HostRecord, sqlx::Error> {
        let cap = max_for_token.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX));
        let mut tx = self.pool().begin().await?;
        // The host joins its token's group.
        let done = sqlx::query(
            "INSERT INTO hosts (name, token_id, created_at, group_id) \
             SELECT $1, $2, $3, (SELECT group_id FROM api_tokens WHERE id = $4) \
             WHERE (SELECT COUNT(*) FROM hosts WHERE token_id = $5) < $6 \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(host)
        .bind(token_id)
        .bind(unix_now())
        .bind(token_id)
        .bind(token_id)
        .bind(cap)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            // A host in a group widens what that group's members see.
            sqlx::query(
                "UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) \
                 WHERE key = 'access_version' \
                   AND (SELECT group_id FROM hosts WHERE name = $1) IS NOT NULL",
            )
            .bind(host)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(HostRecord::Ok);
        }
        tx.commit().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM hosts WHERE name = $1")
            .bind(host)
            .fetch_optional(self.pool())
            .await?;
        Ok(if exists.is_some() {
            HostRecord::Ok
        } else {
            HostRecord::TokenFull
        })
    }

    pub async fn list_hosts(&self) -> Result<Vec<HostRow>, sqlx::Error> {
        let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT h.name, t.name, h.created_at FROM hosts h \
             LEFT JOIN api_tokens t ON t.id = h.token_id ORDER BY h.name",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, token, created_at)| HostRow {
                name,
                token,
                created_at,
            })
            .collect())
    }

    /// Forgets a host and its stored history (its blocks go with its series). A running
    /// server notices the missing row and drops the host from memory and every screen.
    /// Whether it existed.
    pub async fn remove_host(&self, host: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query("DELETE FROM hosts WHERE name = $1")
            .bind(host)
            .execute(&mut *tx)
            .await?;
        let series = sqlx::query("DELETE FROM history_series WHERE host = $1")
            .bind(host)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.rows_affected() + series.rows_affected() > 0)
    }
}
