-- The `request` rollup dimension (value ''): events with an endpoint, one row per bucket and
-- tenant, so the request count of a window does not read one row per distinct path. Rows
-- for buckets written before this migration are derived from their `endpoint` rows, which
-- count the same events. Only adds rows.
INSERT INTO event_summary_minute (dimension, bucket, tenant_id, value, events, errors, failures,
    latency_count, latency_sum, latency_max, confidence_count, confidence_sum, last_seen)
SELECT 'request', bucket, tenant_id, '', sum(events), sum(errors), sum(failures),
    sum(latency_count), sum(latency_sum), max(latency_max), sum(confidence_count),
    sum(confidence_sum), max(last_seen)
FROM event_summary_minute WHERE dimension = 'endpoint' GROUP BY bucket, tenant_id;
INSERT INTO event_summary_hourly (dimension, bucket, tenant_id, value, events, errors, failures,
    latency_count, latency_sum, latency_max, confidence_count, confidence_sum, last_seen)
SELECT 'request', bucket, tenant_id, '', sum(events), sum(errors), sum(failures),
    sum(latency_count), sum(latency_sum), max(latency_max), sum(confidence_count),
    sum(confidence_sum), max(last_seen)
FROM event_summary_hourly WHERE dimension = 'endpoint' GROUP BY bucket, tenant_id;
INSERT INTO event_summary_daily (dimension, bucket, tenant_id, value, events, errors, failures,
    latency_count, latency_sum, latency_max, confidence_count, confidence_sum, last_seen)
SELECT 'request', bucket, tenant_id, '', sum(events), sum(errors), sum(failures),
    sum(latency_count), sum(latency_sum), max(latency_max), sum(confidence_count),
    sum(confidence_sum), max(last_seen)
FROM event_summary_daily WHERE dimension = 'endpoint' GROUP BY bucket, tenant_id;
