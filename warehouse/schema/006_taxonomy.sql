-- The taxonomy support leads curate: edits recorded against stable topic keys and replayed on
-- every model, known issues imported from a taxonomy file.
CREATE TABLE IF NOT EXISTS topic_edits (
    edit_id     INTEGER NOT NULL,
    action      VARCHAR NOT NULL,    -- rename | merge | split | ignore
    topic_keys  VARCHAR[] NOT NULL,
    value       VARCHAR,             -- the new label of a rename
    edited_by   VARCHAR NOT NULL,    -- the OS user or --by
    edited_at   TIMESTAMP NOT NULL,
    undone      BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS topic_edit_status (
    model_id  VARCHAR NOT NULL,
    edit_id   INTEGER NOT NULL,
    status    VARCHAR NOT NULL,      -- applied | vanished
    detail    VARCHAR
);

CREATE TABLE IF NOT EXISTS known_issues (
    name         VARCHAR NOT NULL,
    description  VARCHAR,
    examples     VARCHAR[],
    source       VARCHAR             -- the taxonomy file it came from
);

ALTER TABLE topics ADD COLUMN IF NOT EXISTS base_label VARCHAR;              -- label as fitted
ALTER TABLE topics ADD COLUMN IF NOT EXISTS active BOOLEAN DEFAULT true;     -- false: merged away or split
ALTER TABLE topics ADD COLUMN IF NOT EXISTS ignored BOOLEAN DEFAULT false;   -- kept, out of persona tables
ALTER TABLE topics ADD COLUMN IF NOT EXISTS known BOOLEAN DEFAULT false;     -- a configured known issue
ALTER TABLE topics ADD COLUMN IF NOT EXISTS split_from VARCHAR;              -- key of the topic it was split from
ALTER TABLE topics ADD COLUMN IF NOT EXISTS curation VARCHAR;                -- what the edits did to it
ALTER TABLE ticket_topics ADD COLUMN IF NOT EXISTS base_topic_id INTEGER;    -- assignment before edits
