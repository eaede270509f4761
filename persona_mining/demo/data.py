"""The demo help desk's content, read from ``helpdesk.toml`` beside this module.

The file holds what a help desk *is* (personas, issues, products, the words customers
use); the Python modules hold how tickets are drawn from it. It is parsed once per
process and checked as it is read, so a damaged or hand-edited file fails here with
the key at fault rather than deep inside the generator.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from persona_mining.errors import InputFileError

__all__ = [
    "HelpDesk",
    "IssueSpec",
    "OutcomeMix",
    "PersonaMix",
    "PlannedPersona",
    "load_helpdesk",
    "parse_helpdesk",
]

_FILE = "helpdesk.toml"


@dataclass(frozen=True)
class PlannedPersona:
    """A persona planted in the demo data."""

    key: str
    name: str
    rule: str
    description: str
    negative: bool
    planted_issues: tuple[str, ...]


@dataclass(frozen=True)
class PersonaMix:
    """How many of the customers a planted persona has, and how it writes.

    Attributes:
        share: Share of all customers.
        tickets_per_customer: Poisson mean of its members' ticket counts.
        product_categories: Weights of the product categories its tickets mention;
            None for all categories alike.
    """

    share: float
    tickets_per_customer: float
    product_categories: dict[str, float] | None


@dataclass(frozen=True)
class IssueSpec:
    """One issue customers write about.

    Attributes:
        key: Its key (``demo_issue`` in the tickets).
        label: Its name for people.
        base_rate: Its share of general tickets (all base rates sum to 1).
        product_categories: The product categories its ``{product}`` comes from; empty
            for those of the writer's persona.
        subjects: Subject-line templates with ``{slot}`` fields.
        bodies: Body templates with ``{slot}`` fields.
    """

    key: str
    label: str
    base_rate: float
    product_categories: tuple[str, ...]
    subjects: tuple[str, ...]
    bodies: tuple[str, ...]


@dataclass(frozen=True)
class OutcomeMix:
    """How tickets end: ratings, hours to resolution, reopens.

    Attributes:
        csat: weights of the ratings 1..5.
        resolution_hours: mean hours to resolution (exponentially distributed).
        reopen_rate: share of tickets reopened.
    """

    csat: tuple[float, ...]
    resolution_hours: float
    reopen_rate: float


@dataclass(frozen=True)
class HelpDesk:
    """Everything the demo generator draws from; the sections of ``helpdesk.toml``.

    Mappings keep the file's order, which the seeded draws depend on.
    """

    company: str
    support_address: str
    general_tickets_per_customer: float
    personas: tuple[PlannedPersona, ...]
    persona_mix: dict[str, PersonaMix]
    issues: dict[str, IssueSpec]
    occupations: tuple[str, ...]
    tech_occupations: tuple[str, ...]
    households: tuple[str, ...]
    regions: tuple[str, ...]
    products: dict[str, tuple[str, ...]]
    greetings: tuple[str, ...]
    closers: tuple[str, ...]
    signoffs: tuple[str, ...]
    contact_lines: tuple[str, ...]
    support_reply_lines: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    phone_formats: tuple[str, ...]
    test_cards: tuple[str, ...]
    slot_values: dict[str, tuple[str, ...]]
    months: tuple[str, ...]
    weekdays: tuple[str, ...]
    rated_share: float
    outcomes: OutcomeMix
    outcome_effects: dict[tuple[str, str], OutcomeMix]


class _Reader:
    """Typed access to one table of the file; errors name the key that is wrong."""

    def __init__(self, table: dict[str, Any], where: str) -> None:
        self.table, self.where = table, where

    def fail(self, key: str, expected: str) -> InputFileError:
        return InputFileError(
            f"demo data {_FILE}: {self.where}{key} must be {expected}; the file ships with "
            "persona-mining: restore it (reinstall the package) if it was edited"
        )

    def get(self, key: str) -> Any:
        if key not in self.table:
            raise self.fail(key, "present")
        return self.table[key]

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def number(self, key: str) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "a number")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def texts(self, key: str, *, optional: bool = False) -> tuple[str, ...]:
        if optional and key not in self.table:
            return ()
        value = self.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a non-empty list of strings")
        return tuple(value)

    def table_of(self, key: str) -> _Reader:
        value = self.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "a table")
        return _Reader(value, f"{self.where}{key}.")

    def weights(self, key: str) -> dict[str, float] | None:
        if key not in self.table:
            return None
        weights = self.table_of(key)
        return {name: weights.number(name) for name in weights.table}


def _persona(table: _Reader) -> tuple[PlannedPersona, PersonaMix]:
    persona = PlannedPersona(
        key=table.text("key"),
        name=table.text("name"),
        rule=table.text("rule"),
        description=table.text("description"),
        negative=table.flag("negative"),
        planted_issues=table.texts("planted_issues"),
    )
    mix = PersonaMix(
        share=table.number("share"),
        tickets_per_customer=table.number("tickets_per_customer"),
        product_categories=table.weights("product_categories"),
    )
    return persona, mix


def _outcome_mix(table: _Reader) -> OutcomeMix:
    weights = table.get("csat")
    if (
        not isinstance(weights, list)
        or len(weights) != 5
        or not all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights)
        or sum(weights) <= 0
    ):
        raise table.fail("csat", "five non-negative weights (ratings 1..5)")
    return OutcomeMix(
        csat=tuple(float(w) for w in weights),
        resolution_hours=table.number("resolution_hours"),
        reopen_rate=table.number("reopen_rate"),
    )


def _outcomes(table: _Reader) -> tuple[float, OutcomeMix, dict[tuple[str, str], OutcomeMix]]:
    effects_raw = table.table.get("effects", [])
    if not isinstance(effects_raw, list) or not all(isinstance(e, dict) for e in effects_raw):
        raise table.fail("effects", "an array of tables ([[outcomes.effects]])")
    effects = {}
    for i, raw in enumerate(effects_raw):
        effect = _Reader(raw, f"{table.where}effects[{i}].")
        effects[(effect.text("persona"), effect.text("issue"))] = _outcome_mix(effect)
    return table.number("rated_share"), _outcome_mix(table), effects


def _issue(key: str, table: _Reader) -> IssueSpec:
    return IssueSpec(
        key=key,
        label=table.text("label"),
        base_rate=table.number("base_rate"),
        product_categories=table.texts("product_categories", optional=True),
        subjects=table.texts("subjects"),
        bodies=table.texts("bodies"),
    )


def parse_helpdesk(data: dict[str, Any]) -> HelpDesk:
    """Build a :class:`HelpDesk` from the parsed TOML document.

    Args:
        data: ``tomllib``'s result for a help desk file.

    Returns:
        The typed content.

    Raises:
        InputFileError: A key is missing or has the wrong type, or the sections
            disagree (an unknown issue or product category).
    """
    root = _Reader(data, "")
    personas_raw = root.get("personas")
    if not isinstance(personas_raw, list) or not all(isinstance(p, dict) for p in personas_raw):
        raise root.fail("personas", "an array of tables ([[personas]])")
    pairs = [_persona(_Reader(p, f"personas[{i}].")) for i, p in enumerate(personas_raw)]
    issues_table = root.table_of("issues")
    issues = {key: _issue(key, issues_table.table_of(key)) for key in issues_table.table}
    products_table = root.table_of("products")
    products = {key: products_table.texts(key) for key in products_table.table}
    customers, phrases = root.table_of("customers"), root.table_of("phrases")
    people, calendar = root.table_of("people"), root.table_of("calendar")
    slots = root.table_of("slots")
    rated_share, outcomes, effects = _outcomes(root.table_of("outcomes"))
    desk = HelpDesk(
        company=root.text("company"),
        support_address=root.text("support_address"),
        general_tickets_per_customer=root.table_of("general").number("tickets_per_customer"),
        personas=tuple(persona for persona, _ in pairs),
        persona_mix={persona.key: mix for persona, mix in pairs},
        issues=issues,
        occupations=customers.texts("occupations"),
        tech_occupations=customers.texts("tech_occupations"),
        households=customers.texts("households"),
        regions=customers.texts("regions"),
        products=products,
        greetings=phrases.texts("greetings"),
        closers=phrases.texts("closers"),
        signoffs=phrases.texts("signoffs"),
        contact_lines=phrases.texts("contact_lines"),
        support_reply_lines=phrases.texts("support_reply_lines"),
        first_names=people.texts("first_names"),
        last_names=people.texts("last_names"),
        phone_formats=people.texts("phone_formats"),
        test_cards=people.texts("test_cards"),
        slot_values={key: slots.texts(key) for key in slots.table},
        months=calendar.texts("months"),
        weekdays=calendar.texts("weekdays"),
        rated_share=rated_share,
        outcomes=outcomes,
        outcome_effects=effects,
    )
    _check_references(desk)
    return desk


def _check_references(desk: HelpDesk) -> None:
    """Fail on names that one section uses and no section defines."""
    problems = [
        f"persona {p.key!r} plants unknown issue {issue!r}"
        for p in desk.personas
        for issue in p.planted_issues
        if issue not in desk.issues
    ]
    keys = {p.key for p in desk.personas}
    problems += [
        f"outcome effect for unknown persona {persona!r} or issue {issue!r}"
        for persona, issue in desk.outcome_effects
        if persona not in keys or issue not in desk.issues
    ]
    categories = [
        (f"issue {spec.key!r}", spec.product_categories) for spec in desk.issues.values()
    ] + [
        (f"persona {key!r}", tuple(mix.product_categories or ()))
        for key, mix in desk.persona_mix.items()
    ]
    problems += [
        f"{owner} names unknown product category {category!r}"
        for owner, names in categories
        for category in names
        if category not in desk.products
    ]
    if problems:
        raise InputFileError(
            f"demo data {_FILE}: " + "; ".join(problems) + "; define them or fix the names"
        )


@cache
def load_helpdesk() -> HelpDesk:
    """Read the demo help desk shipped with the package (parsed once per process).

    Returns:
        The typed content of ``persona_mining/demo/helpdesk.toml``.

    Raises:
        InputFileError: The file is missing (an install without package data) or
            malformed.
    """
    source = resources.files(__package__ or "persona_mining.demo").joinpath(_FILE)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InputFileError(
            f"demo data {_FILE} is missing from the installed package; reinstall "
            "persona-mining (the file is package data of persona_mining.demo)"
        ) from e
    except tomllib.TOMLDecodeError as e:
        raise InputFileError(
            f"demo data {_FILE} is not valid TOML ({e}); restore the file shipped with "
            "persona-mining"
        ) from e
    return parse_helpdesk(data)
