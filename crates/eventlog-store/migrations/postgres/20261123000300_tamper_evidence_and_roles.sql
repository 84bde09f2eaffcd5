-- Tamper evidence and the auditor/publishable roles (PostgreSQL). Only adds: events gain
-- their chain columns (NULL for events stored before this migration, which the chain does
-- not cover), three tables hold the chain head, the signed checkpoints and retention's
-- signed pruning records.
ALTER TABLE events ADD COLUMN record_hash BYTEA;
ALTER TABLE events ADD COLUMN chain_pos BIGINT;
ALTER TABLE events ADD COLUMN chain_hash BYTEA;
-- verify walks the chain in position order, page by page; positions only grow, so the
-- index is appended to, never split in the middle.
CREATE INDEX events_chain_pos ON events (chain_pos, seq) WHERE chain_pos IS NOT NULL;

-- The last link of the chain and the cumulative leaf sum, updated in every write transaction.
CREATE TABLE chain_head (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    chain_pos  BIGINT   NOT NULL,
    chain_hash BYTEA    NOT NULL,
    leaf_sum   BYTEA    NOT NULL
);

CREATE TABLE chain_checkpoints (
    id             BIGSERIAL PRIMARY KEY,
    chain_pos      BIGINT      NOT NULL UNIQUE,
    chain_hash     BYTEA       NOT NULL,
    leaf_sum       BYTEA       NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    prev_signature BYTEA,
    public_key     BYTEA       NOT NULL,
    signature      BYTEA       NOT NULL
);

CREATE TABLE chain_prunings (
    id         BIGSERIAL PRIMARY KEY,
    from_pos   BIGINT      NOT NULL,
    to_pos     BIGINT      NOT NULL,
    pruned     BIGINT      NOT NULL,
    leaf_sum   BYTEA       NOT NULL,
    severity   TEXT        NOT NULL,
    cutoff     TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    public_key BYTEA       NOT NULL,
    signature  BYTEA       NOT NULL
);

-- Widen the role check (a constraint, not data: no row changes).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('admin', 'analyst', 'auditor', 'ingest', 'publishable'));
