//! API tokens (ASVS 3.5 / 6.x): 256 random bits shown once, stored as SHA-256, scoped to
//! `ingest` or `read`, revocable, with a last-used time. Ingest tokens are bound to the
//! hosts they may write: an exact name, a glob (`web-*`), or the first host they write.

use crate::store::{
    audit::{Actor, AuditEvent},
    unix_now, Db,
};
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

/// Which hosts an ingest token may write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostBinding {
    /// Made without `--host`: binds itself to the first host it writes.
    Unbound,
    Exact(String),
    /// A glob with `*` and `?`.
    Pattern(String),
}

impl HostBinding {
    /// Parses `--host`: 1–64 of `a-z 0-9 . _ -`, plus `*` and `?` for a pattern.
    pub fn parse(raw: &str) -> Result<Self, TokenError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-*?".contains(&b));
        if !ok {
            return Err(TokenError::BadHost);
        }
        Ok(if raw.contains(['*', '?']) {
            Self::Pattern(raw.to_string())
        } else {
            Self::Exact(raw.to_string())
        })
    }

    fn from_column(column: Option<String>) -> Self {
        match column {
            None => Self::Unbound,
            Some(raw) => Self::parse(&raw).unwrap_or(Self::Exact(raw)),
        }
    }

    pub fn as_column(&self) -> Option<&str> {
        match self {
            Self::Unbound => None,
            Self::Exact(s) | Self::Pattern(s) => Some(s),
        }
    }

    pub fn allows(&self, host: &str) -> bool {
        match self {
            Self::Unbound => false,
            Self::Exact(name) => name == host,
            Self::Pattern(glob) => wildmatch::WildMatch::new(glob).matches(host),
        }
    }

    pub fn is_pattern(&self) -> bool {
        matches!(self, Self::Pattern(_))
    }
}

