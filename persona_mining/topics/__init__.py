"""Recurring issues: fitting and assigning the topic model, stable topic keys, labels, the
curated taxonomy (human edits, known issues), trends and the evaluation against labels.

May import: `errors`, `config`, `warehouse`, `stats`, `progress`, `text`. Never personas, the report, the
CLI or Prefect.
"""
