-- Alerts (PostgreSQL): one row per firing of a rule for a key, resolved in place. Only adds.
-- The partial unique index is the deduplication: at most one firing row per rule and key,
-- even with several servers evaluating against one database.
CREATE TABLE alerts (
    id             BIGSERIAL PRIMARY KEY,
    rule           TEXT        NOT NULL,
    alert_key      TEXT        NOT NULL,
    kind           TEXT        NOT NULL,
    severity       TEXT        NOT NULL,
    tenant_id      TEXT,
    state          TEXT        NOT NULL CHECK (state IN ('firing', 'resolved')),
    value          FLOAT8      NOT NULL,
    threshold      FLOAT8      NOT NULL,
    window_secs    BIGINT      NOT NULL,
    message        TEXT        NOT NULL,
    event_id       TEXT,
    started_at     TIMESTAMPTZ NOT NULL,
    resolved_at    TIMESTAMPTZ,
    resolved_value FLOAT8
);
CREATE UNIQUE INDEX alerts_one_firing ON alerts (rule, alert_key) WHERE state = 'firing';
-- The evaluator's start-up read: the latest row of each rule and key (cool-down).
CREATE INDEX alerts_rule_key ON alerts (rule, alert_key, id);
