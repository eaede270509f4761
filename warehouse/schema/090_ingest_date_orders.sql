-- The day order of each ticket source's (and the customers') day/month/year dates, as the
-- files showed it (a date with a day above 12) or as it was assumed when none did: a later
-- file of the same source whose dates could be read either way is read the same way, and one
-- that shows the other order says so.
CREATE TABLE IF NOT EXISTS ingest_date_orders (
    source       VARCHAR NOT NULL,   -- the ticket source, or 'customers'
    column_name  VARCHAR NOT NULL,   -- created_at or updated_at
    day_order    VARCHAR NOT NULL,   -- 'day' (DD/MM/YYYY) or 'month' (MM/DD/YYYY)
    shown        BOOLEAN NOT NULL,   -- a file showed it (true) or it was assumed (false)
    decided_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (source, column_name)
);
