"""The demo help desk: a seeded fictional retailer whose personas have planted issues.

May import: nothing of the project but `errors`.
"""

from persona_mining.demo.generate import DemoResult, generate_demo, planted_links

__all__ = ["DemoResult", "generate_demo", "planted_links"]
