-- What each issue costs each persona, with names: issues with an impact first, largest first;
-- rows without outcome data after them, saying why in `outcome_note` (never ranked as costless).
CREATE OR REPLACE VIEW v_issue_impact AS
SELECT s.name AS persona, s.kind, tp.label AS issue, i.segment_id, i.topic_id,
       i.impact_measure, i.impact, i.impact_low, i.impact_high, i.impact_p_value,
       i.impact_q_value, i.costly,
       i.outcome_note,
       i.tickets, i.customers, i.segment_tickets, i.share, i.share_low, i.share_high,
       b.lift, b.q_value, coalesce(b.significant, false) AS significant,
       i.repeat_contacts, i.repeat_rate, i.repeat_rate_low, i.repeat_rate_high,
       i.repeat_rate_others, i.repeat_rate_diff, i.repeat_rate_diff_low, i.repeat_rate_diff_high,
       i.csat_tickets, i.csat, i.csat_low, i.csat_high, i.csat_others,
       i.csat_diff, i.csat_diff_low, i.csat_diff_high,
       i.csat_impact, i.csat_impact_low, i.csat_impact_high,
       i.resolution_tickets, i.resolution_hours_total, i.resolution_hours_median,
       i.resolution_hours, i.resolution_hours_low, i.resolution_hours_high,
       i.resolution_hours_others, i.resolution_hours_diff, i.resolution_hours_diff_low,
       i.resolution_hours_diff_high, i.resolution_hours_impact, i.resolution_hours_impact_low,
       i.resolution_hours_impact_high,
       i.reopen_tickets, i.reopen_rate, i.reopen_rate_low, i.reopen_rate_high,
       i.reopen_rate_others, i.reopen_rate_diff, i.reopen_rate_diff_low, i.reopen_rate_diff_high,
       i.reopen_rate_impact, i.reopen_rate_impact_low, i.reopen_rate_impact_high,
       i.escalation_tickets, i.escalation_rate, i.escalation_rate_low, i.escalation_rate_high,
       i.escalation_rate_others, i.escalation_rate_diff, i.escalation_rate_diff_low,
       i.escalation_rate_diff_high, i.escalation_rate_impact, i.escalation_rate_impact_low,
       i.escalation_rate_impact_high,
       i.model_id, i.computed_at
FROM issue_impact i
JOIN v_current_model m USING (model_id)
JOIN segments s USING (segment_id)
JOIN topics tp ON tp.model_id = i.model_id AND tp.topic_id = i.topic_id
LEFT JOIN issue_by_persona b
    ON b.model_id = i.model_id AND b.segment_id = i.segment_id AND b.topic_id = i.topic_id
ORDER BY i.impact IS NULL, i.impact DESC, i.tickets DESC, s.name, tp.label;
