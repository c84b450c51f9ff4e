//! The admin pages on the server: the views (users, groups, tokens) and every action,
//! each checked against the caller's role here, before anything is read or changed.
//! Admins may do everything; a group's owner manages the members, invites and hosts of
//! the group and every group below it; anyone else is refused with 403.

use super::{internal, ServerBackend};
use crate::{
    access::{
        groups::Forest,
        tokens::{HostBinding, Scope, TokenError},
    },
    auth::{client::client_ip, AccountError},
    store::{
        audit::{Actor, AuditEvent},
        groups::GroupError,
        invites::InviteError,
        unix_now,
        users::UserStoreError,
    },
};
use app::{
    account::{InviteShare, Principal, Role},
    error::ApiError,
    team::{
        AdminAction, AdminOutcome, GroupEntry, GroupsView, InviteEntry, MemberEntry, TokenEntry,
        TokensView, UserEntry, UsersView,
    },
};
use http::request::Parts;
use std::collections::{HashMap, HashSet};

/// The longest an invite made on the page lasts, in days (the store's own limit).
const MAX_INVITE_DAYS: i64 = crate::store::invites::MAX_INVITE_SECS / 86_400;

/// Whether `me` may perform `action`. Admins may do everything; owners what concerns
/// the groups they manage; `invite_group` is the group of the invite a `RevokeInvite`
/// names (looked up by the caller).
fn may(forest: &Forest, me: &Principal, action: &AdminAction, invite_group: Option<&str>) -> bool {
    if me.role == Role::Admin {
        return true;
    }
    let manages = |group: &str| forest.manages(me.user_id, me.role, group);
    match action {
        AdminAction::AddMember { group, .. }
        | AdminAction::RemoveMember { group, .. }
        | AdminAction::CreateInvite { group, .. } => manages(group),
        // Both ends of the move: an owner cannot take a host out of someone else's group.
        AdminAction::MoveHost { host, group } => {
            manages(group) && forest.name_of(forest.group_of(host)).is_some_and(manages)
        }
        AdminAction::RevokeInvite { .. } => invite_group.is_some_and(manages),
        AdminAction::AddUser { .. }
        | AdminAction::SetDisabled { .. }
        | AdminAction::SetRole { .. }
        | AdminAction::RemoveUser { .. }
        | AdminAction::ResetTwoFactor { .. }
        | AdminAction::SetTwoFactorPolicy { .. }
        | AdminAction::CreateGroup { .. }
        | AdminAction::RenameGroup { .. }
        | AdminAction::NestGroup { .. }
        | AdminAction::DeleteGroup { .. }
        | AdminAction::CreateToken { .. }
        | AdminAction::RevokeToken { .. } => false,
    }
}

fn refuse(me: &Principal, what: &str) -> ApiError {
    tracing::warn!(user_id = me.user_id, action = what, "admin action refused");
    ApiError::Forbidden
}

fn require_admin(me: &Principal, what: &str) -> Result<(), ApiError> {
    if me.role == Role::Admin {
        Ok(())
    } else {
        Err(refuse(me, what))
    }
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::Username(e) => bad(e),
        AccountError::Password(e) => bad(e),
        AccountError::NoSuchUser(_) | AccountError::Store(UserStoreError::Exists(_)) => bad(e),
        other => internal(&other),
    }
}

fn group_error(e: GroupError) -> ApiError {
    match e {
        GroupError::Db(e) => internal(&e),
        refused => bad(refused),
    }
}

fn invite_error(e: InviteError) -> ApiError {
    match e {
        InviteError::Db(e) => internal(&e),
        refused => bad(refused),
    }
}

fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Db(e) => internal(&e),
        refused => bad(refused),
    }
}

/// Refuses an admin's change to their own account that could lock them out.
fn not_self(me: &Principal, username: &str, what: &str) -> Result<(), ApiError> {
    if username == me.username {
        Err(ApiError::BadRequest(format!(
            "You cannot {what} your own account here; another admin can."
        )))
    } else {
        Ok(())
    }
}

fn done(text: String) -> Result<AdminOutcome, ApiError> {
    Ok(AdminOutcome::Done(text))
}

