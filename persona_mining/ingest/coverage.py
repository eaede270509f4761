"""How many tickets the persona stages can use: those whose customer is a known customer.

A ticket counts for a persona only through its customer, so a mapping that leaves
`customer_id` out, or customers keyed by another id than the tickets, leaves every persona
without evidence. `ingest`, `run` and `status` say so instead of reporting no findings.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

#: Below this share of tickets linked to a known customer, `ingest` and `run` warn.
LOW_LINK_SHARE = 0.5


@dataclass(frozen=True)
class LinkCoverage:
    """Tickets linked to a known customer.

    Attributes:
        tickets: tickets in the warehouse.
        with_customer_id: of those, tickets that name a customer.
        linked: of those, tickets whose customer is in `customers`.
        customers: customers in the warehouse.
        share: `linked / tickets` (0 without tickets).
    """

    tickets: int
    with_customer_id: int
    linked: int
    customers: int
    share: float

    def warning(self) -> str | None:
        """One line saying why few tickets reach the personas and what to do; None if enough do."""
        if self.tickets == 0 or self.share >= LOW_LINK_SHARE:
            return None
        head = f"{self.linked:,} of {self.tickets:,} tickets match a customer"
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
    return LinkCoverage(
        tickets=tickets,
        with_customer_id=named,
        linked=linked,
        customers=customers,
        share=linked / tickets if tickets else 0.0,
    )
