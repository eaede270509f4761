"""How fast the warehouse answers the queries people run: every view and documented query.

Usage: .venv/bin/python bench/views.py WAREHOUSE.duckdb [--repeat 3]

Opens the warehouse read-only (as analysts and `persona-mining table` do) and times, best of
`--repeat`: each `v_*` view computed in full (`SELECT count(*) FROM (SELECT * FROM v)`) and its
first 100 rows fetched, the issue-by-persona query of `persona-mining table`, and every SQL
block of docs/warehouse.md. Prints one line each and the slowest.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402


def best_of(con: duckdb.DuckDBPyConnection, query: str, repeat: int) -> float:
    """Fastest wall time of `query`, its rows fetched, over `repeat` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        con.execute(query).fetchall()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from persona_mining.report.queries import ISSUE_BY_PERSONA_SQL

    con = duckdb.connect(str(args.warehouse), read_only=True)
    tickets = con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]
    print(f"{args.warehouse}: {tickets} tickets")
    views = [
        r[0]
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name LIKE 'v\\_%' "
            "ESCAPE '\\' ORDER BY view_name"
        ).fetchall()
    ]
    timings: list[tuple[float, str]] = []
    for view in views:
        full = best_of(con, f"SELECT count(*) FROM (SELECT * FROM {view})", args.repeat)
        head = best_of(con, f"SELECT * FROM {view} LIMIT 100", args.repeat)
        rows = con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0]
        timings += [(full, f"{view} (all {rows} rows)"), (head, f"{view} (first 100 rows)")]
    timings.append((best_of(con, ISSUE_BY_PERSONA_SQL, args.repeat), "persona-mining table --all"))
    doc = (ROOT / "docs" / "warehouse.md").read_text(encoding="utf-8")
    for i, query in enumerate(re.findall(r"```sql\n(.*?)```", doc, flags=re.S), 1):
        first = next((line for line in query.splitlines() if line.strip()), "")
        timings.append((best_of(con, query, args.repeat), f"docs query {i}: {first[:60]}"))
    con.close()
    for seconds, what in timings:
        print(f"  {seconds * 1000:8.1f} ms  {what}")
    slowest = max(timings)
    print(f"slowest: {slowest[1]} in {slowest[0] * 1000:.0f} ms; {len(timings)} queries")


if __name__ == "__main__":
    main()
