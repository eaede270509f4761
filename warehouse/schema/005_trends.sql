-- Recurring and emerging issues of the current model (rebuilt by the trends stage).
CREATE TABLE IF NOT EXISTS topic_trends (
    model_id         VARCHAR NOT NULL,
    topic_id         INTEGER NOT NULL,
    week             DATE NOT NULL,      -- Monday of the ISO week (UTC)
    tickets          INTEGER NOT NULL,
    customers        INTEGER NOT NULL,   -- distinct known customers
    repeat_contacts  INTEGER NOT NULL    -- tickets whose customer raised the topic within [trends] repeat_days
);

CREATE TABLE IF NOT EXISTS topic_status (
    model_id          VARCHAR NOT NULL,
    topic_id          INTEGER NOT NULL,
    tickets           INTEGER NOT NULL,
    customers         INTEGER NOT NULL,
    repeat_contacts   INTEGER NOT NULL,
    repeat_rate       DOUBLE NOT NULL,
    recent_tickets    INTEGER NOT NULL,  -- in the latest [trends] window_days of the data
    previous_tickets  INTEGER NOT NULL,  -- in the window before
    growth            DOUBLE,            -- ratio of the topic's share of tickets, recent / previous
    p_value           DOUBLE,            -- Fisher's exact test of the two shares
    q_value           DOUBLE,            -- Benjamini-Hochberg over the topics
    new_topic         BOOLEAN NOT NULL,  -- key first seen in this model (and an older model exists)
    emerging          BOOLEAN NOT NULL
);
