-- Per pulled source ([[sources]] of type zendesk or sql) and stream: where the next pull starts.
-- Written in the transaction that commits the page it covers, so a pull killed mid-stream
-- resumes after the last committed page: nothing lost, nothing read twice into the tables.
CREATE TABLE IF NOT EXISTS source_cursors (
    source      VARCHAR NOT NULL,   -- the source's name, e.g. 'zendesk:acme.zendesk.com'
    stream      VARCHAR NOT NULL,   -- tickets | customers
    cursor      VARCHAR NOT NULL,   -- Zendesk's after_cursor, or the SQL cursor column's last value (JSON)
    pages       BIGINT NOT NULL,    -- pages (or batches) committed, all pulls together
    records     BIGINT NOT NULL,    -- records read, all pulls together
    updated_at  TIMESTAMP NOT NULL, -- UTC, when the cursor was stored
    PRIMARY KEY (source, stream)
);
