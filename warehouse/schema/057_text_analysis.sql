-- The statistical spaCy analysis of the texts that are shown or describe topics: the prepare
-- stage cleans every ticket by rules alone; names, noun phrases and lemmas are found here, for
-- the per-topic samples that feed labels and for every ticket or question a person may see.
-- Keyed by the hash of the analysed text (a prepared ticket's `text_hash`, or a question's
-- `question_hash`), so identical texts are analysed once and analysing never changes what is
-- embedded.
CREATE TABLE IF NOT EXISTS text_analysis (
    text_hash     VARCHAR NOT NULL,   -- sha256 of the analysed text
    spacy_model   VARCHAR NOT NULL,   -- the pipeline that analysed it ("blank": no names found)
    text          VARCHAR NOT NULL,   -- the text with person names replaced by [NAME]
    lemmas        VARCHAR NOT NULL,   -- content-word lemmas, for topic keywords
    noun_phrases  VARCHAR[] NOT NULL, -- for topic labels and keyphrases
    questions     VARCHAR[] NOT NULL, -- question sentences, names redacted
    analysed_at   TIMESTAMP NOT NULL
);

-- Questions are split from every ticket by rules; the ones shown are analysed by their hash.
ALTER TABLE ticket_questions ADD COLUMN IF NOT EXISTS question_hash VARCHAR;
UPDATE ticket_questions SET question_hash = sha256(question) WHERE question_hash IS NULL;
