-- The language of each prepared ticket, and whether the pipeline analyses it further:
-- tickets in a language outside [prepare] languages are kept, counted and shown, but not
-- embedded or clustered (an English model would put them in nonsense topics).
ALTER TABLE prepared_tickets ADD COLUMN IF NOT EXISTS language VARCHAR DEFAULT 'und';
ALTER TABLE prepared_tickets ADD COLUMN IF NOT EXISTS in_scope BOOLEAN DEFAULT true;
