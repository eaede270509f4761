-- A name written in capitals ("THIS IS JOHN SMITH, MY ORDER NEVER CAME") is now [NAME] in what
-- is shown. Analyses stored before, of texts with two or more words in capitals in a row, may
-- still hold one: they are dropped here, and each text is analysed again when next shown.
DELETE FROM text_analysis WHERE regexp_matches(text, '\b[A-Z]{2,}( [A-Z]{2,})+\b');
