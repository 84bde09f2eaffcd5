-- Rollups kept at ingest, in the same transaction as the events (issue 6). Three grains of
-- one shape: per minute, per hour and per day (`event_summary_daily` is the table seed 000
-- names). A row counts the events of one bucket, tenant ('' = none) and value of one
-- dimension (category, type, code, severity, status, endpoint, user, ...); see
-- crates/eventlog-store/src/analytics/rollup.rs for the dimensions and what each column
-- holds. Buckets are INTEGER microseconds since the Unix epoch (UTC), like events.timestamp.
-- Migrations only ever add: never DROP, DELETE or UPDATE.
CREATE TABLE event_summary_minute (
    dimension        TEXT    NOT NULL,
    bucket           INTEGER NOT NULL,
    tenant_id        TEXT    NOT NULL,
    value            TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    errors           INTEGER NOT NULL,
    failures         INTEGER NOT NULL,
    latency_count    INTEGER NOT NULL,
    latency_sum      REAL    NOT NULL,
    latency_max      REAL    NOT NULL,
    confidence_count INTEGER NOT NULL,
    confidence_sum   REAL    NOT NULL,
    last_seen        INTEGER NOT NULL,
    PRIMARY KEY (dimension, bucket, tenant_id, value)
) WITHOUT ROWID;
CREATE TABLE event_summary_hourly (
    dimension        TEXT    NOT NULL,
    bucket           INTEGER NOT NULL,
    tenant_id        TEXT    NOT NULL,
    value            TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    errors           INTEGER NOT NULL,
    failures         INTEGER NOT NULL,
    latency_count    INTEGER NOT NULL,
    latency_sum      REAL    NOT NULL,
    latency_max      REAL    NOT NULL,
    confidence_count INTEGER NOT NULL,
    confidence_sum   REAL    NOT NULL,
    last_seen        INTEGER NOT NULL,
    PRIMARY KEY (dimension, bucket, tenant_id, value)
) WITHOUT ROWID;
CREATE TABLE event_summary_daily (
    dimension        TEXT    NOT NULL,
    bucket           INTEGER NOT NULL,
    tenant_id        TEXT    NOT NULL,
    value            TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    errors           INTEGER NOT NULL,
    failures         INTEGER NOT NULL,
    latency_count    INTEGER NOT NULL,
    latency_sum      REAL    NOT NULL,
    latency_max      REAL    NOT NULL,
    confidence_count INTEGER NOT NULL,
    confidence_sum   REAL    NOT NULL,
    last_seen        INTEGER NOT NULL,
    PRIMARY KEY (dimension, bucket, tenant_id, value)
) WITHOUT ROWID;
