-- Which assignments a topic model made when it was fitted (its own clustering of the tickets),
-- as against those it made later to new or changed tickets by nearest centroid. A refit of the
-- same desk is laid out guided by the fitted ones ([topics] refit_guidance); null: assigned
-- before this column existed, read as not fitted.
ALTER TABLE ticket_topics ADD COLUMN IF NOT EXISTS fitted BOOLEAN;
