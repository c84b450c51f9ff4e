//! The wire types of the admin pages (users, groups, tokens) and the one set of actions
//! they ask the server for. Every action goes through one backend method, which checks the
//! caller's role on the server before anything happens.

use crate::account::{InviteShare, Principal, Role, TwoFactorPolicy};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub two_factor: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Groups the user is a member of, owners' marked with ` (owner)`.
    pub groups: Vec<String>,
    pub sessions: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersView {
    pub me: Principal,
    pub users: Vec<UserEntry>,
    /// Who must sign in with a second factor.
    pub policy: TwoFactorPolicy,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub user: String,
    pub owner: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteEntry {
    pub id: i64,
    pub created_by: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    pub uses: i64,
    pub max_uses: i64,
    /// `open`, `used`, `expired` or `revoked`.
    pub state: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEntry {
    pub name: String,
    pub parent: Option<String>,
    /// How far below the top of the caller's view: for indenting the tree.
    pub depth: usize,
    pub members: Vec<MemberEntry>,
    pub hosts: Vec<String>,
    pub invites: Vec<InviteEntry>,
}

/// The groups the caller manages (an admin: all), in tree order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsView {
    pub me: Principal,
    pub groups: Vec<GroupEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    /// `ingest` or `read`.
    pub scope: String,
    /// The hosts an ingest token may write (a name, a pattern, or `first host written`).
    pub hosts: String,
    pub group: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensView {
    pub me: Principal,
    pub tokens: Vec<TokenEntry>,
    /// Every group, for the form.
    pub groups: Vec<String>,
}

/// Every change the admin pages can ask for. Who may ask: admins for users, groups'
/// shape and tokens; admins and the group's owners (the group or one above it) for
/// members, invites and hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminAction {
    AddUser {
        username: String,
        password: String,
        role: Role,
    },
    SetDisabled {
        username: String,
        disabled: bool,
    },
    SetRole {
        username: String,
        role: Role,
    },
    RemoveUser {
        username: String,
    },
    /// Turns a user's second factor off (a lost device); they set it up again.
    ResetTwoFactor {
        username: String,
    },
    SetTwoFactorPolicy {
        policy: TwoFactorPolicy,
    },
    CreateGroup {
        name: String,
        parent: Option<String>,
    },
    RenameGroup {
        name: String,
        new_name: String,
    },
    NestGroup {
        name: String,
        parent: String,
    },
    DeleteGroup {
        name: String,
    },
    AddMember {
        group: String,
        username: String,
        owner: bool,
    },
    RemoveMember {
        group: String,
        username: String,
    },
    MoveHost {
        host: String,
        group: String,
    },
    CreateInvite {
        group: String,
        uses: i64,
        expires_days: i64,
    },
    RevokeInvite {
        id: i64,
    },
    CreateToken {
        name: String,
        /// `ingest` or `read`.
        scope: String,
        group: Option<String>,
        host: Option<String>,
    },
    RevokeToken {
        name: String,
    },
}

/// What an action did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminOutcome {
    /// A sentence for the page.
    Done(String),
    /// A new invite: its link and QR code.
    Invite(InviteShare),
    /// A new token, whose secret is shown this once.
    Token { name: String, secret: String },
}
