-- Raw data: upserted by ingest, never edited by later stages.
CREATE TABLE IF NOT EXISTS tickets (
    ticket_id    VARCHAR PRIMARY KEY,
    customer_id  VARCHAR,            -- NULL for anonymous tickets
    created_at   TIMESTAMP NOT NULL, -- UTC
    updated_at   TIMESTAMP NOT NULL, -- UTC; equals created_at when the source has none
    channel      VARCHAR,
    subject      VARCHAR,
    body         VARCHAR,
    source       VARCHAR NOT NULL,   -- the file the current version came from
    raw_hash     VARCHAR NOT NULL,   -- sha256 of subject and body as ingested
    row_hash     VARCHAR NOT NULL,   -- sha256 of the whole row: detects any change
    ingested_at  TIMESTAMP NOT NULL
    -- other input columns are added as they appear, under their own (normalised) names
);

CREATE TABLE IF NOT EXISTS customers (
    customer_id  VARCHAR PRIMARY KEY,
    source       VARCHAR NOT NULL,
    ingested_at  TIMESTAMP NOT NULL
    -- attribute columns are added as they appear, typed from the data
);

CREATE TABLE IF NOT EXISTS ingest_rejects (
    source       VARCHAR NOT NULL,   -- the input file
    row_number   BIGINT,             -- 1-based data row of the file (header not counted)
    raw          VARCHAR,            -- the row as read (JSON object or CSV line)
    reason       VARCHAR NOT NULL,   -- what is wrong and how to fix it
    ingested_at  TIMESTAMP NOT NULL
);

-- Derived data: rebuildable from the raw tables and models/.
CREATE TABLE IF NOT EXISTS prepared_tickets (
    ticket_id     VARCHAR NOT NULL,
    raw_hash      VARCHAR NOT NULL,  -- tickets.raw_hash this row was prepared from
    text          VARCHAR NOT NULL,  -- cleaned, PII-redacted text
    text_hash     VARCHAR NOT NULL,  -- sha256 of text: the embedding cache key
    lemmas        VARCHAR NOT NULL,  -- content-word lemmas, for topic keywords
    noun_phrases  VARCHAR[] NOT NULL,
    n_sentences   INTEGER NOT NULL,
    spacy_model   VARCHAR NOT NULL,
    prepared_at   TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS ticket_questions (
    ticket_id  VARCHAR NOT NULL,
    position   INTEGER NOT NULL,     -- 0-based order of the question in the ticket
    question   VARCHAR NOT NULL      -- PII-redacted question sentence
);

CREATE TABLE IF NOT EXISTS embeddings (
    text_hash   VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    vector      FLOAT[] NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (text_hash, model)
);

CREATE TABLE IF NOT EXISTS topic_models (
    model_id         VARCHAR PRIMARY KEY,
    created_at       TIMESTAMP NOT NULL,
    path             VARCHAR NOT NULL,
    embedding_model  VARCHAR NOT NULL,
    n_tickets        INTEGER NOT NULL,
    n_topics         INTEGER NOT NULL,
    data_from        TIMESTAMP,
    data_to          TIMESTAMP,
    params           JSON NOT NULL
);

CREATE TABLE IF NOT EXISTS topics (
    model_id  VARCHAR NOT NULL,
    topic_id  INTEGER NOT NULL,      -- -1 is "Unclustered"
    label     VARCHAR NOT NULL,
    keywords  VARCHAR[] NOT NULL,
    size      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS ticket_topics (
    ticket_id    VARCHAR NOT NULL,
    model_id     VARCHAR NOT NULL,
    topic_id     INTEGER NOT NULL,
    probability  DOUBLE,             -- cosine similarity to the topic's centroid
    text_hash    VARCHAR NOT NULL    -- prepared text the assignment was made from
);

CREATE TABLE IF NOT EXISTS segments (
    segment_id   VARCHAR NOT NULL,
    name         VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,   -- rule | discovered | negative
    description  VARCHAR,
    rule         VARCHAR
);

CREATE TABLE IF NOT EXISTS customer_segments (
    customer_id  VARCHAR NOT NULL,
    segment_id   VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS issue_by_persona (
    segment_id         VARCHAR NOT NULL,
    model_id           VARCHAR NOT NULL,
    topic_id           INTEGER NOT NULL,
    tickets            INTEGER NOT NULL, -- the persona's tickets on the topic
    customers          INTEGER NOT NULL, -- distinct persona customers with a ticket on the topic
    segment_tickets    INTEGER NOT NULL, -- all tickets of the persona
    segment_customers  INTEGER NOT NULL, -- persona customers with any ticket
    share              DOUBLE NOT NULL,  -- tickets / segment_tickets
    baseline_share     DOUBLE,           -- the same share among everyone outside the persona
    lift               DOUBLE,           -- share / baseline_share
    ci_low             DOUBLE,
    ci_high            DOUBLE,
    p_value            DOUBLE,
    q_value            DOUBLE,
    significant        BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS persona_profiles (
    segment_id            VARCHAR NOT NULL,
    model_id              VARCHAR,
    customers             INTEGER NOT NULL, -- customers matching the persona
    contacting_customers  INTEGER NOT NULL, -- of those, customers with at least one ticket
    tickets               INTEGER NOT NULL,
    tickets_per_customer  DOUBLE,
    challenges            JSON NOT NULL,    -- over-indexed topics with their evidence
    questions             JSON NOT NULL,    -- common questions per challenge
    summary               VARCHAR NOT NULL,
    built_at              TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id       VARCHAR NOT NULL,
    stage        VARCHAR NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP NOT NULL,
    rows         BIGINT,
    details      JSON
);
