"""Negative control on any warehouse: personas given to random customers must link to no issue.

Usage: .venv/bin/python bench/shuffle_control.py WAREHOUSE.duckdb [--shuffles 20] [--config C]

Copies the warehouse, then `--shuffles` times permutes the customers of `customer_segments`
(each persona keeps its size, its members are drawn at random) and reruns the link stage with
the config's `[link]` settings. Under the null every significant cell is a false discovery:
with BH at alpha 0.05 about 5% of the shuffles or fewer should show one. Prints, per shuffle,
the cells tested and the significant ones, then the share of shuffles with any.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona_mining import warehouse as db  # noqa: E402
from persona_mining.config import load_config  # noqa: E402
from persona_mining.personas.link import link_issues  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--shuffles", type=int, default=20)
    parser.add_argument("--config", type=Path)
    args = parser.parse_args()
    settings = load_config(args.config).link
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "copy.duckdb"
        shutil.copy(args.warehouse, path)
        con = db.connect(path)
        customers = [
            r[0] for r in con.execute("SELECT customer_id FROM customers ORDER BY 1").fetchall()
        ]
        con.execute("CREATE TABLE original AS SELECT * FROM customer_segments")
        con.execute("CREATE TEMP TABLE shuffle (old VARCHAR, new VARCHAR)")
        with_links = 0
        for seed in range(args.shuffles):
            shuffled = np.random.default_rng(seed).permutation(customers).tolist()
            con.execute("DELETE FROM shuffle")
            con.executemany(
                "INSERT INTO shuffle VALUES (?, ?)", list(zip(customers, shuffled, strict=True))
            )
            con.execute("DELETE FROM customer_segments")
            con.execute(
                "INSERT INTO customer_segments (customer_id, segment_id) "
                "SELECT s.new, o.segment_id FROM original o JOIN shuffle s ON o.customer_id = s.old"
            )
            result = link_issues(con, config=settings)
            significant = con.execute(
                "SELECT count(*) FROM issue_by_persona WHERE significant"
            ).fetchall()[0][0]
            with_links += significant > 0
            print(f"  shuffle {seed:2d}: {result.cells} cells, {significant} significant")
        con.close()
    print(
        f"{with_links} of {args.shuffles} shuffles with a significant cell "
        f"({with_links / args.shuffles:.0%}; alpha = {settings.alpha})"
    )


if __name__ == "__main__":
    main()
