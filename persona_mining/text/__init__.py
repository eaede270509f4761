"""Ticket text: cleaning (HTML, quoted replies, signatures, PII), language detection, spaCy
analysis, the prepare stage and the embed stage.

May import: `errors`, `config`, `warehouse`, `progress`. Never topics, personas, the report, the CLI or
Prefect.
"""
