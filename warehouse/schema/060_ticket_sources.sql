-- A ticket is identified within its source: two sources whose ids overlap both land whole.
-- `tickets.ticket_id` stays the one key every table joins on; it is the source's own id
-- (`source_ticket_id`) behind the source's key prefix: '' for the first source of the
-- warehouse, '<source>:' for each later one.
CREATE TABLE IF NOT EXISTS ticket_sources (
    source      VARCHAR PRIMARY KEY,  -- the source's name (--source, [[sources]] name, or from the path)
    key_prefix  VARCHAR NOT NULL,     -- put before its ids to make tickets.ticket_id
    created_at  TIMESTAMP NOT NULL
);

ALTER TABLE tickets ADD COLUMN IF NOT EXISTS source_ticket_id VARCHAR;  -- the id in its source
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS source_file VARCHAR;       -- the file the current version came from

-- Tickets ingested before were one id space: they become one source, `tickets`, whose ids keep
-- their form. `source` named the file until now; `source_file` takes that over.
UPDATE tickets SET source_ticket_id = ticket_id, source_file = source, source = 'tickets';
INSERT INTO ticket_sources (source, key_prefix, created_at)
SELECT 'tickets', '', now() WHERE EXISTS (SELECT 1 FROM tickets);

-- The watermark remembers the source and the settings (mapping, filter, dropped columns, text
-- limit) it was read with: a changed setting reads the whole source again. NULL settings
-- (watermarks stored before) count as changed.
ALTER TABLE ingest_watermarks ADD COLUMN IF NOT EXISTS ticket_source VARCHAR;
ALTER TABLE ingest_watermarks ADD COLUMN IF NOT EXISTS settings VARCHAR;
UPDATE ingest_watermarks SET ticket_source = 'tickets'
WHERE source LIKE 'tickets:%' AND EXISTS (SELECT 1 FROM tickets);
