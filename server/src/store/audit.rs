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
    InviteCreated,
    InviteUsed,
    InviteRevoked,
}

impl AuditEvent {
    pub const ALL: [AuditEvent; 19] = [
        Self::LoginSuccess,
        Self::LoginFailure,
        Self::LoginThrottled,
        Self::Logout,
        Self::SessionRevoked,
        Self::UserCreated,
        Self::UserRemoved,
        Self::PasswordChanged,
        Self::TokenCreated,
        Self::TokenRevoked,
        Self::HostRemoved,
        Self::HostMoved,
        Self::GroupCreated,
        Self::GroupRemoved,
        Self::MemberAdded,
        Self::MemberRemoved,
        Self::InviteCreated,
        Self::InviteUsed,
        Self::InviteRevoked,
    ];

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
            Self::InviteCreated => "invite.created",
            Self::InviteUsed => "invite.used",
            Self::InviteRevoked => "invite.revoked",
        }
    }
}

/// Which audit rows to read: each field narrows, `None` does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub user: Option<String>,
    /// An event (`login.failure`) or a kind of events (`login`).
    pub event: Option<String>,
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Older than this row (the next page).
    pub before_id: Option<i64>,
}

/// One row of the audit log, as read back.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
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
        // Also a structured log line, for whatever collects the logs.
        tracing::info!(
            target: "audit",
            event = event.as_str(),
            user = username,
            ip = ip.map(|ip| ip.to_string()),
            detail,
            "audit"
        );
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
        self.audit_rows(&AuditFilter::default(), limit).await
    }

    /// Audit rows that match `filter`, newest first, at most `limit`.
    pub async fn audit_rows(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, at, event, username, ip, detail FROM audit_log \
             WHERE (?1 IS NULL OR username = ?1) \
               AND (?2 IS NULL OR event = ?2 OR event LIKE ?2 || '.%') \
               AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at <= ?4) \
               AND (?5 IS NULL OR id < ?5) \
             ORDER BY id DESC LIMIT ?6",
        )
        .bind(&filter.user)
        .bind(&filter.event)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.before_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await
    }
}