/// `groups` in tree order, each with its depth below the top of the set: a group whose
/// parent is outside the set starts a tree of its own.
fn tree_order(groups: &[(i64, String, Option<i64>)], shown: &HashSet<i64>) -> Vec<(i64, usize)> {
    let mut children: HashMap<Option<i64>, Vec<(&str, i64)>> = HashMap::new();
    for (id, name, parent) in groups.iter().filter(|g| shown.contains(&g.0)) {
        let parent = parent.filter(|p| shown.contains(p));
        children.entry(parent).or_default().push((name, *id));
    }
    for list in children.values_mut() {
        list.sort_unstable();
    }
    let mut out = Vec::new();
    let mut todo: Vec<(i64, usize)> = children
        .get(&None)
        .into_iter()
        .flatten()
        .rev()
        .map(|(_, id)| (*id, 0))
        .collect();
    let mut seen = HashSet::new();
    while let Some((id, depth)) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        out.push((id, depth));
        todo.extend(
            children
                .get(&Some(id))
                .into_iter()
                .flatten()
                .rev()
                .map(|(_, child)| (*child, depth + 1)),
        );
    }
    out
}

impl ServerBackend {
    pub(super) async fn users_view(&self, me: &Principal) -> Result<UsersView, ApiError> {
        require_admin(me, "list users")?;
        let db = &self.live.db;
        let users = db.list_users().await.map_err(|e| internal(&e))?;
        let sessions = db.session_counts().await.map_err(|e| internal(&e))?;
        let memberships = db.memberships().await.map_err(|e| internal(&e))?;
        let forest = self.live.access.forest();
        let users = users
            .into_iter()
            .map(|u| UserEntry {
                groups: memberships
                    .iter()
                    .filter(|m| m.1 == u.username)
                    .filter_map(|(g, _, owner)| {
                        let name = forest.name_of(*g)?;
                        Some(if *owner {
                            format!("{name} (owner)")
                        } else {
                            name.to_string()
                        })
                    })
                    .collect(),
                sessions: sessions.get(&u.id).copied().unwrap_or(0),
                name: u.username,
                role: u.role,
                disabled: u.disabled,
                two_factor: u.two_factor,
                created_at: u.created_at,
            })
            .collect();
        Ok(UsersView {
            me: me.clone(),
            users,
            policy: db.two_factor_policy().await.map_err(|e| internal(&e))?,
        })
    }

    pub(super) async fn groups_view(&self, me: &Principal) -> Result<GroupsView, ApiError> {
        let db = &self.live.db;
        self.regroup().await;
        let forest = self.live.access.forest();
        let managed = forest.managed(me.user_id, me.role);
        let rows = db.access_rows().await.map_err(|e| internal(&e))?;
        let memberships = db.memberships().await.map_err(|e| internal(&e))?;
        let invites = db.list_invites().await.map_err(|e| internal(&e))?;
        let hosts = self.live.hosts();
        let now = unix_now();
        let groups = tree_order(&rows.groups, &managed)
            .into_iter()
            .filter_map(|(id, depth)| {
                let (_, name, parent) = rows.groups.iter().find(|g| g.0 == id)?;
                Some(GroupEntry {
                    parent: parent.and_then(|p| forest.name_of(p).map(str::to_string)),
                    depth,
                    members: memberships
                        .iter()
                        .filter(|m| m.0 == id)
                        .map(|(_, user, owner)| MemberEntry {
                            user: user.clone(),
                            owner: *owner,
                        })
                        .collect(),
                    hosts: hosts
                        .iter()
                        .filter(|h| forest.group_of(h) == id)
                        .cloned()
                        .collect(),
                    invites: invites
                        .iter()
                        .filter(|i| &i.group == name)
                        .map(|i| InviteEntry {
                            id: i.id,
                            created_by: i.created_by.clone(),
                            expires_at: i.expires_at,
                            uses: i.uses,
                            max_uses: i.max_uses,
                            state: i.state(now).to_string(),
                        })
                        .collect(),
                    name: name.clone(),
                })
            })
            .collect();
        Ok(GroupsView {
            me: me.clone(),
            groups,
        })
    }

    pub(super) async fn tokens_view(&self, me: &Principal) -> Result<TokensView, ApiError> {
        require_admin(me, "list tokens")?;
        let db = &self.live.db;
        let tokens = db.list_tokens().await.map_err(token_error)?;
        let groups = db.list_groups().await.map_err(group_error)?;
        Ok(TokensView {
            me: me.clone(),
            tokens: tokens
                .into_iter()
                .map(|t| TokenEntry {
                    scope: t.scope.to_string(),
                    hosts: match t.scope {
                        Scope::Ingest => t.hosts.to_string(),
                        Scope::Read => "—".into(),
                    },
                    group: t.group.unwrap_or_else(|| "root".into()),
                    name: t.name,
                    created_at: t.created_at,
                    last_used: t.last_used_at,
                })
                .collect(),
            groups: groups.into_iter().map(|g| g.name).collect(),
        })
    }

