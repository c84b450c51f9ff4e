-- A user's session generation: bumped whenever all of the user's sessions end (password
-- change, revocation), so that a sign-in already in flight cannot store a working session.
ALTER TABLE users ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

-- What an ingest token may write: an exact host name or a glob (`web-*`); NULL until a
-- token made without `--host` writes its first host, which it is then bound to.
ALTER TABLE api_tokens ADD COLUMN host_pattern TEXT;

-- Every host that has pushed data, and the token that created it (for the per-token cap).
CREATE TABLE hosts (
    name       TEXT    PRIMARY KEY,
    token_id   BIGINT  REFERENCES api_tokens (id) ON DELETE SET NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX hosts_by_token ON hosts (token_id);

-- Server settings the CLI must agree with (the password minimum).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
