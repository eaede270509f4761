-- The sub-topics of each `topics split` edit as it first split its topic: their centroids in
-- the embedding space of the split, and their labels. A replay (a nightly run's new tickets, a
-- refit that keeps the topic) gives each ticket the sub-topic whose centroid is nearest, so
-- that KEY.2 keeps meaning the same tickets, under the same label; after a switch of embedding
-- model the sub-topics' centroids are computed again in the new space from the tickets they
-- held in the old one.
CREATE TABLE IF NOT EXISTS topic_split_centroids (
    edit_id          INTEGER NOT NULL,
    embedding_model  VARCHAR NOT NULL,
    position         INTEGER NOT NULL,   -- 1 for KEY.1, 2 for KEY.2, ...
    sub_key          VARCHAR NOT NULL,
    centroid         FLOAT[] NOT NULL,
    label            VARCHAR NOT NULL,   -- as the first split described it
    recorded_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (edit_id, embedding_model, position)
);
