//! Who may see which host: groups as a forest, where membership of a group grants it and
//! every group below it, and every host belongs to one group. Every surface that shows a
//! host (the socket's hello, subscriptions and overview, the API, the host page) asks
//! [`Viewer::sees`]; nothing is filtered only in the browser.

use crate::store::{
    groups::{AccessRows, ROOT_GROUP},
    Db,
};
use app::auth::Role;
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The current [`Forest`], reloaded whenever the database's access version moves: from
/// this process or another one on the same database (the command line).
pub struct Access {
    db: Db,
    current: watch::Sender<Arc<Forest>>,
}

impl Access {
    pub async fn load(db: Db) -> Result<Arc<Self>, sqlx::Error> {
        let forest = Forest::new(db.access_rows().await?);
        Ok(Arc::new(Self {
            db,
            current: watch::Sender::new(Arc::new(forest)),
        }))
    }

    pub fn forest(&self) -> Arc<Forest> {
        self.current.borrow().clone()
    }

    /// Wakes on every new forest: sockets re-check what they show.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Forest>> {
        self.current.subscribe()
    }

    /// Reloads the forest if the database's version moved. Whether it did.
    pub async fn refresh(&self) -> Result<bool, sqlx::Error> {
        let version = self.db.access_version().await?;
        if version == self.current.borrow().version {
            return Ok(false);
        }
        let forest = Forest::new(self.db.access_rows().await?);
        self.current.send_replace(Arc::new(forest));
        Ok(true)
    }

    /// Polls the version every `period` until `stop`: a change made anywhere reaches the
    /// open sockets within a period and a reload.
    pub async fn watch(self: Arc<Self>, period: Duration, stop: CancellationToken) {
        let mut every = tokio::time::interval(period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = every.tick() => {
                    if let Err(e) = self.refresh().await {
                        tracing::warn!(error = %e, "cannot check for access changes");
                    }
                }
            }
        }
    }
}

/// The access state at one version of the database.
#[derive(Debug, Default)]
pub struct Forest {
    pub version: i64,
    children: HashMap<i64, Vec<i64>>,
    names: HashMap<i64, String>,
    /// user → groups they are a member of.
    members: HashMap<i64, Vec<i64>>,
    /// user → groups they own.
    owners: HashMap<i64, Vec<i64>>,
    /// host → group, for hosts not in the root group.
    hosts: HashMap<String, i64>,
}

/// What one reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// An admin, or a read token of the root group.
    All,
    /// The groups granted: those of the memberships and everything below them.
    Groups(Arc<HashSet<i64>>),
}

impl Forest {
    pub fn new(rows: AccessRows) -> Self {
        let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
        for (id, _, parent) in &rows.groups {
            if let Some(parent) = parent {
                children.entry(*parent).or_default().push(*id);
            }
        }
        let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut owners: HashMap<i64, Vec<i64>> = HashMap::new();
        for (user, group, owner) in &rows.members {
            members.entry(*user).or_default().push(*group);
            if *owner {
                owners.entry(*user).or_default().push(*group);
            }
        }
        Self {
            version: rows.version,
            children,
            names: rows
                .groups
                .iter()
                .map(|(id, name, _)| (*id, name.clone()))
                .collect(),
            members,
            owners,
            hosts: rows.hosts.into_iter().collect(),
        }
    }

    /// `groups` and every group below them.
    fn below(&self, groups: impl IntoIterator<Item = i64>) -> HashSet<i64> {
        let mut out = HashSet::new();
        let mut todo: Vec<i64> = groups.into_iter().collect();
        while let Some(g) = todo.pop() {
            // A cycle cannot be made through the CLI; if the rows held one, it ends here.
            if out.insert(g) {
                todo.extend(self.children.get(&g).into_iter().flatten().copied());
            }
        }
        out
    }

    /// What a signed-in user may see.
    pub fn user(&self, user_id: i64, role: Role) -> Viewer {
        if role == Role::Admin {
            return Viewer::All;
        }
        let granted = self.members.get(&user_id).cloned().unwrap_or_default();
        Viewer::Groups(Arc::new(self.below(granted)))
    }

    /// The groups `user_id` manages: every group for an admin, else those they own and
    /// every group below them. An owner manages the members, invites and hosts there.
    pub fn managed(&self, user_id: i64, role: Role) -> HashSet<i64> {
        if role == Role::Admin {
            return self.names.keys().copied().collect();
        }
        self.below(self.owners.get(&user_id).cloned().unwrap_or_default())
    }

    /// Whether `user_id` manages the group named `group` (an unknown group: no).
    pub fn manages(&self, user_id: i64, role: Role, group: &str) -> bool {
        self.group_named(group)
            .is_some_and(|id| self.managed(user_id, role).contains(&id))
    }

