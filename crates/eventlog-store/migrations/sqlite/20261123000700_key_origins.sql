-- Publishable (browser) keys carry the origins allowed to use them: space-separated
-- `scheme://host[:port]` values, NULL for every other key. Only adds a column.
ALTER TABLE api_keys ADD COLUMN allowed_origins TEXT;
