-- Groups as a forest: membership of a group grants it and every group below it; an owner
-- manages the group and everything below it. Group 1, `root`, is the top of the tree that
-- holds the server's own host and every host that no token's group claims.
CREATE TABLE groups (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    parent_id  INTEGER REFERENCES groups (id),
    created_at INTEGER NOT NULL
);
INSERT INTO groups (id, name, parent_id, created_at) VALUES (1, 'root', NULL, 0);

CREATE TABLE group_members (
    group_id   INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    owner      INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

-- A host's group: its ingest token's group when it was created; NULL is the root group.
ALTER TABLE hosts ADD COLUMN group_id INTEGER REFERENCES groups (id);
-- The group an ingest token's new hosts join, or a read token may read (NULL: root).
ALTER TABLE api_tokens ADD COLUMN group_id INTEGER REFERENCES groups (id);

-- Bumped by every change to groups, memberships or hosts' groups, in the same transaction:
-- running servers (this one, or others on the same database) poll it and narrow or widen
-- the open sockets of the users concerned.
INSERT INTO settings (key, value) VALUES ('access_version', '0');
