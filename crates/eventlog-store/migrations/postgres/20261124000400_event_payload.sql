-- An event's cold fields (the ones no query filters or sorts on: event_name, action,
-- event_description, user_role, user_agent, resource_name, related, http_method,
-- http_status, request_data, response_data, error_message, error_code, processing_time_ms,
-- metadata, tags) are now written together into `payload`: their JSON as one zstd frame,
-- compressed with a dictionary trained on the store's own events (see src/payload.rs).
-- New rows leave those columns NULL (event_name and action, which are NOT NULL, empty);
-- rows stored before keep them and have no payload. Adds only; no row changes.
ALTER TABLE events ADD COLUMN payload BYTEA;

-- The dictionaries payloads are compressed with, by the id their zstd frames carry. Never
-- deleted: a row needs its dictionary for as long as it is kept.
CREATE TABLE payload_dictionaries (
    id         BIGINT PRIMARY KEY,
    dictionary BYTEA NOT NULL,
    samples    BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
