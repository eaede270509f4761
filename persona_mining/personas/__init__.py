"""Customer segments and what they suffer: rule personas, discovered segments, the
issue-by-persona statistics, negative personas and the persona profiles.

May import: `errors`, `config`, `warehouse`, `stats`, `text`, `topics`. Never the report, the CLI
or Prefect.
"""
