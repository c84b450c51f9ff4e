-- API tokens: random secrets shown once, stored as SHA-256, scoped, revocable.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    token_hash   TEXT    NOT NULL UNIQUE,
    scope        TEXT    NOT NULL CHECK (scope IN ('ingest', 'read')),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
