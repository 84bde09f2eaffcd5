-- eventlog schema v1 (SQLite). Times are INTEGER microseconds since the Unix epoch (UTC);
-- JSON fields are TEXT holding JSON. Migrations only ever add: never DROP, DELETE or UPDATE.
CREATE TABLE events (
    seq                INTEGER PRIMARY KEY,
    event_id           TEXT    NOT NULL,
    event_code         TEXT,
    event_category     TEXT    NOT NULL,
    event_type         TEXT    NOT NULL,
    event_name         TEXT    NOT NULL,
    event_description  TEXT,
    user_id            TEXT,
    username           TEXT,
    user_role          TEXT,
    tenant_id          TEXT,
    ip_address         TEXT,
    user_agent         TEXT,
    session_id         TEXT,
    correlation_id     TEXT,
    source             TEXT,
    resource_type      TEXT,
    resource_id        TEXT,
    resource_name      TEXT,
    related            TEXT,
    action             TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    http_method        TEXT,
    endpoint           TEXT,
    http_status        INTEGER,
    request_data       TEXT,
    response_data      TEXT,
    error_message      TEXT,
    error_code         TEXT,
    processing_time_ms REAL,
    timestamp          INTEGER NOT NULL,
    metadata           TEXT,
    tags               TEXT,
    severity           TEXT    NOT NULL,
    importance         TEXT    NOT NULL,
    content_hash       BLOB    NOT NULL,
    created_at         INTEGER NOT NULL,
    processed_at       INTEGER NOT NULL
);
-- Idempotency and get-by-id.
CREATE UNIQUE INDEX events_event_id ON events (event_id);
-- Recent events, newest first (the rowid `seq` breaks ties).
CREATE INDEX events_timestamp ON events (timestamp);
-- Rare severities (CRITICAL, ERROR) without walking every recent event. The leading column
-- has five values, so inserts append at five places and stay cheap.
CREATE INDEX events_severity_timestamp ON events (severity, timestamp);
-- A user's activity and the user_id filter.
CREATE INDEX events_user_timestamp ON events (user_id, timestamp) WHERE user_id IS NOT NULL;

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'analyst', 'ingest')),
    tenant_id  TEXT,
    prefix     TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
