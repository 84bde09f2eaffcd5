-- Day rollups are folded from hour rollups once a day is over, instead of being upserted
-- with every commit (bench/README.md "What rollups cost at ingest"). `daily_from` (UTC
-- microseconds, a day start) says how far that has happened: `event_summary_daily` is
-- complete for the days before it; for later days readers sum `event_summary_hourly`.
-- It starts at today: today's day rows are recomputed from the hour rows when the day is
-- folded. Only adds: a new table and its single row.
CREATE TABLE rollup_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    daily_from INTEGER NOT NULL
);
INSERT INTO rollup_state (id, daily_from)
VALUES (1, (CAST(strftime('%s', 'now') AS INTEGER) / 86400) * 86400000000);