impl fmt::Display for HostBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_column().unwrap_or("(first host written)"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    pub scope: Scope,
    pub hosts: HostBinding,
    /// The group its hosts join (ingest) or it reads (read); `None`: the root group.
    pub group: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token name holds 1-64 of a-z 0-9 . _ -")]
    BadName,
    #[error("--host is a host name or a pattern: 1-64 of a-z 0-9 . _ - * ?")]
    BadHost,
    #[error("only ingest tokens are bound to hosts")]
    HostOnReadToken,
    #[error("a token named {0} already exists")]
    Exists(String),
    #[error("no token named {0}")]
    NoSuchToken(String),
    #[error("no group named {0}")]
    NoSuchGroup(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The outcome of checking a presented token for one scope.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Allowed {
        id: i64,
        name: String,
        hosts: HostBinding,
        /// The token's group (`None`: the root group).
        group: Option<i64>,
    },
    WrongScope,
    Unknown,
}

/// A token's last use is kept to the minute.
const LAST_USE_PRECISION_SECS: i64 = 60;

impl Db {
    /// Creates a token of the root group, made at the command line, and returns its
    /// secret, which is not stored and cannot be shown again.
    pub async fn create_token(
        &self,
        name: &str,
        scope: Scope,
        hosts: HostBinding,
    ) -> Result<ApiToken, TokenError> {
        self.create_token_in(&Actor::CommandLine, name, scope, hosts, None)
            .await
    }

    /// [`Db::create_token`] for a group: the hosts an ingest token creates join it, and a
    /// read token reads only it and the groups below it.
    pub async fn create_token_in(
        &self,
        by: &Actor,
        name: &str,
        scope: Scope,
        hosts: HostBinding,
        group: Option<&str>,
    ) -> Result<ApiToken, TokenError> {
        if !app::live::is_valid_name(name) {
            return Err(TokenError::BadName);
        }
        if scope == Scope::Read && hosts != HostBinding::Unbound {
            return Err(TokenError::HostOnReadToken);
        }
        let group_id = match group {
            Some(group) => Some(
                self.group_named(group)
                    .await
                    .map_err(|_| TokenError::NoSuchGroup(group.to_string()))?,
            ),
            None => None,
        };
        let token = ApiToken::generate();
        let done = sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, scope, host_pattern, created_at, group_id) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(token.hash())
        .bind(scope.as_str())
        .bind(hosts.as_column())
        .bind(unix_now())
        .bind(group_id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(TokenError::Exists(name.to_string()));
        }
        self.audit_by(
            by,
            AuditEvent::TokenCreated,
            None,
            Some(&format!(
                "{name} ({scope}, hosts {hosts}, group {})",
                group.unwrap_or("root")
            )),
        )
        .await;
        Ok(token)
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let rows = sqlx::query(
            "SELECT t.name, t.scope, t.host_pattern, t.created_at, t.last_used_at, \
             g.name AS group_name FROM api_tokens t LEFT JOIN groups g ON g.id = t.group_id \
             ORDER BY t.name",
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
                    hosts: HostBinding::from_column(row.try_get("host_pattern")?),
                    group: row.try_get("group_name")?,
                    created_at: row.try_get("created_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    pub async fn revoke_token(&self, by: &Actor, name: &str) -> Result<(), TokenError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(TokenError::NoSuchToken(name.to_string()));
        }
        self.audit_by(by, AuditEvent::TokenRevoked, None, Some(name))
            .await;
        Ok(())
    }

    /// Checks a presented token for `scope`, and notes its use.
    pub async fn check_token(&self, token: &ApiToken, scope: Scope) -> Result<Check, TokenError> {
        // A read, not a write: a busy fleet checks a token a thousand times a second, and
        // must not queue behind the history writer for SQLite's one write lock.
        let row = sqlx::query(
            "SELECT id, name, scope, host_pattern, last_used_at, group_id FROM api_tokens \
             WHERE token_hash = $1",
        )
        .bind(token.hash())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Check::Unknown);
        };
        let id: i64 = row.try_get("id")?;
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        let now = unix_now();
        match last_used {
            // The first use is recorded before the answer, so `token list` shows it at once.
            None => self.mark_token_used(id, now).await?,
            // Later ones to the minute, in the background, never holding the request, and
            // one at a time: while the writer seals, a thousand requests a second must not
            // each start a write that waits for the lock and holds a pooled connection.
            Some(at) if now - at >= LAST_USE_PRECISION_SECS && self.claim_token_use(id, now) => {
                let db = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = db.mark_token_used(id, now).await {
                        tracing::warn!(error = %e, "cannot record a token's last use");
                    }
                });
            }
            Some(_) => {}
        }
        let has: String = row.try_get("scope")?;
        if has == scope.as_str() {
            Ok(Check::Allowed {
                id,
                name: row.try_get("name")?,
                hosts: HostBinding::from_column(row.try_get("host_pattern")?),
                group: row.try_get("group_id")?,
            })
        } else {
            Ok(Check::WrongScope)
        }
    }

    /// Whether this request should write the token's last use: no other did in the last
    /// minute.
    fn claim_token_use(&self, id: i64, now: i64) -> bool {
        let mut uses = self.token_uses.lock().unwrap_or_else(|e| e.into_inner());
        match uses.get(&id) {
            Some(&at) if now - at < LAST_USE_PRECISION_SECS => false,
            _ => {
                uses.insert(id, now);
                true
            }
        }
    }

    async fn mark_token_used(&self, id: i64, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await
            .map(drop)
    }
}

impl Db {
    /// Binds an unbound token to `host`, its first host. Returns the token's binding
    /// afterwards: `host` itself, or whatever a concurrent first write bound it to.
    pub async fn bind_token_to_host(&self, id: i64, host: &str) -> Result<HostBinding, TokenError> {
        sqlx::query(
            "UPDATE api_tokens SET host_pattern = $1 WHERE id = $2 AND host_pattern IS NULL",
        )
        .bind(host)
        .bind(id)
        .execute(self.pool())
        .await?;
        let column: Option<Option<String>> =
            sqlx::query_scalar("SELECT host_pattern FROM api_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(HostBinding::from_column(column.flatten()))
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

    #[test]
    fn host_bindings_match_exact_names_and_globs() {
        let exact = HostBinding::parse("web-1").unwrap();
        assert!(exact.allows("web-1") && !exact.allows("web-10"));
        let glob = HostBinding::parse("web-*").unwrap();
        assert!(glob.is_pattern());
        assert!(glob.allows("web-1") && glob.allows("web-eu.7") && !glob.allows("db-1"));
        assert!(HostBinding::parse("db-?").unwrap().allows("db-3"));
        assert!(!HostBinding::Unbound.allows("web-1"));
        for bad in ["", "Web-1", "a b", "web/1", &"a".repeat(65)] {
            assert!(HostBinding::parse(bad).is_err(), "{bad}");
        }
    }
}
