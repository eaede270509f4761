-- Issue-group x persona statistics with names, for people (the coarser level of v_issue_by_persona).
CREATE OR REPLACE VIEW v_issue_group_by_persona AS
SELECT s.name AS persona, s.kind, g.label AS issue_group, i.segment_id, i.group_id,
       i.tickets, i.customers, i.segment_tickets, i.segment_customers,
       i.share, i.baseline_share, i.lift, i.ci_low, i.ci_high, i.p_value, i.q_value,
       i.significant, i.model_id, g.theme_key
FROM issue_group_by_persona i
JOIN v_current_model m USING (model_id)
JOIN segments s USING (segment_id)
JOIN topic_groups g ON g.model_id = i.model_id AND g.group_id = i.group_id
ORDER BY i.significant DESC, (i.lift > 1) DESC, i.q_value, i.lift DESC;
