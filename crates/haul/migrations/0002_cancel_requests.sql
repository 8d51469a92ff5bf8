-- Haul 0002: cancelling a running job. The request is recorded on the row (so it survives a
-- missed notification, a poll-only worker and a worker's death) and the holder is notified.
ALTER TABLE {schema}.jobs ADD COLUMN cancel_requested_at timestamptz;
