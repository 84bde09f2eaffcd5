-- Rollups kept at ingest, in the same transaction as the events (issue 6). Three grains of
-- one shape: per minute, per hour and per day (`event_summary_daily` is the table seed 000
-- names). A row counts the events of one bucket, tenant ('' = none) and value of one
-- dimension (category, type, code, severity, status, endpoint, user, ...); see
-- crates/eventlog-store/src/analytics/rollup.rs for the dimensions and what each column
-- holds. Buckets are TIMESTAMPTZ (UTC start of the bucket).
-- Migrations only ever add: never DROP, DELETE or UPDATE.
CREATE TABLE event_summary_minute (
    dimension        TEXT    NOT NULL,
    bucket           TIMESTAMPTZ NOT NULL,
    tenant_id        TEXT    NOT NULL,
    value            TEXT    NOT NULL,
    events           BIGINT NOT NULL,
    errors           BIGINT NOT NULL,
    failures         BIGINT NOT NULL,
    latency_count    BIGINT NOT NULL,
    latency_sum      DOUBLE PRECISION NOT NULL,
    latency_max      DOUBLE PRECISION NOT NULL,
    confidence_count BIGINT NOT NULL,
    confidence_sum   DOUBLE PRECISION NOT NULL,
    last_seen        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dimension, bucket, tenant_id, value)
);
CREATE TABLE event_summary_hourly (
    dimension        TEXT    NOT NULL,
    bucket           TIMESTAMPTZ NOT NULL,
    tenant_id        TEXT    NOT NULL,
    value            TEXT    NOT NULL,
    events           BIGINT NOT NULL,
    errors           BIGINT NOT NULL,
    failures         BIGINT NOT NULL,
    latency_count    BIGINT NOT NULL,
    latency_sum      DOUBLE PRECISION NOT NULL,
    latency_max      DOUBLE PRECISION NOT NULL,
    confidence_count BIGINT NOT NULL,
    confidence_sum   DOUBLE PRECISION NOT NULL,
    last_seen        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dimension, bucket, tenant_id, value)
);
CREATE TABLE event_summary_daily (
    dimension        TEXT    NOT NULL,
    bucket           TIMESTAMPTZ NOT NULL,
    tenant_id        TEXT    NOT NULL,
    value            TEXT    NOT NULL,
    events           BIGINT NOT NULL,
    errors           BIGINT NOT NULL,
    failures         BIGINT NOT NULL,
    latency_count    BIGINT NOT NULL,
    latency_sum      DOUBLE PRECISION NOT NULL,
    latency_max      DOUBLE PRECISION NOT NULL,
    confidence_count BIGINT NOT NULL,
    confidence_sum   DOUBLE PRECISION NOT NULL,
    last_seen        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dimension, bucket, tenant_id, value)
);