    pub(super) async fn perform(
        &self,
        parts: &Parts,
        me: &Principal,
        action: AdminAction,
    ) -> Result<AdminOutcome, ApiError> {
        let db = &self.live.db;
        // Decided on the database's latest state, not the last poll's: an owner removed a
        // moment ago (from anywhere) manages nothing any more.
        self.regroup().await;
        let invite_group = match &action {
            AdminAction::RevokeInvite { id } if me.role != Role::Admin => {
                db.invite_group(*id).await.map_err(|e| internal(&e))?
            }
            _ => None,
        };
        if !may(
            &self.live.access.forest(),
            me,
            &action,
            invite_group.as_deref(),
        ) {
            return Err(refuse(me, &format!("{action:?}")));
        }
        let by = Actor::user(&me.username, client_ip(&parts.extensions));
        let outcome = self.apply(parts, me, &by, action).await;
        // Whatever changed in groups, members or hosts reaches this process's sockets now.
        self.regroup().await;
        outcome
    }

    async fn apply(
        &self,
        parts: &Parts,
        me: &Principal,
        by: &Actor,
        action: AdminAction,
    ) -> Result<AdminOutcome, ApiError> {
        let db = &self.live.db;
        let auth = &self.auth;
        match action {
            AdminAction::AddUser {
                username,
                password,
                role,
            } => {
                let name = auth
                    .add_user(by, &username, role, password)
                    .await
                    .map_err(account_error)?;
                done(format!("Created {role} {name}."))
            }
            AdminAction::SetDisabled { username, disabled } => {
                if disabled {
                    not_self(me, &username, "disable")?;
                }
                let ended = auth
                    .set_disabled(by, &username, disabled)
                    .await
                    .map_err(account_error)?;
                if disabled {
                    done(format!(
                        "Disabled {username}; {ended} session(s) signed out."
                    ))
                } else {
                    done(format!("Enabled {username}."))
                }
            }
            AdminAction::SetRole { username, role } => {
                not_self(me, &username, "change the role of")?;
                let ended = auth
                    .set_role(by, &username, role)
                    .await
                    .map_err(account_error)?;
                done(format!(
                    "{username} is now {role}; {ended} session(s) signed out."
                ))
            }
            AdminAction::RemoveUser { username } => {
                not_self(me, &username, "remove")?;
                auth.remove_user(by, &username)
                    .await
                    .map_err(account_error)?;
                done(format!("Removed {username}."))
            }
            AdminAction::ResetTwoFactor { username } => {
                let was_on = auth
                    .reset_two_factor(by, &username)
                    .await
                    .map_err(account_error)?;
                if was_on {
                    done(format!(
                        "Two-factor sign-in of {username} is off; they can set it up again."
                    ))
                } else {
                    done(format!("{username} had no second factor."))
                }
            }
            AdminAction::SetTwoFactorPolicy { policy } => {
                db.set_two_factor_policy(policy)
                    .await
                    .map_err(|e| internal(&e))?;
                db.audit_by(
                    by,
                    AuditEvent::PolicyChanged,
                    None,
                    Some(&format!("two-factor sign-in: {}", policy.as_str())),
                )
                .await;
                done(format!("Two-factor sign-in: {}.", policy.describe()))
            }
            AdminAction::CreateGroup { name, parent } => {
                db.create_group(by, &name, parent.as_deref())
                    .await
                    .map_err(group_error)?;
                done(format!("Created group {name}."))
            }
            AdminAction::RenameGroup { name, new_name } => {
                db.rename_group(by, &name, &new_name)
                    .await
                    .map_err(group_error)?;
                done(format!("Renamed {name} to {new_name}."))
            }
            AdminAction::NestGroup { name, parent } => {
                db.nest_group(by, &name, &parent)
                    .await
                    .map_err(group_error)?;
                done(format!("{name} is now below {parent}."))
            }
            AdminAction::DeleteGroup { name } => {
                db.remove_group(by, &name).await.map_err(group_error)?;
                done(format!("Deleted group {name}."))
            }
            AdminAction::AddMember {
                group,
                username,
                owner,
            } => {
                db.add_member(by, &group, &username, owner)
                    .await
                    .map_err(group_error)?;
                let what = if owner { "an owner" } else { "a member" };
                done(format!("{username} is {what} of {group}."))
            }
            AdminAction::RemoveMember { group, username } => {
                db.remove_member(by, &group, &username)
                    .await
                    .map_err(group_error)?;
                done(format!("{username} is no longer a member of {group}."))
            }
            AdminAction::MoveHost { host, group } => {
                db.move_host(by, &host, &group).await.map_err(group_error)?;
                done(format!("Moved {host} to {group}."))
            }
            AdminAction::CreateInvite {
                group,
                uses,
                expires_days,
            } => {
                if !(1..=MAX_INVITE_DAYS).contains(&expires_days) {
                    return Err(bad(format!("an invite lasts 1 to {MAX_INVITE_DAYS} days")));
                }
                let token = db
                    .create_invite(&group, uses, expires_days * 86_400, by)
                    .await
                    .map_err(invite_error)?;
                let link = format!(
                    "{}/invite/{}",
                    self.live.origin.base_url(&parts.headers),
                    token.expose()
                );
                let qr_svg = crate::auth::qr::svg(&link);
                Ok(AdminOutcome::Invite(InviteShare { link, qr_svg }))
            }
            AdminAction::RevokeInvite { id } => {
                db.revoke_invite(id, by).await.map_err(invite_error)?;
                done(format!("Revoked invite {id}."))
            }
            AdminAction::CreateToken {
                name,
                scope,
                group,
                host,
            } => {
                let scope: Scope = scope.parse().map_err(bad)?;
                let hosts = match host {
                    Some(host) => HostBinding::parse(&host).map_err(token_error)?,
                    None => HostBinding::Unbound,
                };
                let token = db
                    .create_token_in(by, &name, scope, hosts, group.as_deref())
                    .await
                    .map_err(token_error)?;
                Ok(AdminOutcome::Token {
                    name,
                    secret: token.expose().to_string(),
                })
            }
            AdminAction::RevokeToken { name } => {
                db.revoke_token(by, &name).await.map_err(token_error)?;
                done(format!("Revoked token {name}."))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::groups::{AccessRows, ROOT_GROUP};

    #[test]
    fn groups_are_listed_as_a_tree_from_the_top_of_what_is_shown() {
        let groups = vec![
            (ROOT_GROUP, "root".to_string(), None),
            (2, "ops".into(), Some(ROOT_GROUP)),
            (3, "web".into(), Some(2)),
            (4, "db".into(), Some(2)),
            (5, "staging".into(), Some(ROOT_GROUP)),
        ];
        let all: HashSet<i64> = [1, 2, 3, 4, 5].into();
        assert_eq!(
            tree_order(&groups, &all),
            [(1, 0), (2, 1), (4, 2), (3, 2), (5, 1)]
        );
        let owned: HashSet<i64> = [2, 3, 4].into();
        assert_eq!(tree_order(&groups, &owned), [(2, 0), (4, 1), (3, 1)]);
    }

    #[test]
    fn owners_may_manage_only_below_their_groups_and_never_users_groups_or_tokens() {
        let forest = Forest::new(AccessRows {
            version: 1,
            groups: vec![
                (ROOT_GROUP, "root".into(), None),
                (2, "ops".into(), Some(ROOT_GROUP)),
                (3, "db".into(), Some(2)),
                (4, "staging".into(), Some(ROOT_GROUP)),
            ],
            members: vec![(10, 2, true), (11, 3, false)],
            hosts: vec![("db-1".into(), 3), ("stage-1".into(), 4)],
        });
        let owner = Principal {
            user_id: 10,
            username: "olive".into(),
            role: Role::Viewer,
        };
        let member = Principal {
            user_id: 11,
            username: "mel".into(),
            ..owner.clone()
        };
        let add = |group: &str| AdminAction::AddMember {
            group: group.into(),
            username: "x".into(),
            owner: false,
        };
        let mv = |host: &str, group: &str| AdminAction::MoveHost {
            host: host.into(),
            group: group.into(),
        };
        assert!(may(&forest, &owner, &add("db"), None));
        assert!(!may(&forest, &owner, &add("staging"), None));
        assert!(!may(&forest, &member, &add("db"), None));
        assert!(may(&forest, &owner, &mv("db-1", "ops"), None));
        assert!(!may(&forest, &owner, &mv("stage-1", "ops"), None));
        assert!(!may(&forest, &owner, &mv("db-1", "staging"), None));
        let revoke = AdminAction::RevokeInvite { id: 1 };
        assert!(may(&forest, &owner, &revoke, Some("db")));
        assert!(!may(&forest, &owner, &revoke, Some("staging")));
        assert!(!may(&forest, &owner, &revoke, None));
        let admin_only = AdminAction::CreateGroup {
            name: "x".into(),
            parent: Some("ops".into()),
        };
        assert!(!may(&forest, &owner, &admin_only, None));
        let admin = Principal {
            role: Role::Admin,
            ..member
        };
        assert!(may(&forest, &admin, &admin_only, None));
    }
}
