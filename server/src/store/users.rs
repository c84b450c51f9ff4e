//! The `users` table.

use super::{unix_now, Db};
use app::auth::{Role, Username};
use sqlx::Row;

/// A stored account. `password_hash` is an argon2id PHC string.
#[derive(Clone)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: i64,
    /// Bumped whenever all of the user's sessions end; a session of an older generation
    /// is void.
    pub generation: i64,
    /// A disabled account cannot sign in.
    pub disabled: bool,
    /// Whether the user signs in with a second factor (TOTP).
    pub two_factor: bool,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserStoreError {
    #[error("a user named {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<UserRecord, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: role
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        created_at: row.try_get("created_at")?,
        generation: row.try_get("generation")?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        two_factor: row.try_get::<Option<String>, _>("totp_secret")?.is_some(),
    })
}

const COLUMNS: &str = "id, username, password_hash, role, created_at, generation, \
     disabled_at, totp_secret";

impl Db {
    pub async fn count_users(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await
    }

    pub async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        role: Role,
    ) -> Result<i64, UserStoreError> {
        let now = unix_now();
        let result = sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(username.as_str())
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(self.pool())
        .await;
        match result {
            Ok(id) => Ok(id),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(UserStoreError::Exists(username.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_by_name(
        &self,
        username: &Username,
    ) -> Result<Option<UserRecord>, sqlx::Error> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
            .bind(username.as_str())
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, sqlx::Error> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>, sqlx::Error> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Removes the account; its sessions go with it (foreign key cascade).
    pub async fn remove_user(&self, username: &Username) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username.as_str())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_password_hash(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> Result<bool, sqlx::Error> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(unix_now())
                .bind(user_id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets the role; every session of the user ends (a privilege change). How many ended.
    pub async fn set_role(&self, user_id: i64, role: Role) -> Result<u64, sqlx::Error> {
        sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(unix_now())
            .bind(user_id)
            .execute(self.pool())
            .await?;
        self.delete_sessions_of_user(user_id).await
    }

    /// Disables or enables an account; disabling ends its sessions. How many ended.
    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<u64, sqlx::Error> {
        let now = unix_now();
        sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled.then_some(now))
            .bind(now)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        if disabled {
            self.delete_sessions_of_user(user_id).await
        } else {
            Ok(0)
        }
    }
}
