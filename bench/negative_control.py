"""Negative control: personas on attributes the tickets do not depend on find no links.

The Kaggle "Customer Support Ticket Dataset" (8,469 tickets) is synthetic: ticket types,
subjects and descriptions were drawn independently of the customer's age, gender and channel.
Personas defined on those attributes must therefore find no significant issue link (a handful
at most would be false discoveries at the 5% FDR level), and none should be flagged negative.

The script derives a customers file from the ticket file (customer_id = e-mail; age, gender and
channel of the customer's first ticket), ingests both into a fresh warehouse in a work folder,
runs the whole pipeline as the Prefect flow, and prints the significant links, the negative
flags and the timings. It is a benchmark, not a test: the data set is not shipped with the
project. It takes a few minutes on two cores (spaCy, embeddings and UMAP on 8.5k tickets).

Usage:
    .venv/bin/python bench/negative_control.py [--csv PATH] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

# The public data sets live beside the project (../shared/data), not in it.
DEFAULT_CSV = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "data"
    / "kaggle_customer_support_tickets.csv"
)

#: Personas on age, gender and channel only: the tickets carry no signal about them.
PERSONAS = {
    "Young adults": "age < 30",
    "Over 55": "age >= 55",
    "Women": "gender = 'Female'",
    "Men": "gender = 'Male'",
    "Other gender": "gender = 'Other'",
    "Email customers": "channel = 'Email'",
    "Phone customers": "channel = 'Phone'",
    "Chat customers": "channel = 'Chat'",
    "Social media customers": "channel = 'Social media'",
    "Young women on chat": "age < 30 AND gender = 'Female' AND channel = 'Chat'",
    "Older men on the phone": "age >= 50 AND gender = 'Male' AND channel = 'Phone'",
}
#: The Kaggle file's columns for each canonical ticket column (the mapping ingest applies).
KAGGLE_COLUMNS = {
    "ticket_id": "Ticket ID",
    "created_at": "Date of Purchase",
    "subject": "Ticket Subject",
    "body": "Ticket Description",
    "customer_id": "Customer Email",
    "channel": "Ticket Channel",
}


def main() -> None:
    """Run the negative control and print its result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the Kaggle ticket file")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the warehouse")
    args = parser.parse_args()
    if not args.csv.exists():
        raise SystemExit(f"{args.csv}: not found; pass --csv PATH to the Kaggle ticket file")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="negative-control-"))
    work.mkdir(parents=True, exist_ok=True)
    from persona_mining.environment import use_offline_environment

    use_offline_environment()
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect"))

    import duckdb

    from flows.pipeline import persona_pipeline
    from persona_mining import warehouse as db
    from persona_mining.ingest.load import ingest_customers, ingest_tickets

    started = time.perf_counter()
    customers = work / "customers.csv"
    source = str(args.csv).replace("'", "''")
    duckdb.sql(
        f"""COPY (
            SELECT "Customer Email" AS customer_id,
                arg_min("Customer Age", "Ticket ID") AS age,
                arg_min("Customer Gender", "Ticket ID") AS gender,
                arg_min("Ticket Channel", "Ticket ID") AS channel
            FROM read_csv('{source}') GROUP BY 1 ORDER BY 1
        ) TO '{str(customers).replace("'", "''")}' (HEADER)"""
    )
    config = work / "persona-mining.toml"
    lines = [
        f"[warehouse]\npath = {json.dumps(str(work / 'persona.duckdb'))}",
        f"[models]\ndir = {json.dumps(str(work / 'models'))}",
    ]
    for name, where in PERSONAS.items():
        lines.append(f"[[personas]]\nname = {json.dumps(name)}\nwhere = {json.dumps(where)}")
    config.write_text("\n\n".join(lines) + "\n", encoding="utf-8")

    con = db.connect(work / "persona.duckdb")
    try:
        loaded = [
            ingest_customers(con, path=customers),
            ingest_tickets(
                con, path=args.csv, columns=KAGGLE_COLUMNS, drop_columns=("Customer Name",)
            ),
        ]
    finally:
        con.close()
    ingest_seconds = time.perf_counter() - started
    summary = persona_pipeline(config_path=str(config))
    total = time.perf_counter() - started

    con = db.connect(work / "persona.duckdb", read_only=True)
    try:
        tested = con.execute(
            "SELECT count(*) FROM v_issue_by_persona WHERE kind <> 'discovered' AND q_value IS NOT NULL"
        ).fetchone()
        significant = con.execute(
            """SELECT persona, issue, tickets, customers, round(lift, 2), round(ci_low, 2),
                round(ci_high, 2), q_value
            FROM v_issue_by_persona WHERE significant AND kind <> 'discovered'
            ORDER BY q_value"""
        ).fetchall()
        smallest_q = con.execute(
            "SELECT min(q_value) FROM v_issue_by_persona WHERE kind <> 'discovered'"
        ).fetchone()
        flags = con.execute(
            """SELECT persona, customers, negative, negative_drivers FROM v_persona_profiles
            ORDER BY persona"""
        ).fetchall()
        worse = con.execute(
            "SELECT persona, signal, round(ratio, 2), q_value FROM v_segment_signals WHERE worse"
        ).fetchall()
        signals = con.execute("SELECT DISTINCT signal FROM segment_signals ORDER BY 1").fetchall()
    finally:
        con.close()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"work folder: {work}")
    for result in loaded:
        print(f"ingest {result.kind}: new {result.new}, rejected {result.rejected}")
    for stage, values in summary.items():
        print(f"{stage}: {values.get('seconds', 0.0):.1f}s")
    print(f"ingest {ingest_seconds:.1f}s; total {total:.1f}s")
    print(f"topics: {summary['topics']['topics']} (+ unclustered)")
    print(f"personas: {len(PERSONAS)}; persona x topic cells tested: {tested[0] if tested else 0}")
    print(f"smallest q-value: {smallest_q[0] if smallest_q else None}")
    print(f"significant links: {len(significant)}")
    for row in significant:
        print("  ", row)
    print(f"signals measured: {[s for (s,) in signals]}")
    print(f"signals significantly worse: {len(worse)}")
    for row in worse:
        print("  ", row)
    print(f"personas flagged negative: {sum(1 for f in flags if f[2])}")
    for persona, size, negative, _ in flags:
        print(f"   {persona}: {size} customers, negative={negative}")


if __name__ == "__main__":
    main()
