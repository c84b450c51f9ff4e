//! Groups, memberships and hosts' groups, as stored. Every change bumps the access
//! version in the same transaction, so that running servers see it and re-check the
//! sockets it concerns; [`crate::access::groups`] decides what the rows allow.

use super::{
    audit::{Actor, AuditEvent},
    unix_now, Db,
};
use sqlx::{Any, Transaction};

/// The group at the top of the tree; hosts without a group are in it.
pub const ROOT_GROUP: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("a group name holds 1-64 of a-z 0-9 . _ -")]
    BadName,
    #[error("a group named {0} already exists")]
    Exists(String),
    #[error("no group named {0}")]
    NoSuchGroup(String),
    #[error("no user named {0}")]
    NoSuchUser(String),
    #[error("no host named {0}")]
    NoSuchHost(String),
    #[error("{0} is not a member of {1}")]
    NotMember(String, String),
    #[error("the root group cannot be removed, renamed or moved")]
    Root,
    #[error("{0} cannot go under {1}: it is at or above it")]
    Cycle(String, String),
    #[error("group {0} still has {1}; move or remove them first")]
    NotEmpty(String, &'static str),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// A group as listed by `lookout group list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub name: String,
    pub parent: Option<String>,
    /// Members, owners marked with ` (owner)`.
    pub members: Vec<String>,
    pub hosts: i64,
}

/// Everything access decisions read: the tree, the memberships and the hosts' groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRows {
    pub version: i64,
    /// (id, name, parent).
    pub groups: Vec<(i64, String, Option<i64>)>,
    /// (user id, group id, owner).
    pub members: Vec<(i64, i64, bool)>,
    /// (host, group id), for hosts not in the root group.
    pub hosts: Vec<(String, i64)>,
}

async fn bump_version(tx: &mut Transaction<'_, Any>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) \
         WHERE key = 'access_version'",
    )
    .execute(&mut **tx)
    .await
    .map(drop)
}

