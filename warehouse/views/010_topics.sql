-- The current topic model: the most recently fitted one.
CREATE OR REPLACE VIEW v_current_model AS
SELECT model_id, created_at, path, embedding_model, n_tickets, n_topics, data_from, data_to, params
FROM topic_models
ORDER BY created_at DESC, model_id DESC
LIMIT 1;

-- Topics of the current model, largest first ("Unclustered" is topic -1).
CREATE OR REPLACE VIEW v_topics AS
SELECT t.topic_id, t.topic_key, t.label, t.keywords, t.keyphrases, t.size, t.group_id,
       g.label AS group_label, t.representative_tickets, t.first_model_id, t.last_model_id,
       coalesce(t.known, false) AS known, coalesce(t.active, true) AS active,
       coalesce(t.ignored, false) AS ignored, t.curation, t.split_from, t.model_id,
       g.theme_key
FROM topics t
JOIN v_current_model m USING (model_id)
LEFT JOIN topic_groups g ON g.model_id = t.model_id AND g.group_id = t.group_id
ORDER BY t.size DESC;

-- Topic groups of the current model: the coarser level of issues. A theme whose topics were
-- all merged away is left out; `topic_labels` are its active topics'.
CREATE OR REPLACE VIEW v_topic_groups AS
SELECT g.group_id, g.label, g.topics, g.size, g.model_id,
       list(t.label ORDER BY t.size DESC) AS topic_labels, g.theme_key
FROM topic_groups g
JOIN v_current_model m USING (model_id)
JOIN topics t ON t.model_id = g.model_id AND t.group_id = g.group_id AND coalesce(t.active, true)
GROUP BY ALL
ORDER BY g.size DESC;

-- Every topic key ever seen, with the models it spans (retired: absent from the current model).
CREATE OR REPLACE VIEW v_topic_history AS
SELECT t.topic_key, arg_max(t.label, mo.created_at) AS label, min(t.first_model_id) AS first_model_id,
       max(t.last_model_id) AS last_model_id,
       bool_or(t.model_id = (SELECT model_id FROM v_current_model)) AS current
FROM topics t JOIN topic_models mo USING (model_id)
WHERE t.topic_key IS NOT NULL
GROUP BY t.topic_key
ORDER BY t.topic_key;

-- One row per ticket with its topic under the current model.
CREATE OR REPLACE VIEW v_ticket_topics AS
SELECT tt.ticket_id, tk.customer_id, tk.created_at, tk.channel, tt.topic_id, tp.topic_key,
       tp.label AS topic_label, tp.group_id, tt.probability, tt.model_id,
       tk.source, tk.source_ticket_id
FROM ticket_topics tt
JOIN v_current_model m USING (model_id)
JOIN topics tp ON tp.model_id = tt.model_id AND tp.topic_id = tt.topic_id
JOIN tickets tk ON tk.ticket_id = tt.ticket_id;
