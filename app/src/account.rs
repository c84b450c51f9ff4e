//! Accounts as both sides see them: the typed inputs of sign-in (parsed once at the edge,
//! trusted inside), the signed-in principal and its role. A leaf: it imports nothing of the
//! crate, so every other module may use it.

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// Longest accepted username, in characters, after normalisation.
pub const USERNAME_MAX_CHARS: usize = 64;
/// Longest accepted password, in bytes (ASVS 6.2.9 asks for at least 64 characters).
pub const PASSWORD_MAX_BYTES: usize = 128;
/// Shortest password the server accepts for a new password (ASVS 6.2.1).
pub const PASSWORD_MIN_CHARS: usize = 8;

/// A normalised username: trimmed, NFKC, lower-case, 1–64 characters of letters, digits
/// and `.`, `_`, `-`, `@`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("a username cannot be empty")]
    Empty,
    #[error("a username has at most {USERNAME_MAX_CHARS} characters")]
    TooLong,
    #[error("a username may hold letters, digits and . _ - @ only")]
    BadCharacter,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        // Cap before normalising so a hostile megabyte costs nothing.
        if raw.len() > USERNAME_MAX_CHARS * 4 + 64 {
            return Err(UsernameError::TooLong);
        }
        let name: String = raw.trim().nfkc().collect::<String>().to_lowercase();
        if name.is_empty() {
            return Err(UsernameError::Empty);
        }
        if name.chars().count() > USERNAME_MAX_CHARS {
            return Err(UsernameError::TooLong);
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(UsernameError::BadCharacter);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password in memory. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {0} characters")]
    TooShort(usize),
    #[error("a password has at most {PASSWORD_MAX_BYTES} bytes")]
    TooLong,
}

impl Password {
    /// A password offered at sign-in: only the length cap applies, so that accounts made
    /// under an older minimum can still sign in.
    pub fn for_login(raw: String) -> Result<Self, PasswordError> {
        if raw.len() > PASSWORD_MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(raw))
    }

    /// A new password: at least `min_chars` characters (never fewer than 8), at most 128
    /// bytes, any Unicode, no composition rules.
    pub fn parse_new(raw: String, min_chars: usize) -> Result<Self, PasswordError> {
        let min = min_chars.max(PASSWORD_MIN_CHARS);
        if raw.len() > PASSWORD_MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        if raw.chars().count() < min {
            return Err(PasswordError::TooShort(min));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "viewer" => Ok(Self::Viewer),
            other => Err(format!("unknown role {other:?} (admin or viewer)")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signed-in user of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
}

/// Where to go after sign-in: a same-site absolute path, or `/`. Refuses scheme-relative
/// (`//evil`), backslash tricks and anything with control characters (open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2048
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Where to go after sign-in when other apps sit behind Lookout's sign-in (forward auth):
/// `next` itself if it is an absolute URL on one of `origins` (each `scheme://host[:port]`,
/// lower-case, as configured), else what [`safe_next`] makes of it.
pub fn return_to(next: Option<&str>, origins: &[String]) -> String {
    let Some(url) = next.filter(|n| n.len() <= 2048) else {
        return safe_next(next);
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return safe_next(next);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let clean = !url.chars().any(|c| c.is_control() || c == '\\' || c == ' ')
        && !authority.contains('@')
        && !authority.is_empty();
    let origin = format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    );
    if clean && origins.contains(&origin) {
        url.to_string()
    } else {
        safe_next(next)
    }
}

/// Percent-encodes a query value.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// The wire types of the settings pages (sessions, audit log) and of invites: here, in a
// leaf, so that the backend seam and the pages can both use them.

/// One live session, as its owner (or an admin) sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// Names the session for revoking it: a prefix of its stored hash, never its id.
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_seen: i64,
    pub ip: Option<String>,
    pub agent: Option<String>,
    /// The session of the request that asked.
    pub current: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsView {
    pub me: Principal,
    /// Whose sessions these are.
    pub user: String,
    pub sessions: Vec<SessionRow>,
}

/// Rows per page.
pub const PAGE_ROWS: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub event: String,
    /// Who did it (a user, or the command line).
    pub actor: Option<String>,
    /// The account it is about.
    pub user: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// Which rows to show; every field narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub event: Option<String>,
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Rows older than this id (the next page).
    pub before: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub me: Principal,
    pub entries: Vec<AuditEntry>,
    /// Every kind of event, for the filter.
    pub events: Vec<String>,
    /// Whether older rows match too.
    pub more: bool,
}

/// What an invite link is worth now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InviteStatus {
    Open { group: String },
    Expired,
    Used,
    Revoked,
    Invalid,
}

