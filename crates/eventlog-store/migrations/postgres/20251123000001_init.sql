-- eventlog schema v1 (PostgreSQL). Events are range-partitioned by month on "timestamp";
-- partitions are created ahead of time and on demand by the store. Migrations only ever
-- add: never DROP, DELETE or UPDATE.
CREATE TABLE events (
    seq                BIGSERIAL,
    event_id           TEXT        NOT NULL,
    event_code         TEXT,
    event_category     TEXT        NOT NULL,
    event_type         TEXT        NOT NULL,
    event_name         TEXT        NOT NULL,
    event_description  TEXT,
    user_id            TEXT,
    username           TEXT,
    user_role          TEXT,
    tenant_id          TEXT,
    ip_address         INET,
    user_agent         TEXT,
    session_id         TEXT,
    correlation_id     TEXT,
    source             TEXT,
    resource_type      TEXT,
    resource_id        TEXT,
    resource_name      TEXT,
    related            JSON,
    action             TEXT        NOT NULL,
    status             TEXT        NOT NULL,
    http_method        TEXT,
    endpoint           TEXT,
    http_status        SMALLINT,
    request_data       JSON,
    response_data      JSON,
    error_message      TEXT,
    error_code         TEXT,
    processing_time_ms DOUBLE PRECISION,
    "timestamp"        TIMESTAMPTZ NOT NULL,
    metadata           JSON,
    tags               TEXT[],
    severity           TEXT        NOT NULL,
    importance         TEXT        NOT NULL,
    content_hash       BYTEA       NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    processed_at       TIMESTAMPTZ NOT NULL
) PARTITION BY RANGE ("timestamp");
-- Recent events, newest first; seq breaks ties.
CREATE INDEX events_timestamp ON events ("timestamp" DESC, seq DESC);
-- Idempotency (uniqueness is enforced by the single writer under an advisory lock, since a
-- unique index on a partitioned table must include the partition key) and get-by-id.
CREATE INDEX events_event_id ON events (event_id);
-- Rare severities (CRITICAL, ERROR) without walking every recent event. The leading column
-- has five values, so inserts append at five places and stay cheap.
CREATE INDEX events_severity_timestamp ON events (severity, "timestamp" DESC, seq DESC);
-- A user's activity and the user_id filter.
CREATE INDEX events_user_timestamp ON events (user_id, "timestamp" DESC) WHERE user_id IS NOT NULL;

CREATE TABLE api_keys (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT        NOT NULL,
    role       TEXT        NOT NULL CHECK (role IN ('admin', 'analyst', 'ingest')),
    tenant_id  TEXT,
    prefix     TEXT        NOT NULL,
    key_hash   TEXT        NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
