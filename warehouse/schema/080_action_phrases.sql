-- What each analysed text asks to be done, as a verb and its direct object ("cancel order"),
-- beside its noun phrases, for the topics' labels and keyphrases. The texts analysed before
-- this column existed are marked (null): each is analysed again when it is next used (a label
-- sample, a ticket shown), and stays shown, names redacted, until then.
ALTER TABLE text_analysis ADD COLUMN IF NOT EXISTS action_phrases VARCHAR[] DEFAULT [];
UPDATE text_analysis SET action_phrases = NULL;
