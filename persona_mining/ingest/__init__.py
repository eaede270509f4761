"""Getting tickets and customers in: file readers, the upsert into `tickets`/`customers` with
rejects, and the configured sources of scheduled runs.

May import: `errors`, `config`, `warehouse`, `progress`. Never a later stage, the report, the CLI or Prefect.
"""
