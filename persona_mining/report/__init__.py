"""What people see: read functions over the warehouse's views, the terminal tables, the HTML
report and the exports. Reads only; it never writes a stage's tables.

May import: `errors`, `config`, `warehouse`, `stats` and read helpers of the stage packages.
Never the pipeline, the CLI or Prefect.
"""
