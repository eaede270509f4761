-- The setup of each run (personas, mappings, sources, profile), newest last: later commands
-- use the latest one when no --config is given, and a run compares its personas with it.
CREATE TABLE IF NOT EXISTS setup (
    recorded_at  TIMESTAMP NOT NULL,  -- UTC
    config_file  VARCHAR,             -- the TOML file it was read from; NULL: defaults or a recorded setup
    profile      VARCHAR NOT NULL,    -- the config's profile (default | fast)
    config       JSON NOT NULL        -- the config's keys as given (what the file and profile set)
);
