//! API tokens (ASVS 3.5 / 6.x): 256 random bits shown once, stored as SHA-256, scoped to
//! `ingest` or `read`, revocable, with a last-used time.

use crate::store::{audit::AuditEvent, unix_now, Db};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::fmt;

const PREFIX: &str = "lk_";

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Ingest,
    Read,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ingest" => Ok(Self::Ingest),
            "read" => Ok(Self::Read),
            other => Err(format!("unknown scope {other:?} (ingest or read)")),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token's secret, as presented by a client. `Debug` never shows it.
pub struct ApiToken(String);

impl ApiToken {
    /// Parses a presented token; anything not shaped like ours is refused before any lookup.
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(PREFIX)?;
        (body.len() == 43
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(raw.to_string()))
    }

    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    fn hash(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.as_bytes()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    pub scope: Scope,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token name holds 1-64 of a-z 0-9 . _ -")]
    BadName,
    #[error("a token named {0} already exists")]
    Exists(String),
    #[error("no token named {0}")]
    NoSuchToken(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The outcome of checking a presented token for one scope.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Allowed { name: String },
    WrongScope,
    Unknown,
}

impl Db {
    /// Creates a token and returns its secret, which is not stored and cannot be shown again.
    pub async fn create_token(&self, name: &str, scope: Scope) -> Result<ApiToken, TokenError> {
        if !app::live::is_valid_name(name) {
            return Err(TokenError::BadName);
        }
        let token = ApiToken::generate();
        let done = sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, scope, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(token.hash())
        .bind(scope.as_str())
        .bind(unix_now())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(TokenError::Exists(name.to_string()));
        }
        self.audit(
            AuditEvent::TokenCreated,
            None,
            None,
            Some(&format!("{name} ({scope})")),
        )
        .await;
        Ok(token)
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let rows = sqlx::query(
            "SELECT name, scope, created_at, last_used_at FROM api_tokens ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let scope: String = row.try_get("scope")?;
                Ok(TokenInfo {
                    name: row.try_get("name")?,
                    scope: scope
                        .parse()
                        .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
                    created_at: row.try_get("created_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    pub async fn revoke_token(&self, name: &str) -> Result<(), TokenError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE name = ?")
            .bind(name)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(TokenError::NoSuchToken(name.to_string()));
        }
        self.audit(AuditEvent::TokenRevoked, None, None, Some(name))
            .await;
        Ok(())
    }

    /// Checks a presented token for `scope`, and notes its use.
    pub async fn check_token(&self, token: &ApiToken, scope: Scope) -> Result<Check, TokenError> {
        let row = sqlx::query(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ? RETURNING name, scope",
        )
        .bind(unix_now())
        .bind(token.hash())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Check::Unknown);
        };
        let has: String = row.try_get("scope")?;
        if has == scope.as_str() {
            Ok(Check::Allowed {
                name: row.try_get("name")?,
            })
        } else {
            Ok(Check::WrongScope)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_never_debug_printed() {
        let (a, b) = (ApiToken::generate(), ApiToken::generate());
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("lk_") && a.expose().len() == 46);
        assert!(ApiToken::parse(a.expose()).is_some());
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
        for bad in [
            "",
            "lk_",
            "lk_short",
            "Bearer lk_x",
            &format!("xx_{}", &a.expose()[3..]),
        ] {
            assert!(ApiToken::parse(bad).is_none(), "{bad}");
        }
    }
}
