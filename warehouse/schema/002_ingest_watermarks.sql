-- Per source (a file or folder given to ingest), the newest updated_at read so far:
-- the next ingest of the same source reads only rows at or after it.
CREATE TABLE IF NOT EXISTS ingest_watermarks (
    source      VARCHAR PRIMARY KEY,  -- 'tickets:' + the resolved path given to ingest
    watermark   TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
