-- Issue x persona statistics with names, for people: significant over-indexed issues first.
CREATE OR REPLACE VIEW v_issue_by_persona AS
SELECT s.name AS persona, s.kind, tp.label AS issue, i.segment_id, i.topic_id,
       i.tickets, i.customers, i.segment_tickets, i.segment_customers,
       i.share, i.baseline_share, i.lift, i.ci_low, i.ci_high, i.p_value, i.q_value,
       i.significant, i.model_id
FROM issue_by_persona i
JOIN v_current_model m USING (model_id)
JOIN segments s USING (segment_id)
JOIN topics tp ON tp.model_id = i.model_id AND tp.topic_id = i.topic_id
ORDER BY i.significant DESC, (i.lift > 1) DESC, i.q_value, i.lift DESC;

-- One row per persona: who they are, how they contact support, their challenges and the
-- problems behind them, and whether the data flags them as negative (JSON shapes: docs/warehouse.md).
CREATE OR REPLACE VIEW v_persona_profiles AS
SELECT s.name AS persona, s.kind, s.description, s.rule, p.segment_id,
       p.customers, p.contacting_customers, p.tickets, p.tickets_per_customer,
       p.challenges, p.questions, p.summary,
       coalesce(p.attributes, '[]'::JSON) AS attributes,
       coalesce(p.behaviours, '{}'::JSON) AS behaviours,
       coalesce(p.problems, '[]'::JSON) AS problems,
       coalesce(p.outcomes, '[]'::JSON) AS outcomes,
       coalesce(f.negative, false) AS negative,
       coalesce(f.drivers, '[]'::JSON) AS negative_drivers,
       p.model_id, p.built_at
FROM persona_profiles p
JOIN segments s USING (segment_id)
LEFT JOIN segment_flags f USING (segment_id)
ORDER BY s.kind = 'negative', p.customers DESC;

-- Cost-to-serve signals of every persona against everyone outside it, with names.
CREATE OR REPLACE VIEW v_segment_signals AS
SELECT s.name AS persona, s.kind, g.segment_id, g.signal, g.customers, g.value, g.baseline,
       g.ratio, g.ci_low, g.ci_high, g.p_value, g.q_value, g.worse, g.assessed_at
FROM segment_signals g
JOIN segments s USING (segment_id)
ORDER BY g.worse DESC, g.ratio DESC NULLS LAST;
