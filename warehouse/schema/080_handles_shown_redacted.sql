-- What is shown carries [HANDLE] for a social-media handle (`@sarah_j99`), as it carries
-- [NAME] for a person's name. Analyses stored before still hold the handles: they are dropped
-- here, and each text is analysed again when it is next shown.
DELETE FROM text_analysis WHERE regexp_matches(text, '(^|[^A-Za-z0-9_@#])@[A-Za-z0-9_]');
