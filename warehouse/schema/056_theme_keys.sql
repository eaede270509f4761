-- Themes keep a key across refits (G0001, ...), as topics keep theirs. The current model's
-- themes get theirs here; older models' stay NULL (their themes were never matched).
ALTER TABLE topic_groups ADD COLUMN IF NOT EXISTS theme_key VARCHAR;
UPDATE topic_groups SET theme_key = 'G' || lpad(CAST(group_id + 1 AS VARCHAR), 4, '0')
WHERE theme_key IS NULL AND group_id >= 0
  AND model_id = (SELECT model_id FROM topic_models ORDER BY created_at DESC, model_id DESC LIMIT 1);
