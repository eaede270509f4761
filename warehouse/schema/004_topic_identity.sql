-- Stable topic identity across refits, keyphrases, representative tickets, and topic groups.
ALTER TABLE topics ADD COLUMN IF NOT EXISTS topic_key VARCHAR;            -- stable across refits: T0001...
ALTER TABLE topics ADD COLUMN IF NOT EXISTS first_model_id VARCHAR;       -- model in which the key first appeared
ALTER TABLE topics ADD COLUMN IF NOT EXISTS last_model_id VARCHAR;        -- latest model in which it appears
ALTER TABLE topics ADD COLUMN IF NOT EXISTS group_id INTEGER;             -- topic_groups.group_id (-1: unclustered)
ALTER TABLE topics ADD COLUMN IF NOT EXISTS keyphrases VARCHAR[];         -- distinctive noun phrases
ALTER TABLE topics ADD COLUMN IF NOT EXISTS representative_tickets VARCHAR[];  -- ticket ids closest to the centroid

CREATE TABLE IF NOT EXISTS topic_groups (
    model_id  VARCHAR NOT NULL,
    group_id  INTEGER NOT NULL,
    label     VARCHAR NOT NULL,   -- label of the group's largest topic
    topics    INTEGER NOT NULL,   -- number of topics in the group
    size      INTEGER NOT NULL    -- tickets at fitting time
);

-- The same statistics as issue_by_persona, one level up: persona x topic group.
CREATE TABLE IF NOT EXISTS issue_group_by_persona (
    segment_id         VARCHAR NOT NULL,
    model_id           VARCHAR NOT NULL,
    group_id           INTEGER NOT NULL,
    tickets            INTEGER NOT NULL,
    customers          INTEGER NOT NULL,
    segment_tickets    INTEGER NOT NULL,
    segment_customers  INTEGER NOT NULL,
    share              DOUBLE NOT NULL,
    baseline_share     DOUBLE,
    lift               DOUBLE,
    ci_low             DOUBLE,
    ci_high            DOUBLE,
    p_value            DOUBLE,
    q_value            DOUBLE,
    significant        BOOLEAN NOT NULL
);
