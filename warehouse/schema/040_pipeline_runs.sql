-- Run history: one row per pipeline run (scheduled or not), replacing the per-stage shape of
-- 001 (which no released version wrote; any rows it has are carried over, one per run).
ALTER TABLE pipeline_runs RENAME TO pipeline_runs_v1;

CREATE TABLE pipeline_runs (
    run_id        VARCHAR PRIMARY KEY,  -- uuid of the run
    flow_run_id   VARCHAR,              -- Prefect flow run id
    deployment    VARCHAR,              -- e.g. persona-pipeline/nightly; NULL for a run started by hand
    kind          VARCHAR NOT NULL,     -- incremental | refit
    started_at    TIMESTAMP NOT NULL,   -- UTC
    finished_at   TIMESTAMP,            -- NULL while running
    status        VARCHAR NOT NULL,     -- running | completed | failed | interrupted
    failed_stage  VARCHAR,              -- the stage that raised, when failed
    stages        JSON NOT NULL,        -- stage -> its counts and seconds, in run order
    error         VARCHAR               -- what went wrong, when failed
);

INSERT INTO pipeline_runs (run_id, kind, started_at, finished_at, status, stages)
SELECT run_id, 'incremental', min(started_at), max(finished_at), 'completed',
       json_group_object(stage, json_object('rows', rows, 'details', details))
FROM pipeline_runs_v1
GROUP BY run_id;

DROP TABLE pipeline_runs_v1;

-- The issue-by-persona table as each completed run left it: the next run reports what changed.
CREATE TABLE IF NOT EXISTS issue_snapshots (
    run_id       VARCHAR NOT NULL,      -- pipeline_runs.run_id
    segment_id   VARCHAR NOT NULL,
    persona      VARCHAR NOT NULL,
    topic_key    VARCHAR NOT NULL,      -- stable across refits (the label for topics without a key)
    issue        VARCHAR NOT NULL,
    tickets      INTEGER NOT NULL,
    customers    INTEGER NOT NULL,
    lift         DOUBLE,
    q_value      DOUBLE,
    significant  BOOLEAN NOT NULL
);
