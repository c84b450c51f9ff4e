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
    UserDisabled,
    UserEnabled,
    RoleChanged,
    GroupRenamed,
    GroupNested,
    TwoFactorEnabled,
    TwoFactorDisabled,
    TwoFactorFailure,
    RecoveryCodeUsed,
    PolicyChanged,
}

impl AuditEvent {
    pub const ALL: [AuditEvent; 29] = [
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
        Self::UserDisabled,
        Self::UserEnabled,
        Self::RoleChanged,
        Self::GroupRenamed,
        Self::GroupNested,
        Self::TwoFactorEnabled,
        Self::TwoFactorDisabled,
        Self::TwoFactorFailure,
        Self::RecoveryCodeUsed,
        Self::PolicyChanged,
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
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::RoleChanged => "user.role_changed",
            Self::GroupRenamed => "group.renamed",
            Self::GroupNested => "group.moved",
            Self::TwoFactorEnabled => "two_factor.enabled",
            Self::TwoFactorDisabled => "two_factor.disabled",
            Self::TwoFactorFailure => "login.second_factor_failure",
            Self::RecoveryCodeUsed => "two_factor.recovery_code_used",
            Self::PolicyChanged => "settings.changed",
        }
    }
}

/// Who did an audited thing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user, from an address.
    User { name: String, ip: IpAddr },
    /// Someone at the server's command line.
    CommandLine,
}

impl Actor {
    pub fn user(name: &str, ip: IpAddr) -> Self {
        Self::User {
            name: name.to_string(),
            ip,
        }
    }

    /// As stored in the `actor` column.
    pub fn name(&self) -> &str {
        match self {
            Self::User { name, .. } => name,
            Self::CommandLine => COMMAND_LINE,
        }
    }

    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::User { ip, .. } => Some(*ip),
            Self::CommandLine => None,
        }
    }
}

/// The actor of changes made at the command line.
pub const COMMAND_LINE: &str = "(command line)";

/// Which audit rows to read: each field narrows, `None` does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The account an event is about, or the one who did it.
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
    pub actor: Option<String>,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

impl Db {
    /// Appends to the audit log an event that `username` did themself (signing in, out,
    /// changing their own password), or that nobody did (`None`). A failure is logged, not
    /// returned: the action it records has already happened.
    pub async fn audit(
        &self,
        event: AuditEvent,
        username: Option<&str>,
        ip: Option<IpAddr>,
        detail: Option<&str>,
    ) {
        self.append_audit(event, username, username, ip, detail)
            .await;
    }

    /// Appends to the audit log an event that `by` did, about the account `subject` if any.
    pub async fn audit_by(
        &self,
        by: &Actor,
        event: AuditEvent,
        subject: Option<&str>,
        detail: Option<&str>,
    ) {
        self.append_audit(event, Some(by.name()), subject, by.ip(), detail)
            .await;
    }

    async fn append_audit(
        &self,
        event: AuditEvent,
        actor: Option<&str>,
        username: Option<&str>,
        ip: Option<IpAddr>,
        detail: Option<&str>,
    ) {
        // Also a structured log line, for whatever collects the logs.
        tracing::info!(
            target: "audit",
            event = event.as_str(),
            actor,
            user = username,
            ip = ip.map(|ip| ip.to_string()),
            detail,
            "audit"
        );
        let result = sqlx::query(
            "INSERT INTO audit_log (at, event, actor, username, ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(unix_now())
        .bind(event.as_str())
        .bind(actor)
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
            "SELECT id, at, event, actor, username, ip, detail FROM audit_log \
             WHERE ($1 IS NULL OR username = $1 OR actor = $1) \
               AND ($2 IS NULL OR event = $2 OR event LIKE $2 || '.%') \
               AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at <= $4) \
               AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6",
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