async fn group_id(tx: &mut Transaction<'_, Any>, name: &str) -> Result<i64, GroupError> {
    sqlx::query_scalar("SELECT id FROM groups WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| GroupError::NoSuchGroup(name.to_string()))
}

async fn user_id(tx: &mut Transaction<'_, Any>, name: &str) -> Result<i64, GroupError> {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| GroupError::NoSuchUser(name.to_string()))
}

impl Db {
    /// Commits a change to groups, memberships or hosts' groups with the access version
    /// moved on in the same transaction (running servers re-check their sockets), then
    /// audits it.
    async fn commit_change(
        &self,
        mut tx: Transaction<'_, Any>,
        by: &Actor,
        event: AuditEvent,
        subject: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), GroupError> {
        bump_version(&mut tx).await?;
        tx.commit().await?;
        self.audit_by(by, event, subject, detail).await;
        Ok(())
    }

    /// The access version: it changes whenever anything [`Db::access_rows`] reads does.
    pub async fn access_version(&self) -> Result<i64, sqlx::Error> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'access_version'")
                .fetch_optional(self.pool())
                .await?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// The whole access state, read in one transaction so that it is consistent.
    pub async fn access_rows(&self) -> Result<AccessRows, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let version: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'access_version'")
                .fetch_optional(&mut *tx)
                .await?;
        let groups = sqlx::query_as("SELECT id, name, parent_id FROM groups")
            .fetch_all(&mut *tx)
            .await?;
        let members: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT user_id, group_id, owner FROM group_members")
                .fetch_all(&mut *tx)
                .await?;
        let members = members
            .into_iter()
            .map(|(user, group, owner)| (user, group, owner != 0))
            .collect();
        let hosts = sqlx::query_as("SELECT name, group_id FROM hosts WHERE group_id IS NOT NULL")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AccessRows {
            version: version.and_then(|v| v.parse().ok()).unwrap_or(0),
            groups,
            members,
            hosts,
        })
    }

    /// Creates a group under `parent` (the root group if `None`).
    pub async fn create_group(
        &self,
        by: &Actor,
        name: &str,
        parent: Option<&str>,
    ) -> Result<(), GroupError> {
        if !app::live::is_valid_name(name) {
            return Err(GroupError::BadName);
        }
        let mut tx = self.pool().begin().await?;
        let parent_id = match parent {
            Some(parent) => group_id(&mut tx, parent).await?,
            None => ROOT_GROUP,
        };
        let done = sqlx::query(
            "INSERT INTO groups (name, parent_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(parent_id)
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(GroupError::Exists(name.to_string()));
        }
        let detail = format!("{name} (parent {})", parent.unwrap_or("root"));
        self.commit_change(tx, by, AuditEvent::GroupCreated, None, Some(&detail))
            .await
    }

    /// Removes an empty group: no groups below it, no members, hosts or tokens.
    pub async fn remove_group(&self, by: &Actor, name: &str) -> Result<(), GroupError> {
        let mut tx = self.pool().begin().await?;
        let id = group_id(&mut tx, name).await?;
        if id == ROOT_GROUP {
            return Err(GroupError::Root);
        }
        for (sql, what) in [
            (
                "SELECT COUNT(*) FROM groups WHERE parent_id = $1",
                "groups below it",
            ),
            (
                "SELECT COUNT(*) FROM group_members WHERE group_id = $1",
                "members",
            ),
            ("SELECT COUNT(*) FROM hosts WHERE group_id = $1", "hosts"),
            (
                "SELECT COUNT(*) FROM api_tokens WHERE group_id = $1",
                "tokens",
            ),
        ] {
            let n: i64 = sqlx::query_scalar(sql).bind(id).fetch_one(&mut *tx).await?;
            if n > 0 {
                return Err(GroupError::NotEmpty(name.to_string(), what));
            }
        }
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit_change(tx, by, AuditEvent::GroupRemoved, None, Some(name))
            .await
    }

    /// Gives a group a new name; its place, members and hosts stay.
    pub async fn rename_group(
        &self,
        by: &Actor,
        name: &str,
        new_name: &str,
    ) -> Result<(), GroupError> {
        if !app::live::is_valid_name(new_name) {
            return Err(GroupError::BadName);
        }
        let mut tx = self.pool().begin().await?;
        let id = group_id(&mut tx, name).await?;
        if id == ROOT_GROUP {
            return Err(GroupError::Root);
        }
        let done = sqlx::query("UPDATE groups SET name = $1 WHERE id = $2")
            .bind(new_name)
            .bind(id)
            .execute(&mut *tx)
            .await;
        match done {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(GroupError::Exists(new_name.to_string()));
            }
            done => done?,
        };
        self.commit_change(
            tx,
            by,
            AuditEvent::GroupRenamed,
            None,
            Some(&format!("{name} to {new_name}")),
        )
        .await
    }

    /// Puts a group (with everything below it) under `parent`. Refused when `parent` is the
    /// group itself or below it: the tree stays a tree.
    pub async fn nest_group(&self, by: &Actor, name: &str, parent: &str) -> Result<(), GroupError> {
        let mut tx = self.pool().begin().await?;
        let id = group_id(&mut tx, name).await?;
        if id == ROOT_GROUP {
            return Err(GroupError::Root);
        }
        let parent_id = group_id(&mut tx, parent).await?;
        // Walk up from the new parent: meeting the group means it would be its own ancestor.
        let mut at = Some(parent_id);
        while let Some(g) = at {
            if g == id {
                return Err(GroupError::Cycle(name.to_string(), parent.to_string()));
            }
            at = sqlx::query_scalar("SELECT parent_id FROM groups WHERE id = $1")
                .bind(g)
                .fetch_one(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE groups SET parent_id = $1 WHERE id = $2")
            .bind(parent_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit_change(
            tx,
            by,
            AuditEvent::GroupNested,
            None,
            Some(&format!("{name} under {parent}")),
        )
        .await
    }

    pub async fn list_groups(&self) -> Result<Vec<GroupRow>, GroupError> {
        let groups: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT g.id, g.name, p.name FROM groups g LEFT JOIN groups p ON p.id = g.parent_id \
             ORDER BY g.id",
        )
        .fetch_all(self.pool())
        .await?;
        let members = self.memberships().await?;
        let hosts: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT COALESCE(group_id, $1), COUNT(*) FROM hosts GROUP BY COALESCE(group_id, $1)",
        )
        .bind(ROOT_GROUP)
        .fetch_all(self.pool())
        .await?;
        Ok(groups
            .into_iter()
            .map(|(id, name, parent)| GroupRow {
                name,
                parent,
                members: members
                    .iter()
                    .filter(|m| m.0 == id)
                    .map(|(_, user, owner)| {
                        if *owner {
                            format!("{user} (owner)")
                        } else {
                            user.clone()
                        }
                    })
                    .collect(),
                hosts: hosts.iter().find(|h| h.0 == id).map_or(0, |h| h.1),
            })
            .collect())
    }

    /// Every membership: (group id, username, owner), by username.
    pub async fn memberships(&self) -> Result<Vec<(i64, String, bool)>, sqlx::Error> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT m.group_id, u.username, m.owner FROM group_members m \
             JOIN users u ON u.id = m.user_id ORDER BY u.username",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(group, user, owner)| (group, user, owner != 0))
            .collect())
    }

    /// Makes `user` a member (or an owner) of `group`; a member already is updated.
    pub async fn add_member(
        &self,
        by: &Actor,
        group: &str,
        user: &str,
        owner: bool,
    ) -> Result<(), GroupError> {
        let mut tx = self.pool().begin().await?;
        let (gid, uid) = (
            group_id(&mut tx, group).await?,
            user_id(&mut tx, user).await?,
        );
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, owner, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (group_id, user_id) DO UPDATE SET owner = excluded.owner",
        )
        .bind(gid)
        .bind(uid)
        .bind(i64::from(owner))
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        let role = if owner { "owner" } else { "member" };
        let detail = format!("{group} ({role})");
        self.commit_change(tx, by, AuditEvent::MemberAdded, Some(user), Some(&detail))
            .await
    }

    pub async fn remove_member(
        &self,
        by: &Actor,
        group: &str,
        user: &str,
    ) -> Result<(), GroupError> {
        let mut tx = self.pool().begin().await?;
        let (gid, uid) = (
            group_id(&mut tx, group).await?,
            user_id(&mut tx, user).await?,
        );
        let done = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(gid)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(GroupError::NotMember(user.to_string(), group.to_string()));
        }
        self.commit_change(tx, by, AuditEvent::MemberRemoved, Some(user), Some(group))
            .await
    }

    /// Moves a host into `group`.
    pub async fn move_host(&self, by: &Actor, host: &str, group: &str) -> Result<(), GroupError> {
        let mut tx = self.pool().begin().await?;
        let gid = group_id(&mut tx, group).await?;
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM hosts WHERE name = $1 UNION SELECT 1 FROM history_series WHERE host = $2",
        )
        .bind(host)
        .bind(host)
        .fetch_optional(&mut *tx)
        .await?;
        if known.is_none() {
            return Err(GroupError::NoSuchHost(host.to_string()));
        }
        // The server's own host has no row until it is moved.
        sqlx::query(
            "INSERT INTO hosts (name, token_id, created_at, group_id) VALUES ($1, NULL, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET group_id = excluded.group_id",
        )
        .bind(host)
        .bind(unix_now())
        .bind(gid)
        .execute(&mut *tx)
        .await?;
        self.commit_change(
            tx,
            by,
            AuditEvent::HostMoved,
            None,
            Some(&format!("{host} to {group}")),
        )
        .await
    }

    /// The id of the group named `name`.
    pub async fn group_named(&self, name: &str) -> Result<i64, GroupError> {
        let mut tx = self.pool().begin().await?;
        let id = group_id(&mut tx, name).await?;
        tx.commit().await?;
        Ok(id)
    }
}
