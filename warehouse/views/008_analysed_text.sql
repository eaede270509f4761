-- Ticket text as people may see it: the prepared text with person names redacted by the
-- analysis, only for the tickets analysed (the topics' label samples, representative and
-- example tickets). What is shown reads this view, never `prepared_tickets.text`.
CREATE OR REPLACE VIEW v_analysed_tickets AS
SELECT p.ticket_id, a.text, a.lemmas, a.noun_phrases, a.questions, a.spacy_model, p.text_hash,
       p.language, p.in_scope
FROM prepared_tickets p
JOIN text_analysis a USING (text_hash);

-- Question sentences as people may see them: names redacted, only the questions analysed
-- (the candidates for a persona's common questions).
CREATE OR REPLACE VIEW v_analysed_questions AS
SELECT q.ticket_id, q.position, a.text AS question, a.spacy_model
FROM ticket_questions q
JOIN text_analysis a ON a.text_hash = q.question_hash;
