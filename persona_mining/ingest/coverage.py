"""How many tickets the analysis can use, and why the others are left out.

A ticket counts for a persona only through its customer, so a mapping that leaves
`customer_id` out, or customers keyed by another id than the tickets, leaves every persona
without evidence. `ingest`, `run` and `status` say so instead of reporting no findings.

A ticket in a language outside `[prepare] languages` is kept and counted but has no topic, so
a desk that writes in several languages sees only part of its tickets in the topics and
personas. `run` and `status` say how many, in which languages.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from persona_mining.warehouse import table_columns

#: Below this share of tickets linked to a known customer, `ingest` and `run` warn.
LOW_LINK_SHARE = 0.5
#: From this share of the prepared tickets in languages not analysed, `run` warns (a few
#: tickets in another language are usual on any desk; `status` counts them all the same).
OTHER_LANGUAGES_SHARE = 0.05


@dataclass(frozen=True)
class LinkCoverage:
    """Tickets linked to a known customer.

    Attributes:
        tickets: tickets in the warehouse.
        with_customer_id: of those, tickets that name a customer.
        linked: of those, tickets whose customer is in `customers`.
        customers: customers in the warehouse.
        share: `linked / tickets` (0 without tickets).
        near: tickets whose customer id matches no customer as written, but one when case and
            an id's leading zeros are ignored (`Jane@X.com` and `jane@x.com`, `42` and `00042`).
        near_example: one such (ticket's id, customer's id) pair.
    """

    tickets: int
    with_customer_id: int
    linked: int
    customers: int
    share: float
    near: int = 0
    near_example: tuple[str, str] | None = None

    def warning(self) -> str | None:
        """One line saying why tickets miss their customers and what to do; None if none do.

        Few tickets linked, or any ticket whose customer id differs from a customer's in case
        or leading zeros only: ids are compared as written (a Salesforce id's case matters),
        so such tickets count for no persona, and only the user can say they are the same.
        """
        near = self._near_note()
        if self.tickets == 0 or self.share >= LOW_LINK_SHARE:
            return f"{self.near:,} of {self.tickets:,} tickets {near}" if near else None
        head = f"{self.linked:,} of {self.tickets:,} tickets match a customer"
        if near:
            return f"{head}; {self.near:,} {near}"
        if self.with_customer_id == 0:
            return (
                f"{head}: map customer_id for tickets (--map customer_id=COLUMN, or "
                "[ingest.columns] customer_id); personas see only tickets of known customers"
            )
        if self.customers == 0:
            return f"{head}: no customers are ingested; ingest them with --customers FILE"
        return (
            f"{head} ({self.with_customer_id:,} name a customer, {self.customers:,} customers "
            "known): check that tickets and customers use the same customer ids "
            "(--customer-map customer_id=COLUMN)"
        )

    def _near_note(self) -> str:
        if not self.near or self.near_example is None:
            return ""
        theirs, ours = self.near_example
        return (
            f"name a customer id that matches a customer only when case and leading zeros are "
            f"ignored ({theirs!r} for {ours!r}): ids are compared as written, so write them the "
            "same way in the tickets and the customers (e-mail addresses in lower case)"
        )

    def no_findings_reason(self, persona_tickets: int) -> str:
        """Why a persona with no challenges has none, when the link explains it; "" otherwise.

        With no ticket linked to a known customer no persona can have findings, whatever the
        tickets say; a persona whose customers have no ticket has nothing to test either.
        """
        if self.tickets == 0:
            return ""
        if self.linked == 0:
            fix = self.warning() or ""
            return (
                f"No findings: none of the {self.tickets:,} tickets is linked to a known customer "
                "(0%), so no persona has tickets to test"
                + (f"; {fix.split(': ', 1)[1]}" if ": " in fix else "")
                + "."
            )
        if persona_tickets == 0:
            return (
                "No findings: none of this persona's customers has a ticket "
                f"({self.share:.0%} of the tickets are linked to a known customer)."
            )
        return ""


def link_coverage(con: duckdb.DuckDBPyConnection) -> LinkCoverage:
    """Count the tickets linked to a known customer (works on a read-only connection)."""
    rows = con.execute(
        """
        SELECT count(*),
               count(t.customer_id),
               count(c.customer_id),
               (SELECT count(*) FROM customers)
        FROM tickets t
        LEFT JOIN customers c ON c.customer_id = t.customer_id
        """
    ).fetchall()
    tickets, named, linked, customers = (int(v) for v in rows[0])
    near, example = _near_matches(con) if linked < named and customers else (0, None)
    return LinkCoverage(
        tickets=tickets,
        with_customer_id=named,
        linked=linked,
        customers=customers,
        share=linked / tickets if tickets else 0.0,
        near=near,
        near_example=example,
    )


#: A customer id as people mean it: case and spaces ignored, and an id of digits alone
#: without its leading zeros.
_LOOSE_ID = (
    "lower(CASE WHEN regexp_full_match(trim({c}), '[0-9]+') THEN ltrim(trim({c}), '0') "
    "ELSE trim({c}) END)"
)


def _near_matches(con: duckdb.DuckDBPyConnection) -> tuple[int, tuple[str, str] | None]:
    """Tickets whose customer id matches no customer as written, but one loosely (`_LOOSE_ID`),
    and one example (ticket's id, customer's id); asked only where some tickets miss."""
    rows = con.execute(
        f"""
        WITH missed AS (
            SELECT t.customer_id, count(*) AS n
            FROM tickets t ANTI JOIN customers c ON c.customer_id = t.customer_id
            WHERE t.customer_id IS NOT NULL
            GROUP BY ALL
        ),
        loose AS (
            SELECT {_LOOSE_ID.format(c="customer_id")} AS key, min(customer_id) AS customer_id
            FROM customers GROUP BY ALL
        )
        SELECT sum(m.n), min((m.customer_id, l.customer_id))
        FROM missed m JOIN loose l ON l.key = {_LOOSE_ID.format(c="m.customer_id")}
        """
    ).fetchall()
    count, example = rows[0]
    if not count:
        return 0, None
    return int(count), (str(example[0]), str(example[1]))


@dataclass(frozen=True)
class LanguageCoverage:
    """Prepared tickets, and those left out of the topics for their language.

    Attributes:
        prepared: tickets prepared (cleaned, their language detected).
        other: tickets per language outside `[prepare] languages`, most first.
    """

    prepared: int
    other: tuple[tuple[str, int], ...]

    @property
    def left_out(self) -> int:
        return sum(n for _, n in self.other)

    @property
    def share(self) -> float:
        """The share of the prepared tickets left out (0 without tickets)."""
        return self.left_out / self.prepared if self.prepared else 0.0

    def summary(self) -> str:
        """How many prepared tickets are analysed, and which languages are left out."""
        line = f"{self.prepared - self.left_out:,} of {self.prepared:,} prepared tickets in the languages analysed"
        if not self.left_out:
            return line
        return f"{line}; {self.left_out:,} ({self.share:.0%}) {self._why()}"

    def warning(self) -> str | None:
        """The tickets left out and why, when they are a notable share
        (`OTHER_LANGUAGES_SHARE`); None otherwise."""
        if not self.left_out or self.share < OTHER_LANGUAGES_SHARE:
            return None
        return f"{self.left_out:,} of {self.prepared:,} prepared tickets {self._why()}"

    def _why(self) -> str:
        languages = ", ".join(f"{code} {n:,}" for code, n in self.other)
        return (
            f"are in other languages ({languages}) and have no topic: add a language to "
            "[prepare] languages to cluster it too, best with an embedding model that reads it "
            "([models] embedding)"
        )


def language_coverage(con: duckdb.DuckDBPyConnection) -> LanguageCoverage:
    """Count the prepared tickets left out for their language (works on a read-only
    connection, and on a warehouse that has prepared nothing yet)."""
    if "in_scope" not in table_columns(con, "prepared_tickets"):  # before migration 003
        rows = []
    else:
        rows = con.execute(
            """SELECT language, count(*) FROM prepared_tickets WHERE NOT in_scope
            GROUP BY language ORDER BY count(*) DESC, language"""
        ).fetchall()
    prepared = con.execute("SELECT count(*) FROM prepared_tickets").fetchall()[0][0]
    return LanguageCoverage(
        prepared=int(prepared), other=tuple((str(code), int(n)) for code, n in rows)
    )
