-- Who did each audited thing: a signed-in user, or the command line. `username` stays the
-- account the event is about.
ALTER TABLE audit_log ADD COLUMN actor TEXT;
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);

-- A disabled account keeps its rows but cannot sign in; its sessions ended when it was
-- disabled.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

-- Two-factor sign-in (TOTP, RFC 6238). The secret is set once enrolment is confirmed with a
-- code; `totp_last_step` is the time step of the last accepted code, so that a code is
-- accepted once.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- One-time recovery codes: only their SHA-256 is stored.
CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- A sign-in whose password was right and whose second step is pending: no session exists
-- yet. The browser holds the challenge's id (in a form field); only its SHA-256 is stored.
-- `enrol_secret` is set when the policy requires two factors of a user not enrolled yet.
CREATE TABLE login_challenges (
    id_hash      TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation   INTEGER NOT NULL,
    ip           TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL,
    enrol_secret TEXT
);
CREATE INDEX login_challenges_by_expiry ON login_challenges (expires_at);
