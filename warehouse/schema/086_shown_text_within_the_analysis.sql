-- What is shown of a ticket now ends where its analysis ended (`[prepare] max_analysis_chars`,
-- 5,000 characters by default), with " […]": the rest was never name-redacted. Handles are
-- no longer keywords or noun phrases. Analyses stored before with a longer text, or with a
-- handle among their keywords or noun phrases, are dropped here; each text is analysed again
-- when next shown.
DELETE FROM text_analysis
WHERE length(text) > 5000
   OR regexp_matches(lemmas, '(^|\s)@[A-Za-z0-9_]')
   OR regexp_matches(array_to_string(noun_phrases, ' '), '(^|\s)@[A-Za-z0-9_]');
