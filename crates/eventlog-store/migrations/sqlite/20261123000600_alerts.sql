-- Alerts (SQLite): one row per firing of a rule for a key, resolved in place. Only adds.
-- The partial unique index is the deduplication: at most one firing row per rule and key,
-- even with several servers evaluating against one database.
CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY,
    rule           TEXT    NOT NULL,
    alert_key      TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    severity       TEXT    NOT NULL,
    tenant_id      TEXT,
    state          TEXT    NOT NULL CHECK (state IN ('firing', 'resolved')),
    value          REAL    NOT NULL,
    threshold      REAL    NOT NULL,
    window_secs    INTEGER NOT NULL,
    message        TEXT    NOT NULL,
    event_id       TEXT,
    started_at     INTEGER NOT NULL,
    resolved_at    INTEGER,
    resolved_value REAL
);
CREATE UNIQUE INDEX alerts_one_firing ON alerts (rule, alert_key) WHERE state = 'firing';
-- The evaluator's start-up read: the latest row of each rule and key (cool-down).
CREATE INDEX alerts_rule_key ON alerts (rule, alert_key, id);
