"""The demo help desk: a seeded fictional retailer whose personas have planted issues.

``helpdesk.toml`` holds the help desk's content, read by ``data``; ``plan`` draws the
customers and each ticket's issue, ``render`` writes each ticket's text, ``generate``
writes the files.

May import: nothing of the project but `errors` and `config`'s constants (the canonical column
names its files use).
"""

from persona_mining.demo.generate import DemoResult, generate_demo
from persona_mining.demo.plan import planted_links

__all__ = ["DemoResult", "generate_demo", "planted_links"]
