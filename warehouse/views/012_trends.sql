-- Weekly volume of each topic of the current model.
CREATE OR REPLACE VIEW v_topic_trends AS
SELECT tr.week, tr.topic_id, tp.topic_key, tp.label AS issue, tr.tickets, tr.customers,
       tr.repeat_contacts, tr.model_id
FROM topic_trends tr
JOIN v_current_model m USING (model_id)
JOIN topics tp ON tp.model_id = tr.model_id AND tp.topic_id = tr.topic_id
ORDER BY tr.week, tr.tickets DESC;

-- Recurring and emerging issues: one row per topic of the current model, emerging first.
CREATE OR REPLACE VIEW v_issue_status AS
SELECT tp.label AS issue, tp.topic_key, s.topic_id, s.tickets, s.customers, s.repeat_contacts,
       s.repeat_rate, s.recent_tickets, s.previous_tickets, s.growth, s.p_value, s.q_value,
       s.new_topic, s.emerging, s.model_id
FROM topic_status s
JOIN v_current_model m USING (model_id)
JOIN topics tp ON tp.model_id = s.model_id AND tp.topic_id = s.topic_id
ORDER BY s.emerging DESC, s.growth DESC NULLS LAST, s.tickets DESC;
