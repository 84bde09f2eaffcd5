-- Rollup rows are updated in place by every commit that touches their bucket. With free
-- room left in each page, PostgreSQL writes the new row version beside the old one and
-- skips the index (a HOT update), instead of a new index entry per update: about 5% more
-- ingest with rollups (bench/README.md "What rollups cost at ingest"). A storage parameter
-- only: it applies to pages filled from now on and changes no row.
ALTER TABLE event_summary_minute SET (fillfactor = 50);
ALTER TABLE event_summary_hourly SET (fillfactor = 50);
ALTER TABLE event_summary_daily SET (fillfactor = 50);
