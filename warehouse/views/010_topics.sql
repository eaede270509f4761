-- The current topic model: the most recently fitted one.
CREATE OR REPLACE VIEW v_current_model AS
SELECT model_id, created_at, path, embedding_model, n_tickets, n_topics, data_from, data_to, params
FROM topic_models
ORDER BY created_at DESC, model_id DESC
LIMIT 1;

-- Topics of the current model, largest first ("Unclustered" is topic -1).
CREATE OR REPLACE VIEW v_topics AS
SELECT t.topic_id, t.label, t.keywords, t.size, t.model_id
FROM topics t
JOIN v_current_model m USING (model_id)
ORDER BY t.size DESC;

-- One row per ticket with its topic under the current model.
CREATE OR REPLACE VIEW v_ticket_topics AS
SELECT tt.ticket_id, tk.customer_id, tk.created_at, tk.channel, tt.topic_id, tp.label AS topic_label,
       tt.probability, tt.model_id
FROM ticket_topics tt
JOIN v_current_model m USING (model_id)
JOIN topics tp ON tp.model_id = tt.model_id AND tp.topic_id = tt.topic_id
JOIN tickets tk ON tk.ticket_id = tt.ticket_id;
