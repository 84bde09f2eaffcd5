-- Tamper evidence and the auditor/publishable roles (SQLite). Only adds: events gain their
-- chain columns (NULL for events stored before this migration, which the chain does not
-- cover), three tables hold the chain head, the signed checkpoints and retention's signed
-- pruning records.
ALTER TABLE events ADD COLUMN record_hash BLOB;
ALTER TABLE events ADD COLUMN chain_pos INTEGER;
ALTER TABLE events ADD COLUMN chain_hash BLOB;
-- verify walks the chain in position order, page by page; positions only grow, so the
-- index is appended to, never split in the middle.
CREATE INDEX events_chain_pos ON events (chain_pos, seq) WHERE chain_pos IS NOT NULL;

-- The last link of the chain and the cumulative leaf sum, updated in every write transaction.
CREATE TABLE chain_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    chain_pos  INTEGER NOT NULL,
    chain_hash BLOB    NOT NULL,
    leaf_sum   BLOB    NOT NULL
);

CREATE TABLE chain_checkpoints (
    id             INTEGER PRIMARY KEY,
    chain_pos      INTEGER NOT NULL UNIQUE,
    chain_hash     BLOB    NOT NULL,
    leaf_sum       BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    prev_signature BLOB,
    public_key     BLOB    NOT NULL,
    signature      BLOB    NOT NULL
);

CREATE TABLE chain_prunings (
    id         INTEGER PRIMARY KEY,
    from_pos   INTEGER NOT NULL,
    to_pos     INTEGER NOT NULL,
    pruned     INTEGER NOT NULL,
    leaf_sum   BLOB    NOT NULL,
    severity   TEXT    NOT NULL,
    cutoff     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    public_key BLOB    NOT NULL,
    signature  BLOB    NOT NULL
);

-- SQLite cannot change a CHECK constraint in place: the keys move to a new api_keys table
-- that admits the new roles. The old table stays (renamed), as migrations never drop.
ALTER TABLE api_keys RENAME TO api_keys_before_20261123000300;
CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'analyst', 'auditor', 'ingest', 'publishable')),
    tenant_id  TEXT,
    prefix     TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
INSERT INTO api_keys (id, name, role, tenant_id, prefix, key_hash, created_at, revoked_at)
    SELECT id, name, role, tenant_id, prefix, key_hash, created_at, revoked_at
    FROM api_keys_before_20261123000300;
CREATE UNIQUE INDEX api_keys_active_name_v2 ON api_keys (name) WHERE revoked_at IS NULL;
