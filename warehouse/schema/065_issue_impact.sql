-- What each issue costs each persona, where the tickets carry outcomes (rebuilt by the impact
-- stage for the current topic model). Every mean, rate and difference has a customer-clustered
-- interval (columns *_low / *_high); *_others is the same issue among everyone outside the
-- persona; *_impact is how much the persona's overall figure would improve without the issue.
CREATE TABLE IF NOT EXISTS issue_impact (
    model_id                  VARCHAR NOT NULL,
    segment_id                VARCHAR NOT NULL,
    topic_id                  INTEGER NOT NULL,
    tickets                   INTEGER NOT NULL,  -- the persona's tickets on the issue
    customers                 INTEGER NOT NULL,  -- persona customers with a ticket on it
    segment_tickets           INTEGER NOT NULL,  -- all the persona's tickets
    share                     DOUBLE NOT NULL,   -- tickets / segment_tickets
    share_low                 DOUBLE,
    share_high                DOUBLE,
    repeat_contacts           INTEGER NOT NULL,  -- within [trends] repeat_days, same definition as trends
    repeat_rate               DOUBLE,
    repeat_rate_low           DOUBLE,
    repeat_rate_high          DOUBLE,
    repeat_rate_others        DOUBLE,
    repeat_rate_diff          DOUBLE,
    repeat_rate_diff_low      DOUBLE,
    repeat_rate_diff_high     DOUBLE,
    csat_tickets              INTEGER NOT NULL,  -- rated tickets of the persona on the issue
    csat                      DOUBLE,
    csat_low                  DOUBLE,
    csat_high                 DOUBLE,
    csat_others               DOUBLE,
    csat_diff                 DOUBLE,            -- csat - csat_others (negative: worse for the persona)
    csat_diff_low             DOUBLE,
    csat_diff_high            DOUBLE,
    csat_impact               DOUBLE,            -- the persona's mean CSAT without the issue minus with all
    csat_impact_low           DOUBLE,
    csat_impact_high          DOUBLE,
    resolution_tickets        INTEGER NOT NULL,
    resolution_hours_total    DOUBLE,
    resolution_hours_median   DOUBLE,
    resolution_hours          DOUBLE,            -- mean
    resolution_hours_low      DOUBLE,
    resolution_hours_high     DOUBLE,
    resolution_hours_others   DOUBLE,
    resolution_hours_diff     DOUBLE,
    resolution_hours_diff_low DOUBLE,
    resolution_hours_diff_high DOUBLE,
    resolution_hours_impact   DOUBLE,            -- hours the persona's mean would fall without the issue
    resolution_hours_impact_low DOUBLE,
    resolution_hours_impact_high DOUBLE,
    reopen_tickets            INTEGER NOT NULL,
    reopen_rate               DOUBLE,
    reopen_rate_low           DOUBLE,
    reopen_rate_high          DOUBLE,
    reopen_rate_others        DOUBLE,
    reopen_rate_diff          DOUBLE,
    reopen_rate_diff_low      DOUBLE,
    reopen_rate_diff_high     DOUBLE,
    reopen_rate_impact        DOUBLE,
    reopen_rate_impact_low    DOUBLE,
    reopen_rate_impact_high   DOUBLE,
    escalation_tickets        INTEGER NOT NULL,
    escalation_rate           DOUBLE,
    escalation_rate_low       DOUBLE,
    escalation_rate_high      DOUBLE,
    escalation_rate_others    DOUBLE,
    escalation_rate_diff      DOUBLE,
    escalation_rate_diff_low  DOUBLE,
    escalation_rate_diff_high DOUBLE,
    escalation_rate_impact    DOUBLE,
    escalation_rate_impact_low DOUBLE,
    escalation_rate_impact_high DOUBLE,
    impact_measure            VARCHAR,           -- csat | resolution_hours | reopen_rate | escalation_rate; NULL: no outcome
    impact                    DOUBLE,            -- the *_impact of impact_measure (positive: the issue costs the persona)
    impact_low                DOUBLE,
    impact_high               DOUBLE,
    impact_p_value            DOUBLE,            -- Wald test of impact = 0 with the clustered variance
    impact_q_value            DOUBLE,            -- Benjamini-Hochberg over every row with an impact
    costly                    BOOLEAN NOT NULL,  -- impact > 0 and q < [link] alpha
    outcome_note              VARCHAR,           -- why there is no impact, when there is none
    computed_at               TIMESTAMP NOT NULL
);

-- Alerts sent (or tried) by the flow: one per kind, persona, issue and period, never repeated.
CREATE TABLE IF NOT EXISTS sent_alerts (
    alert_key     VARCHAR PRIMARY KEY,  -- kind|segment_id|topic_key|period_start
    kind          VARCHAR NOT NULL,     -- emerging | persona_jump
    segment_id    VARCHAR,              -- NULL for an issue emerging for everyone
    persona       VARCHAR,
    topic_key     VARCHAR NOT NULL,
    issue         VARCHAR NOT NULL,
    period_start  DATE NOT NULL,        -- the [trends] window the alert is about
    period_end    DATE NOT NULL,
    message       VARCHAR NOT NULL,
    detail        JSON NOT NULL,
    status        VARCHAR NOT NULL,     -- sent | failed | not configured
    channel       VARCHAR,              -- webhook | block:<name>
    error         VARCHAR,
    attempts      INTEGER NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    sent_at       TIMESTAMP
);
