//! The append-only audit log (ASVS 16.3): who did what, from where, and when. Never a
//! password, cookie, session id or token.

use super::{unix_now, Db};
use std::net::IpAddr;

/// Every kind of audited event, spelled as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    LoginSuccess,
    LoginFailure,
    LoginThrottled,
    Logout,
    SessionRevoked,
    UserCreated,
    UserRemoved,
    PasswordChanged,
    TokenCreated,
    TokenRevoked,
    HostRemoved,
    HostMoved,
    GroupCreated,
    GroupRemoved,
    MemberAdded,
    MemberRemoved,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSuccess => "login.success",
            Self::LoginFailure => "login.failure",
            Self::LoginThrottled => "login.throttled",
            Self::Logout => "logout",
            Self::SessionRevoked => "session.revoked",
            Self::UserCreated => "user.created",
            Self::UserRemoved => "user.removed",
            Self::PasswordChanged => "user.password_changed",
            Self::TokenCreated => "token.created",
            Self::TokenRevoked => "token.revoked",
            Self::HostRemoved => "host.removed",
            Self::HostMoved => "host.moved",
            Self::GroupCreated => "group.created",
            Self::GroupRemoved => "group.removed",
            Self::MemberAdded => "group.member_added",
            Self::MemberRemoved => "group.member_removed",
        }
    }
}

/// One row of the audit log, as read back.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub at: i64,
    pub event: String,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

impl Db {
    /// Appends to the audit log. A failure is logged, not returned: the action it records
    /// has already happened.
    pub async fn audit(
        &self,
        event: AuditEvent,
        username: Option<&str>,
        ip: Option<IpAddr>,
        detail: Option<&str>,
    ) {
        let result = sqlx::query(
            "INSERT INTO audit_log (at, event, username, ip, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(unix_now())
        .bind(event.as_str())
        .bind(username)
        .bind(ip.map(|ip| ip.to_string()))
        .bind(detail)
        .execute(self.pool())
        .await;
        if let Err(err) = result {
            tracing::error!(error = %err, event = event.as_str(), "cannot write audit log");
        }
    }

    /// The most recent audit rows, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT at, event, username, ip, detail FROM audit_log ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
    }
}