impl InviteStatus {
    /// Why the invite cannot be used, for anything but an open one.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Self::Open { .. } => None,
            Self::Expired => Some("This invite has expired. Ask whoever sent it for a new one."),
            Self::Used => {
                Some("This invite has been used already. Ask whoever sent it for a new one.")
            }
            Self::Revoked => Some("This invite was revoked."),
            Self::Invalid => Some("This invite link is not valid. Check that it was copied whole."),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteInfo {
    pub status: InviteStatus,
    /// For an open invite: its link, and the same as a QR code (an SVG made by the
    /// server), to open it on a phone.
    pub share: Option<InviteShare>,
    /// The signed-in user, who joins instead of creating an account.
    pub signed_in_as: Option<String>,
}

/// An open invite's link, as text and as a QR code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteShare {
    pub link: String,
    pub qr_svg: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_returns_only_to_configured_origins() {
        let origins = vec!["https://grafana.example.com".to_string()];
        let ok = "https://grafana.example.com/d/abc?orgId=1";
        assert_eq!(return_to(Some(ok), &origins), ok);
        assert_eq!(
            return_to(Some("HTTPS://Grafana.Example.com/x"), &origins),
            "HTTPS://Grafana.Example.com/x"
        );
        for bad in [
            "https://evil.example/",
            "https://grafana.example.com.evil.example/",
            "https://grafana.example.com@evil.example/",
            "http://grafana.example.com/",
            "https://grafana.example.com:8443/",
            "https://grafana.example.com/\\evil",
            "javascript://grafana.example.com/%0aalert(1)",
        ] {
            assert_eq!(return_to(Some(bad), &origins), "/", "{bad}");
        }
        assert_eq!(return_to(Some("/hosts/a"), &origins), "/hosts/a");
        assert_eq!(return_to(Some(ok), &[]), "/", "none configured");
        assert_eq!(return_to(None, &origins), "/");
    }

    #[test]
    fn usernames_are_trimmed_nfkc_normalised_and_lower_cased() {
        assert_eq!(Username::parse("  Alice ").unwrap().as_str(), "alice");
        // Fullwidth letters fold to ASCII under NFKC.
        assert_eq!(Username::parse("ＡＤＭＩＮ").unwrap().as_str(), "admin");
    }

    #[test]
    fn usernames_refuse_empty_long_and_odd_characters() {
        assert_eq!(Username::parse("   "), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse(&"a".repeat(65)),
            Err(UsernameError::TooLong)
        );
        assert_eq!(
            Username::parse(&"a".repeat(1_000_000)),
            Err(UsernameError::TooLong)
        );
        assert_eq!(Username::parse("a b"), Err(UsernameError::BadCharacter));
        assert_eq!(Username::parse("a/b"), Err(UsernameError::BadCharacter));
        assert!(Username::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn new_passwords_need_eight_characters_and_at_most_128_bytes() {
        assert_eq!(
            Password::parse_new("short".into(), 0).unwrap_err(),
            PasswordError::TooShort(8)
        );
        assert_eq!(
            Password::parse_new("twelve-chars".into(), 16).unwrap_err(),
            PasswordError::TooShort(16)
        );
        // Eight characters of any script count, not eight bytes.
        assert!(Password::parse_new("пароль12".into(), 8).is_ok());
        assert_eq!(
            Password::parse_new("x".repeat(129), 8).unwrap_err(),
            PasswordError::TooLong
        );
        assert!(Password::for_login("x".repeat(128)).is_ok());
        assert!(Password::for_login("x".repeat(129)).is_err());
    }

    #[test]
    fn password_debug_never_shows_the_secret() {
        let p = Password::for_login("hunter2-secret".into()).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn next_accepts_only_same_site_paths() {
        assert_eq!(safe_next(Some("/hosts/web-1?x=1")), "/hosts/web-1?x=1");
        assert_eq!(safe_next(None), "/");
        for hostile in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
    }
}

// Two-factor sign-in (TOTP).

/// The cookie that carries a sign-in's pending second step (a random challenge id, never
/// a session): `HttpOnly`, `SameSite=Strict`, five minutes.
pub const CHALLENGE_COOKIE: &str = "lookout_2fa";
/// How long the second step may take, in seconds.
pub const CHALLENGE_SECS: i64 = 300;

/// Who must sign in with a second factor, as an admin set it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TwoFactorPolicy {
    /// Whoever turned it on for themself.
    #[default]
    Optional,
    Admins,
    Everyone,
}

impl TwoFactorPolicy {
    pub const ALL: [Self; 3] = [Self::Optional, Self::Admins, Self::Everyone];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Admins => "admins",
            Self::Everyone => "everyone",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Optional => "Optional: whoever turns it on",
            Self::Admins => "Required for admins",
            Self::Everyone => "Required for everyone",
        }
    }

    /// Whether a user of `role` must have a second factor.
    pub fn requires(self, role: Role) -> bool {
        match self {
            Self::Optional => false,
            Self::Admins => role == Role::Admin,
            Self::Everyone => true,
        }
    }
}

impl std::str::FromStr for TwoFactorPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown policy {s:?} (optional, admins or everyone)"))
    }
}

/// How a sign-in went on: done, or waiting for its second step (the challenge id goes
/// into [`CHALLENGE_COOKIE`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInStep {
    Done(Principal),
    SecondFactor { challenge: String },
}

/// A new TOTP secret to enrol: as text (to type into an app) and as a QR code of its
/// `otpauth://` URI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// Base32, as authenticator apps take it.
    pub secret: String,
    pub qr_svg: String,
}

/// What the second step of a sign-in asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecondFactorPrompt {
    /// No sign-in is waiting (or it took too long).
    Expired,
    /// A code from the user's app, or a recovery code.
    Code,
    /// The policy requires a second factor the user has not set up: set it up now.
    Enrol(Enrolment),
}

/// The signed-in user's second factor, on the settings page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoFactorView {
    pub enabled: bool,
    pub recovery_codes_left: i64,
    /// Whether the policy requires it of this user (then it cannot be turned off).
    pub required: bool,
}
