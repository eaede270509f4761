-- Persona profiles gain who they are, how they contact support and the problems behind their
-- issues (JSON documented in docs/warehouse.md).
ALTER TABLE persona_profiles ADD COLUMN IF NOT EXISTS attributes JSON;   -- distinguishing customer attributes
ALTER TABLE persona_profiles ADD COLUMN IF NOT EXISTS behaviours JSON;   -- channels, frequency, timing, repeats
ALTER TABLE persona_profiles ADD COLUMN IF NOT EXISTS problems JSON;     -- per challenge: keywords, example tickets, outcomes
ALTER TABLE persona_profiles ADD COLUMN IF NOT EXISTS outcomes JSON;     -- CSAT, resolution time, reopened, escalated vs everyone

-- Derived: sentiment of each prepared text, cached by text hash and method.
CREATE TABLE IF NOT EXISTS ticket_sentiment (
    text_hash   VARCHAR NOT NULL,
    method      VARCHAR NOT NULL,   -- e.g. vader-3.3.2
    compound    DOUBLE NOT NULL,    -- -1 (most negative) .. 1 (most positive)
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (text_hash, method)
);

-- Cost-to-serve signals per customer: the signal's rate is value / base.
CREATE TABLE IF NOT EXISTS customer_signals (
    customer_id  VARCHAR NOT NULL,
    signal       VARCHAR NOT NULL,  -- tickets_per_customer, repeat_contacts, returns_refunds_complaints, ...
    value        DOUBLE NOT NULL,   -- e.g. repeat tickets
    base         DOUBLE NOT NULL    -- 1 for per-customer signals, else the tickets measured
);

-- Each segment's signals against everyone outside it: rate ratio, interval, test, q-value.
CREATE TABLE IF NOT EXISTS segment_signals (
    segment_id   VARCHAR NOT NULL,
    signal       VARCHAR NOT NULL,
    customers    INTEGER NOT NULL,  -- segment customers the signal is measured on
    value        DOUBLE,            -- the segment's rate
    baseline     DOUBLE,            -- the same rate among everyone outside the segment
    ratio        DOUBLE,            -- value / baseline
    ci_low       DOUBLE,
    ci_high      DOUBLE,
    p_value      DOUBLE,
    q_value      DOUBLE,
    worse        BOOLEAN NOT NULL,  -- significantly and materially worse than the baseline
    assessed_at  TIMESTAMP NOT NULL
);

-- The negative-persona verdict per segment, whatever its kind, with what drives it.
CREATE TABLE IF NOT EXISTS segment_flags (
    segment_id     VARCHAR NOT NULL,
    negative       BOOLEAN NOT NULL,  -- worse on at least [negative] min_signals signals
    worse_signals  INTEGER NOT NULL,
    drivers        JSON NOT NULL,     -- the worse signals with their evidence
    assessed_at    TIMESTAMP NOT NULL
);

-- How the discovered segments were found: one row per `persona-mining discover`.
CREATE TABLE IF NOT EXISTS segment_discoveries (
    discovered_at  TIMESTAMP NOT NULL,
    model_id       VARCHAR,           -- topic model of the issue mix
    customers      INTEGER NOT NULL,
    k              INTEGER NOT NULL,
    chosen_by      VARCHAR NOT NULL,  -- silhouette | forced
    scores         JSON NOT NULL,     -- k -> silhouette (and smallest segment) for each k tried
    features       JSON NOT NULL,     -- attributes and topics used
    params         JSON NOT NULL
);