    /// The names of the groups `user_id` is a member of, sorted.
    pub fn memberships(&self, user_id: i64) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .members
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter_map(|g| self.name_of(*g))
            .collect();
        names.sort_unstable();
        names
    }

    pub fn group_named(&self, name: &str) -> Option<i64> {
        self.names
            .iter()
            .find_map(|(id, n)| (n == name).then_some(*id))
    }

    pub fn name_of(&self, group: i64) -> Option<&str> {
        self.names.get(&group).map(String::as_str)
    }

    /// What a read token of `group` may see (`None`: the root group, everything).
    pub fn token(&self, group: Option<i64>) -> Viewer {
        match group {
            None | Some(ROOT_GROUP) => Viewer::All,
            Some(group) => Viewer::Groups(Arc::new(self.below([group]))),
        }
    }

    pub fn group_of(&self, host: &str) -> i64 {
        self.hosts.get(host).copied().unwrap_or(ROOT_GROUP)
    }
}

impl Viewer {
    pub fn sees(&self, forest: &Forest, host: &str) -> bool {
        match self {
            Self::All => true,
            Self::Groups(groups) => groups.contains(&forest.group_of(host)),
        }
    }

    /// The hosts of `hosts` this viewer sees, in their order.
    pub fn filter(&self, forest: &Forest, hosts: Vec<String>) -> Vec<String> {
        match self {
            Self::All => hosts,
            Self::Groups(_) => hosts.into_iter().filter(|h| self.sees(forest, h)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// root ─ ops ─ db ─ db-replicas
    ///           └─ web
    ///      staging
    fn forest() -> Forest {
        Forest::new(AccessRows {
            version: 1,
            groups: vec![
                (ROOT_GROUP, "root".into(), None),
                (2, "ops".into(), Some(ROOT_GROUP)),
                (3, "db".into(), Some(2)),
                (4, "db-replicas".into(), Some(3)),
                (5, "web".into(), Some(2)),
                (6, "staging".into(), Some(ROOT_GROUP)),
            ],
            members: vec![
                (10, 2, true),
                (11, 3, false),
                (12, 6, false),
                (13, 1, false),
            ],
            hosts: vec![
                ("db-1".into(), 3),
                ("db-2".into(), 4),
                ("web-1".into(), 5),
                ("stage".into(), 6),
            ],
        })
    }

    #[test]
    fn membership_flows_down_the_tree_and_never_up_or_sideways() {
        let f = forest();
        let sees = |viewer: &Viewer| -> Vec<&str> {
            ["db-1", "db-2", "web-1", "stage", "own-host"]
                .into_iter()
                .filter(|h| viewer.sees(&f, h))
                .collect()
        };
        assert_eq!(sees(&f.user(10, Role::Viewer)), ["db-1", "db-2", "web-1"]);
        assert_eq!(sees(&f.user(11, Role::Viewer)), ["db-1", "db-2"]);
        assert_eq!(sees(&f.user(12, Role::Viewer)), ["stage"]);
        assert_eq!(
            sees(&f.user(13, Role::Viewer)),
            ["db-1", "db-2", "web-1", "stage", "own-host"],
            "the root group holds everything"
        );
        assert!(
            sees(&f.user(99, Role::Viewer)).is_empty(),
            "no group, no hosts"
        );
        assert_eq!(f.user(99, Role::Admin), Viewer::All);
        assert_eq!(sees(&f.token(Some(5))), ["web-1"]);
        assert_eq!(f.token(None), Viewer::All);
    }

    #[test]
    fn owners_manage_their_group_and_below_and_admins_everything() {
        let f = forest();
        let managed = |user, role| -> Vec<&str> {
            let mut names: Vec<&str> = f
                .managed(user, role)
                .into_iter()
                .filter_map(|g| f.name_of(g))
                .collect();
            names.sort_unstable();
            names
        };
        assert_eq!(
            managed(10, Role::Viewer),
            ["db", "db-replicas", "ops", "web"]
        );
        assert!(f.manages(10, Role::Viewer, "db-replicas"));
        assert!(!f.manages(10, Role::Viewer, "staging"));
        assert!(!f.manages(10, Role::Viewer, "root"), "never upwards");
        assert!(
            managed(11, Role::Viewer).is_empty(),
            "a member manages nothing"
        );
        assert!(managed(99, Role::Viewer).is_empty());
        assert_eq!(managed(99, Role::Admin).len(), 6);
        assert!(!f.manages(99, Role::Admin, "no-such-group"));
    }

    #[test]
    fn a_cycle_in_the_rows_does_not_hang() {
        let f = Forest::new(AccessRows {
            version: 1,
            groups: vec![(2, "a".into(), Some(3)), (3, "b".into(), Some(2))],
            members: vec![(10, 2, false)],
            hosts: vec![("x".into(), 3)],
        });
        assert!(f.user(10, Role::Viewer).sees(&f, "x"));
    }
}
