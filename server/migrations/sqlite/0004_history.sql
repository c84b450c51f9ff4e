-- Persistent history: series ids, compressed blocks per series and tier, and a
-- write-ahead log of the samples not yet in a block. Types and constraints are kept to
-- what Postgres also accepts (there: BIGINT identity, BYTEA; `WITHOUT ROWID` dropped,
-- since a Postgres table is a heap beside its primary key anyway).

-- AUTOINCREMENT: an id is never reused, so a log row of a removed series cannot replay
-- into a new one.
CREATE TABLE history_series (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT    NOT NULL,
    name TEXT    NOT NULL,
    UNIQUE (host, name)
);

-- tier: 0 raw samples, 1 one point per minute, 2 one point per hour.
-- start_ts/end_ts: the first and last point's timestamp (a bucket's start for rollups).
-- seq: the write order, so that of two points at one timestamp the newer one wins.
-- WITHOUT ROWID: the primary key is the table, so a block's key is stored once.
CREATE TABLE history_blocks (
    series_id INTEGER NOT NULL REFERENCES history_series (id) ON DELETE CASCADE,
    tier      INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    end_ts    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (series_id, tier, start_ts, seq)
) WITHOUT ROWID;

-- Retention deletes by tier and age across all series.
CREATE INDEX history_blocks_by_end ON history_blocks (tier, end_ts);

CREATE TABLE history_wal (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    data BLOB    NOT NULL
);
