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

-- One row per persona: who they are, how much they contact support, their challenges.
CREATE OR REPLACE VIEW v_persona_profiles AS
SELECT s.name AS persona, s.kind, s.description, s.rule, p.segment_id,
       p.customers, p.contacting_customers, p.tickets, p.tickets_per_customer,
       p.challenges, p.questions, p.summary, p.model_id, p.built_at
FROM persona_profiles p
JOIN segments s USING (segment_id)
ORDER BY s.kind = 'negative', p.customers DESC;
